"""Evaluation metrics as pure numpy functions (checked against scikit-learn in the tests)."""

from __future__ import annotations

import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion matrix ``C[i, j]`` = count of true class *i* predicted as *j*."""
    c = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(c, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return c


def _prf(c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    k = c.shape[0]  # c may carry an extra "no estimate" column
    tp = np.diag(c[:, :k]).astype(float)
    support = c.sum(1).astype(float)
    predicted = c[:, :k].sum(0).astype(float)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return precision, recall, f1, support


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, n_bins: int = 15) -> float:
    """Top-label ECE with ``n_bins`` equal-width confidence bins.

    Parameters
    ----------
    probs : ndarray, shape (n, k)
        Predicted class probabilities.
    y_true : ndarray, shape (n,)
        True class indices.
    """
    probs = np.asarray(probs, dtype=float)
    conf = probs.max(1)
    correct = (probs.argmax(1) == np.asarray(y_true)).astype(float)
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def classification_report(y_true: np.ndarray, probs: np.ndarray, labels: list[str]) -> dict:
    """Accuracy, UAR, macro/weighted F1, ECE, per-class numbers and the confusion matrix.

    Classes without any true example are left out of the macro averages, as
    scikit-learn does when given only the labels present. A row of ``probs`` that is
    all NaN means "no estimate" (e.g. no face found): it counts as wrong, appears in
    an extra last confusion column, and is left out of the ECE.

    Returns
    -------
    dict
        ``{"metrics": {...}, "per_class": {label: {...}}, "confusion": [[...]]}``
    """
    y_true = np.asarray(y_true)
    probs = np.asarray(probs, dtype=float)
    k = len(labels)
    missing = np.isnan(probs).all(1)
    y_pred = np.where(missing, k, np.nan_to_num(probs, nan=-1.0).argmax(1))
    c = confusion(y_true, y_pred, k + 1)[:k]
    if not missing.any():
        c = c[:, :k]
    precision, recall, f1, support = _prf(c)
    present = support > 0
    metrics = {
        "accuracy": float((y_true == y_pred).mean()),
        "uar": float(recall[present].mean()),
        "macro_f1": float(f1[present | (c[:, :k].sum(0) > 0)].mean()),
        "weighted_f1": float((f1 * support).sum() / support.sum()),
        "ece": expected_calibration_error(probs[~missing], y_true[~missing]) if (~missing).any() else float("nan"),
        "coverage": float((~missing).mean()),
    }
    per_class = {
        lab: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
              "support": int(support[i])}
        for i, lab in enumerate(labels)
    }
    return {"metrics": metrics, "per_class": per_class, "confusion": c.tolist()}


def multilabel_report(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict:
    """Macro/micro F1 over binary indicator matrices ``(n, k)`` (GoEmotions style)."""
    y_true = np.asarray(y_true, dtype=bool)
    y_pred = np.asarray(y_pred, dtype=bool)
    tp = (y_true & y_pred).sum(0).astype(float)
    fp = (~y_true & y_pred).sum(0).astype(float)
    fn = (y_true & ~y_pred).sum(0).astype(float)
    denom = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0)
    recall = np.divide(tp, tp + fn, out=np.zeros_like(tp), where=(tp + fn) > 0)
    micro_denom = 2 * tp.sum() + fp.sum() + fn.sum()
    return {
        "metrics": {
            "macro_f1": float(f1.mean()),
            "micro_f1": float(2 * tp.sum() / micro_denom) if micro_denom else 0.0,
            "exact_match": float((y_true == y_pred).all(1).mean()),
        },
        "per_class": {
            lab: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                  "support": int(y_true[:, i].sum())}
            for i, lab in enumerate(labels)
        },
    }


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation coefficient."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    xc, yc = x - x.mean(), y - y.mean()
    denom = np.sqrt((xc**2).sum() * (yc**2).sum())
    return float((xc * yc).sum() / denom) if denom > 0 else 0.0


def ccc(x: np.ndarray, y: np.ndarray) -> float:
    """Lin's concordance correlation coefficient."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    cov = ((x - x.mean()) * (y - y.mean())).mean()
    denom = x.var() + y.var() + (x.mean() - y.mean()) ** 2
    return float(2 * cov / denom) if denom > 0 else 0.0


def dimensional_report(true_vad: np.ndarray, pred_vad: np.ndarray) -> dict:
    """Pearson and CCC for valence, arousal, dominance columns (NaN predictions skipped)."""
    out = {}
    for i, dim in enumerate("vad"):
        t, p = np.asarray(true_vad)[:, i], np.asarray(pred_vad, dtype=float)[:, i]
        ok = ~np.isnan(p) & ~np.isnan(t)
        if ok.sum() >= 2:
            out[f"pearson_{dim}"] = pearson(t[ok], p[ok])
            out[f"ccc_{dim}"] = ccc(t[ok], p[ok])
            out[f"mae_{dim}"] = float(np.abs(t[ok] - p[ok]).mean())
    return {"metrics": out}


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (ties averaged), via the rank-sum statistic."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(positive, dtype=bool)
    n_pos, n_neg = y.sum(), (~y).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=float)
    sorted_s = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def asr_words(text: str) -> list[str]:
    """Lower-case words of a transcript (letters, digits, apostrophes) for word error counts."""
    import re

    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def word_errors(ref: list[str], hyp: list[str]) -> int:
    """Substitutions + deletions + insertions turning ``ref`` into ``hyp`` (Levenshtein on words)."""
    d = list(range(len(hyp) + 1))
    for i in range(1, len(ref) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(hyp) + 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (ref[i - 1] != hyp[j - 1]))
    return d[len(hyp)]
