"""Voice head outputs: fine labels -> canonical 7, and the circumplex (valence, arousal) table.

Label rule: the head predicts 9 fine labels. The canonical probabilities sum the
fine ones per ``affectlens.schema`` speech map: **calm and bored are added to
neutral** (both are low-arousal states without a canonical counterpart); every
other fine label is its own canonical label.

Valence and arousal are not trained (RAVDESS and EmoDB have no dimensional
labels): they are the probability-weighted mean of a fixed per-class circumplex
position (:data:`CIRCUMPLEX`), placed after Russell (1980) and the
valence/arousal norms commonly used for these categories.
"""

from __future__ import annotations

import numpy as np

from ..schema import LABELS, to_canonical

#: fine labels of the voice head, in output order
FINE_LABELS: tuple[str, ...] = (
    "neutral", "calm", "happy", "sad", "angry", "fearful", "disgusted", "surprised", "bored",
)

#: fine label -> (valence, arousal) in [-1, 1]
CIRCUMPLEX: dict[str, tuple[float, float]] = {
    "neutral": (0.0, 0.0),
    "calm": (0.3, -0.6),
    "happy": (0.8, 0.5),
    "sad": (-0.7, -0.5),
    "angry": (-0.6, 0.8),
    "fearful": (-0.6, 0.7),
    "disgusted": (-0.7, 0.3),
    "surprised": (0.3, 0.8),
    "bored": (-0.3, -0.7),
}

#: (9, 7) matrix summing fine probabilities into canonical ones
FINE_TO_CANON = np.zeros((len(FINE_LABELS), len(LABELS)))
for _i, _f in enumerate(FINE_LABELS):
    FINE_TO_CANON[_i, LABELS.index(to_canonical(_f, "speech"))] = 1.0

_VA = np.array([CIRCUMPLEX[f] for f in FINE_LABELS])


def canonical(fine: np.ndarray) -> np.ndarray:
    """Canonical 7 probabilities from fine 9 (calm and bored added to neutral).

    Parameters
    ----------
    fine : ndarray, shape (..., 9)
        Probabilities in ``FINE_LABELS`` order.

    Returns
    -------
    ndarray, shape (..., 7)
    """
    return np.asarray(fine) @ FINE_TO_CANON


def valence_arousal(fine: np.ndarray) -> np.ndarray:
    """Expected (valence, arousal) under the fine-label probabilities.

    Parameters
    ----------
    fine : ndarray, shape (..., 9)

    Returns
    -------
    ndarray, shape (..., 2)
    """
    return np.asarray(fine) @ _VA


def fine_predicted(fine: np.ndarray, ratio: float = 0.5) -> list[str]:
    """Fine labels whose probability is at least ``ratio`` times the top one, best first."""
    fine = np.asarray(fine)
    order = np.argsort(-fine)
    top = fine[order[0]]
    return [FINE_LABELS[i] for i in order if fine[i] >= ratio * top]
