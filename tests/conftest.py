"""Shared fixtures. Tests that need the corpora are marked ``corpus`` and skip when
the corpus root (``$AFFECTLENS_DATA`` or ``../shared/data``) is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from affectlens.config import data_root

HERE = Path(__file__).parent
DATA = HERE / "data"
EXAMPLES = HERE.parent / "examples"


def corpus_path(*parts: str) -> Path:
    """Path under the corpus root; skips the test when it does not exist."""
    root = data_root()
    if not root.is_absolute():
        root = (HERE.parent / root).resolve()
    path = root.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"corpus not available: {path} (set AFFECTLENS_DATA)")
    return path


@pytest.fixture
def tests_data() -> Path:
    return DATA
