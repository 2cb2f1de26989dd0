"""Conflict detection: label and valence-only disagreements, every modality pair, the flag
threshold, the heuristic without the learned model, and neutral words sitting out."""

from __future__ import annotations

import numpy as np
import pytest

from affectlens.analyzers import build_estimate
from affectlens.fusion import conflict, fuse
from affectlens.schema import LABELS


def est(modality: str, label: str, conf: float, valence: float | None = None):
    p = np.full(len(LABELS), (1 - conf) / (len(LABELS) - 1))
    p[LABELS.index(label)] = conf
    return build_estimate(modality, "synthetic", p, vad=(valence, None, None))


@pytest.fixture
def no_learned_model(monkeypatch):
    monkeypatch.setattr(fuse, "learned_params", lambda: None)
    monkeypatch.setattr(conflict, "learned_params", lambda: None, raising=False)


def test_valence_only_conflict(no_learned_model):
    c = conflict.detect({"face": est("face", "surprised", 0.7, 0.6), "voice": est("voice", "surprised", 0.7, -0.6)})
    assert c.flag and c.valence_disagree and not c.label_disagree
    assert c.score == pytest.approx(0.6) and c.detail == "valence +0.60 vs -0.60"


def test_text_voice_pair_uses_the_heuristic_even_with_the_learned_model():
    assert fuse.learned_params() is not None, "fusion-lr is installed in the test environment"
    text, voice = est("text", "angry", 0.8, -0.7), est("voice", "happy", 0.8, 0.7)
    c = conflict.detect({"text": text, "voice": voice})
    assert c.flag and c.modalities == ["text", "voice"] and c.label_disagree and c.valence_disagree
    assert c.score == pytest.approx(conflict.pair_score(text, voice)[0], abs=1e-4)
    assert c.detail == "text reads angry, voice reads happy; valence -0.70 vs +0.70"


@pytest.mark.parametrize("valence_b, flagged", [(-0.38, False), (-0.42, True)])
def test_flag_threshold_is_sharp(no_learned_model, valence_b, flagged):
    # same label, opposite valence: score = |0.30 - valence_b| / 2, around FLAG_ABOVE = 0.35
    c = conflict.detect({"face": est("face", "sad", 0.6, 0.30), "voice": est("voice", "sad", 0.6, valence_b)})
    assert c.score == pytest.approx((0.30 - valence_b) / 2)
    assert c.flag is flagged and c.valence_disagree


def test_fallback_without_the_learned_model(no_learned_model):
    agree = conflict.detect({"face": est("face", "happy", 0.8, 0.7), "voice": est("voice", "happy", 0.7, 0.6)})
    clash = conflict.detect({"face": est("face", "happy", 0.8, 0.7), "voice": est("voice", "angry", 0.8, -0.6)})
    assert not agree.flag and agree.score < 0.05
    assert clash.flag and clash.score > 0.6 and clash.detail.startswith("face reads happy, voice reads angry")


def test_learned_model_scores_face_voice_pairs():
    face, voice = est("face", "happy", 0.8, 0.7), est("voice", "angry", 0.8, -0.6)
    learned = conflict.learned_score(face, voice)
    assert learned is not None
    c = conflict.detect({"face": face, "voice": voice})
    assert c.score == pytest.approx(learned[0], abs=1e-4) and c.flag


def test_neutral_words_sit_out():
    face, voice = est("face", "happy", 0.8, 0.7), est("voice", "happy", 0.7, 0.6)
    plain = est("text", "neutral", 0.9, 0.0)
    assert conflict.detect({"voice": voice, "text": plain}) is None  # one voting modality left
    c = conflict.detect({"face": face, "voice": voice, "text": plain})
    assert c.modalities == ["face", "voice"] and not c.flag
    # emotional words do take part
    c = conflict.detect({"face": face, "voice": voice, "text": est("text", "angry", 0.8, -0.7)})
    assert "text" in c.modalities and c.flag


def test_a_flagged_face_voice_pair_is_reported_before_word_pairs():
    face, voice, words = est("face", "happy", 0.85, 0.7), est("voice", "angry", 0.8, -0.6), est("text", "angry", 0.7, -0.7)
    c = conflict.detect({"face": face, "voice": voice, "text": words})
    assert c.flag and c.modalities == ["face", "voice"]  # face-text also flags, on the heuristic's scale
    assert conflict.pair_score(face, words)[0] > conflict.FLAG_ABOVE
