"""Temperature scaling: each recipe's fit recovers a known temperature, and the shipped
models' confidence matches their accuracy on the samples (calibration in the large)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from affectlens.analyzers import softmax
from affectlens.registry import get_analyzer
from affectlens.evaluate import corpora
from affectlens.schema import LABELS, to_canonical

SAMPLES = Path(__file__).parent / "data" / "corpora"


def _synthetic(t_true: float, n: int = 20000, k: int = 7, seed: int = 0):
    """Logits and labels drawn from softmax(logits / t_true): the right temperature is t_true."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3.0, size=(n, k))
    p = softmax(logits, t_true)
    y = (p.cumsum(1) > rng.random((n, 1))).argmax(1)
    return logits, y


@pytest.mark.parametrize("t_true", [0.6, 1.0, 1.8])
def test_face_and_text_temperature_fits_recover_a_known_t(t_true):
    pytest.importorskip("scipy")
    from affectlens.train.face import fit_temperature as fit_face
    from affectlens.train.text import fit_temperature as fit_text

    logits, y = _synthetic(t_true)
    assert fit_face(logits, y) == pytest.approx(t_true, rel=0.05)
    assert fit_text(logits, np.eye(logits.shape[1])[y]) == pytest.approx(t_true, rel=0.05)


@pytest.mark.parametrize("t_true", [0.7, 1.4])
def test_voice_temperature_fit_recovers_a_known_t(t_true):
    from affectlens.train.voice import fit_temperature
    from affectlens.evaluate.corpora.speech import CORPUS_LABELS
    from affectlens.voice.head import FINE_LABELS

    ravdess = [FINE_LABELS.index(k) for k in CORPUS_LABELS["ravdess"]]
    own, y_own = _synthetic(t_true, k=len(ravdess), n=8000)
    logits = np.full((len(own), len(FINE_LABELS)), -30.0)  # RAVDESS clips: "bored" never fits
    logits[:, ravdess] = own
    y = np.array(ravdess)[y_own]
    assert fit_temperature(logits, y, np.array(["ravdess"] * len(y))) == pytest.approx(t_true, rel=0.08)


@pytest.mark.parametrize("task, data, key, kw", [
    ("face", "fer", "face", {"cropped": True}),  # measured: confidence 0.612, accuracy 0.643
    ("dialogue", "meld_sample.csv", "dialogue", {}),  # 0.587 vs 0.633
    ("voice", "speech", "voice", {}),  # 0.969 vs 1.0
])
def test_shipped_models_confidence_matches_accuracy_on_the_samples(task, data, key, kw):
    es = corpora.read(task, SAMPLES / data, **kw)
    ests = get_analyzer(key).analyze_batch([es.load(it) for it in es.items])
    top = [max(e.probs, key=e.probs.get) for e in ests]
    truth = [t if t in LABELS else to_canonical(t, "speech") for t in (it.target for it in es.items)]
    accuracy = np.mean([a == b for a, b in zip(top, truth)])
    confidence = np.mean([max(e.probs.values()) for e in ests])
    assert accuracy > 0.5
    assert abs(confidence - accuracy) <= 0.1, (confidence, accuracy)
