"""Media decoding, VAD, segmentation and text inputs on real and generated media."""

from __future__ import annotations

import numpy as np
import pytest

from affectlens.errors import InputError
from affectlens.media import decode, segment, transcript
from affectlens.voice.vad import speech_spans
from media_factory import EXAMPLE, silent_video, tone_wav


def test_probe_example():
    info = decode.probe(EXAMPLE)
    assert info.kind == "video" and info.has_audio and info.has_video
    assert (info.width, info.height) == (450, 450)
    assert info.duration == pytest.approx(20.0, abs=0.1)


def test_frames_at_requested_rate():
    frames = list(decode.iter_frames(EXAMPLE, fps=2))
    times = [t for t, _ in frames]
    assert len(frames) == pytest.approx(40, abs=1)
    assert np.allclose(np.diff(times), 0.5, atol=0.05)
    assert frames[0][1].shape == (450, 450, 3) and frames[0][1].dtype == np.uint8


def test_audio_is_16k_mono_chunked():
    chunks = list(decode.iter_audio(EXAMPLE, chunk_s=3.0))
    assert all(c.ndim == 1 and c.dtype == np.float32 for c in chunks)
    assert all(c.size == 48000 for c in chunks[:-1])
    assert sum(c.size for c in chunks) / 16000 == pytest.approx(20.0, abs=0.1)


def test_resamples_stereo_44k(tmp_path):
    wav = tone_wav(tmp_path / "tone.wav", seconds=1.5)
    audio = np.concatenate(list(decode.iter_audio(wav)))
    assert audio.size == pytest.approx(24000, abs=200)
    spectrum = np.abs(np.fft.rfft(audio))
    assert np.argmax(spectrum) * 16000 / audio.size == pytest.approx(220, abs=3)


def test_vad_finds_speech_in_example_not_in_tone(tmp_path):
    spans = speech_spans(decode.iter_audio(EXAMPLE))
    speech = sum(e - s for s, e in spans)
    assert 12 < speech < 20  # a continuous address with short pauses
    tone = tone_wav(tmp_path / "tone.wav", seconds=2.0)
    assert speech_spans(decode.iter_audio(tone)) == []


def test_plan_covers_timeline_with_bounded_segments():
    spans = [(0.0, 0.4), (0.6, 0.9), (2.0, 19.0), (25.0, 26.0)]
    plan = segment.plan(30.0, spans)
    speech = [p for p in plan if p.kind == "speech"]
    assert all(p.t1 - p.t0 <= 8.0 + 1e-6 for p in plan)
    assert speech[0].t0 == 0.0 and speech[0].t1 == 0.9  # short turns merged
    assert sum(p.t1 - p.t0 for p in speech) == pytest.approx(0.9 + 17 + 1, abs=0.01)
    assert all(b.t0 >= a.t1 - 1e-9 for a, b in zip(plan, plan[1:]))  # ordered, no overlap
    assert plan[-1].t1 == 30.0 and plan[-1].kind == "window"
    assert segment.plan(5.0, None) == [segment.Span(0.0, 2.5, "window"), segment.Span(2.5, 5.0, "window")]


@pytest.mark.parametrize("content,reason", [
    (b"", "file is empty"),
    (b"\x00\x01garbage" * 100, "not a decodable media file"),
])
def test_bad_media(tmp_path, content, reason):
    p = tmp_path / "clip.mp4"
    p.write_bytes(content)
    with pytest.raises(InputError, match=reason) as err:
        decode.probe(p)
    assert str(p) in str(err.value) and "\n" not in str(err.value)


def test_truncated_mp4_without_its_index_is_refused(tmp_path):
    p = tmp_path / "cut.mp4"
    p.write_bytes(EXAMPLE.read_bytes()[:200_000])  # the example's moov index sits at the end
    with pytest.raises(InputError, match="not a decodable media file") as err:
        decode.probe(p)
    assert str(p) in str(err.value)


def test_truncated_stream_decodes_the_part_that_is_there(tmp_path):
    full = silent_video(tmp_path / "v.ts", seconds=10, fps=10)  # MPEG-TS: readable from any cut
    cut = tmp_path / "cut.ts"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    info = decode.probe(cut)
    assert info.kind == "video" and info.duration == pytest.approx(5.0, abs=0.3)
    assert len(list(decode.iter_frames(full, fps=2))) == 20
    assert 8 <= len(list(decode.iter_frames(cut, fps=2))) <= 11


