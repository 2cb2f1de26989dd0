"""The batch output folder and its atomic per-file commits.

Layout of ``OUT_DIR``::

    segments/part-<key>.parquet   rows of one input (one row per segment x modality)
    files.parquet                 one row per input: status done|failed, error, durations
    json/<stem>-<key>.json        the full Analysis, with ``--json``
    _state/<key>.json             the manifest record of a finished input

``key`` is derived from the input's absolute path, so a redone input always replaces its
own part. A record names the content hash and request hash it was made with; the input is
skipped on a rerun only when both still match. Each commit writes its part (and JSON) to a
temporary dot-file, renames it into place, then renames the record into place: a run killed
at any instant leaves either a complete input or one that the next run redoes and replaces,
never a half or a duplicate. Dot-files are ignored by ``pandas.read_parquet(OUT_DIR/segments)``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..schema import LABELS, Analysis

SEGMENT_SCHEMA = pa.schema([
    ("path", pa.string()), ("segment", pa.int32()), ("start", pa.float64()), ("end", pa.float64()),
    ("kind", pa.string()), ("track", pa.string()), ("speaker", pa.string()), ("text", pa.string()),
    ("modality", pa.string()), ("model", pa.string()), ("label", pa.string()),
    ("confidence", pa.float64()), ("valence", pa.float64()), ("arousal", pa.float64()),
    ("dominance", pa.float64()), *[(f"p_{k}", pa.float64()) for k in LABELS],
    ("conflict_score", pa.float64()), ("conflict_flag", pa.bool_()), ("conflict_modalities", pa.string()),
    ("shift", pa.bool_()), ("content_hash", pa.string()), ("request_hash", pa.string()),
])
FILE_SCHEMA = pa.schema([
    ("path", pa.string()), ("status", pa.string()), ("error", pa.string()), ("kind", pa.string()),
    ("size_bytes", pa.int64()), ("media_duration_s", pa.float64()), ("wall_s", pa.float64()),
    ("x_realtime", pa.float64()), ("rows", pa.int64()), ("worker", pa.string()),
    ("finished_at", pa.float64()), ("content_hash", pa.string()), ("request_hash", pa.string()),
    ("mtime_ns", pa.int64()), ("json", pa.string()), ("affectlens_version", pa.string()),
])


def path_key(path: str) -> str:
    """File-name key of an input: a hash of its absolute path."""
    return hashlib.sha256(os.path.abspath(path).encode()).hexdigest()[:24]


def content_hash(path: str | os.PathLike) -> str:
    """SHA-256 of the file's bytes."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def request_hash(request: dict) -> str:
    """Hash of the analysis request (sorted JSON) and the affectlens version."""
    from ..version import __version__

    text = json.dumps({"request": request, "version": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


_UMASK = os.umask(0)
os.umask(_UMASK)


def failed_record(task: dict, reason: str) -> dict:
    """The record of an input that failed outside the analysis (its worker died)."""
    return {"path": task["path"], "status": "failed", "request_hash": task["request_hash"], "rows": 0,
            "size_bytes": task.get("size_bytes"), "mtime_ns": task.get("mtime_ns"), "finished_at": time.time(),
            "error": f"{task['path']}: {reason}"}


def _atomic(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs are ordinary files
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def segment_table(analysis: Analysis, path: str, chash: str, rhash: str) -> pa.Table:
    """One row per segment x estimate (face, voice, text, fused, smoothed); a segment with no
    estimate at all gets one row with an empty modality."""
    cols: dict[str, list] = {name: [] for name in SEGMENT_SCHEMA.names}
    for i, seg in enumerate(analysis.segments):
        ests = [(m, e) for m, e in [*seg.estimates.items(), ("fused", seg.fused), ("smoothed", seg.smoothed)]
                if e is not None] or [(None, None)]
        c = seg.conflict
        for name, est in ests:
            row = {"path": path, "segment": i, "start": seg.start, "end": seg.end, "kind": seg.kind,
                   "track": seg.track, "speaker": seg.speaker, "text": seg.text, "modality": name,
                   "model": est and est.model, "label": est and est.label,
                   "confidence": est and est.confidence, "valence": est and est.valence,
                   "arousal": est and est.arousal, "dominance": est and est.dominance,
                   "conflict_score": c.score if c else None, "conflict_flag": c.flag if c else None,
                   "conflict_modalities": ",".join(c.modalities) if c and c.modalities else None,
                   "shift": seg.shift, "content_hash": chash, "request_hash": rhash}
            row.update({f"p_{k}": est.probs.get(k) if est else None for k in LABELS})
            for k, v in row.items():
                cols[k].append(v)
    return pa.Table.from_pydict(cols, schema=SEGMENT_SCHEMA)


class Store:
    """``OUT_DIR`` as seen by the run and by every worker (which may be on other machines
    when the folder is shared)."""

    def __init__(self, out_dir: str | os.PathLike):
        self.root = Path(out_dir)
        self.segments = self.root / "segments"
        self.state = self.root / "_state"
        self.json_dir = self.root / "json"
        for d in (self.segments, self.state):
            d.mkdir(parents=True, exist_ok=True)

    def records(self) -> dict[str, dict]:
        """Every committed record, by absolute input path."""
        out = {}
        for f in sorted(self.state.glob("*.json")):
            try:
                rec = json.loads(f.read_text())
            except (OSError, ValueError):
                continue  # unreadable record: its input is redone
            out[rec["path"]] = rec
        return out

    def part(self, key: str) -> Path:
        return self.segments / f"part-{key}.parquet"

    def commit(self, record: dict, table: pa.Table | None = None, analysis: Analysis | None = None) -> dict:
        """Write the input's rows (or remove stale ones when it failed), its JSON, then its record."""
        key = path_key(record["path"])
        part = self.part(key)
        if table is not None:
            _atomic(part, lambda tmp: pq.write_table(table, tmp))
        elif part.exists():
            part.unlink()
        if analysis is not None:
            self.json_dir.mkdir(exist_ok=True)
            target = self.json_dir / f"{Path(record['path']).stem}-{key[:12]}.json"
            payload = analysis.model_dump_json(indent=1)
            _atomic(target, lambda tmp: Path(tmp).write_text(payload))
            record["json"] = str(target)
        _atomic(self.state / f"{key}.json", lambda tmp: Path(tmp).write_text(json.dumps(record)))
        return record

    def write_files_table(self, records: dict[str, dict]) -> Path:
        """``files.parquet`` from the records (atomic)."""
        rows = [{k: rec.get(k) for k in FILE_SCHEMA.names} for rec in records.values()]
        table = pa.Table.from_pylist(rows, schema=FILE_SCHEMA)
        out = self.root / "files.parquet"
        _atomic(out, lambda tmp: pq.write_table(table, tmp))
        return out
