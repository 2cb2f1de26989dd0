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


def list_items(data: Path, context_turns: int | None = 8,
               skipped: list[tuple[str, str]] | None = None) -> tuple[str, list[Item]]:
    """``(corpus, items)``: utterances in file order; context = up to ``context_turns`` earlier
    turns of the same dialogue (all with ``None``); MELD labels canonical, EmoryNLP its own.
    An unknown label fails, or with a ``skipped`` list, is recorded there (the turn stays context)."""
    rows = transcript.read_dialogue_rows(data)
    if rows[0]["label"] is None:
        raise InputError(data, "no Emotion column")
    corpus = "emorynlp" if any(r["label"].lower() in ("joyful", "mad", "scared") for r in rows) else "meld"
    labels = list(LABELS) if corpus == "meld" else EMORYNLP_LABELS
    items, history = [], {}
    for r in rows:
        hist = history.setdefault(r["dialogue"], [])
        label = r["label"].lower()
        try:
            label = to_canonical(label, "meld") if corpus == "meld" else label
        except KeyError:
            label = None
        if label not in labels:
            if skipped is None:
                raise InputError(data, f"line {r['index'] + 2}: unknown label {r['label']!r}")
            skipped.append((f"{data}:{r['index'] + 2}", f"unknown label {r['label']!r}"))
        else:
            context = hist[-context_turns:] if context_turns else list(hist)
            items.append(Item(r["text"], label, r["speaker"], context, corpus=corpus))
        hist.append(Word(r["text"], float(r["index"]), float(r["index"] + 1), speaker=r["speaker"]))
    return corpus, items


def read(data: Path, context_turns: int = 8) -> EvalSet:
    skipped: list[tuple[str, str]] = []
    corpus, items = list_items(data, context_turns, skipped)
    labels = list(LABELS) if corpus == "meld" else EMORYNLP_LABELS
    return EvalSet("dialogue", str(data), f"{corpus}-csv", "single", labels, items, text_input, skipped)
