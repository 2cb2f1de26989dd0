"""Metric code against scikit-learn."""

import numpy as np
import pytest
from sklearn import metrics as skm

from affectlens.evaluate import metrics


@pytest.fixture
def sample():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 400)
    logits = rng.normal(size=(400, 5)) + 2.0 * np.eye(5)[y] * rng.random((400, 1))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return y, probs


def test_classification_matches_sklearn(sample):
    y, probs = sample
    pred = probs.argmax(1)
    rep = metrics.classification_report(y, probs, list("abcde"))
    m = rep["metrics"]
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["uar"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert m["weighted_f1"] == pytest.approx(skm.f1_score(y, pred, average="weighted"))
    assert rep["confusion"] == skm.confusion_matrix(y, pred).tolist()
    assert rep["per_class"]["c"]["recall"] == pytest.approx(skm.recall_score(y, pred, average=None)[2])


def test_missing_class_in_truth_matches_sklearn(sample):
    y, probs = sample
    keep = y != 4
    y, probs = y[keep], probs[keep]
    pred = probs.argmax(1)
    m = metrics.classification_report(y, probs, list("abcde"))["metrics"]
    assert m["uar"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))


def test_no_estimate_rows_count_as_wrong(sample):
    y, probs = sample
    probs = probs.copy()
    probs[:10] = np.nan
    rep = metrics.classification_report(y, probs, list("abcde"))
    correct = (probs[10:].argmax(1) == y[10:]).sum()
    assert rep["metrics"]["accuracy"] == pytest.approx(correct / len(y))
    assert rep["metrics"]["coverage"] == pytest.approx(0.975)
    assert len(rep["confusion"][0]) == 6 and sum(map(sum, rep["confusion"])) == len(y)


def test_ece_zero_when_perfectly_calibrated():
    y = np.array([0] * 8 + [1] * 2)
    probs = np.tile([0.8, 0.2], (10, 1))
    assert metrics.expected_calibration_error(probs, y) == pytest.approx(0.0)
    assert metrics.expected_calibration_error(np.tile([1.0, 0.0], (10, 1)), y) == pytest.approx(0.2)


def test_multilabel_matches_sklearn():
    rng = np.random.default_rng(1)
    y = rng.random((300, 28)) < 0.1
    p = rng.random((300, 28)) < 0.1
    rep = metrics.multilabel_report(y, p, [str(i) for i in range(28)])
    assert rep["metrics"]["macro_f1"] == pytest.approx(skm.f1_score(y, p, average="macro", zero_division=0))
    assert rep["metrics"]["micro_f1"] == pytest.approx(skm.f1_score(y, p, average="micro"))


def test_dimensional_and_auroc():
    rng = np.random.default_rng(2)
    t = rng.normal(size=(200, 3))
    p = t + rng.normal(scale=0.5, size=(200, 3))
    m = metrics.dimensional_report(t, p)["metrics"]
    assert m["pearson_v"] == pytest.approx(np.corrcoef(t[:, 0], p[:, 0])[0, 1])
    assert metrics.ccc(t[:, 1], t[:, 1]) == pytest.approx(1.0)
    assert metrics.ccc(t[:, 1], t[:, 1] + 1) < 1.0
    scores = np.round(rng.random(100), 1)
    labels = rng.random(100) < 0.4
    assert metrics.auroc(scores, labels) == pytest.approx(skm.roc_auc_score(labels, scores))
