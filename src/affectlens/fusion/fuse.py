"""Late fusion of the modality estimates of one segment.

With the learned parameters installed (``models/fusion-lr/fusion.json``, recipe
``python -m affectlens.train fusion``) two or more modalities are combined by
reliability-weighted log-linear pooling (``fusion.params``); the weight each modality
got is reported in the fused estimate's ``quality``. Without them, the fallback is the
confidence-weighted mean of the calibrated probabilities. A single modality is passed
through unchanged (its own calibration stands).

A fused label that only one modality reads as its own top label is never more probable than
that modality alone made it (:func:`cap_single_support`): one overconfident modality cannot
push the fused confidence above the evidence.
"""

from __future__ import annotations

import numpy as np

from ..analyzers import build_estimate
from ..schema import LABELS, Estimate
from .params import LEARNED_MODEL, learned_params

MEAN_MODEL = "fusion-confidence-mean"


def _weighted(estimates: list[Estimate], w: np.ndarray, attr: str) -> float | None:
    vals = [(getattr(e, attr), wi) for e, wi in zip(estimates, w) if getattr(e, attr) is not None]
    total = sum(wi for _, wi in vals)
    return sum(v * wi for v, wi in vals) / total if vals and total > 0 else None


def fuse(estimates: list[Estimate]) -> Estimate | None:
    """Fused estimate of one segment; ``None`` when there are no estimates."""
    if not estimates:
        return None
    if len(estimates) == 1:
        e = estimates[0]
        return e.model_copy(update={"modality": "fused", "cues": [], "model": f"passthrough:{e.model}",
                                    "quality": {"n_modalities": 1.0}})
    params = learned_params()
    by_mod = {e.modality: e for e in estimates}
    if params is not None and all(m in params.a for m in by_mod):
        probs, weights = params.fuse_probs(by_mod)
        w = np.array([weights[e.modality] for e in estimates])
        model = LEARNED_MODEL
        quality = {f"weight_{m}": round(v, 4) for m, v in weights.items()}
    else:
        w = np.array([e.confidence for e in estimates]) + 1e-6
        probs = (w[:, None] * np.array([[e.probs[k] for k in LABELS] for e in estimates])).sum(0) / w.sum()
        model = MEAN_MODEL
        quality = {}
    probs = cap_single_support(np.asarray(probs, dtype=np.float64), estimates)
    quality["n_modalities"] = float(len(estimates))
    vad = tuple(_weighted(estimates, w, a) for a in ("valence", "arousal", "dominance"))
    return build_estimate("fused", model, probs, vad=vad, quality=quality)


def cap_single_support(probs: np.ndarray, estimates: list[Estimate]) -> np.ndarray:
    """Cap the top fused probability at the highest single-modality probability of that label
    when fewer than two modalities have it as their own top label; the mass taken off is
    shared among the other labels in proportion to their probabilities."""
    top = int(np.argmax(probs))
    label = LABELS[top]
    support = sum(1 for e in estimates if max(e.probs, key=e.probs.get) == label)
    cap = max(e.probs[label] for e in estimates)
    if support >= 2 or probs[top] <= cap:
        return probs
    rest = probs.sum() - probs[top]
    out = probs * ((1.0 - cap) / rest) if rest > 0 else np.full_like(probs, (1.0 - cap) / (len(probs) - 1))
    out[top] = cap
    return out
