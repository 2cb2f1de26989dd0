"""EmoBank CSV ``id, split, V, A, D, text`` (1–5 scale, rescaled to [-1, 1] by (x - 3) / 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import InputError
from ...media import transcript
from .items import EvalSet, Item, text_input


def list_items(data: Path, skipped: list[tuple[str, str]] | None = None) -> list[Item]:
    """Every row: the text, its V/A/D in [-1, 1] and its ``split``. A row without numeric V/A/D
    or without text fails, or with a ``skipped`` list, is recorded there."""
    rows = transcript.read_table(data)
    for col in ("V", "A", "D", "text"):
        if col not in rows[0]:
            raise InputError(data, f"EmoBank CSV needs columns id, split, V, A, D, text (missing {col})")
    items = []
    for n, r in enumerate(rows, 2):
        try:
            vad = np.array([(float(r[c]) - 3) / 2 for c in "VAD"])
            reason = None if np.isfinite(vad).all() and (r["text"] or "").strip() else "V/A/D not finite or no text"
        except (TypeError, ValueError):
            reason = "V/A/D values are not numbers"
        if reason:
            if skipped is None:
                raise InputError(data, f"line {n}: {reason}")
            skipped.append((f"{data}:{n}", reason))
            continue
        items.append(Item(r["text"], np.clip(vad, -1.0, 1.0), corpus="emobank", split=r.get("split")))
    if not items:
        raise InputError(data, "no rows with numeric V, A, D and a text")
    return items


def read(data: Path, split: str | None = None) -> EvalSet:
    """With a ``split`` column holding several splits, ``split`` picks one (default: test if
    present, else dev); all rows are used when the column is absent or uniform."""
    skipped: list[tuple[str, str]] = []
    items = list_items(data, skipped)
    splits = {it.split for it in items}
    if split is None and len(splits) > 1:
        split = "test" if "test" in splits else "dev" if "dev" in splits else None
    if split is not None:
        items = [it for it in items if it.split == split]
        if not items:
            raise InputError(data, f"no rows with split={split!r} (splits: {sorted(map(str, splits))})")
    name = f"emobank-csv[{split}]" if split else "emobank-csv"
    return EvalSet("vad", str(data), name, "vad", ["valence", "arousal", "dominance"], items, text_input, skipped)
