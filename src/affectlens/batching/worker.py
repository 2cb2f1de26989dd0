"""Analyze one input and commit it: the same code in-process, in a worker process or a Ray task.

A worker holds one ``Engine`` for its whole life (models load once per worker).
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from typing import Callable

from .store import Store, content_hash, segment_table

#: progress(path, media seconds done in this input)
Progress = Callable[[str, float], None]


def make_engine():
    from ..engine import Engine

    return Engine()


def to_request(request: dict):
    from ..request import AnalysisRequest

    return AnalysisRequest(**request)


class Job:
    """Runs tasks (dicts made by ``run.plan``) against one engine and one output folder."""

    def __init__(self, out_dir: str, name: str | None = None):
        self.store = Store(out_dir)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self._engine = None

    @property
    def engine(self):
        if self._engine is None:
            self._engine = make_engine()
        return self._engine

    def run(self, task: dict, progress: Progress | None = None) -> dict:
        """Analyze ``task['path']`` and commit its rows and record; never raises for a bad input."""
        from ..errors import InputError

        path = task["path"]
        rec = {"path": path, "request_hash": task["request_hash"], "worker": self.name,
               "size_bytes": task.get("size_bytes"), "mtime_ns": task.get("mtime_ns"), "error": None}
        t0 = time.perf_counter()
        table = analysis = None
        try:
            rec["content_hash"] = task.get("content_hash") or content_hash(path)

            def hook(step, payload=None, completed=None, total=None):
                if step == "segments" and completed is not None and progress:
                    progress(path, float(completed))

            analysis = self.engine.analyze(path, request=to_request(task["request"]), hook=hook)
            table = segment_table(analysis, path, rec["content_hash"], task["request_hash"])
            rec.update(status="done", kind=analysis.media.kind, media_duration_s=analysis.media.duration,
                       rows=table.num_rows, affectlens_version=analysis.affectlens_version)
        except InputError as exc:
            rec.update(status="failed", error=str(exc), rows=0)
        except OSError as exc:  # unreadable file (hashing)
            rec.update(status="failed", error=f"{path}: {exc.strerror or exc}", rows=0)
        except MemoryError:
            rec.update(status="failed", error=f"{path}: out of memory while analyzing", rows=0)
        except Exception as exc:  # noqa: BLE001 - one bad input must not stop thousands
            last = traceback.extract_tb(exc.__traceback__)[-1]
            rec.update(status="failed", rows=0, error=f"{path}: internal error {type(exc).__name__}: {exc} "
                       f"({os.path.basename(last.filename)}:{last.lineno})")
        rec["wall_s"] = round(time.perf_counter() - t0, 3)
        dur = rec.get("media_duration_s")
        rec["x_realtime"] = round(dur / rec["wall_s"], 2) if dur and rec["wall_s"] > 0 else None
        rec["finished_at"] = time.time()
        return self.store.commit(rec, table, analysis if task.get("json") and table is not None else None)


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the parent dies, so a killed run leaves no orphan workers."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def worker_main(conn, out_dir: str, threads: int, max_rss_mb: float | None) -> None:
    """Worker process loop: receive a task, send progress and the finished record.

    Messages sent: ``("ready", name)``, ``("progress", path, seconds)`` and ``("done", record, retiring)``;
    a worker retires (exits after the input) when its memory passed ``max_rss_mb``.
    """
    _die_with_parent()
    os.environ["AFFECTLENS_THREADS"] = str(threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    job = Job(out_dir)
    last = [0.0]

    def progress(path: str, seconds: float) -> None:
        now = time.monotonic()
        if now - last[0] > 0.5:  # at most two messages a second
            last[0] = now
            conn.send(("progress", path, seconds))

    job.engine  # load the models before the first task
    conn.send(("ready", job.name))
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        record = job.run(task, progress)
        retiring = bool(max_rss_mb and rss_mb() > max_rss_mb)
        conn.send(("done", record, retiring))
        if retiring:
            return


def rss_mb(field: str = "VmRSS") -> float:
    """This process' resident memory (``VmRSS``) or its peak (``VmHWM``) in MB (Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
