"""Expand batch INPUTS (files, folders, globs, CSV manifests) into a list of input files."""

from __future__ import annotations

import csv
import glob
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..media import decode

#: file types a folder walk picks up (a CSV inside a folder is a dialogue table, not a manifest)
KNOWN_EXT = decode.IMAGE_EXT | decode.TEXT_EXT | decode.TABLE_EXT | {
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".3gp",
    ".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".opus", ".wma", ".aiff", ".aif",
}
MANIFEST_PATH_COLUMNS = ("path", "file", "filename", "input")


@dataclass(frozen=True)
class Item:
    """One input file, with the transcript a manifest row may give it."""

    path: str
    transcript: str | None = None


def is_manifest(path: Path) -> bool:
    """A CSV whose header has a path column (``path``, ``file``, ``filename`` or ``input``)."""
    if path.suffix.lower() != ".csv" or not path.is_file():
        return False
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        header = next(csv.reader(f), [])
    return any(h.strip().lower() in MANIFEST_PATH_COLUMNS for h in header)


def read_manifest(path: Path) -> list[Item]:
    """Rows of a manifest; relative paths are taken from the manifest's folder."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise InputError(path, "manifest has a header but no rows")
    cols = {k.strip().lower(): k for k in rows[0]}
    key = next(cols[c] for c in MANIFEST_PATH_COLUMNS if c in cols)
    tcol = cols.get("transcript")
    items = []
    for row in rows:
        value = (row.get(key) or "").strip()
        if not value:
            continue
        t = (row.get(tcol) or "").strip() if tcol else ""
        items.append(Item(_under(path.parent, value), _under(path.parent, t) if t else None))
    return items


def _under(folder: Path, value: str) -> str:
    p = Path(value).expanduser()
    return os.path.abspath(p if p.is_absolute() else folder / p)


def _walk(folder: Path) -> list[str]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [os.path.join(root, f) for f in sorted(files)
                  if not f.startswith(".") and Path(f).suffix.lower() in KNOWN_EXT]
    return sorted(os.path.abspath(f) for f in found)


def expand(inputs: list[str], transcript: str | None = None) -> list[Item]:
    """Files as given (even unreadable ones: they become error rows), folders walked
    recursively for known file types, glob patterns expanded, manifests read.
    Duplicates are dropped, first occurrence kept.

    Raises
    ------
    InputError
        A glob that matches nothing or a folder without any known file.
    """
    items: list[Item] = []
    for raw in inputs:
        p = Path(raw).expanduser()
        if glob.has_magic(raw) and not p.exists():
            matches = sorted(glob.glob(os.path.expanduser(raw), recursive=True))
            if not matches:
                raise InputError(raw, "glob matches no file")
            for m in matches:
                mp = Path(m)
                items += ([Item(f, transcript) for f in _walk(mp)] if mp.is_dir()
                          else [Item(os.path.abspath(mp), transcript)])
        elif p.is_dir():
            files = _walk(p)
            if not files:
                raise InputError(p, "folder holds no media, image or text file")
            items += [Item(f, transcript) for f in files]
        elif is_manifest(p):
            items += read_manifest(p)
        else:
            items.append(Item(os.path.abspath(p), transcript))
    seen, unique = set(), []
    for it in items:
        if it.path not in seen:
            seen.add(it.path)
            unique.append(it)
    return unique
