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


def test_voice_confidence_fit_recovers_known_parameters():
    from affectlens.train.voice import fit_confidence
    from affectlens.voice.analyzer import temperature

    rng = np.random.default_rng(0)
    n_rows = 6000
    theta = (0.3, 0.8, 0.5)
    n = rng.choice([1, 2, 5, 20], n_rows).astype(float)
    dom = np.exp(rng.uniform(-1.5, 1.0, n_rows))
    clean = rng.normal(0, 1, (n_rows, 7))
    y = rng.integers(0, 7, n_rows)
    clean[np.arange(n_rows), y] += 2.0  # calibrated logits: sample labels from softmax(clean)
    p = np.exp(clean - clean.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(7, p=row) for row in p])
    logits = clean * temperature(theta, n, dom)[:, None]  # what an overconfident head would give
    fitted = fit_confidence(logits, y, n, dom, np.ones(n_rows))
    assert fitted == pytest.approx(theta, abs=0.15)


@pytest.mark.parametrize("task, data, key, kw", [
    ("face", "fer", "face", {"cropped": True}),  # measured: confidence 0.612, accuracy 0.643
    # dialogue v1.0 read the 30 MELD samples at confidence 0.587 vs accuracy 0.633; v1.1 (context
    # gate) at 0.588 vs 0.767 (23 of 30 right): 30 utterances spread accuracy by about ±0.09, so
    # the dialogue model is checked on all of MELD dev below
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


@pytest.mark.corpus
def test_dialogue_confidence_matches_accuracy_on_meld_dev():
    from conftest import corpus_path

    from affectlens.evaluate.metrics import expected_calibration_error
    from affectlens.state import RunState

    es = corpora.read("dialogue", corpus_path("meld", "dev_sent_emo.csv"))
    ests = get_analyzer("dialogue").analyze_batch([es.load(it) for it in es.items], RunState(evidence=False))
    p = np.array([[e.probs[k] for k in LABELS] for e in ests])
    y = np.array([LABELS.index(it.target) for it in es.items])
    accuracy, confidence = np.mean(p.argmax(1) == y), p.max(1).mean()  # measured 0.619 vs 0.623
    assert abs(confidence - accuracy) <= 0.03, (confidence, accuracy)
    assert expected_calibration_error(p, y) <= 0.06  # measured 0.050


def test_voice_held_out_calibration_recorded_by_the_recipe():
    """The speech samples are training clips of the shipped voice model (its accuracy on them
    says nothing about calibration), so its calibration is checked on the recipe's held-out
    predictions: speakers read as one recording, every corpus, clean clips."""
    import json

    from affectlens.analyzers import model_dir

    meta = json.loads((model_dir("voice-whisper-tiny") / "meta.json").read_text())
    for protocol in ("speaker_cv", "loco"):
        for corpus, m in meta["val_metrics"][protocol]["run-clean"].items():
            assert m["ece"] <= 0.15, (protocol, corpus, m["ece"])
