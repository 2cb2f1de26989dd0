"""The one item type every corpus reader returns, and the evaluation set around it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ...analyzers import SegmentInput, Word
from ...schema import LABELS, to_canonical


@dataclass
class Item:
    """One example of a corpus.

    Attributes
    ----------
    source : path or str
        The media file, or the text.
    target :
        The label (the corpus' fine-label spelling, e.g. RAVDESS ``calm``), an indicator vector
        (GoEmotions) or valence/arousal/dominance in [-1, 1] (EmoBank).
    speaker : str, optional
        ``corpus-id``, e.g. ``ravdess-03``, ``emodb-08``; dialogue corpora: the character.
    context : list of Word
        Earlier turns of the same dialogue, oldest first.
    corpus, split : str, optional
        Where it comes from (``ravdess``, ``meld``...), and the corpus' own split if it has one.
    intensity : int, optional
        RAVDESS: 1 normal, 2 strong.
    """

    source: Any
    target: Any
    speaker: str | None = None
    context: list[Word] = field(default_factory=list)
    corpus: str | None = None
    split: str | None = None
    intensity: int | None = None


@dataclass
class EvalSet:
    """A corpus ready to evaluate.

    Attributes
    ----------
    kind : str
        ``single`` (one label per item), ``multi`` (indicator vector) or ``vad``.
    labels : list of str
        The corpus' label space (fine-label spelling), in canonical order where possible.
    """

    task: str
    data: str
    fmt: str
    kind: str
    labels: list[str]
    items: list[Item]
    load: Callable[[Item], SegmentInput]
    #: ``(item, reason)`` for rows or files the reader could not use (unlabelled, malformed)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def canonical_order(keys: set[str]) -> list[str]:
    """Labels sorted by their canonical label (then the fine spelling)."""
    order = {k: i for i, k in enumerate(LABELS)}

    def key(label: str) -> tuple[int, bool, str]:
        canon = label if label in order else to_canonical(label, "speech")
        return order[canon], label != canon, label

    return sorted(keys, key=key)


def text_input(item: Item) -> SegmentInput:
    """A one-utterance segment of the item's text (with its speaker and context, if any)."""
    return SegmentInput(0.0, 1.0, words=[Word(item.source, 0.0, 1.0, speaker=item.speaker)],
                        context=list(item.context), speaker=item.speaker)
