"""Leave-one-out word occlusion: which words drive a text prediction.

For a text of ``n`` words we build ``n`` variants, each with one word removed, run them
through the model in one batch, and measure how much the predicted label's probability
drops. Words whose removal lowers it most are the evidence. Function words (pronouns,
articles, auxiliaries, prepositions, conjunctions) are neither occluded nor cited: removing "our"
or "is" breaks the sentence, and the model's reaction to a broken sentence says nothing about
which words carry the emotion. Negations ("not", "never", "don't") stay citable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

#: at most this many words are occluded (longer texts: the first ones only)
MAX_WORDS = 48

#: closed-class English words that are never cited as evidence (not negations, nor particles such
#: as "down" or "up" that carry a phrasal verb's meaning: "let down", "fed up")
FUNCTION_WORDS = frozenset("""
a an the this that these those some any each every either neither such
i me my mine myself you your yours yourself yourselves he him his himself she her hers herself
it its itself we us our ours ourselves they them their theirs themselves one who whom whose
which what whatever whoever
am is are was were be been being do does did doing have has had having will would shall
should can could may might must
i'm i've i'll i'd you're you've you'll you'd he's he'd he'll she's she'd she'll it's it'll
we're we've we'll we'd they're they've they'll they'd that's there's here's what's who's let's
of in on at to for with by from about as into onto over under through upon
within without between among across along around after before during since until till toward
towards against per via
and or but nor if than then because while although though whether yet also
there here
""".split())
#: punctuation at the edges of a word (``"furious!"`` -> ``furious``)
EDGE_PUNCT = re.compile(r"^[^\w]+|[^\w]+$")


def citable(word: str) -> bool:
    """Whether a word may be cited as evidence (not a function word, not bare punctuation)."""
    w = EDGE_PUNCT.sub("", word).lower().replace("’", "'")
    return bool(w) and w not in FUNCTION_WORDS


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
    """The ``k`` :func:`citable` words with the largest positive probability drop.

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
    for i in order:
        if drops[i] <= 0 or len(out) == k:
            break
        if not citable(words[i]):
            continue
        out.append(WordDrop(index=int(i), text=words[i], drop=float(drops[i])))
    return out


def occlude(words: Sequence[str], label_prob: Callable[[list[str]], np.ndarray],
            base_prob: float, k: int = 3) -> list[WordDrop]:
    """Run occlusion for one text; ``label_prob(texts)`` returns the predicted label's
    probability for each text (one batched forward pass). Only :func:`citable` words among the
    first ``MAX_WORDS`` are left out; the others keep the full text's probability (no drop)."""
    variants = occlusion_variants(words)
    live = [i for i in range(len(variants)) if citable(words[i])]
    if not live:
        return []
    probs = np.full(len(variants), base_prob, dtype=np.float64)
    probs[live] = label_prob([variants[i] for i in live])
    return top_words(words, base_prob, probs, k)
