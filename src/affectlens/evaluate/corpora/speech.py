"""Speech corpora as labelled items (RAVDESS speech, EmoDB), labels parsed from file names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...schema import EMODB_CODES, RAVDESS_CODES, fine_name
from ...voice.head import FINE_LABELS
#: each corpus' label set, in fine-label spelling
CORPUS_LABELS: dict[str, tuple[str, ...]] = {
    "ravdess": ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgusted", "surprised"),
    "emodb": ("neutral", "bored", "happy", "sad", "angry", "fearful", "disgusted"),
}


@dataclass(frozen=True)
class Item:
    """One labelled clip."""

    path: Path
    corpus: str
    speaker: str
    label: str  # fine label
    intensity: int | None = None  # RAVDESS 1 normal, 2 strong


def parse(path: str | Path) -> Item:
    """Label, speaker and corpus of a RAVDESS or EmoDB file from its name.

    Raises
    ------
    ValueError
        If the name matches neither convention.
    """
    p = Path(path)
    stem = p.stem
    parts = stem.split("-")
    if len(parts) == 7 and all(s.isdigit() for s in parts):
        return Item(p, "ravdess", f"ravdess-{parts[6]}", fine_name(RAVDESS_CODES[parts[2]]),
                    int(parts[3]))
    if len(stem) >= 7 and stem[:2].isdigit() and stem[5] in EMODB_CODES:
        return Item(p, "emodb", f"emodb-{stem[:2]}", fine_name(EMODB_CODES[stem[5]]))
    raise ValueError(f"not a RAVDESS or EmoDB file name: {p.name}")


def list_items(root: str | Path, corpora: tuple[str, ...] = ("ravdess", "emodb")) -> list[Item]:
    """All labelled clips under ``root/ravdess/Actor_*/`` and ``root/emodb/``, sorted by path.

    Audio files (``.flac`` or ``.wav``) whose names do not parse are skipped.
    """
    root = Path(root)
    items = []
    for corpus in corpora:
        base = root / corpus
        if not base.is_dir():
            continue
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


def corpus_metrics(P: np.ndarray, y: np.ndarray, corpus: np.ndarray) -> dict:
    """Per corpus: renormalise over its labels, argmax -> accuracy, UAR, macro F1, ECE, per-class recall."""
    from ..metrics import expected_calibration_error

    out = {}
    for c, labs in CORPUS_LABELS.items():
        m = corpus == c
        if not m.any():
            continue
        idx = np.array([FINE_LABELS.index(lab) for lab in labs])
        p = P[m][:, idx]
        p = p / p.sum(axis=1, keepdims=True)
        pred = idx[p.argmax(axis=1)]
        yt = y[m]
        recall, f1 = {}, []
        for j, lab in zip(idx, labs):
            tp = np.sum((pred == j) & (yt == j))
            rec = tp / max(1, np.sum(yt == j))
            prec = tp / max(1, np.sum(pred == j))
            recall[lab] = round(float(rec), 4)
            f1.append(0.0 if tp == 0 else 2 * prec * rec / (prec + rec))
        out[c] = {"n": int(m.sum()), "uar": round(float(np.mean(list(recall.values()))), 4),
                  "accuracy": round(float(np.mean(pred == yt)), 4),
                  "macro_f1": round(float(np.mean(f1)), 4),
                  "ece": round(expected_calibration_error(p, np.array([list(idx).index(v) for v in yt])), 4), "recall": recall}
    return out
