"""Text recipe: bagged per-label thresholds, the split-half macro-F1 and class-weighted BCE."""

from __future__ import annotations

import numpy as np
import pytest

from affectlens.train.text import (f1_thresholds, macro_f1, pos_weights, split_half_macro_f1,
                                   tune_thresholds)


def _scores(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two labels: a common one whose positives score ~0.6 against ~0.2, and a rare one
    (2 % positives) that the scores separate at 0.3; plus a label without positives."""
    rng = np.random.default_rng(seed)
    y = np.zeros((n, 3), dtype=np.float32)
    y[: n // 2, 0] = 1
    y[: n // 50, 1] = 1
    p = np.empty((n, 3))
    p[:, 0] = np.where(y[:, 0] > 0, rng.normal(0.6, 0.1, n), rng.normal(0.2, 0.1, n)).clip(0.001, 0.999)
    p[:, 1] = np.where(y[:, 1] > 0, rng.uniform(0.3, 0.5, n), rng.uniform(0.0, 0.29, n))
    p[:, 2] = rng.uniform(0.0, 0.5, n)
    return p, y


def test_f1_thresholds_separate_the_classes_and_mark_labels_without_positives():
    p, y = _scores()
    th = f1_thresholds(p, y)
    assert 0.3 <= th[0] <= 0.5 and 0.29 <= th[1] <= 0.3
    assert np.isnan(th[2])


def test_bagged_thresholds_stay_near_the_optimum_and_default_to_one_half():
    p, y = _scores()
    bagged, plain = tune_thresholds(p, y), tune_thresholds(p, y, bootstrap=0)
    assert bagged[2] == plain[2] == 0.5
    assert abs(bagged[0] - plain[0]) < 0.08 and 0.2 < bagged[1] < 0.35
    assert np.array_equal(bagged, tune_thresholds(p, y))  # seeded: reproducible
    assert macro_f1(p, y, bagged) > 0.55  # two labels well separated, the third 0 by definition


def test_split_half_macro_f1_is_an_honest_estimate():
    p, y = _scores(800, seed=1)
    held_out = split_half_macro_f1(p, y, repeats=2)
    tuned_on_all = macro_f1(p, y, tune_thresholds(p, y, bootstrap=0))
    assert 0.4 < held_out <= tuned_on_all + 1e-9


def test_pos_weights_are_sqrt_neg_over_pos_capped():
    y = np.zeros((100, 3), dtype=np.float32)
    y[:50, 0], y[:4, 1], y[:1, 2] = 1, 1, 1
    assert pos_weights(y, 8.0) == pytest.approx([1.0, np.sqrt(96 / 4), 8.0])
    assert pos_weights(y, 0.0) == pytest.approx([1.0, 1.0, 1.0])
