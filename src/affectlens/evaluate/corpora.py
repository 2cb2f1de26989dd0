"""Readers for each corpus in its own published format.

Every reader returns an ``EvalSet``: items with a label in the corpus' own label space
(fine-label spelling, e.g. RAVDESS keeps ``calm``), and a loader that turns an item
into the ``SegmentInput`` an analyzer reads. Media are loaded lazily, batch by batch.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..analyzers import SegmentInput, Word
from ..errors import InputError
from ..media import decode, transcript
from ..schema import GOEMOTIONS_LABELS, LABELS, fine_name, to_canonical

AUDIO_EXT = {".wav", ".flac", ".mp3", ".ogg", ".m4a", ".opus", ".aac", ".webm", ".mp4"}


@dataclass
class Item:
    """One evaluation example: ``source`` (a path or a text) and its target."""

    source: Any
    target: Any
    speaker: str | None = None
    context: list[Word] = field(default_factory=list)


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


def _canonical_order(keys: set[str]) -> list[str]:
    order = {k: i for i, k in enumerate(LABELS)}

    def key(label: str) -> tuple[int, bool, str]:
        canon = label if label in order else to_canonical(label, "speech")
        return order[canon], label != canon, label

    return sorted(keys, key=key)


# ---------------------------------------------------------------- faces
def read_face_tree(data: Path, cropped: bool = False) -> EvalSet:
    """``DATA/<label>/*.jpg|png`` (FER2013 layout); folder names in FER2013 or canonical spelling."""
    if not data.is_dir():
        raise InputError(data, "expected a folder DATA/<label>/*.jpg|png")
    items, skipped = [], []
    for sub in sorted(p for p in data.iterdir() if p.is_dir()):
        images = [p for p in sorted(sub.iterdir()) if p.suffix.lower() in decode.IMAGE_EXT]
        try:
            label = to_canonical(sub.name, "fer2013")
        except KeyError:
            skipped += [(str(p), f"folder name {sub.name!r} is not an emotion label") for p in images]
            continue
        items += [Item(p, label) for p in images]
    if not items:
        raise InputError(data, "no images found under DATA/<label>/ with an emotion label as folder name")

    def load(item: Item) -> SegmentInput:
        return SegmentInput(0.0, 0.0, frames=[(0.0, decode.load_image(item.source))], face_crop=cropped)

    return EvalSet("face", str(data), "image-tree", "single", list(LABELS), items, load, skipped)


# ---------------------------------------------------------------- speech
_SPEECH_NAMES: list[tuple[str, re.Pattern, Callable[[re.Match], tuple[str, str]]]] = [
    ("ravdess", re.compile(r"^\d{2}-\d{2}-(\d{2})-\d{2}-\d{2}-\d{2}-(\d{2})$"),
     lambda m: (_ravdess(m.group(1)), m.group(2))),
    ("emodb", re.compile(r"^(\d{2})[a-z]\d{2}([WLEAFTN])[a-z]$"),
     lambda m: (fine_name(_emodb(m.group(2))), m.group(1))),
    ("crema-d", re.compile(r"^(\d{4})_[A-Z]{3}_(ANG|DIS|FEA|HAP|NEU|SAD)_[A-Z]{1,2}$"),
     lambda m: (to_canonical(m.group(2).lower(), "speech"), m.group(1))),
    ("tess", re.compile(r"^(OAF|YAF)_\w+?_(angry|disgust|fear|happy|neutral|ps|sad)$", re.I),
     lambda m: (to_canonical(m.group(2).lower(), "speech"), m.group(1).upper())),
]


#: each naming convention's full label space (fine-label spelling)
SPEECH_LABELS = {
    "ravdess": ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgusted", "surprised"],
    "emodb": ["neutral", "bored", "happy", "sad", "angry", "fearful", "disgusted"],
    "crema-d": ["neutral", "happy", "sad", "angry", "fearful", "disgusted"],
    "tess": ["neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"],
}


def _ravdess(code: str) -> str:
    from ..schema import RAVDESS_CODES

    return fine_name(RAVDESS_CODES[code])


def _emodb(letter: str) -> str:
    from ..schema import EMODB_CODES

    return EMODB_CODES[letter]


def speech_label(path: Path) -> tuple[str, str, str] | None:
    """``(convention, fine label, speaker)`` parsed from a speech corpus file name, or None."""
    for name, pattern, parse in _SPEECH_NAMES:
        m = pattern.match(path.stem)
        if m:
            label, speaker = parse(m)
            return name, label, speaker
    return None


def read_speech(data: Path) -> EvalSet:
    """A folder of audio whose names encode labels (RAVDESS, EmoDB, CREMA-D, TESS), searched
    recursively, or a CSV manifest ``path,label[,speaker]`` (paths relative to the CSV)."""
    items: list[Item] = []
    skipped: list[tuple[str, str]] = []
    if data.is_file() and data.suffix.lower() == ".csv":
        fmt = "manifest"
        for n, row in enumerate(transcript.read_table(data), 2):
            keys = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
            if "path" not in keys or "label" not in keys:
                raise InputError(data, "manifest needs columns path,label[,speaker]")
            path = Path(keys["path"])
            path = path if path.is_absolute() else data.parent / path
            try:
                label = fine_name(keys["label"])
                to_canonical(label, "speech")
            except KeyError:
                skipped.append((f"{data}:{n}", f"unknown label {keys['label']!r}"))
                continue
            items.append(Item(path, label, keys.get("speaker") or None))
    elif data.is_dir():
        conventions = set()
        for p in sorted(data.rglob("*")):
            if p.suffix.lower() in AUDIO_EXT:
                parsed = speech_label(p)
                if parsed:
                    conventions.add(parsed[0])
                    items.append(Item(p, parsed[1], parsed[2]))
        fmt = "+".join(sorted(conventions)) or "audio-folder"
    else:
        raise InputError(data, "expected a folder of labelled audio or a CSV manifest")
    if not items:
        raise InputError(data, "no audio files with labels in their names (RAVDESS, EmoDB, CREMA-D, TESS)")

    def load(item: Item) -> SegmentInput:
        audio = np.concatenate(list(decode.iter_audio(decode.check_file(item.source))) or [np.zeros(0, np.float32)])
        return SegmentInput(0.0, audio.size / decode.SAMPLE_RATE, audio=audio, speaker=item.speaker)

    space = {it.target for it in items}
    if fmt != "manifest":  # the corpus' whole label space, also labels absent from this folder
        for name in fmt.split("+"):
            space |= set(SPEECH_LABELS.get(name, []))
    return EvalSet("voice", str(data), fmt, "single", _canonical_order(space), items, load, skipped)


# ---------------------------------------------------------------- text
def read_goemotions(data: Path) -> EvalSet:
    """GoEmotions TSV: ``text<TAB>ids<TAB>comment id``, no header, no quoting. Malformed rows
    (missing ids, ids that are not integers in range, text that is not UTF-8) are skipped."""
    items, skipped = [], []
    for n, raw in enumerate(decode.check_file(data).read_bytes().splitlines(), 1):
        try:
            row = raw.decode("utf-8").split("\t")
        except UnicodeDecodeError:
            skipped.append((f"{data}:{n}", "not UTF-8"))
            continue
        reason = None
        if len(row) < 2:
            reason = "expected text<TAB>label ids"
        else:
            try:
                ids = [int(x) for x in row[1].split(",") if x.strip()]
            except ValueError:
                ids, reason = [], "label ids are not integers"
            if not reason and (not ids or any(not 0 <= i < len(GOEMOTIONS_LABELS) for i in ids)):
                reason = f"label ids outside 0..{len(GOEMOTIONS_LABELS) - 1}"
        if reason:
            skipped.append((f"{data}:{n}", reason))
            continue
        target = np.zeros(len(GOEMOTIONS_LABELS), dtype=bool)
        target[ids] = True
        items.append(Item(row[0], target))
    if not items:
        raise InputError(data, "no usable rows (expected text<TAB>label ids)")

    def load(item: Item) -> SegmentInput:
        return SegmentInput(0.0, 1.0, words=[Word(item.source, 0.0, 1.0)])

    return EvalSet("text", str(data), "goemotions-tsv", "multi", list(GOEMOTIONS_LABELS), items, load, skipped)


def read_dialogue(data: Path, context_turns: int = 8) -> EvalSet:
    """MELD (``Utterance, Speaker, Emotion, Dialogue_ID, ...``) or EmoryNLP
    (``Utterance, Speaker, Emotion, Scene_ID, ...``) CSV; context = earlier turns of the same dialogue."""
    rows = transcript.read_dialogue_rows(data)
    if rows[0]["label"] is None:
        raise InputError(data, "no Emotion column")
    corpus = "emorynlp" if any(r["label"].lower() in ("joyful", "mad", "scared") for r in rows) else "meld"
    labels = list(LABELS) if corpus == "meld" else ["neutral", "joyful", "peaceful", "powerful", "sad", "mad", "scared"]
    items, history, skipped = [], {}, []
    for r in rows:
        hist = history.setdefault(r["dialogue"], [])
        word = Word(r["text"], float(r["index"]), float(r["index"] + 1), speaker=r["speaker"])
        label = r["label"].lower()
        try:
            label = to_canonical(label, "meld") if corpus == "meld" else label
        except KeyError:
            label = None
        if label not in labels:
            skipped.append((f"{data}:{r['index'] + 2}", f"unknown label {r['label']!r}"))
        else:
            items.append(Item(r["text"], label, r["speaker"], hist[-context_turns:]))
        hist.append(word)  # still context for the next turns

    def load(item: Item) -> SegmentInput:
        return SegmentInput(0.0, 1.0, words=[Word(item.source, 0.0, 1.0, speaker=item.speaker)],
                            context=list(item.context), speaker=item.speaker)

    return EvalSet("dialogue", str(data), f"{corpus}-csv", "single", labels, items, load, skipped)


def read_emobank(data: Path, split: str | None = None) -> EvalSet:
    """EmoBank CSV ``id, split, V, A, D, text`` (1–5 scale, rescaled to [-1, 1] by (x - 3) / 2).

    With a ``split`` column holding several splits, ``split`` picks one (default: test if
    present, else dev); all rows are used when the column is absent or uniform.
    """
    rows = transcript.read_table(data)
    for col in ("V", "A", "D", "text"):
        if col not in rows[0]:
            raise InputError(data, f"EmoBank CSV needs columns id, split, V, A, D, text (missing {col})")
    splits = {r.get("split") for r in rows}
    if split is None and len(splits) > 1:
        split = "test" if "test" in splits else "dev" if "dev" in splits else None
    if split is not None:
        rows = [r for r in rows if r.get("split") == split]
        if not rows:
            raise InputError(data, f"no rows with split={split!r} (splits: {sorted(map(str, splits))})")
    items, skipped = [], []
    for n, r in enumerate(rows, 2):
        try:
            vad = np.array([(float(r[c]) - 3) / 2 for c in "VAD"])
        except (TypeError, ValueError):
            skipped.append((f"{data}:{n}", "V/A/D values are not numbers"))
            continue
        if not np.isfinite(vad).all() or not (r.get("text") or "").strip():
            skipped.append((f"{data}:{n}", "V/A/D not finite or text empty"))
            continue
        items.append(Item(r["text"], vad))
    if not items:
        raise InputError(data, "no rows with numeric V, A, D and a text")

    def load(item: Item) -> SegmentInput:
        return SegmentInput(0.0, 1.0, words=[Word(item.source, 0.0, 1.0)])

    name = f"emobank-csv[{split}]" if split else "emobank-csv"
    return EvalSet("vad", str(data), name, "vad", ["valence", "arousal", "dominance"], items, load, skipped)


READERS = {"face": read_face_tree, "voice": read_speech, "text": read_goemotions,
           "dialogue": read_dialogue, "vad": read_emobank}


def read(task: str, data: str | Path, **kw) -> EvalSet:
    """Read the corpus for ``task`` (face, voice, text, dialogue, vad) from ``data``."""
    if task not in READERS:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(READERS)}")
    path = Path(data)
    if not path.exists():
        raise InputError(path, "not found")
    return READERS[task](path, **kw)
