"""Audio-visual evaluation: ``affectlens eval av MANIFEST.csv``.

Manifest columns ``image_or_video, audio, text, face_label, voice_label, label`` (any may be
empty; paths relative to the manifest). Each row is analysed per modality, fused, and checked
for conflict. Reported: fused and single-modality classification on rows with ``label``, and
conflict-detection AUROC where both ``face_label`` and ``voice_label`` are given (ground truth:
they differ).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..analyzers import ModelUnavailable, SegmentInput, Word

from ..registry import get_analyzer
from ..errors import InputError
from ..fusion.conflict import detect
from ..fusion.fuse import fuse
from ..media import decode, transcript
from ..schema import LABELS, Estimate, to_canonical
from ..state import RunState
from . import metrics, overlap
from .run import skipped_summary

COLUMNS = ("image_or_video", "audio", "text", "face_label", "voice_label", "label")
#: images this small are already face crops (FER2013 is 48×48)
CROP_MAX_SIDE = 96


@dataclass
class AVRow:
    image_or_video: Path | None
    audio: Path | None
    text: str
    face_label: str | None
    voice_label: str | None
    label: str | None


def _label(value: str) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return to_canonical(value, "speech") if value.lower() not in LABELS else value.lower()
    except KeyError:
        return to_canonical(value, "fer2013")


def read_manifest(path: str | Path, skipped: list[tuple[str, str]] | None = None) -> list[AVRow]:
    """Rows of an AV manifest, labels mapped to the canonical set. With a ``skipped`` list, rows
    with an unknown label are recorded there and left out instead of failing the manifest."""
    path = Path(path)
    rows = transcript.read_table(path)
    missing = [c for c in COLUMNS if c not in rows[0]]
    if missing:
        raise InputError(path, f"AV manifest lacks column(s) {', '.join(missing)} (needs {', '.join(COLUMNS)})")

    def resolve(value: str) -> Path | None:
        if not (value or "").strip():
            return None
        p = Path(value.strip())
        return p if p.is_absolute() else path.parent / p

    out = []
    for n, r in enumerate(rows, 2):
        try:
            out.append(AVRow(resolve(r["image_or_video"]), resolve(r["audio"]), (r["text"] or "").strip(),
                             _label(r["face_label"]), _label(r["voice_label"]), _label(r["label"])))
        except KeyError as exc:
            if skipped is None:
                raise InputError(path, f"line {n}: unknown label {exc}") from None
            skipped.append((f"{path}:{n}", f"unknown label ({exc.args[0]})"))
    return out


def inputs_for(row: AVRow, asr=None) -> dict[str, SegmentInput]:
    """Per-modality segment inputs of one manifest row; with ``asr`` (``audio, t0 -> words``),
    a row with audio and no text gets the words of its transcript, as ``analyze`` would."""
    out = {}
    if row.image_or_video is not None:
        src = row.image_or_video
        if src.suffix.lower() in decode.IMAGE_EXT:
            img = decode.load_image(src)
            out["face"] = SegmentInput(0.0, 0.0, frames=[(0.0, img)], face_crop=max(img.shape[:2]) <= CROP_MAX_SIDE)
        else:
            out["face"] = SegmentInput(0.0, 0.0, frames=list(decode.iter_frames(src, fps=5.0)))
    if row.audio is not None:
        audio = np.concatenate(list(decode.iter_audio(decode.check_file(row.audio))) or [np.zeros(0, np.float32)])
        out["voice"] = SegmentInput(0.0, audio.size / decode.SAMPLE_RATE, audio=audio)
        if asr is not None and not row.text and audio.size:
            words = asr(audio, 0.0)
            if words:
                out["text"] = SegmentInput(0.0, out["voice"].t1, words=words)
    if row.text:
        out["text"] = SegmentInput(0.0, 1.0, words=[Word(row.text, 0.0, 1.0)])
    return out


def analyse_rows(rows: list[AVRow], batch: int = 32, asr=None,
                 skipped: list[tuple[str, str]] | None = None) -> list[dict[str, Estimate] | None]:
    """Per-row modality estimates from the shipped analyzers (evidence cues off). With a
    ``skipped`` list, a row whose media cannot be read is recorded there and gets ``None``."""
    needed = sorted({m for r in rows for m in inputs_for_kinds(r, asr is not None)})
    analyzers = {m: get_analyzer(m) for m in needed}
    results: list[dict[str, Estimate]] = []
    for i in range(0, len(rows), batch):
        chunk = [_inputs_or_skip(r, asr, skipped) for r in rows[i:i + batch]]
        per_mod = {}
        for m, an in analyzers.items():
            idx = [j for j, c in enumerate(chunk) if c is not None and m in c]
            with RunState(evidence=False) as state:
                per_mod[m] = dict(zip(idx, an.analyze_batch([chunk[j][m] for j in idx], state)))
        for j in range(len(chunk)):
            results.append(None if chunk[j] is None else
                           {m: e for m in analyzers if (e := per_mod[m].get(j)) is not None})
    return results


def _inputs_or_skip(row: AVRow, asr, skipped: list | None) -> dict[str, SegmentInput] | None:
    try:
        return inputs_for(row, asr)
    except InputError as exc:
        if skipped is None:
            raise
        skipped.append((exc.path, exc.reason))
        return None


def inputs_for_kinds(row: AVRow, asr: bool = False) -> list[str]:
    return [m for m, v in (("face", row.image_or_video), ("voice", row.audio),
                           ("text", row.text or (asr and row.audio))) if v]


def _probs(e: Estimate | None) -> np.ndarray:
    return np.full(len(LABELS), np.nan) if e is None else np.array([e.probs[k] for k in LABELS])


def evaluate_av(manifest: str | Path, limit: int | None = None, asr: bool = False) -> dict:
    """The ``eval av`` result JSON. ``asr``: rows with audio and no text are transcribed offline
    (faster-whisper tiny.en) and their words join the fusion, as in ``affectlens analyze``."""
    skipped: list[tuple[str, str]] = []
    rows = read_manifest(manifest, skipped)
    rows = rows[:limit] if limit else rows
    try:
        asr_fn = None
        if asr:
            from ..media.asr import transcriber

            transcribe, seen = transcriber(), {}

            def asr_fn(audio: np.ndarray, t0: float):  # pairs share clips: transcribe each once
                key = (audio.size, hash(audio.tobytes()))
                if key not in seen:
                    seen[key] = transcribe(audio, t0)
                return seen[key]
        ests = analyse_rows(rows, asr=asr_fn, skipped=skipped)
    except ModelUnavailable as exc:
        raise ModelUnavailable(f"no model for av: {exc}") from None
    kept = [i for i, e in enumerate(ests) if e is not None]
    rows, ests = [rows[i] for i in kept], [ests[i] for i in kept]
    total = len(rows) + len(skipped)
    if not rows or len(skipped) > total / 2:
        first = f"; first: {skipped[0][0]}: {skipped[0][1]}" if skipped else ""
        raise InputError(manifest, f"{len(skipped)} of {total} rows are unreadable or unlabelled{first}")
    fused = [fuse(list(e.values())) for e in ests]
    out = {"task": "av", "data": str(manifest), "n": len(rows), "skipped": skipped_summary(skipped), "asr": asr,
           "model": {"fusion": fused[0].model if fused and fused[0] else None},
           "metrics": {}, "per_class": {}, "confusion": []}
    labelled = [i for i, r in enumerate(rows) if r.label]
    if labelled:
        y = np.array([LABELS.index(rows[i].label) for i in labelled])
        rep = metrics.classification_report(y, np.stack([_probs(fused[i]) for i in labelled]), list(LABELS))
        out["metrics"].update(rep["metrics"])
        out["per_class"], out["confusion"] = rep["per_class"], rep["confusion"]
        for m in ("face", "voice", "text"):
            if any(m in ests[i] for i in labelled):
                single = metrics.classification_report(y, np.stack([_probs(ests[i].get(m)) for i in labelled]), list(LABELS))
                out["metrics"][f"{m}_uar"] = single["metrics"]["uar"]
                out["metrics"][f"{m}_ece"] = single["metrics"]["ece"]
    pairs = [i for i, r in enumerate(rows) if r.face_label and r.voice_label and {"face", "voice"} <= set(ests[i])]
    if pairs:
        truth = np.array([rows[i].face_label != rows[i].voice_label for i in pairs])
        scores = np.array([detect({m: ests[i][m] for m in ("face", "voice")}).score for i in pairs])
        out["metrics"]["conflict_auroc"] = metrics.auroc(scores, truth)
        out["metrics"]["auroc"] = out["metrics"]["conflict_auroc"]
        out["metrics"]["n_conflict_pairs"] = int(len(pairs))
    return overlap.attach(out, [row_key(r) for r in rows], models_used(ests))


def row_key(row: AVRow) -> overlap.ItemKey:
    """One key for a manifest row: its audio's speaker, its image's file name and its text."""
    key = overlap.speech_key(row.audio) if row.audio is not None else overlap.ItemKey()
    if row.image_or_video is not None:
        key.name = row.image_or_video.name
    if row.text:
        key.hashes = overlap.text_key(row.text).hashes
    return key


def models_used(ests: list[dict[str, Estimate]]) -> list[str]:
    """The shipped models behind the estimates, plus the learned fusion when installed."""
    from ..fusion.fuse import LEARNED_MODEL, learned_params

    names = sorted({e.model for row in ests for e in row.values()})
    return names + ([LEARNED_MODEL] if learned_params() is not None else [])