def test_missing_and_directory(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        decode.probe(tmp_path / "nope.mp4")
    with pytest.raises(InputError, match="is a directory"):
        decode.check_file(tmp_path)


def test_absurd_size_refused(tmp_path, monkeypatch):
    p = tmp_path / "big.mp4"
    p.write_bytes(EXAMPLE.read_bytes())
    monkeypatch.setenv("AFFECTLENS_MAX_BYTES", "1000")
    with pytest.raises(InputError, match=r"too large \(964 KB > 1 KB limit, AFFECTLENS_MAX_BYTES\)"):
        decode.check_file(p)


def test_video_without_audio(tmp_path):
    v = silent_video(tmp_path / "mute.mp4")
    info = decode.probe(v)
    assert info.has_video and not info.has_audio
    with pytest.raises(InputError, match="no audio stream"):
        list(decode.iter_audio(v))


def test_image_and_corrupt_image(tmp_path):
    from PIL import Image

    Image.new("RGB", (32, 20), (200, 10, 10)).save(tmp_path / "red.png")
    info = decode.probe(tmp_path / "red.png")
    assert info.kind == "image" and (info.width, info.height) == (32, 20)
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(InputError, match="not a readable image"):
        decode.probe(tmp_path / "bad.jpg")


SRT = """1
00:00:01,000 --> 00:00:02,500
I can't believe it.

2
00:00:03,000 --> 00:00:04,000
<i>This is wonderful!</i>
"""
VTT = """WEBVTT

00:01.000 --> 00:02.000
<v Ann>Hello there.

00:02.500 --> 00:03.000
<v Bob>Go away!
"""


def test_subtitles_and_transcripts(tmp_path):
    (tmp_path / "a.srt").write_text(SRT)
    words = transcript.load_dialogues(tmp_path / "a.srt")[0]
    assert [(w.text, w.t0, w.t1) for w in words] == [("I can't believe it.", 1.0, 2.5), ("This is wonderful!", 3.0, 4.0)]
    (tmp_path / "b.vtt").write_text(VTT)
    words = transcript.load_transcript(tmp_path / "b.vtt")
    assert [(w.speaker, w.text) for w in words] == [("Ann", "Hello there."), ("Bob", "Go away!")]
    (tmp_path / "c.txt").write_text("Ann: I'm so happy\nBob: me too\n\nAnn: great\n")
    words = transcript.load_dialogues(tmp_path / "c.txt")[0]
    assert [(w.speaker, w.text, w.t0) for w in words][-1] == ("Ann", "great", 2.0)
    (tmp_path / "d.txt").write_text("Just one plain sentence: with a colon somewhere in it.\nAnd another.")
    assert [w.speaker for w in transcript.load_dialogues(tmp_path / "d.txt")[0]] == [None, None]


def test_bad_text_inputs(tmp_path):
    (tmp_path / "e.txt").write_text("  \n\n")
    with pytest.raises(InputError, match="no text"):
        transcript.load_dialogues(tmp_path / "e.txt")
    (tmp_path / "bin.txt").write_bytes(b"\x00\x01\x02abc")
    with pytest.raises(InputError, match="binary"):
        transcript.load_dialogues(tmp_path / "bin.txt")
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="no Utterance"):
        transcript.load_dialogues(tmp_path / "t.csv")
    with pytest.raises(InputError, match="must be .srt or .vtt"):
        transcript.load_transcript(tmp_path / "e.txt")


def test_dialogue_csv_groups_by_dialogue(tests_data):
    dialogues = transcript.load_dialogues(tests_data / "corpora" / "meld_sample.csv")
    assert len(dialogues) >= 2
    assert dialogues[0][0].speaker == "Phoebe" and "lost it" in dialogues[0][0].text
    emory = transcript.load_dialogues(tests_data / "corpora" / "emorynlp_sample.csv")
    assert emory[0][0].speaker == "Rachel Green"


def test_plan_is_contiguous():
    spans = [(0.2, 3.0), (3.3, 6.0), (6.2, 13.9), (14.0, 19.8)]
    plan = segment.plan(20.0, spans)
    assert plan[0].t0 == 0.0 and plan[-1].t1 == 20.0
    assert all(a.t1 == b.t0 for a, b in zip(plan, plan[1:]))
    assert all(p.t1 - p.t0 <= 8.0 + 1e-6 for p in plan)


def test_prefetch_keeps_order_and_matches_direct_decode():
    direct = np.concatenate(list(decode.iter_audio(EXAMPLE, chunk_s=3.0)))
    ahead = np.concatenate(list(decode.prefetch(decode.iter_audio(EXAMPLE, chunk_s=3.0), depth=2)))
    np.testing.assert_array_equal(direct, ahead)


def test_prefetch_reraises_producer_errors_and_stops_when_closed():
    import threading

    def broken():
        yield 1
        raise InputError("x.mp4", "audio stream is corrupt")

    it = decode.prefetch(broken())
    assert next(it) == 1
    with pytest.raises(InputError, match="corrupt"):
        next(it)

    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    it = decode.prefetch(endless(), depth=2)
    assert [next(it) for _ in range(3)] == [0, 1, 2]
    it.close()
    assert not any(t.name == "affectlens-prefetch" and t.is_alive() for t in threading.enumerate())
    assert len(produced) <= 3 + 2 + 2
