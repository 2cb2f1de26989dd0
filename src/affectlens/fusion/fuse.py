"""Late fusion of the modality estimates of one segment.

With the learned parameters installed (``models/fusion-lr/fusion.json``, recipe
``python -m affectlens.train fusion``) two or more modalities are combined by
reliability-weighted log-linear pooling (``fusion.params``); the weight each modality
got is reported in the fused estimate's ``quality``. Without them, the fallback is the
confidence-weighted mean of the calibrated probabilities. A single modality is passed
through unchanged (its own calibration stands).
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
    quality["n_modalities"] = float(len(estimates))
    vad = tuple(_weighted(estimates, w, a) for a in ("valence", "arousal", "dominance"))
    return build_estimate("fused", model, probs, vad=vad, quality=quality)
