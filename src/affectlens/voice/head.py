"""Voice head outputs: canonical probabilities, and the circumplex (valence, arousal) table.

The head (v0.2) is trained on the canonical labels directly: RAVDESS calm and EmoDB boredom
count as neutral (both are low-arousal states without a canonical counterpart), so voice
estimates carry no finer labels. ``FINE_LABELS`` is the spelling of the speech corpora's own
labels, which the corpus readers map to canonical ones.

Valence and arousal are not trained (the speech corpora have no dimensional labels): they are
the probability-weighted mean of a fixed per-class circumplex position (:data:`CIRCUMPLEX`),
placed after Russell (1980) and the valence/arousal norms commonly used for these categories.
"""

from __future__ import annotations

import numpy as np

from ..schema import LABELS

#: the speech corpora's own labels (fine spelling), mapped to canonical ones by the readers
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

_VA = np.array([CIRCUMPLEX[k] for k in LABELS])


def valence_arousal(probs: np.ndarray) -> np.ndarray:
    """Expected (valence, arousal) under canonical probabilities.

    Parameters
    ----------
    probs : ndarray, shape (..., 7)
        Probabilities in ``LABELS`` order.

    Returns
    -------
    ndarray, shape (..., 2)
    """
    return np.asarray(probs) @ _VA
