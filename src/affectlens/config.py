"""Where things live: corpus root and thread budget."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import warnings
from pathlib import Path
from typing import Callable, Iterable

# Nothing may reach a model hub at run time.
for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_var, "1")
# MediaPipe / TFLite / glog chatter on stderr is not for users (errors still show).
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated")


def data_root(explicit: str | os.PathLike | None = None) -> Path:
    """Corpus root: ``explicit``, else ``$AFFECTLENS_DATA``, else ``../shared/data``."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("AFFECTLENS_DATA")
    return Path(env) if env else Path("../shared/data")


def threads() -> int:
    """Threads an onnxruntime session may use: the available cores, not more."""
    env = os.environ.get("AFFECTLENS_THREADS")
    if env:
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


class ThreadMap:
    """``[fn(x) for x in items]`` spread over a pool of ``workers`` threads, started on first
    use; serial for one worker or one item. For work that releases the GIL (onnxruntime, numpy),
    so that a model on single-thread sessions still keeps every core busy."""

    def __init__(self, workers: int | None = None, name: str = "affectlens") -> None:
        import threading

        self.workers = workers or threads()
        self.name = name
        self._pool = None
        self._lock = threading.Lock()

    def __call__(self, fn: Callable, items: Iterable) -> list:
        items = list(items)
        if self.workers <= 1 or len(items) <= 1:
            return [fn(x) for x in items]
        with self._lock:  # callers on several threads share one pool
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix=self.name)
        return list(self._pool.map(fn, items))


def onnx_session(path: str | os.PathLike, intra_threads: int | None = None):
    """An onnxruntime CPU session for ``path`` using ``intra_threads`` (default ``threads()``)
    intra-op threads."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = intra_threads or threads()
    opts.inter_op_num_threads = 1
    # no busy-waiting between ops: faster on a loaded 2-core machine (measured 32x -> 54x RT, voice)
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


#: held while file descriptor 2 points elsewhere; writers of messages take it (``stderr_free``)
STDERR_LOCK = threading.RLock()


@contextlib.contextmanager
def native_stderr_silenced():
    """Send file descriptor 2 to /dev/null for the block: native libraries (MediaPipe's
    TFLite/absl) log set-up chatter there that Python cannot filter. The descriptor is
    process-wide, so messages written meanwhile from other threads through
    :func:`stderr_free` wait for the block to end instead of being lost."""
    with STDERR_LOCK:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 2)
                yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


@contextlib.contextmanager
def interrupts_deferred():
    """Hold Ctrl-C, SIGTERM and SIGHUP while native libraries load (a ``KeyboardInterrupt``
    raised inside an extension module's import leaves it half-initialised and is swallowed as
    an ``ImportError``); the signal takes effect right after the block. Main thread only
    (elsewhere signals cannot be handled, so the block just runs)."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    sigs = [s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None]
    previous = {s: signal.signal(s, lambda signum, frame: held.append(signum)) for s in sigs}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if held:
            handler = previous[held[0]]
            if callable(handler):
                handler(held[0], None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(held[0])


def stderr_free():
    """Context in which stderr really reaches the user (not inside a silenced block of
    another thread)."""
    return STDERR_LOCK
