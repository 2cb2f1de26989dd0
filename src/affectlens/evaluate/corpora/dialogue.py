"""Dialogue corpora: MELD (``Utterance, Speaker, Emotion, Dialogue_ID, ...``) and EmoryNLP
(``Utterance, Speaker, Emotion, Scene_ID, ...``) CSV."""

from __future__ import annotations

from pathlib import Path

from ...analyzers import Word
from ...errors import InputError
from ...media import transcript
from ...schema import LABELS, to_canonical
from .items import EvalSet, Item, text_input

EMORYNLP_LABELS = ["neutral", "joyful", "peaceful", "powerful", "sad", "mad", "scared"]


def list_items(data: Path, context_turns: int | None = 8) -> tuple[str, list[Item]]:
    """``(corpus, items)``: utterances in file order; context = up to ``context_turns`` earlier
    turns of the same dialogue (all with ``None``); MELD labels canonical, EmoryNLP its own."""
    rows = transcript.read_dialogue_rows(data)
    if rows[0]["label"] is None:
        raise InputError(data, "no Emotion column")
    corpus = "emorynlp" if any(r["label"].lower() in ("joyful", "mad", "scared") for r in rows) else "meld"
    items, history = [], {}
    for r in rows:
        hist = history.setdefault(r["dialogue"], [])
        label = r["label"].lower()
        if corpus == "meld":
            label = to_canonical(label, "meld")
        context = hist[-context_turns:] if context_turns else list(hist)
        items.append(Item(r["text"], label, r["speaker"], context, corpus=corpus))
        hist.append(Word(r["text"], float(r["index"]), float(r["index"] + 1), speaker=r["speaker"]))
    return corpus, items


def read(data: Path, context_turns: int = 8) -> EvalSet:
    corpus, items = list_items(data, context_turns)
    labels = list(LABELS) if corpus == "meld" else EMORYNLP_LABELS
    return EvalSet("dialogue", str(data), f"{corpus}-csv", "single", labels, items, text_input)
