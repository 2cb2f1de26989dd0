"""GoEmotions TSV: ``text<TAB>label ids<TAB>comment id``, no header, no quoting."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ...errors import InputError
from ...media import decode
from ...schema import GOEMOTIONS_LABELS
from .items import EvalSet, Item, text_input


def list_items(data: Path) -> list[Item]:
    """One item per row: the text and a 28-long boolean indicator of its labels."""
    items = []
    with open(decode.check_file(data), encoding="utf-8", newline="") as f:
        for n, row in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
            if len(row) < 2:
                raise InputError(data, f"line {n}: expected text<TAB>label ids")
            try:
                ids = [int(x) for x in row[1].split(",") if x.strip()]
            except ValueError:
                raise InputError(data, f"line {n}: label ids {row[1]!r} are not integers") from None
            target = np.zeros(len(GOEMOTIONS_LABELS), dtype=bool)
            target[ids] = True
            items.append(Item(row[0], target, corpus="goemotions", split=data.stem))
    if not items:
        raise InputError(data, "no rows")
    return items


def read(data: Path) -> EvalSet:
    return EvalSet("text", str(data), "goemotions-tsv", "multi", list(GOEMOTIONS_LABELS), list_items(data),
                   text_input)
