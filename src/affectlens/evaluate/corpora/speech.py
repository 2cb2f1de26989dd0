"""Speech corpora whose file names encode the label: RAVDESS, EmoDB, nEMO (`SPK_emotion_N`), CREMA-D, TESS; or a CSV
manifest ``path,label[,speaker]``. One parser for eval, benches and the voice recipe; speaker
ids are ``corpus-id`` (``ravdess-03``, ``emodb-08``, ``crema-d-1001``, ``tess-OAF``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import numpy as np

from ...analyzers import SegmentInput
from ...errors import InputError
from ...media import decode, transcript
from ...schema import EMODB_CODES, RAVDESS_CODES, fine_name, to_canonical
from .items import EvalSet, Item, canonical_order

AUDIO_EXT = {".wav", ".flac", ".mp3", ".ogg", ".m4a", ".opus", ".aac", ".webm", ".mp4"}

#: each corpus' label set, in fine-label spelling
CORPUS_LABELS: dict[str, tuple[str, ...]] = {
    "ravdess": ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgusted", "surprised"),
    "emodb": ("neutral", "bored", "happy", "sad", "angry", "fearful", "disgusted"),
    "crema-d": ("neutral", "happy", "sad", "angry", "fearful", "disgusted"),
    "tess": ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"),
    "nemo": ("neutral", "happy", "sad", "angry", "fearful", "surprised"),
}
_NEMO = {"anger": "angry", "fear": "fearful", "happiness": "happy", "neutral": "neutral",
         "sadness": "sad", "surprised": "surprised"}

# convention -> file-name pattern, and (label, speaker number, intensity) from its match
_NAMES: list[tuple[str, re.Pattern, Callable[[re.Match], tuple[str, str, int | None]]]] = [
    ("ravdess", re.compile(r"^\d{2}-\d{2}-(\d{2})-(\d{2})-\d{2}-\d{2}-(\d{2})$"),
     lambda m: (fine_name(RAVDESS_CODES[m.group(1)]), m.group(3), int(m.group(2)))),
    ("emodb", re.compile(r"^(\d{2})[a-z]\d{2}([WLEAFTN])[a-z]$"),
     lambda m: (fine_name(EMODB_CODES[m.group(2)]), m.group(1), None)),
    ("crema-d", re.compile(r"^(\d{4})_[A-Z]{3}_(ANG|DIS|FEA|HAP|NEU|SAD)_[A-Z]{1,2}$"),
     lambda m: (to_canonical(m.group(2).lower(), "speech"), m.group(1), None)),
    ("tess", re.compile(r"^(OAF|YAF)_\w+?_(angry|disgust|fear|happy|neutral|ps|sad)$", re.I),
     lambda m: (to_canonical(m.group(2).lower(), "speech"), m.group(1).upper(), None)),
    ("nemo", re.compile(r"^([A-Z]{2}\d)_(anger|fear|happiness|neutral|sadness|surprised)_\d+$"),
     lambda m: (_NEMO[m.group(2)], m.group(1), None)),
]


def parse(path: str | Path) -> Item:
    """The labelled clip named ``path`` (source, fine label, ``corpus-id`` speaker, corpus).

    Raises
    ------
    ValueError
        If the name follows none of the conventions.
    """
    p = Path(path)
    for corpus, pattern, fields in _NAMES:
        m = pattern.match(p.stem)
        if m:
            label, speaker, intensity = fields(m)
            return Item(p, label, f"{corpus}-{speaker}", corpus=corpus, intensity=intensity)
    raise ValueError(f"not a RAVDESS, EmoDB, nEMO, CREMA-D or TESS file name: {p.name}")


def list_items(root: str | Path, corpora: tuple[str, ...] = ("ravdess", "emodb")) -> list[Item]:
    """All labelled clips (``.flac``/``.wav``) under ``root/<corpus>/``, sorted by path per corpus;
    files whose names do not parse are skipped."""
    root = Path(root)
    items = []
    for corpus in corpora:
        base = root / corpus
        if base.is_dir():
            for f in sorted(base.rglob("*")):
                if f.suffix.lower() in (".flac", ".wav"):
                    try:
                        items.append(parse(f))
                    except (ValueError, KeyError):
                        continue
    return items


def load_audio(path: str | Path, sr: int = 16000) -> np.ndarray:
    """Read a mono float32 clip (must already be at ``sr``; the corpora are 16 kHz)."""
    import soundfile as sf

    x, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    if file_sr != sr:
        raise ValueError(f"{path}: expected {sr} Hz, got {file_sr} Hz")
    return x.mean(axis=1)


def read(data: Path) -> EvalSet:
    """A folder of audio whose names encode labels, searched recursively, or a CSV manifest
    ``path,label[,speaker]`` (paths relative to the CSV)."""
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
        for p in sorted(data.rglob("*")):
            if p.suffix.lower() in AUDIO_EXT:
                try:
                    items.append(parse(p))
                except (ValueError, KeyError):
                    continue
        fmt = "+".join(sorted({it.corpus for it in items})) or "audio-folder"
    else:
        raise InputError(data, "expected a folder of labelled audio or a CSV manifest")
    if not items:
        raise InputError(data, "no audio files with labels in their names (RAVDESS, EmoDB, nEMO, CREMA-D, TESS)")

    def load(item: Item) -> SegmentInput:
        audio = np.concatenate(list(decode.iter_audio(decode.check_file(item.source))) or [np.zeros(0, np.float32)])
        return SegmentInput(0.0, audio.size / decode.SAMPLE_RATE, audio=audio, speaker=item.speaker)

    space = {it.target for it in items}
    if fmt != "manifest":  # the corpus' whole label space, also labels absent from this folder
        for name in fmt.split("+"):
            space |= set(CORPUS_LABELS.get(name, ()))
    return EvalSet("voice", str(data), fmt, "single", canonical_order(space), items, load, skipped)
