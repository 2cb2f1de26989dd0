"""Conflict between modalities: which disagree, on the label and on the valence sign."""

from __future__ import annotations

from itertools import combinations

import numpy as np

from ..schema import LABELS, Conflict, Estimate
from .params import conflict_features, js_divergence, learned_params, participants

#: a pair counts as conflicting above this score
FLAG_ABOVE = 0.35
#: valence magnitude below which a sign is not trusted
VALENCE_DEADBAND = 0.15
#: the pair the learned conflict model was fit on; other pairs use the heuristic
LEARNED_PAIR = ("face", "voice")


def pair_score(a: Estimate, b: Estimate) -> tuple[float, bool, bool]:
    """Conflict score in [0, 1] for two estimates, and whether labels / valence signs disagree."""
    pa = np.array([a.probs[k] for k in LABELS])
    pb = np.array([b.probs[k] for k in LABELS])
    jsd = js_divergence(pa, pb)
    label = a.top != b.top
    valence = (a.valence is not None and b.valence is not None and abs(a.valence) > VALENCE_DEADBAND
               and abs(b.valence) > VALENCE_DEADBAND and np.sign(a.valence) != np.sign(b.valence))
    score = jsd
    if valence:
        score = max(score, min(1.0, abs(a.valence - b.valence) / 2))
    return float(np.clip(score, 0.0, 1.0)), bool(label), bool(valence)


def learned_score(a: Estimate, b: Estimate) -> tuple[float, float] | None:
    """Conflict probability from the learned model and its flag threshold, if installed."""
    params = learned_params()
    if params is None or not params.conflict_w.any():
        return None
    z = float(params.conflict_w @ conflict_features(a, b) + params.conflict_b)
    cut = params.meta.get("conflict_threshold_logit", 0.0)
    return 1 / (1 + np.exp(-z)), 1 / (1 + np.exp(-cut))


def detect(estimates: dict[str, Estimate]) -> Conflict | None:
    """The most discordant pair of the estimates that take part in the fusion (words read
    as neutral sit out, as in ``fuse``), or ``None`` with fewer than two.

    The score of a face–voice pair is the learned conflict probability when the fusion
    model is installed (it was fit on such pairs); other pairs, and all pairs without the
    model, use the Jensen–Shannon / valence-gap heuristic of ``pair_score``. The pair
    reported is a flagged one if any, the learned pair first (its scale is calibrated),
    then the largest margin over its own threshold."""
    voting = participants(estimates)
    if len(voting) < 2:
        return None
    best = None
    for (ma, a), (mb, b) in combinations(sorted(voting.items()), 2):
        score, label, valence = pair_score(a, b)
        threshold = FLAG_ABOVE
        learned = learned_score(a, b) if (ma, mb) == LEARNED_PAIR else None
        if learned is not None:
            score, threshold = learned
        rank = (score > threshold and (label or valence), learned is not None, score - threshold)
        if best is None or rank > best[0]:
            best = (rank, score, threshold, [ma, mb], label, valence, a, b)
    _, score, threshold, mods, label, valence, a, b = best
    parts = []
    if label:
        parts.append(f"{mods[0]} reads {a.top}, {mods[1]} reads {b.top}")
    if valence:
        parts.append(f"valence {a.valence:+.2f} vs {b.valence:+.2f}")
    return Conflict(score=round(float(score), 4), flag=score > threshold and (label or valence), modalities=mods,
                    label_disagree=label, valence_disagree=valence, detail="; ".join(parts))
