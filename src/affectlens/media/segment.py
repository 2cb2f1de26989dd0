"""Plan the timeline: speech turns from VAD merged/split to 1–8 s, fixed windows elsewhere.

Pure functions over lists of spans; the plan is small (a few numbers per segment),
so it can be computed for any input length before the media is decoded again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """A planned segment."""

    t0: float
    t1: float
    kind: str  # "speech" | "window"


def shape_speech(spans: list[tuple[float, float]], min_s: float = 1.0, max_s: float = 8.0,
                 merge_gap_s: float = 0.6) -> list[tuple[float, float]]:
    """Merge short speech spans with close neighbours and split long ones.

    Parameters
    ----------
    spans : list of (start, end)
        Sorted, non-overlapping speech spans in seconds.
    min_s, max_s : float
        Target length range of a speech segment.
    merge_gap_s : float
        A span shorter than ``min_s`` absorbs the next one when the pause between
        them is at most this long and the result stays within ``max_s``.

    Returns
    -------
    list of (start, end)
        Spans no longer than ``max_s``. Isolated spans shorter than ``min_s`` are kept
        as they are (the speech really was that short).
    """
    merged: list[list[float]] = []
    for s, e in spans:
        if merged:
            ps, pe = merged[-1]
            short = (pe - ps) < min_s or (e - s) < min_s
            if short and s - pe <= merge_gap_s and e - ps <= max_s:
                merged[-1][1] = e
                continue
        merged.append([s, e])
    out: list[tuple[float, float]] = []
    for s, e in merged:
        n = max(1, math.ceil((e - s) / max_s - 1e-9))
        step = (e - s) / n
        out.extend((s + i * step, s + (i + 1) * step) for i in range(n))
    return out


def fill_windows(t0: float, t1: float, window_s: float = 2.0) -> list[tuple[float, float]]:
    """Cover ``[t0, t1)`` with windows of about ``window_s`` (one shorter window for a short gap)."""
    length = t1 - t0
    if length <= 1e-3:
        return []
    n = max(1, round(length / window_s))
    step = length / n
    return [(t0 + i * step, t0 + (i + 1) * step) for i in range(n)]


def plan(duration: float, speech: list[tuple[float, float]] | None, window_s: float = 2.0,
         min_s: float = 1.0, max_s: float = 8.0, absorb_s: float = 0.5) -> list[Span]:
    """The full, contiguous timeline of an input: speech segments plus windows in the gaps.

    Parameters
    ----------
    duration : float
        Length of the input in seconds.
    speech : list of (start, end) or None
        VAD speech spans; ``None`` when the input has no audio (all windows).
    absorb_s : float
        A pause shorter than this joins the speech segment after it (or before it, at
        the end), when that segment stays within ``max_s``.
    """
    spans: list[Span] = []
    cursor = 0.0
    for s, e in shape_speech(speech or [], min_s, max_s):
        s, e = max(s, cursor), min(e, duration)
        if e <= s:
            continue
        if 0 < s - cursor < absorb_s and e - cursor <= max_s:
            s = cursor
        spans.extend(Span(a, b, "window") for a, b in fill_windows(cursor, s, window_s))
        spans.append(Span(s, e, "speech"))
        cursor = e
    tail = duration - cursor
    if spans and spans[-1].kind == "speech" and 0 < tail < absorb_s and duration - spans[-1].t0 <= max_s:
        spans[-1] = Span(spans[-1].t0, duration, "speech")
    else:
        spans.extend(Span(a, b, "window") for a, b in fill_windows(cursor, duration, window_s))
    return [Span(round(x.t0, 3), round(x.t1, 3), x.kind) for x in spans]
