"""One reader per corpus, each in its own published format, all returning :class:`Item`.

``read(task, data)`` gives an ``EvalSet`` for ``affectlens eval``; the same readers'
``list_items`` feed the benches and the training recipes:

- ``fer2013``: image trees ``DATA/<label>/*.jpg`` (FER2013 layout);
- ``speech``: RAVDESS, EmoDB, CREMA-D, TESS file names, or a CSV manifest;
- ``goemotions``: GoEmotions TSV;
- ``dialogue``: MELD and EmoryNLP CSV;
- ``emobank``: EmoBank CSV.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import InputError
from . import dialogue, emobank, fer2013, goemotions, speech
from .items import EvalSet, Item

READERS = {"face": fer2013.read, "voice": speech.read, "text": goemotions.read,
           "dialogue": dialogue.read, "vad": emobank.read}

__all__ = ["Item", "EvalSet", "READERS", "read", "dialogue", "emobank", "fer2013", "goemotions", "speech"]


def read(task: str, data: str | Path, **kw) -> EvalSet:
    """Read the corpus for ``task`` (face, voice, text, dialogue, vad) from ``data``."""
    if task not in READERS:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(READERS)}")
    path = Path(data)
    if not path.exists():
        raise InputError(path, "not found")
    return READERS[task](path, **kw)
