"""Shared fixtures. Tests that need the corpora are marked ``corpus`` and skip when
the corpus root (``$AFFECTLENS_DATA`` or ``../shared/data``) is absent."""

from __future__ import annotations

import shutil
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


#: corpus clips read as a small mixed RAVDESS + EmoDB folder (file-name conventions kept)
SPEECH_SAMPLES = ("ravdess/Actor_02/03-01-02-01-02-01-02.flac", "ravdess/Actor_01/03-01-05-02-01-01-01.flac",
                  "emodb/03a01Wa.flac", "emodb/03a02Ta.flac")


@pytest.fixture
def speech_corpus(tmp_path_factory) -> Path:
    """A folder holding ``SPEECH_SAMPLES`` copied from the corpus root (skips when absent)."""
    sources = [corpus_path(*rel.split("/")) for rel in SPEECH_SAMPLES]
    folder = tmp_path_factory.mktemp("speech")
    for src in sources:
        shutil.copy(src, folder / src.name)
    return folder


@pytest.fixture
def tests_data() -> Path:
    return DATA
