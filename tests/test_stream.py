"""``affectlens.stream.LiveSession`` in-process: the live timeline matches the clip at any sample rate
and however the PCM bytes are split into messages."""

from __future__ import annotations

import numpy as np
import pytest

from serve_util import CLIP


def _pcm(rate: int, seconds: float) -> bytes:
    import av

    from affectlens.media.decode import iter_audio

    x = np.concatenate(list(iter_audio(CLIP)))[: int(seconds * 16000)]
    if rate != 16000:  # the client's own rate, made with FFmpeg's resampler
        r = av.AudioResampler(format="s16", layout="mono", rate=rate)
        frame = av.AudioFrame.from_ndarray(x.reshape(1, -1).astype(np.float32), format="flt", layout="mono")
        frame.sample_rate = 16000
        out = [f.to_ndarray().reshape(-1) for f in [*r.resample(frame), *r.resample(None)]]
        return np.concatenate(out).astype("<i2").tobytes()
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()


def _run(rate: int, chunk: int, seconds: float = 8.0):
    from affectlens.stream import LiveOptions, LiveSession

    pcm = _pcm(rate, seconds)
    session = LiveSession(LiveOptions(sample_rate=rate, modalities=("voice",)))
    live = []
    for i in range(0, len(pcm), chunk):
        live += session.push_pcm(pcm[i:i + chunk])
    last, analysis = session.finish()
    return live, live + last, analysis


def test_live_timeline_any_rate_any_split():
    live16, all16, a16 = _run(16000, 3200)
    live48, all48, a48 = _run(48000, 4801)  # odd sizes: samples split across messages
    for segs, analysis in ((all16, a16), (all48, a48)):
        assert segs[0].start == 0.0 and segs[-1].end == pytest.approx(8.0, abs=0.05)
        assert all(a.end == b.start for a, b in zip(segs, segs[1:]))  # contiguous
        assert analysis.modalities["voice"] == "present" and analysis.summary is not None
        assert [s.start for s in analysis.segments] == [s.start for s in segs]
    assert len(live16) >= 2 and all(s.kind == "speech" for s in live16[:2])
    assert all("voice" in s.estimates for s in live16[:2])
    # the same speech turns, whatever the rate and split
    b16 = [(s.start, s.end) for s in all16 if s.kind == "speech"]
    b48 = [(s.start, s.end) for s in all48 if s.kind == "speech"]
    assert len(b16) == len(b48)
    assert np.allclose(np.array(b16), np.array(b48), atol=0.1)


def test_bad_hello_values():
    from affectlens.stream import LiveOptions, LiveSession

    with pytest.raises(ValueError, match="sample_rate"):
        LiveSession(LiveOptions(sample_rate=100))
    with pytest.raises(ValueError, match="unknown modality"):
        LiveSession(LiveOptions(modalities=("smell",)))
