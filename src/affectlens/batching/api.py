"""``affectlens.batch(...)``: the Python entry point behind ``affectlens batch``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from .inputs import expand
from .run import Tracker, media_seconds, plan, run_inprocess, run_processes
from .store import Store


@dataclass
class BatchResult:
    """What a batch run did (the rows themselves are in ``out_dir``)."""

    out_dir: Path
    done: int  # inputs analysed in this run
    failed: int  # inputs that failed in this run
    skipped: int  # inputs already finished by an earlier run (same content and request)
    skipped_failed: int  # of those, inputs that had failed
    media_s: float  # media seconds analysed in this run
    wall_s: float

    @property
    def segments(self):
        """All rows of ``out_dir/segments`` as a DataFrame."""
        import pandas as pd

        return pd.read_parquet(self.out_dir / "segments")

    @property
    def files(self):
        """``out_dir/files.parquet`` as a DataFrame."""
        import pandas as pd

        return pd.read_parquet(self.out_dir / "files.parquet")


def batch(inputs: str | Iterable[str], out_dir: str | Path, *, workers: int | None = None, ray: bool | str = False,
          json: bool = False, retry_failed: bool = False, max_worker_mb: float | None = None,
          on_progress: Callable[[Tracker], None] | None = None, request=None, **options) -> BatchResult:
    """Analyze many inputs into ``out_dir`` (see ``affectlens.batch.store`` for the layout);
    a rerun with the same arguments resumes where the last one stopped.

    Parameters
    ----------
    inputs : str or iterable of str
        Files, folders (walked recursively), glob patterns or CSV manifests (a ``path`` column,
        optional ``transcript`` column; relative paths from the manifest's folder).
    workers : int, optional
        Worker processes, each with its own models (default 1; 0: run in this process). With
        ``ray``, the number of Ray tasks in flight (default there: the cluster's CPUs).
    ray : bool or str
        Run on Ray: ``True`` for a new local Ray, or the cluster address (e.g. ``"auto"``).
    json : bool
        Also write each input's full Analysis JSON under ``out_dir/json``.
    retry_failed : bool
        Redo inputs that failed in an earlier run (they are otherwise kept as failed).
    max_worker_mb : float, optional
        Replace a worker process whose resident memory passed this after an input.
    on_progress : callable, optional
        Called with the ``Tracker`` whenever a file finishes or a worker reports progress.
    request : AnalysisRequest, optional
        What to analyze and how; or give its fields as ``**options`` (``modalities``, ``fps``,
        ``asr``, ``transcript``...), as for ``affectlens.analyze``.
    """
    if workers is not None and workers < 0:
        raise ValueError(f"workers must be 0 or more (got {workers})")
    t0 = time.perf_counter()
    store = Store(out_dir)
    req = _request_dict(request, options)
    items = expand([inputs] if isinstance(inputs, (str, Path)) else [str(i) for i in inputs],
                   transcript=req.pop("transcript", None))
    todo = plan(items, req, store, retry_failed=retry_failed, write_json=json)
    records = store.records()
    durations = {t["path"]: media_seconds(t["path"]) for t in todo.tasks}
    tracker = Tracker(len(todo.tasks), sum(durations.values()), on_change=on_progress)
    last_write = [time.monotonic()]

    def on_record(task: dict, rec: dict) -> None:
        records[rec["path"]] = rec
        tracker.finished(rec, durations.get(task["path"], 0.0))
        if time.monotonic() - last_write[0] > 10:  # files.parquet stays roughly current
            store.write_files_table(records)
            last_write[0] = time.monotonic()

    if ray is not False and ray is not None:
        from .ray_backend import run_ray

        run_ray(todo.tasks, str(store.root), None if ray is True else str(ray), workers or None, on_record)
    elif workers == 0:
        run_inprocess(todo.tasks, str(store.root), on_record, tracker)
    else:
        run_processes(todo.tasks, str(store.root), workers or 1, on_record, tracker, max_worker_mb)
    store.write_files_table(records)
    return BatchResult(store.root, done=tracker.files_done - tracker.failed, failed=tracker.failed,
                       skipped=len(todo.skipped),
                       skipped_failed=sum(r["status"] == "failed" for r in todo.skipped), media_s=tracker.media_done, wall_s=time.perf_counter() - t0)


def _request_dict(request, options: dict) -> dict:
    """The full request as JSON-able data (defaults filled in, so the request hash covers them)."""
    from ..request import AnalysisRequest

    if request is None:
        request = AnalysisRequest(**options)
    elif options:
        request = request.model_copy(update=options)
    return request.model_dump(mode="json")
