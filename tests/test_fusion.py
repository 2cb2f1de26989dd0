"""Learned reliability-weighted fusion on synthetic estimates with known reliabilities."""

from __future__ import annotations

import numpy as np

from affectlens.analyzers import build_estimate
from affectlens.fusion.learned import fit
from affectlens.schema import LABELS


def noisy(y, strength, rng, modality):
    logits = rng.normal(size=7) + strength * np.eye(7)[y]
    p = np.exp(logits) / np.exp(logits).sum()
    return build_estimate(modality, "synthetic", p)


def test_fusion_learns_to_ignore_uninformative_text_and_beats_each_modality():
    rng = np.random.default_rng(0)
    def sample(n):
        out = []
        for _ in range(n):
            y = int(rng.integers(7))
            text = noisy(int(rng.integers(7)), 2.0, rng, "text")  # confident but unrelated to y
            out.append(({"face": noisy(y, 2.0, rng, "face"), "voice": noisy(y, 1.5, rng, "voice"), "text": text}, y))
        return out
    train, test = sample(1500), sample(800)
    params = fit(train)
    assert params.a["text"] < params.a["face"]
    y = np.array([t for _, t in test])
    fused = np.array([params.fuse_probs(e)[0].argmax() for e, _ in test])
    face = np.array([max(e["face"].probs, key=e["face"].probs.get) for e, _ in test])
    voice = np.array([max(e["voice"].probs, key=e["voice"].probs.get) for e, _ in test])
    acc = lambda pred: (pred == y).mean()  # noqa: E731
    assert acc(fused) > max(acc(np.array([LABELS.index(x) for x in face])),
                            acc(np.array([LABELS.index(x) for x in voice]))) + 0.03
    _, weights = params.fuse_probs(test[0][0])
    assert weights["text"] < 0.3 * weights["face"]
