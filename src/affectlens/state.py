"""Per-run state: everything that belongs to one analysis (one stream) and nothing else.

Analyzers are loaded once and read-only afterwards; what they keep between the segments of
one input (face tracks and their MediaPipe graphs, the face frame cache, per-speaker voice
baselines) lives in a :class:`RunState` made for that input and closed after it. Two analyses
at once, from two threads, never see each other's state.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator


class RunState:
    """The state of one analysis run.

    Parameters
    ----------
    evidence : bool
        Compute evidence cues that cost extra model passes (word occlusion). Evaluation
        turns this off; it never changes a probability.
    per_frame : bool
        Collect every analysed frame's faces in ``frames`` (``analyze --per-frame``).

    Each analyzer keeps its part under its own key (:meth:`part`); :meth:`close` releases
    parts that hold native resources (MediaPipe graphs).
    """

    def __init__(self, evidence: bool = True, per_frame: bool = False) -> None:
        self.evidence = evidence
        #: per-frame face records (``schema.FaceFrame``), collected only when asked for
        self.frames: list | None = [] if per_frame else None
        #: modality -> why it gave no estimate in this run, when an analyzer knows better than
        #: the modality's generic wording (e.g. words skipped as not English)
        self.absent: dict[str, str] = {}
        self._parts: dict[str, Any] = {}

    def part(self, key: str, make: Callable[[], Any]) -> Any:
        """The part stored under ``key``, made with ``make()`` on first use."""
        if key not in self._parts:
            self._parts[key] = make()
        return self._parts[key]

    def close(self) -> None:
        """Release every part that has a ``close`` method; the state is empty afterwards."""
        parts, self._parts = list(self._parts.values()), {}
        for p in parts:
            if hasattr(p, "close"):
                p.close()

    def __enter__(self) -> "RunState":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextlib.contextmanager
def run_state(state: RunState | None, evidence: bool = True) -> Iterator[RunState]:
    """``state`` itself, or (when ``None``) a fresh one closed at the end of the block:
    a call without a state is a run of its own."""
    if state is not None:
        yield state
        return
    with RunState(evidence=evidence) as fresh:
        yield fresh
