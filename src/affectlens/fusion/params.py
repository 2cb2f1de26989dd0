"""Reliability-weighted late fusion, learned from data.

The fused distribution is a weighted product of the modality distributions (log-linear
pooling) with a class bias::

    logits = Σ_m  b_m + w_m(x) · log p_m,      w_m(x) = softplus(a_m + c_m · q_m(x))

where ``q_m`` are reliability signals computed from the modality's own estimate
(confidence, normalised entropy, neutral probability, and its quality signals such as
face size or speech seconds), and ``b_m`` is a per-modality class bias (it undoes that
modality's own label prior, e.g. a face model that rarely says "fearful", without touching
segments where the modality is absent). Modalities that are absent contribute nothing. The
weights also act as the calibration temperature. A second small logistic model scores conflict
between face and voice from their disagreement.

Words that read as neutral do not vote: an absence of emotional words is no evidence
against what a face or voice shows (acted corpora speak fixed neutral sentences in every
emotion; people say plain words with a sad voice). When fewer than two modalities take part,
the one left passes through unchanged, as a single modality does.

Parameters are plain numbers in ``models/fusion-lr/fusion.json``; inference is numpy only.
They are fitted by the recipe (``affectlens.train.fusion_fit``), never at run time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from ..analyzers import ModelMeta, model_dir
from ..registry import MODALITIES, SPECS
from ..schema import LABELS, Estimate

LEARNED_MODEL = "fusion-lr"

FUSED_MODALITIES = MODALITIES
#: per-modality quality signals used when present (missing ones read as 0), from the specs
QUALITY_KEYS = {m: SPECS[m].quality_keys for m in MODALITIES}
#: length of ``conflict_features``
N_CONFLICT_FEATURES = 6 + len(LABELS) ** 2


def participants(estimates: dict[str, Estimate], fused: tuple[str, ...] = FUSED_MODALITIES) -> dict[str, Estimate]:
    """The estimates that take part in the fusion: those of fused modalities, without text
    whose top label is neutral."""
    return {m: e for m, e in estimates.items() if m in fused and not (m == "text" and e.top == "neutral")}


def softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def reliability_features(est: Estimate, modality: str) -> np.ndarray:
    """``q_m``: [confidence, normalised entropy, p(neutral), squashed quality signals]."""
    p = np.clip(np.array([est.probs[k] for k in LABELS]), 1e-6, 1.0)
    entropy = float(-(p * np.log(p)).sum() / np.log(len(p)))
    quality = [np.tanh(float(est.quality.get(k, 0.0)) / 4.0) for k in QUALITY_KEYS[modality]]
    return np.array([est.confidence, entropy, est.probs["neutral"], *quality])


def log_probs(est: Estimate) -> np.ndarray:
    return np.log(np.clip(np.array([est.probs[k] for k in LABELS]), 1e-6, 1.0))


@dataclass
class FusionParams:
    """Learned numbers of the fusion (see module docstring)."""

    bias: dict[str, np.ndarray]            # per modality, (7,)
    a: dict[str, float]                    # per modality
    c: dict[str, np.ndarray]               # per modality, len(q_m)
    conflict_w: np.ndarray = field(default_factory=lambda: np.zeros(N_CONFLICT_FEATURES))
    conflict_b: float = 0.0
    meta: dict = field(default_factory=dict)

    def weight(self, est: Estimate, modality: str) -> float:
        return float(softplus(self.a[modality] + self.c[modality] @ reliability_features(est, modality)))

    def fuse_probs(self, estimates: dict[str, Estimate]) -> tuple[np.ndarray, dict[str, float]]:
        """Fused probabilities and the weight each modality got (0 for one that sat out)."""
        taking = participants(estimates, tuple(self.a))
        weights = {m: 0.0 for m in estimates}
        if len(taking) == 1:
            (m, est), = taking.items()
            weights[m] = 1.0
            return np.array([est.probs[k] for k in LABELS]), weights
        logits = np.zeros(len(LABELS))
        for m, est in taking.items():
            weights[m] = self.weight(est, m)
            logits = logits + self.bias[m] + weights[m] * log_probs(est)
        z = logits - logits.max()
        p = np.exp(z)
        return p / p.sum(), weights

    def to_json(self) -> dict:
        return {"bias": {m: v.tolist() for m, v in self.bias.items()}, "a": self.a, "c": {m: v.tolist() for m, v in self.c.items()},
                "conflict_w": self.conflict_w.tolist(), "conflict_b": self.conflict_b, "meta": self.meta}

    @classmethod
    def from_json(cls, data: dict) -> "FusionParams":
        return cls(bias={m: np.array(v) for m, v in data["bias"].items()}, a={k: float(v) for k, v in data["a"].items()},
                   c={m: np.array(v) for m, v in data["c"].items()}, conflict_w=np.array(data["conflict_w"]),
                   conflict_b=float(data["conflict_b"]), meta=data.get("meta", {}))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> "FusionParams":
        return cls.from_json(json.loads(Path(path).read_text()))


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon divergence in bits (0 = identical, 1 = disjoint)."""
    p, q = np.asarray(p, float) + 1e-12, np.asarray(q, float) + 1e-12
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    kl = lambda a, b: float((a * np.log2(a / b)).sum())  # noqa: E731
    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def conflict_features(a: Estimate, b: Estimate) -> np.ndarray:
    """[JS divergence, |valence gap|, labels differ, conf a, conf b, overlap Σ p_a p_b,
    then the 49 products p_a(i) · p_b(j)] — the products let the model learn which
    cross-modal label pairs are real disagreements and which are usual confusions."""
    pa = np.array([a.probs[k] for k in LABELS])
    pb = np.array([b.probs[k] for k in LABELS])
    gap = abs((a.valence or 0.0) - (b.valence or 0.0)) / 2
    return np.concatenate([[js_divergence(pa, pb), gap, float(a.top != b.top), a.confidence, b.confidence,
                            float(pa @ pb)], np.outer(pa, pb).ravel()])


@cache
def learned_params() -> FusionParams | None:
    """The installed learned fusion parameters (read once), or ``None`` when not installed."""
    path = model_dir(LEARNED_MODEL) / "fusion.json"
    if not path.is_file():
        return None
    ModelMeta.load(path.parent)  # a fusion.json comes with a valid meta.json
    return FusionParams.load(path)
