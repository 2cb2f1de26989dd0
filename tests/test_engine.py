"""The Engine: state per run (alone = twice in a row = two threads at once) and the public API."""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

import affectlens
from affectlens import AnalysisRequest, Audio, Engine, Image, Text, Video
from affectlens.registry import get_analyzer
from affectlens.media import decode
from conftest import DATA, EXAMPLES
from media_factory import EXAMPLE

FACE_JPG = DATA / "face" / "pexels_woman_frame200.jpg"
SPEECH = DATA / "voice" / "03-01-05-02-01-01-03.flac"  # RAVDESS, angry, 4.4 s
TIMING = {"timing", "elapsed_s", "seconds", "speed"}


def _json(a) -> dict:
    """The analysis as JSON, without timing fields (none today; robust if some are added)."""
    def strip(x):
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k not in TIMING}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x
    return strip(json.loads(a.model_dump_json()))


def _speaking_face() -> Video:
    """A 4.4 s in-memory clip: a real face (shifting by 2 px a frame) speaking a RAVDESS sentence."""
    img = decode.load_image(FACE_JPG)
    audio = np.concatenate(list(decode.iter_audio(SPEECH)))
    frames = [np.roll(img, 2 * k, axis=1) for k in range(int(audio.size / 16000 * 5))]
    return Video(frames, fps=5.0, audio=Audio(audio, 16000), name="speaking-face")


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


@pytest.fixture(scope="module")
def alone(engine):
    """Each clip analyzed alone (default request: every modality, ASR on, evidence on)."""
    clip = _speaking_face()
    return clip, _json(engine.analyze(EXAMPLE)), _json(engine.analyze(clip))


def test_alone_results_are_real(alone):
    _, ex, sp = alone
    assert all(ex["modalities"][m] == "present" for m in ("face", "voice", "text"))
    assert sp["modalities"]["face"] == sp["modalities"]["voice"] == "present"
    assert sp["media"]["kind"] == "video" and sp["media"]["duration"] == pytest.approx(4.4, abs=0.1)


def test_twice_in_a_row_is_identical(engine, alone):
    clip, ex, sp = alone
    assert _json(engine.analyze(EXAMPLE)) == ex
    assert _json(engine.analyze(clip)) == sp


def test_two_clips_from_two_threads_equal_each_alone(engine, alone):
    clip, ex, sp = alone
    with ThreadPoolExecutor(2) as pool:
        a, b = pool.submit(engine.analyze, EXAMPLE), pool.submit(engine.analyze, clip)
        assert _json(a.result()) == ex
        assert _json(b.result()) == sp


def test_analyzers_are_read_only_after_load(engine, alone):
    """A run leaves no trace on the shared analyzers (all per-input state is in the RunState)."""
    snap = {k: dict(vars(get_analyzer(k))) for k in ("face", "voice", "text")}
    engine.analyze(_speaking_face())
    for k, before in snap.items():
        after = vars(get_analyzer(k))
        assert after.keys() == before.keys() and all(after[n] is before[n] for n in before), k


def test_analyze_a_path_gives_a_dataframe():
    a = affectlens.analyze(str(EXAMPLE), fps=2, asr=False, modalities="face,voice")
    df = a.to_dataframe()
    assert a.modalities["text"] == "not requested" and set(df["modality"]) == {"face", "voice", "fused", "smoothed"}
    assert len(df) == sum(len(s.estimates) + (s.fused is not None) + (s.smoothed is not None) for s in a.segments)
    assert (df["modality"] == "face").sum() >= len(a.segments) - 1  # the speaker's face is in view throughout


