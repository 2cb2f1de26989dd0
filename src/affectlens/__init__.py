"""affectlens: offline multimodal emotion understanding."""

from . import config as _config  # noqa: F401  (sets the offline guards first)

__version__ = "0.1.0"
