"""Leave-one-out word occlusion: which words drive a text prediction.

For a text of ``n`` words we build ``n`` variants, each with one word removed, run them
through the model in one batch, and measure how much the predicted label's probability
drops. Words whose removal lowers it most are the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

#: at most this many words are occluded (longer texts: the first ones only)
MAX_WORDS = 48


@dataclass
class WordDrop:
    """One word and the probability its removal takes from the predicted label."""

    index: int
    text: str
    drop: float


def occlusion_variants(words: Sequence[str], max_words: int = MAX_WORDS) -> list[str]:
    """The text with each of its first ``max_words`` words left out, in word order."""
    n = min(len(words), max_words)
    return [" ".join(w for j, w in enumerate(words) if j != i) for i in range(n)]


def top_words(words: Sequence[str], base_prob: float, occluded_probs: np.ndarray,
              k: int = 3) -> list[WordDrop]:
    """The ``k`` words with the largest positive probability drop.

    Parameters
    ----------
    words : sequence of str
        The words, in order.
    base_prob : float
        Probability of the predicted label on the full text.
    occluded_probs : ndarray, shape (n_variants,)
        That label's probability with word ``i`` left out.
    """
    drops = base_prob - np.asarray(occluded_probs, dtype=np.float64)
    order = np.argsort(-drops)
    out = []
    for i in order[:k]:
        if drops[i] <= 0:
            break
        out.append(WordDrop(index=int(i), text=words[i], drop=float(drops[i])))
    return out


def occlude(words: Sequence[str], label_prob: Callable[[list[str]], np.ndarray],
            base_prob: float, k: int = 3) -> list[WordDrop]:
    """Run occlusion for one text; ``label_prob(texts)`` returns the predicted label's
    probability for each text (one batched forward pass)."""
    if not words:
        return []
    variants = occlusion_variants(words)
    return top_words(words, base_prob, label_prob(variants), k)
