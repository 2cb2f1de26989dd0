"""GoEmotions TSV: ``text<TAB>label ids<TAB>comment id``, no header, no quoting."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import InputError
from ...media import decode
from ...schema import GOEMOTIONS_LABELS
from .items import EvalSet, Item, text_input


def list_items(data: Path, skipped: list[tuple[str, str]] | None = None) -> list[Item]:
    """One item per row: the text and a 28-long boolean indicator of its labels. A malformed
    row (missing ids, ids that are not integers in 0..27, not UTF-8) fails, or with a
    ``skipped`` list, is recorded there."""
    items = []
    for n, raw in enumerate(decode.check_file(data).read_bytes().splitlines(), 1):
        row, reason = _row(raw)
        if reason:
            if skipped is None:
                raise InputError(data, f"line {n}: {reason}")
            skipped.append((f"{data}:{n}", reason))
            continue
        target = np.zeros(len(GOEMOTIONS_LABELS), dtype=bool)
        target[row[1]] = True
        items.append(Item(row[0], target, corpus="goemotions", split=data.stem))
    if not items:
        raise InputError(data, "no usable rows (expected text<TAB>label ids)")
    return items


def _row(raw: bytes) -> tuple[tuple[str, list[int]] | None, str | None]:
    """``((text, ids), None)`` or ``(None, reason)`` for one TSV line (no quoting)."""
    try:
        cols = raw.decode("utf-8").split("\t")
    except UnicodeDecodeError:
        return None, "not UTF-8"
    if len(cols) < 2:
        return None, "expected text<TAB>label ids"
    try:
        ids = [int(x) for x in cols[1].split(",") if x.strip()]
    except ValueError:
        return None, "label ids are not integers"
    if not ids or any(not 0 <= i < len(GOEMOTIONS_LABELS) for i in ids):
        return None, f"label ids outside 0..{len(GOEMOTIONS_LABELS) - 1}"
    return (cols[0], ids), None


def read(data: Path) -> EvalSet:
    skipped: list[tuple[str, str]] = []
    items = list_items(data, skipped)
    return EvalSet("text", str(data), "goemotions-tsv", "multi", list(GOEMOTIONS_LABELS), items, text_input,
                   skipped)
