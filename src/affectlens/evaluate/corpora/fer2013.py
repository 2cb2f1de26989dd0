"""FER2013-style image trees: ``DATA/<label>/*.jpg|png`` (folder names in FER2013 or canonical spelling)."""

from __future__ import annotations

from pathlib import Path

from ...analyzers import SegmentInput
from ...errors import InputError
from ...media import decode
from ...schema import LABELS, to_canonical
from .items import EvalSet, Item


def list_items(data: Path) -> list[Item]:
    """Every image under ``data/<label>/``, label folders and files in name order."""
    if not data.is_dir():
        raise InputError(data, "expected a folder DATA/<label>/*.jpg|png")
    items = []
    for sub in sorted(p for p in data.iterdir() if p.is_dir()):
        try:
            label = to_canonical(sub.name, "fer2013")
        except KeyError:
            raise InputError(sub, f"folder name {sub.name!r} is not an emotion label") from None
        items += [Item(p, label, corpus="fer2013", split=data.name)
                  for p in sorted(sub.iterdir()) if p.suffix.lower() in decode.IMAGE_EXT]
    if not items:
        raise InputError(data, "no images found under DATA/<label>/")
    return items


def read(data: Path, cropped: bool = False) -> EvalSet:
    """The image tree as an evaluation set (``cropped``: the images are face crops)."""
    def load(item: Item) -> SegmentInput:
        return SegmentInput(0.0, 0.0, frames=[(0.0, decode.load_image(item.source))], face_crop=cropped)

    return EvalSet("face", str(data), "image-tree", "single", list(LABELS), list_items(data), load)
