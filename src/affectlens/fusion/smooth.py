"""Temporal smoothing of the fused timeline.

Emotion does not flip every two seconds; single-segment estimates do. Each media segment's
fused distribution is replaced by a weighted mean over its neighbours on the same timeline
(same speaker), weights ``confidence · exp(-|Δt| / tau)`` with ``Δt`` between segment centres,
neighbours further than ``3 tau`` ignored. Text-only inputs (utterances) and images are not
smoothed: each utterance stands on its own.
"""

from __future__ import annotations

import numpy as np

from ..analyzers import build_estimate
from ..schema import LABELS, Segment

#: time constant of the smoothing kernel, seconds (a design choice: no corpus here has
#: continuous labels to tune it on)
TAU_S = 2.0
SMOOTHED_KINDS = ("speech", "window")
MODEL = "fusion-smoothed"


def smooth_values(times: np.ndarray, values: np.ndarray, conf: np.ndarray, tau: float = TAU_S) -> np.ndarray:
    """Kernel-weighted mean of ``values`` along ``times``, per column, ignoring NaN entries.

    Parameters
    ----------
    times : ndarray, shape (n,)
        Segment centres in seconds, ascending.
    values : ndarray, shape (n, k)
        Probabilities or dimensions; NaN marks a missing value (it stays NaN only when no
        neighbour has one).
    conf : ndarray, shape (n,)
        Per-segment reliability weight (the calibrated confidence).
    tau : float
        Kernel time constant in seconds; ``tau <= 0`` returns ``values`` unchanged.
    """
    values = np.asarray(values, dtype=float)
    if tau <= 0 or len(times) < 2:
        return values.copy()
    present = ~np.isnan(values)
    filled = np.where(present, values, 0.0)
    out = np.full_like(values, np.nan)
    lo = np.searchsorted(times, times - 3 * tau, side="left")
    hi = np.searchsorted(times, times + 3 * tau, side="right")
    for i in range(len(times)):
        w = conf[lo[i]:hi[i]] * np.exp(-np.abs(times[lo[i]:hi[i]] - times[i]) / tau)
        wk = w[:, None] * present[lo[i]:hi[i]]
        total = wk.sum(0)
        ok = total > 0
        out[i, ok] = (wk * filled[lo[i]:hi[i]]).sum(0)[ok] / total[ok]
    return out


def smooth_timeline(segments: list[Segment], tau: float = TAU_S) -> None:
    """Set ``segment.smoothed`` for every fused media segment (in place), per speaker."""
    timelines: dict[str | None, list[Segment]] = {}
    for seg in segments:
        if seg.fused is not None and seg.kind in SMOOTHED_KINDS:
            timelines.setdefault(seg.speaker, []).append(seg)
    for segs in timelines.values():
        segs.sort(key=lambda s: s.start)
        times = np.array([(s.start + s.end) / 2 for s in segs])
        values = np.array([[s.fused.probs[k] for k in LABELS]
                           + [np.nan if v is None else v for v in (s.fused.valence, s.fused.arousal, s.fused.dominance)]
                           for s in segs])
        conf = np.array([s.fused.confidence for s in segs])
        for seg, v in zip(segs, smooth_values(times, values, conf, tau)):
            vad = tuple(None if np.isnan(x) else float(x) for x in v[len(LABELS):])
            seg.smoothed = build_estimate("fused", MODEL, v[:len(LABELS)], vad=vad, quality={"tau_s": tau})
