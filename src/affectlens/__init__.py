"""affectlens: offline multimodal emotion understanding."""

from . import config as _config  # noqa: F401  (sets the offline guards first)

__version__ = "0.1.0"


def batch(inputs, out_dir, **options):
    """Analyze many inputs into ``out_dir`` (Parquet), resumably; see ``affectlens.batching.batch``."""
    from .batching import batch as run_batch

    return run_batch(inputs, out_dir, **options)
