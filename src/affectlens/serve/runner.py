"""Worker threads that take queued jobs from the store and run them on one shared Engine.

Each job is its own ``engine.analyze`` call (its own run state); the models are loaded
once per process. Progress comes from the engine hook; a cancelled job stops at the
next hook call.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

from ..errors import InputError
from .store import JobStore

log = logging.getLogger("affectlens.serve")
#: progress is written at most this often per job
PROGRESS_EVERY_S = 0.5


#: request fields a client may not set: they would make the server read its own files or call out
REFUSED = {"transcript": "not accepted by the server (it names a file on the server)",
           "llm": "not accepted by the server (it would call an outside endpoint)"}


class Cancelled(Exception):
    """Raised inside the engine hook when the job was cancelled."""


def parse_request(text: str | None):
    """An ``AnalysisRequest`` from the JSON the client sent (defaults when empty).

    Raises ValueError with a short message when it does not validate."""
    from ..request import AnalysisRequest

    data = json.loads(text) if text and text.strip() else {}
    if not isinstance(data, dict):
        raise ValueError("request must be a JSON object")
    for key in REFUSED:
        if data.get(key) is not None:
            raise ValueError(f"{key}: {REFUSED[key]}")
    return AnalysisRequest.model_validate(data)


class Runner:
    """``workers`` threads around one Engine; ``wake()`` after a job was queued."""

    def __init__(self, store: JobStore, uploads: Path, workers: int = 1, engine=None):
        self.store, self.uploads, self.n = store, uploads, workers
        self._engine = engine
        self._engine_lock = threading.Lock()
        self._wake = threading.Condition()
        self._stop = False
        self._cancelled: set[str] = set()
        self._threads: list[threading.Thread] = []

    @property
    def engine(self):
        with self._engine_lock:
            if self._engine is None:
                from ..engine import Engine

                self._engine = Engine()
            return self._engine

    def warm(self) -> None:
        """Load the analyzers now rather than in the first job or stream (run in a thread)."""
        from ..analyzers import ModelUnavailable

        for key in ("voice", "face", "text"):
            try:
                self.engine.analyzer(key).load()
            except ModelUnavailable:
                pass  # the jobs will report it as absent
            except Exception:
                log.exception("loading the %s analyzer failed", key)

    def start(self) -> None:
        if self.n:
            threading.Thread(target=self.warm, name="affectlens-warm", daemon=True).start()
        for i in range(self.n):
            t = threading.Thread(target=self._loop, name=f"affectlens-job-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 5.0) -> None:
        with self._wake:
            self._stop = True
            self._wake.notify_all()
        for t in self._threads:
            t.join(timeout)

    def wake(self) -> None:
        with self._wake:
            self._wake.notify()

    def cancel(self, job_id: str) -> None:
        self._cancelled.add(job_id)

    def _loop(self) -> None:
        while not self._stop:
            try:
                claimed = self.store.claim()
            except Exception:  # database briefly unreachable: try again later
                log.exception("claim failed")
                claimed = None
            if claimed is None:
                with self._wake:
                    if not self._stop:
                        self._wake.wait(timeout=2.0)
                continue
            self.run(*claimed)

    def run(self, job_id: str, media: str, request_json: str) -> None:
        """Run one claimed job to done / failed (or leave it cancelled)."""
        last = [0.0]

        def hook(step, payload=None, completed=None, total=None):
            if job_id in self._cancelled:
                raise Cancelled()
            if step == "segments" and completed is not None and total:
                now = time.monotonic()
                if now - last[0] >= PROGRESS_EVERY_S:
                    last[0] = now
                    self.store.set_progress(job_id, 0.99 * completed / total)

        try:
            request = parse_request(request_json)
            analysis = self.engine.analyze(self.uploads / media, request=request, hook=hook)
            self.store.finish(job_id, result_json=analysis.model_dump_json())
        except Cancelled:
            pass  # the store already says cancelled
        except InputError as exc:
            self.store.finish(job_id, error=exc.reason)
        except MemoryError:
            self.store.finish(job_id, error="out of memory while analyzing")
        except Exception as exc:  # never lose a job silently, never leak a traceback to clients
            log.exception("job %s failed", job_id)
            self.store.finish(job_id, error=f"internal error ({type(exc).__name__})")
        finally:
            self._cancelled.discard(job_id)
