"""Packed, batched ASR: packing rules, and the example clip's words against the published remarks."""

from __future__ import annotations

import numpy as np
import pytest

from affectlens.evaluate.metrics import asr_words as _norm, word_errors as _edits
from media_factory import EXAMPLE

# President Obama, Oval Office address of 15 June 2010, the part the example clip holds
# (it starts inside "to speak" and stops inside "others").
PUBLISHED = ("speak with you about the battle we're waging against an oil spill that is assaulting our shores "
             "and our citizens on april 20th an explosion ripped through bp deepwater horizon drilling rig "
             "about 40 miles off the coast of louisiana 11 workers lost their lives 17 others")


def test_pack_fills_windows_in_order():
    from affectlens.media.asr import pack

    assert pack([10, 10, 10, 25, 5], window=32, gap=1) == [[0, 1, 2], [3, 4]]
    assert pack([40, 5, 5], window=32, gap=1) == [[0], [1, 2]]  # a clip longer than a window is alone
    assert pack([5] * 5, window=100, gap=1, most=2) == [[0, 1], [2, 3], [4]]


def test_packed_words_of_the_example_clip():
    pytest.importorskip("faster_whisper", reason="ASR needs the [text] extra")
    from affectlens.media import asr, decode, segment
    from affectlens.voice.vad import speech_spans

    audio = np.concatenate(list(decode.iter_audio(EXAMPLE)))
    plan = [s for s in segment.plan(audio.size / 16000, speech_spans([audio])) if s.kind == "speech"]
    clips = [(audio[int(s.t0 * 16000):int(s.t1 * 16000)], s.t0) for s in plan]
    assert len(plan) >= 5 and len(asr.pack([a.size for a, _ in clips], 24 * 16000, 4800)) == 1  # one window
    words = asr.transcribe_many(clips + [(np.zeros(100, np.float32), 30.0)])
    assert words[-1] == []  # too short to hold a word
    for (a, t0), ws in zip(clips, words):
        assert all(t0 - 1e-6 <= w.t0 <= w.t1 <= t0 + a.size / 16000 + 1e-6 for w in ws)
    ref, hyp = _norm(PUBLISHED), _norm(" ".join(w.text for ws in words for w in ws))
    assert _edits(ref, hyp) <= 4, hyp  # measured 0; one segment per call read the clipped "speak" as "think"


def test_suspicious_packed_clips_are_the_ones_whisper_got_wrong():
    from affectlens.analyzers import SegmentInput, Word
    from affectlens.media.asr import suspicious

    def words(text, t=0.0, step=0.3):
        return [Word(w, t + k * step, t + (k + 1) * step) for k, w in enumerate(text.split())]

    assert not suspicious(words("kids are talking by the door"), 1.9)
    assert suspicious([], 1.5)  # a sentence dropped
    assert suspicious(words("door"), 2.0)  # only the neighbour's last word: 0.5 words/s (< 0.8)
    assert suspicious([Word("by", 0.0, 2.5)], 0.9)  # the alignment stretched a word over skipped speech
    assert suspicious(words("dogs are sitting by the door dogs are sitting by the door"), 2.0)  # a loop
    assert not suspicious(words("no"), 0.8)  # a short clip may hold one word


def test_words_the_recogniser_is_unsure_of_are_not_read():
    """German speech comes out of the English ASR as English words it is unsure of: the text
    models do not read them, and the status says why; an English clip is read as before."""
    pytest.importorskip("faster_whisper", reason="ASR needs the [text] extra")
    from pathlib import Path

    import affectlens
    from affectlens.analyzers import SegmentInput, Word
    from affectlens.text import language

    voice = Path(__file__).parent / "data" / "voice"
    german = affectlens.analyze(voice / "03a01Wa.flac", modalities=("voice", "text"))
    assert german.segments and all("text" not in s.estimates and "voice" in s.estimates
                                   for s in german.segments if s.kind == "speech")
    assert any(s.text for s in german.segments)  # the words are still shown
    assert german.modalities["text"].startswith("speech recognition unsure in 1 segment")
    english = affectlens.analyze(voice / "03-01-03-02-01-02-15.flac", modalities=("voice", "text"))
    assert english.modalities["text"] == "present"
    sure = SegmentInput(0, 1, words=[Word(w, 0, 1, confidence=0.9) for w in "Kids are talking".split()])
    unsure = SegmentInput(0, 1, words=[Word(w, 0, 1, confidence=0.3) for w in "Kids are talking".split()])
    assert language.unreadable(sure) is None and language.unreadable(unsure) == language.ASR_UNSURE
    one = SegmentInput(0, 1, words=unsure.words[:1])
    assert language.unreadable(one) is None  # one word is too little to judge
