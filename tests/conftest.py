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


#: text corpus files and how many of their first rows make the small text corpus (EmoBank: per split)
TEXT_SAMPLES = {"goemotions/train.tsv": 48, "goemotions/dev.tsv": 24, "emobank/emobank.csv": 20,
                "meld/train_sent_emo.csv": 32, "meld/dev_sent_emo.csv": 16,
                "emorynlp/emorynlp_dev_final.csv": 12}


@pytest.fixture
def text_corpus(tmp_path_factory) -> Path:
    """A corpus root holding the first rows of the text corpora (``TEXT_SAMPLES``), read from the
    corpus root, for the text recipes' smoke tests (skips when absent)."""
    import csv

    sources = {rel: corpus_path(*rel.split("/")) for rel in TEXT_SAMPLES}
    root = tmp_path_factory.mktemp("text-corpus")
    for rel, src in sources.items():
        dest, n = root / rel, TEXT_SAMPLES[rel]
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.suffix == ".tsv":  # GoEmotions: no header, no quoting
            lines = src.read_text(encoding="utf-8").splitlines()[:n]
            dest.write_text("\n".join(lines) + "\n", encoding="utf-8")
            continue
        with open(src, newline="", encoding="utf-8") as f:
            header, *rows = list(csv.reader(f))
        if rel.startswith("emobank"):  # both splits
            split = header.index("split")
            rows = [r for r in rows if r[split] == "train"][:n] + [r for r in rows if r[split] == "dev"][:n]
        else:
            rows = rows[:n]
        with open(dest, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([header, *rows])
    return root


@pytest.fixture
def tests_data() -> Path:
    return DATA
