"""Batch analysis of whole collections: resumable Parquet output, worker processes or Ray."""

from .api import BatchResult, batch

__all__ = ["BatchResult", "batch"]
