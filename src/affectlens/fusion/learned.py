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
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..schema import LABELS, Estimate

FUSED_MODALITIES = ("face", "voice", "text")
#: per-modality quality signals used when present (missing ones read as 0)
QUALITY_KEYS = {
    "face": ("frames_with_face",),
    "voice": ("speech_s",),
    "text": ("n_words",),
}
#: length of ``conflict_features``
N_CONFLICT_FEATURES = 6 + len(LABELS) ** 2


def participants(estimates: dict[str, Estimate], fused: tuple[str, ...] = FUSED_MODALITIES) -> dict[str, Estimate]:
    """The estimates that take part in the fusion: those of fused modalities, without text
    whose top label is neutral."""
    return {m: e for m, e in estimates.items() if m in fused and not (m == "text" and e.top == "neutral")}


def _softplus(x: np.ndarray) -> np.ndarray:
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
        return float(_softplus(self.a[modality] + self.c[modality] @ reliability_features(est, modality)))

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


def conflict_features(a: Estimate, b: Estimate) -> np.ndarray:
    """[JS divergence, |valence gap|, labels differ, conf a, conf b, overlap Σ p_a p_b,
    then the 49 products p_a(i) · p_b(j)] — the products let the model learn which
    cross-modal label pairs are real disagreements and which are usual confusions."""
    from .conflict import js_divergence

    pa = np.array([a.probs[k] for k in LABELS])
    pb = np.array([b.probs[k] for k in LABELS])
    gap = abs((a.valence or 0.0) - (b.valence or 0.0)) / 2
    return np.concatenate([[js_divergence(pa, pb), gap, float(a.top != b.top), a.confidence, b.confidence,
                            float(pa @ pb)], np.outer(pa, pb).ravel()])


def fit(samples: list[tuple[dict[str, Estimate], int]], l2: float = 1e-3, balanced: bool = True) -> FusionParams:
    """Fit b, a and c by minimising the negative log-likelihood (L-BFGS).

    Parameters
    ----------
    samples : list of (estimates by modality, true canonical index)
    l2 : float
        Ridge penalty; on the class biases scaled per modality by ``n / n_m`` (``n_m`` = samples
        it takes part in).
    balanced : bool
        Weight each sample by the inverse frequency of its class, so that the class bias does
        not learn the training set's label mix (the fused output is judged by UAR).
    """
    from scipy.optimize import minimize

    samples = [(p, t) for p, t in ((participants(e), t) for e, t in samples) if len(p) >= 2]
    mods = [m for m in FUSED_MODALITIES if any(m in e for e, _ in samples)]
    nq = {m: len(QUALITY_KEYS[m]) + 3 for m in mods}
    # precompute per sample: log p (7) and q per modality, presence mask
    n = len(samples)
    L = {m: np.zeros((n, 7)) for m in mods}
    Q = {m: np.zeros((n, nq[m])) for m in mods}
    P = {m: np.zeros(n) for m in mods}
    y = np.array([t for _, t in samples])
    counts = np.bincount(y, minlength=len(LABELS)).astype(float)
    sw = (n / (np.count_nonzero(counts) * counts[y])) if balanced else np.ones(n)
    for i, (ests, _) in enumerate(samples):
        for m in mods:
            if m in ests:
                L[m][i] = log_probs(ests[m])
                Q[m][i] = reliability_features(ests[m], m)
                P[m][i] = 1.0
    # theta per modality: [b_m (7), a_m, c_m (nq)]
    sizes = [8 + nq[m] for m in mods]
    offsets = np.cumsum([0] + sizes)
    # class biases get a prior per sample the modality took part in: a rarely present modality
    # (e.g. words that are not neutral in scripted speech) keeps them near 0 instead of fitting
    # a few rows; its weight (a, c) is still learned from those rows
    penalty = np.concatenate([np.r_[np.full(7, l2 * n / max(P[m].sum(), 1.0)), np.full(sizes[k] - 7, l2)]
                              for k, m in enumerate(mods)])

    def unpack(theta):
        return {m: theta[offsets[k]:offsets[k + 1]] for k, m in enumerate(mods)}

    def loss_grad(theta):
        parts = unpack(theta)
        logits = np.zeros((n, 7))
        cache = {}
        for m in mods:
            u = parts[m][7] + Q[m] @ parts[m][8:]
            w = _softplus(u) * P[m]
            cache[m] = (u, w)
            logits += P[m][:, None] * parts[m][:7] + w[:, None] * L[m]
        logits -= logits.max(1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(1, keepdims=True)
        nll = -(sw * np.log(probs[np.arange(n), y] + 1e-12)).mean()
        d = probs.copy()
        d[np.arange(n), y] -= 1
        d *= sw[:, None] / n
        grad = np.zeros_like(theta)
        for k, m in enumerate(mods):
            u, w = cache[m]
            dw = (d * L[m]).sum(1) * P[m] / (1 + np.exp(-u))  # d softplus = sigmoid
            grad[offsets[k]:offsets[k + 1]] = np.concatenate([(d * P[m][:, None]).sum(0), [dw.sum()], Q[m].T @ dw])
        reg = (penalty * theta ** 2).sum()
        grad += 2 * penalty * theta
        return nll + reg, grad

    theta0 = np.zeros(offsets[-1])
    for k, m in enumerate(mods):
        theta0[offsets[k] + 7] = 0.55  # softplus(0.55) ≈ 1: start from a plain product
    res = minimize(loss_grad, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 1000})
    parts = unpack(res.x)
    return FusionParams(bias={m: parts[m][:7].copy() for m in mods}, a={m: float(parts[m][7]) for m in mods},
                        c={m: parts[m][8:].copy() for m in mods},
                        meta={"train_nll": float(res.fun), "n_train": n, "class_balanced": balanced})


def fit_conflict(pairs: list[tuple[Estimate, Estimate, bool]], l2: float = 1e-3) -> tuple[np.ndarray, float]:
    """Logistic regression of "face and voice show different emotions" on ``conflict_features``."""
    from scipy.optimize import minimize

    X = np.stack([conflict_features(a, b) for a, b, _ in pairs])
    y = np.array([float(t) for _, _, t in pairs])

    def loss_grad(theta):
        z = X @ theta[:-1] + theta[-1]
        p = 1 / (1 + np.exp(-z))
        eps = 1e-12
        loss = -(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)).mean() + l2 * (theta[:-1] ** 2).sum()
        g = np.concatenate([X.T @ (p - y) / len(y) + 2 * l2 * theta[:-1], [(p - y).mean()]])
        return loss, g

    res = minimize(loss_grad, np.zeros(X.shape[1] + 1), jac=True, method="L-BFGS-B")
    return res.x[:-1], float(res.x[-1])
