"""Late fusion of the modality estimates of one segment.

Current rule (until a learned, reliability-weighted fusion ships): the average of the
modalities' calibrated probabilities and of their valence/arousal/dominance, each
modality weighted by its own confidence. With a single modality the fused estimate
is that modality's.
"""

from __future__ import annotations

import numpy as np

from ..analyzers import build_estimate
from ..schema import LABELS, Estimate

MODEL = "fusion-confidence-mean-v0"


def fuse(estimates: list[Estimate]) -> Estimate | None:
    """Confidence-weighted mean of ``estimates``; ``None`` when there are none."""
    if not estimates:
        return None
    w = np.array([e.confidence for e in estimates]) + 1e-6
    probs = np.array([[e.probs[k] for k in LABELS] for e in estimates])
    fused = (w[:, None] * probs).sum(0) / w.sum()

    def mean(attr: str) -> float | None:
        vals = [(getattr(e, attr), wi) for e, wi in zip(estimates, w) if getattr(e, attr) is not None]
        return sum(v * wi for v, wi in vals) / sum(wi for _, wi in vals) if vals else None

    return build_estimate("fused", MODEL, fused, vad=(mean("valence"), mean("arousal"), mean("dominance")),
                          quality={"n_modalities": float(len(estimates))})
