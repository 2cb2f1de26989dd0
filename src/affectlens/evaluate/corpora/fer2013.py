"""FER2013-style image trees: ``DATA/<label>/*.jpg|png`` (folder names in FER2013 or canonical spelling)."""

from __future__ import annotations

from pathlib import Path

from ...analyzers import SegmentInput
from ...errors import InputError
from ...media import decode
from ...schema import LABELS, to_canonical
from .items import EvalSet, Item


def list_items(data: Path, skipped: list[tuple[str, str]] | None = None) -> list[Item]:
    """Every image under ``data/<label>/``, label folders and files in name order. A folder that
    is not an emotion label fails, or with a ``skipped`` list, has its images recorded there."""
    if not data.is_dir():
        raise InputError(data, "expected a folder DATA/<label>/*.jpg|png")
    items = []
    for sub in sorted(p for p in data.iterdir() if p.is_dir()):
        images = [p for p in sorted(sub.iterdir()) if p.suffix.lower() in decode.IMAGE_EXT]
        try:
            label = to_canonical(sub.name, "fer2013")
        except KeyError:
            if skipped is None:
                raise InputError(sub, f"folder name {sub.name!r} is not an emotion label") from None
            skipped += [(str(p), f"folder name {sub.name!r} is not an emotion label") for p in images]
            continue
        items += [Item(p, label, corpus="fer2013", split=data.name) for p in images]
    if not items:
        raise InputError(data, "no images found under DATA/<label>/ with an emotion label as folder name")
    return items


def read(data: Path, cropped: bool = False) -> EvalSet:
    """The image tree as an evaluation set (``cropped``: the images are face crops)."""
    def load(item: Item) -> SegmentInput:
        return SegmentInput(0.0, 0.0, frames=[(0.0, decode.load_image(item.source))], face_crop=cropped)

    skipped: list[tuple[str, str]] = []
    items = list_items(data, skipped)
    return EvalSet("face", str(data), "image-tree", "single", list(LABELS), items, load, skipped)
