"""Face valence/arousal centred on neutral, quality-weighted frames, one-graph ensembles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from affectlens.analyzers import SegmentInput
from affectlens.face import quality
from affectlens.face.classifier import ExpressionCNN, neutral_referenced_va, to_gray48
from affectlens.media import decode
from affectlens.registry import get_analyzer
from affectlens.schema import LABELS

from conftest import corpus_path

DATA = Path(__file__).parent / "data"
SAMPLES = sorted((DATA / "corpora" / "fer").glob("*/*.jpg")) + sorted((DATA / "face").glob("fer_val_*.jpg"))
NEGATIVE = {"sad", "angry", "fearful", "disgusted"}


@pytest.fixture(scope="module")
def cnn():
    return ExpressionCNN()


@pytest.fixture(scope="module")
def crops():
    return np.stack([to_gray48(decode.load_image(p)) for p in SAMPLES])


def test_faces_read_as_neutral_sit_near_zero_valence(cnn, crops):
    probs = cnn.probs(crops)
    new = cnn.valence_arousal(probs)
    plain = neutral_referenced_va(probs, cnn.meta["valence_arousal"]["coords"])
    top = [LABELS[i] for i in probs.argmax(1)]
    neutral = [i for i, t in enumerate(top) if t == "neutral"]
    assert len(neutral) >= 3
    assert np.abs(new[neutral, 0]).max() <= 0.1, new[neutral]
    assert plain[neutral, 0].min() < -0.2  # the plain weighted mean pulled one of them to sad
    # faces read as an emotion keep their valence sign
    for i, t in enumerate(top):
        if t == "happy":
            assert new[i, 0] > 0.05
        elif t in NEGATIVE:
            assert new[i, 0] < -0.15, (SAMPLES[i].name, t, new[i])


def test_reference_is_the_neutral_val_faces_mean(cnn):
    va = cnn.meta["valence_arousal"]
    assert sum(va["reference"].values()) == pytest.approx(1.0, abs=0.01)
    before, after = va["val_mean"]["probability_weighted"], va["val_mean"]["out_of_fold"]
    assert abs(after["neutral"][0]) < 0.06 < abs(before["neutral"][0])
    for k in ("happy", "surprised"):
        assert after[k][0] > 0
    for k in NEGATIVE:
        assert after[k][0] < -0.2


def test_blurred_and_turned_frames_weigh_less(crops):
    import cv2

    sharp = crops[:4]
    blurred = np.stack([cv2.GaussianBlur(c, (0, 0), 2.0) for c in sharp])
    w_sharp, w_blur = quality.frame_weights(sharp), quality.frame_weights(blurred)
    assert (w_sharp > 2 * w_blur).all(), (w_sharp, w_blur)
    assert (quality.frame_weights(sharp, yaw=[40.0] * 4) < w_sharp).all()
    assert (w_blur >= quality.FLOOR).all()


def test_track_reading_follows_its_clear_frames():
    import cv2

    face = get_analyzer("face")
    happy = decode.load_image(DATA / "face" / "fer_val_happy.jpg")
    sad = cv2.GaussianBlur(decode.load_image(DATA / "face" / "fer_val_angry.jpg"), (0, 0), 2.5)
    seg = SegmentInput(0, 0, frames=[(0.0, happy), (0.1, sad), (0.2, sad)], face_crop=True)
    est = face.analyze(seg)
    plain = face.cnn.probs(np.stack([to_gray48(img) for _, img in seg.frames])).mean(0)
    assert est.probs["happy"] > plain[LABELS.index("happy")] + 0.1
    assert est.top == "happy" and 0 < est.quality["frame_quality"] < 1


@pytest.mark.corpus
def test_grid_speaker_valence_closer_to_neutral():
    clip = corpus_path("clips", "grid_bbaf2n.mpg")
    face = get_analyzer("face")
    frames = list(decode.iter_frames(clip, fps=5))
    est = face.analyze(SegmentInput(0.0, frames[-1][0], frames=frames))
    p = np.array([est.probs[k] for k in LABELS])
    plain = neutral_referenced_va(p, face.cnn.meta["valence_arousal"]["coords"])
    assert abs(est.valence) < abs(plain[0]) - 0.1
    assert abs(est.valence) <= 0.2, est.valence


def test_merged_ensemble_graph_averages_members(cnn, crops, tmp_path):
    onnx = pytest.importorskip("onnx")
    from affectlens.train.face_ensemble import merge, run_logits

    single = onnx.load(str(cnn.model_dir / "model.onnx"))
    bias = np.arange(len(LABELS), dtype=np.float32) / 10
    merged = merge([single, single], bias)
    assert [i.name for i in merged.graph.input] == ["image"]
    assert [o.name for o in merged.graph.output] == ["logits"]
    got = run_logits(merged.SerializeToString(), crops)
    assert np.allclose(got, cnn.logits(crops) + bias, atol=1e-4)
