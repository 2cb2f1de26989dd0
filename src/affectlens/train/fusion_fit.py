"""Fitting the learned fusion (training only: scipy's L-BFGS; the runtime reads the numbers).

``fit`` learns the pooling parameters of :class:`affectlens.fusion.params.FusionParams`,
``fit_conflict`` the face–voice conflict model; ``python -m affectlens.train fusion`` calls both.
"""

from __future__ import annotations

import numpy as np

from ..fusion.params import (FUSED_MODALITIES, QUALITY_KEYS, FusionParams, softplus, conflict_features,
                             log_probs, participants, reliability_features)
from ..schema import LABELS, Estimate


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
            w = softplus(u) * P[m]
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
