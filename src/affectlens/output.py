"""Write analyses as JSON, JSONL, CSV, Parquet or WebVTT.

Writes are atomic (temporary file, then rename), so a failure never leaves a
half-written file and never destroys what an earlier write produced.
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


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
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


def write(analyses: list[Analysis], path: str | Path) -> None:
    """Write all ``analyses`` to ``path`` in the format its extension names.

    JSON holds one object for one input and a list for several; JSONL one object per
    line; CSV/Parquet one row per segment and modality with an ``input`` column;
    WebVTT takes a single input.
    """
    path = Path(path)
    fmt = output_format(path)
    if fmt == "json":
        data = [a.model_dump(mode="json") for a in analyses]
        payload = json.dumps(data[0] if len(data) == 1 else data, indent=1)
        _atomic_write(path, lambda p: p.write_text(payload))
    elif fmt == "jsonl":
        payload = "".join(a.model_dump_json() + "\n" for a in analyses)
        _atomic_write(path, lambda p: p.write_text(payload))
    elif fmt in ("csv", "parquet"):
        import pandas as pd

        frames = [a.to_dataframe().assign(input=a.media.path) for a in analyses]
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if fmt == "csv":
            _atomic_write(path, lambda p: df.to_csv(p, index=False))
        else:
            _atomic_write(path, lambda p: df.to_parquet(p, index=False))
    else:
        if len(analyses) != 1:
            raise ValueError(f"{path}: WebVTT output takes exactly one input (got {len(analyses)})")
        _atomic_write(path, lambda p: p.write_text(to_vtt(analyses[0])))