def test_numpy_audio_equals_the_file_and_is_resampled(engine):
    req = AnalysisRequest(modalities=("voice",), asr=False)
    from_file = engine.analyze(SPEECH, req)
    x = np.concatenate(list(decode.iter_audio(SPEECH)))
    in_memory = engine.analyze(Audio(x, 16000), req)
    assert _json(in_memory)["segments"] == _json(from_file)["segments"]
    assert in_memory.media.kind == "audio" and in_memory.media.path == "<audio>"
    # 48 kHz int16 stereo: the same speech after FFmpeg's resampler
    t48 = np.interp(np.arange(3 * x.size) / 3, np.arange(x.size), x)
    pcm = (np.stack([t48, t48], axis=1) * 32767).astype(np.int16)
    resampled = engine.analyze(Audio(pcm, 48000), req)
    est, ref = ([s.estimates["voice"] for s in a.segments if "voice" in s.estimates] for a in (resampled, from_file))
    assert len(est) == len(ref) == 1
    est, ref = est[0], ref[0]
    assert est.label == ref.label == "angry"
    assert max(abs(est.probs[k] - ref.probs[k]) for k in ref.probs) < 0.05
    with pytest.raises(affectlens.InputError, match="sample rate"):
        engine.analyze(Audio(x, 2000), req)


def test_image_array_pil_and_file_agree(engine):
    from PIL import Image as PILImage

    req = AnalysisRequest(modalities=("face",))
    ref = _json(engine.analyze(FACE_JPG, req))["segments"]
    rgb = decode.load_image(FACE_JPG)
    assert ref[0]["estimates"]["face"]["quality"]["frames_with_face"] == 1.0
    for src in (rgb, Image(rgb, name="frame200"), PILImage.open(FACE_JPG)):
        a = engine.analyze(src, req)
        assert _json(a)["segments"] == ref
        assert a.media.kind == "image" and a.media.path == getattr(src, "name", "<image>")
    with pytest.raises(affectlens.InputError, match="HxWx3"):
        engine.analyze(np.zeros((4, 4, 7), np.uint8), req)


def test_text_equals_the_same_text_file(engine):
    path = EXAMPLES / "dialogue.txt"
    from_file = engine.analyze(path)
    from_text = engine.analyze(Text(path.read_text()))
    assert _json(from_text)["segments"] == _json(from_file)["segments"]
    assert [s.speaker for s in from_text.segments][:2] == ["Ann", "Ben"]
    assert from_text.media.kind == "text" and from_text.modalities["text"] == "present"


def test_hook_reports_every_step_in_order(engine):
    calls = []
    a = engine.analyze(EXAMPLE, AnalysisRequest(modalities=("voice",), asr=False, batch=4),
                       hook=lambda step, payload, completed=None, total=None: calls.append(
                           (step, payload, completed, total)))
    steps = [c[0] for c in calls]
    assert steps[:2] == ["probe", "speech"] and steps[-1] == "done" and set(steps[2:-1]) == {"segments"}
    assert calls[0][1] == a.media and calls[-1][1] is a
    assert calls[1][1] and all(s < e for s, e in calls[1][1])  # the clip has speech
    done = [c[2] for c in calls if c[0] == "segments"]
    assert done == sorted(done) and done[-1] == pytest.approx(a.segments[-1].end)
    assert all(c[3] == pytest.approx(a.media.duration) for c in calls if c[0] == "segments")
    assert sum(len(c[1]) for c in calls if c[0] == "segments") == len(a.segments)


@pytest.mark.parametrize("bad", [dict(fps=0), dict(fps=math.inf), dict(fps=121), dict(fps=math.nan),
                                 dict(window_s=0), dict(modalities=("smell",)), dict(modalities=()),
                                 dict(batch=0), dict(colour="red")])
def test_request_is_validated(bad):
    with pytest.raises(ValidationError):
        AnalysisRequest(**bad)


def test_request_is_frozen_and_serialisable():
    from affectlens.reason.llm import LLMConfig

    req = AnalysisRequest(modalities="voice, face", fps=2.5, llm=LLMConfig(url="http://x/v1", model="m"))
    assert req.modalities == ("voice", "face")
    assert AnalysisRequest.model_validate_json(req.model_dump_json()) == req
    with pytest.raises(ValidationError):
        req.fps = 3.0  # type: ignore[misc]


def test_analyze_many_skips_bad_inputs(engine, tmp_path):
    bad = tmp_path / "empty.mp4"
    bad.write_bytes(b"")
    errors = []
    out = list(engine.analyze_many([bad, EXAMPLES / "dialogue.txt"], AnalysisRequest(modalities=("text",)),
                                   on_error=errors.append))
    assert [Path(p).name for p, _ in out] == ["dialogue.txt"]
    assert len(errors) == 1 and "file is empty" in str(errors[0])
