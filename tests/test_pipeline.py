"""Pipeline on audio-only, image and text inputs; corpus readers on samples and real corpora."""

from __future__ import annotations

import numpy as np
import pytest

from affectlens import AnalysisRequest, Engine, Settings
from affectlens.analyzers import Analyzer, build_estimate
from affectlens.evaluate import corpora
from conftest import DATA, corpus_path
from media_factory import EXAMPLE, silent_video, tone_wav


class Recorder(Analyzer):
    """Records what the pipeline hands to an analyzer."""

    name, version = "recorder", "0"

    def __init__(self, modality):
        self.modality, self.inputs = modality, []

    def analyze(self, x, state=None):
        self.inputs.append(x)
        has = {"face": bool(x.frames), "voice": x.audio is not None and x.audio.size > 0, "text": bool(x.text)}
        return build_estimate(self.modality, "recorder", np.eye(7)[1] * 0.5 + 0.5 / 7) if has[self.modality] else None


def _engine(*mods) -> Engine:
    return Engine(Settings(analyzers={m: Recorder(m) for m in mods}))


def _run(source, *mods, **kw):
    """``(analysis, recorders)`` of ``source`` through an engine with recording analyzers."""
    eng = _engine(*mods)
    a = eng.analyze(source, AnalysisRequest(modalities=mods, asr=False, **kw))
    return a, eng.settings.analyzers


def test_audio_only_tone_has_windows_and_no_face(tmp_path):
    wav = tone_wav(tmp_path / "tone.wav", seconds=5.0)
    a, _ = _run(wav, "face", "voice")
    assert a.media.kind == "audio"
    assert a.modalities["face"] == "input has no video or image"
    assert all(s.kind == "window" for s in a.segments) and a.segments[-1].end == pytest.approx(5.0, abs=0.05)


def test_video_segments_get_their_frames_and_audio():
    a, rec = _run(EXAMPLE, "face", "voice", fps=4)
    for x in rec["face"].inputs:
        assert all(x.t0 <= t < x.t1 for t, _ in x.frames)
        assert len(x.frames) == pytest.approx((x.t1 - x.t0) * 4, abs=1.5)
    for x in rec["voice"].inputs:
        assert x.audio.size == pytest.approx((x.t1 - x.t0) * 16000, abs=20)
    assert a.modalities["face"] == a.modalities["voice"] == "present"
    assert all(s.fused is not None and s.fused.label == "happy" for s in a.segments)


def test_video_without_audio_is_all_windows(tmp_path):
    a, _ = _run(silent_video(tmp_path / "m.mp4", seconds=3.0), "face", "voice")
    assert a.modalities["voice"] == "input has no audio stream"
    assert {s.kind for s in a.segments} == {"window"} and a.segments[0].estimates["face"]


def test_image_is_one_segment(tmp_path):
    from PIL import Image

    Image.new("RGB", (64, 64), "gray").save(tmp_path / "g.jpg")
    a, _ = _run(tmp_path / "g.jpg", "face")
    assert a.media.kind == "image" and len(a.segments) == 1 and a.segments[0].kind == "image"


def test_transcript_words_land_in_their_segments(tmp_path):
    srt = tmp_path / "t.srt"
    srt.write_text("1\n00:00:01,000 --> 00:00:02,000\nthink with you\n\n2\n00:00:10,000 --> 00:00:11,000\nexplosion\n")
    a, _ = _run(EXAMPLE, "text", transcript=str(srt))
    texts = {s.text for s in a.segments if s.text}
    assert texts == {"think with you", "explosion"}
    seg = next(s for s in a.segments if s.text == "explosion")
    assert seg.start <= 10.5 < seg.end


def test_dialogue_context_is_previous_turns():
    a, rec = _run(DATA / "corpora" / "meld_sample.csv", "text")
    inputs = rec["text"].inputs
    assert inputs[0].context == [] and inputs[1].context[-1].text == inputs[0].text
    assert a.segments[1].speaker == "Monica"


def test_speech_manifest_reader(tmp_path):
    src = DATA / "voice"
    rows = ["path,label,speaker"] + [f"{p},{lab},{spk}" for p, lab, spk in
                                     [(next(src.glob('03-01-05*')), "angry", "1"), (next(src.glob('03a01W*')), "anger", "3")]]
    (tmp_path / "m.csv").write_text("\n".join(map(str, rows)) + "\n")
    es = corpora.read("voice", tmp_path / "m.csv")
    assert [it.target for it in es.items] == ["angry", "angry"] and es.fmt == "manifest"
    assert es.load(es.items[0]).audio.size > 16000


@pytest.mark.corpus
def test_sample_readers(speech_corpus):
    voice = corpora.read("voice", speech_corpus)
    assert {it.target for it in voice.items} == {"angry", "calm", "sad"} and len(voice.labels) == 9
    assert voice.fmt == "emodb+ravdess"
    face = corpora.read("face", DATA / "corpora" / "fer", cropped=True)
    assert len(face.items) == 14 and face.load(face.items[0]).face_crop
    vad = corpora.read("vad", DATA / "corpora" / "emobank_sample.csv")
    assert len(vad.items) == 20 and vad.fmt == "emobank-csv[dev]"
    assert all(np.all(np.abs(it.target) <= 1) for it in vad.items)


@pytest.mark.corpus
@pytest.mark.parametrize("task,path,n", [
    ("face", ("fer2013", "val"), 3589), ("voice", ("ravdess",), 1200), ("voice", ("emodb",), 408),
    ("text", ("goemotions", "dev.tsv"), 5426), ("dialogue", ("meld", "dev_sent_emo.csv"), 1109),
    ("dialogue", ("emorynlp", "emorynlp_dev_final.csv"), 954), ("vad", ("emobank", "emobank.csv"), 1000),
])
def test_real_corpora(task, path, n):
    es = corpora.read(task, corpus_path(*path))
    assert len(es.items) == n
