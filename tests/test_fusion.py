"""Learned reliability-weighted fusion on synthetic estimates with known reliabilities."""

from __future__ import annotations

import numpy as np

from affectlens.analyzers import build_estimate
from affectlens.train.fusion_fit import fit
from affectlens.schema import LABELS


def noisy(y, strength, rng, modality):
    logits = rng.normal(size=7) + strength * np.eye(7)[y]
    p = np.exp(logits) / np.exp(logits).sum()
    return build_estimate(modality, "synthetic", p)


def sample(n, rng):
    out = []
    for _ in range(n):
        y = int(rng.integers(7))
        text = noisy(int(rng.integers(7)), 2.0, rng, "text")  # confident but unrelated to y
        out.append(({"face": noisy(y, 2.0, rng, "face"), "voice": noisy(y, 1.5, rng, "voice"), "text": text}, y))
    return out


def test_fusion_learns_to_ignore_uninformative_text_and_beats_each_modality():
    rng = np.random.default_rng(0)
    train, test = sample(1500, rng), sample(800, rng)
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


def test_neutral_words_sit_out_and_a_lone_modality_passes_through():
    rng = np.random.default_rng(1)
    params = fit(sample(600, rng))
    voice = noisy(3, 1.5, rng, "voice")
    neutral_words = build_estimate("text", "synthetic", np.array([0.9, 0.02, 0.02, 0.02, 0.02, 0.01, 0.01]))
    probs, weights = params.fuse_probs({"voice": voice, "text": neutral_words})
    assert weights == {"voice": 1.0, "text": 0.0}
    assert np.allclose(probs, [voice.probs[k] for k in LABELS])
    angry_words = build_estimate("text", "synthetic", np.array([0.05, 0.02, 0.02, 0.85, 0.02, 0.02, 0.02]))
    _, weights = params.fuse_probs({"voice": voice, "text": angry_words})
    assert weights["text"] > 0


def test_smoothing_pulls_a_lone_flip_towards_its_neighbours_and_skips_utterances():
    from affectlens.fusion.smooth import smooth_timeline, smooth_values
    from affectlens.schema import Segment

    t = np.arange(5) * 2.0 + 1.0
    happy, sad = np.eye(7)[1] * 0.8 + 0.2 / 7, np.eye(7)[2] * 0.8 + 0.2 / 7
    probs = np.stack([happy, happy, sad, happy, happy])
    out = smooth_values(t, probs, np.full(5, 0.8))
    assert out[2].argmax() == 1 and np.allclose(out.sum(1), 1)
    vals = np.array([[0.5], [np.nan], [np.nan]])
    assert np.allclose(smooth_values(t[:3], vals, np.ones(3)), 0.5)  # missing values filled from neighbours
    assert np.isnan(smooth_values(t[:2], np.full((2, 1), np.nan), np.ones(2))).all()

    def segment(kind, i, p):
        s = Segment(start=2.0 * i, end=2.0 * i + 2, kind=kind)
        s.fused = build_estimate("fused", "t", p, vad=(0.5, None, None))
        return s
    media = [segment("speech", i, p) for i, p in enumerate(probs)]
    talk = [segment("utterance", i, p) for i, p in enumerate(probs)]
    smooth_timeline(media + talk)
    assert media[2].smoothed.label == "happy" and media[2].fused.label == "sad"
    assert media[0].smoothed.valence == 0.5 and media[0].smoothed.arousal is None
    assert all(s.smoothed is None for s in talk)
