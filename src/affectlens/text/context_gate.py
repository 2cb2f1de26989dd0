"""How much a dialogue utterance's reading leans on the turns before it.

The dialogue model reads each utterance twice: alone, and after its previous turns. On MELD
and EmoryNLP dev, where the utterance alone read clearly (top probability ≥ 0.8) and the
context reading disagreed, the reading alone was right far more often (MELD 6 of 7 vs 1 of 7,
EmoryNLP 5 of 14 vs 1 of 14); below that, the context reading was right as often or more.
So the two readings are mixed in log space, with a weight on the context reading that falls
as the utterance-alone confidence rises::

    c = max softmax(logits_alone)
    w = sigmoid(g0 + g1 * c)                       # weight of the context reading
    p = softmax((w * log_softmax(logits_context) + (1 - w) * log_softmax(logits_alone) + bias) / T)

``g0, g1, bias, T`` live in the dialogue model's ``meta.json`` (``context_gate``), fit by
``python -m affectlens.train dialogue_gate``.
"""

from __future__ import annotations

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def context_weight(logits_alone: np.ndarray, g0: float, g1: float) -> np.ndarray:
    """Weight of the context reading per utterance, from the utterance-alone confidence."""
    conf = np.exp(log_softmax(logits_alone).max(axis=-1))
    return 1.0 / (1.0 + np.exp(-(g0 + g1 * conf)))


def gated_scores(logits_context: np.ndarray, logits_alone: np.ndarray, g0: float,
                 g1: float) -> tuple[np.ndarray, np.ndarray]:
    """``(scores, w)``: mixed log-probabilities (add the bias, divide by T, softmax) and the
    context weight of each utterance."""
    w = context_weight(logits_alone, g0, g1)[..., None]
    return w * log_softmax(logits_context) + (1.0 - w) * log_softmax(logits_alone), w[..., 0]
