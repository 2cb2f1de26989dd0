"""Plan a batch (what is already done), run it on worker processes or Ray, track progress."""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from .inputs import Item
from .store import Store, content_hash, failed_record, path_key, request_hash
from .worker import Job, worker_main


@dataclass
class Plan:
    tasks: list[dict]
    skipped: list[dict]  # records of inputs already finished with the same content and request


def plan(items: list[Item], request: dict, store: Store, retry_failed: bool = False,
         write_json: bool = False) -> Plan:
    """Tasks for the inputs that are not finished with this content and request.

    An input is finished when its record has the same request hash and the same content:
    same size and modification time, or else the same SHA-256 (a touched but unchanged file
    is not redone). Failed inputs are finished unless ``retry_failed``."""
    records = store.records()
    tasks, skipped = [], []
    for it in items:
        req = {**request, "transcript": it.transcript} if it.transcript else request
        task = {"path": it.path, "request": req, "request_hash": request_hash(req), "json": write_json}
        try:
            st = os.stat(it.path)
            task.update(size_bytes=st.st_size, mtime_ns=st.st_mtime_ns)
        except OSError:
            task.update(size_bytes=None, mtime_ns=None)
        rec = records.get(it.path)
        if rec is not None and _finished(rec, task, store, retry_failed, write_json):
            skipped.append(rec)
        else:
            tasks.append(task)
    return Plan(tasks, skipped)


def _finished(rec: dict, task: dict, store: Store, retry_failed: bool, write_json: bool) -> bool:
    if rec.get("request_hash") != task["request_hash"]:
        return False
    if rec["status"] == "failed":
        return not retry_failed and (rec.get("size_bytes"), rec.get("mtime_ns")) == (
            task["size_bytes"], task["mtime_ns"])
    if not store.part(path_key(rec["path"])).exists() or (write_json and not rec.get("json")):
        return False
    if (rec.get("size_bytes"), rec.get("mtime_ns")) == (task["size_bytes"], task["mtime_ns"]):
        return True
    try:
        task["content_hash"] = content_hash(task["path"])
    except OSError:
        return False
    return task["content_hash"] == rec.get("content_hash")


def media_seconds(path: str) -> float:
    """Container duration for the progress bar (0 for text, images and unreadable files)."""
    try:
        import av

        with av.open(path) as c:
            return (c.duration or 0) / 1e6
    except Exception:  # noqa: BLE001 - the worker reports the real error
        return 0.0


@dataclass
class Tracker:
    """Files and media seconds done, for the progress bar and ETA."""

    files_total: int
    media_total: float
    files_done: int = 0
    failed: int = 0
    media_done: float = 0.0
    partial: dict[str, float] = field(default_factory=dict)
    on_change: Callable[["Tracker"], None] | None = None

    def progress(self, path: str, seconds: float) -> None:
        self.partial[path] = seconds
        self._changed()

    def finished(self, rec: dict, media: float) -> None:
        self.partial.pop(rec["path"], None)
        self.files_done += 1
        self.failed += rec["status"] == "failed"
        self.media_done += media
        self._changed()

    @property
    def media_now(self) -> float:
        return self.media_done + sum(self.partial.values())

    def _changed(self) -> None:
        if self.on_change:
            self.on_change(self)


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def run_inprocess(tasks: list[dict], out_dir: str, on_record: Callable[[dict, dict], None],
                  tracker: Tracker) -> None:
    """Everything in this process (``workers=0``)."""
    job = Job(out_dir)
    for task in tasks:
        on_record(task, job.run(task, tracker.progress))


def run_processes(tasks: list[dict], out_dir: str, workers: int, on_record: Callable[[dict, dict], None],
                  tracker: Tracker, max_worker_mb: float | None = None) -> None:
    """``workers`` spawned processes, one task at a time each, so the parent always knows what
    a worker holds: a worker that dies (crash, OOM kill) fails only its current input and is
    replaced. A worker whose memory passes ``max_worker_mb`` after an input is replaced too."""
    import multiprocessing as mp
    from multiprocessing.connection import wait

    ctx = mp.get_context("spawn")
    threads = max(1, _cores() // workers)
    pending = deque(tasks)
    slots: dict = {}  # parent connection -> [process, current task or None, ready]
    store = Store(out_dir)
    start_failures = 0

    def spawn() -> None:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=worker_main, args=(child, out_dir, threads, max_worker_mb), daemon=True,
                           name="affectlens-batch-worker")
        proc.start()
        child.close()
        slots[parent] = [proc, None, False]

    def give(conn) -> None:
        if pending:
            slots[conn][1] = pending.popleft()
            conn.send(slots[conn][1])
        else:
            conn.send(None)

    for _ in range(min(workers, len(pending))):
        spawn()
    try:
        while slots:
            wait(list(slots) + [s[0].sentinel for s in slots.values()], timeout=1.0)
            for conn in list(slots):
                proc, task, ready = slots[conn]
                alive = True
                try:
                    while conn.poll():
                        msg = conn.recv()
                        if msg[0] == "ready":
                            slots[conn][2] = True
                            give(conn)
                        elif msg[0] == "progress":
                            tracker.progress(msg[1], msg[2])
                        elif msg[0] == "done":
                            slots[conn][1] = None
                            on_record(task, msg[1])
                            if msg[2]:  # retiring: memory above max_worker_mb
                                alive = False
                            else:
                                give(conn)
                except (EOFError, OSError):
                    alive = False
                if alive and proc.is_alive():
                    continue
                proc.join(timeout=5)
                _, task, ready = slots.pop(conn)
                conn.close()
                if task is not None:
                    code = proc.exitcode
                    how = f"worker killed by signal {-code}" if code and code < 0 else f"worker exited ({code})"
                    on_record(task, store.commit(failed_record(task, how + " while analyzing this input")))
                if not ready:
                    start_failures += 1
                    if start_failures >= 3:
                        raise RuntimeError("batch workers fail to start (see the messages above)")
                if pending:
                    spawn()
    finally:
        for conn, (proc, _, _) in slots.items():
            if proc.is_alive():
                proc.kill()
            proc.join(timeout=5)
