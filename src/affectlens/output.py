"""Write analyses as JSON, JSONL, CSV, Parquet or WebVTT.

Shapes (the same for one input or many):

- JSON: a list of ``Analysis`` objects, always a list;
- JSONL: one segment per line, with its ``input`` (file) and ``segment`` (index);
- CSV / Parquet: long format, one row per segment, modality and measure (see :func:`long_rows`);
- with ``per_frame``: JSONL, CSV and Parquet hold one row per analysed frame per face
  (:func:`frame_rows`) and JSON keeps ``frames`` in each analysis;
- WebVTT: one cue per segment, a single input.

Writes are atomic (temporary file, then rename), so a failure never leaves a
half-written file and never destroys what an earlier write produced. Files get the
usual permissions (0666 minus the umask), not the temporary file's 0600.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from .schema import Analysis

FORMATS = ("json", "jsonl", "csv", "parquet", "vtt")


def output_format(path: str | Path) -> str:
    """Format from the file extension; raises ``ValueError`` for an unknown one."""
    ext = Path(path).suffix.lower().lstrip(".")
    if ext not in FORMATS:
        raise ValueError(f"{path}: unknown output format .{ext} (use one of: {', '.join(FORMATS)})")
    return ext


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically (a temporary file beside it, then a rename)."""
    _atomic_write(Path(path), lambda p: p.write_text(text))


def _vtt_time(t: float) -> str:
    h, rem = divmod(max(t, 0.0), 3600)
    m, s = divmod(rem, 60)
    return f"{int(h):02d}:{int(m):02d}:{s:06.3f}"


def to_vtt(analysis: Analysis) -> str:
    """WebVTT cues, one per segment: fused label, confidence and per-modality labels."""
    lines = ["WEBVTT", "", f"NOTE affectlens {analysis.affectlens_version} {analysis.media.path}", ""]
    for seg in analysis.segments:
        if seg.end <= seg.start:
            continue
        parts = [f"{m}: {e.label} {e.confidence:.0%}" for m, e in seg.estimates.items()]
        head = f"{seg.fused.label} ({seg.fused.confidence:.0%})" if seg.fused else "no estimate"
        lines += [f"{_vtt_time(seg.start)} --> {_vtt_time(seg.end)}", head]
        if parts:
            lines.append(" · ".join(parts))
        lines.append("")
    return "\n".join(lines)


def long_rows(analysis: Analysis) -> list[dict]:
    """Long-format rows of one analysis: one per segment, modality and measure.

    ``modality`` is face, voice, text, fused, smoothed, ``conflict`` or ``segment``;
    ``measure`` is ``label`` (text = label, value = confidence), ``prob:<label>``,
    ``valence`` / ``arousal`` / ``dominance``, ``fine:<name>`` (text ``predicted`` when it is one
    of the fine labels predicted), ``quality:<key>``, ``cue:<name>`` (with ``unit``,
    ``baseline``, ``cue_t0``/``cue_t1``; text = the word for word cues), ``conflict_score``
    (text = the pair), ``conflict_flag`` (1/0), ``shift`` (1/0) and ``text`` (the segment's words).
    """
    rows = []
    for i, seg in enumerate(analysis.segments):
        base = {"input": analysis.media.path, "segment": i, "start": seg.start, "end": seg.end,
                "kind": seg.kind, "track": seg.track, "speaker": seg.speaker}

        def add(modality: str, measure: str, value=None, text=None, **extra) -> None:
            rows.append({**base, "modality": modality, "measure": measure, "value": value, "text": text, **extra})

        ests = [*seg.estimates.items(), ("fused", seg.fused), ("smoothed", seg.smoothed)]
        for name, est in ((n, e) for n, e in ests if e is not None):
            add(name, "label", est.confidence, est.label, model=est.model)
            for k, p in est.probs.items():
                add(name, f"prob:{k}", p)
            for k in ("valence", "arousal", "dominance"):
                if getattr(est, k) is not None:
                    add(name, k, getattr(est, k))
            for k, v in est.fine.items():
                add(name, f"fine:{k}", v, "predicted" if k in est.fine_predicted else None)
            for k, v in est.quality.items():
                add(name, f"quality:{k}", v)
            for c in est.cues:
                if c.name != "estimate":
                    add(name, f"cue:{c.name}", c.value, c.text, unit=c.unit, baseline=c.baseline,
                        cue_t0=c.t0, cue_t1=c.t1)
        if seg.conflict is not None:
            add("conflict", "conflict_score", seg.conflict.score, ",".join(seg.conflict.modalities))
            add("conflict", "conflict_flag", float(seg.conflict.flag), seg.conflict.detail or None)
        add("segment", "shift", float(seg.shift))
        if seg.text:
            add("segment", "text", None, seg.text)
    return rows


#: key points of a per-frame face, in column order
FRAME_POINTS = ("eye_right", "eye_left", "nose_tip", "mouth_right", "mouth_left", "chin")


def frame_rows(analysis: Analysis) -> list[dict]:
    """One row per analysed frame per face: time, track, box, key landmarks, cues, probabilities."""
    rows = []
    for f in analysis.frames:
        row = {"input": analysis.media.path, "time": f.time, "track": f.track,
               **dict(zip(("x0", "y0", "x1", "y1"), f.box))}
        for k in FRAME_POINTS:
            x, y = f.landmarks.get(k, (None, None))
            row[f"{k}_x"], row[f"{k}_y"] = x, y
        row.update(f.cues)
        row.update({f"p_{k}": v for k, v in f.probs.items()})
        rows.append(row)
    return rows


def _write_json(analyses: list[Analysis], path: Path) -> None:
    """A JSON list of the analyses, serialised one at a time (by pydantic, without building
    the whole document as Python objects first: a long video's result stays small)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("[")
        for i, a in enumerate(analyses):
            f.write(",\n" if i else "\n")
            f.write(a.model_dump_json(indent=1))
        f.write("\n]\n")


def write(analyses: list[Analysis], path: str | Path, per_frame: bool = False) -> None:
    """Write all ``analyses`` to ``path`` in the format its extension names (shapes in the
    module docstring)."""
    path = Path(path)
    fmt = output_format(path)
    if fmt == "json":
        _atomic_write(path, lambda p: _write_json(analyses, p))
    elif fmt == "vtt":
        if len(analyses) != 1 or per_frame:
            raise ValueError(f"{path}: WebVTT output takes exactly one input and no per-frame rows")
        _atomic_write(path, lambda p: p.write_text(to_vtt(analyses[0])))
    elif fmt == "jsonl":
        if per_frame:
            lines = [json.dumps(r) for a in analyses for r in frame_rows(a)]
        else:
            lines = [json.dumps({"input": a.media.path, "segment": i, **s.model_dump(mode="json")})
                     for a in analyses for i, s in enumerate(a.segments)]
        payload = "".join(line + "\n" for line in lines)
        _atomic_write(path, lambda p: p.write_text(payload))
    else:
        import pandas as pd

        rows = [r for a in analyses for r in (frame_rows(a) if per_frame else long_rows(a))]
        df = pd.DataFrame(rows)
        if fmt == "csv":
            _atomic_write(path, lambda p: df.to_csv(p, index=False))
        else:
            _atomic_write(path, lambda p: df.to_parquet(p, index=False))
