"""Model folders of affectlens under restricted terms (see NOTICE); found by
``affectlens.analyzers.model_dir``."""

from pathlib import Path

MODELS_DIR = Path(__file__).parent
