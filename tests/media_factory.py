"""Generate small media files for decode edge cases (with PyAV)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

EXAMPLE = Path(__file__).parent.parent / "examples" / "obama_oilspill_2010.mp4"


def tone_wav(path: Path, seconds: float = 2.0, freq: float = 220.0, rate: int = 44100, stereo: bool = True) -> Path:
    """A sine tone (44.1 kHz stereo by default, to exercise resampling)."""
    t = np.arange(int(seconds * rate)) / rate
    x = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    layout = "stereo" if stereo else "mono"
    with av.open(str(path), "w") as out:
        s = out.add_stream("pcm_s16le", rate=rate, layout=layout)
        data = np.stack([x, x]) if stereo else x[None]
        pcm = (data * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm.T.reshape(1, -1) if stereo else pcm, format="s16", layout=layout)
        frame.sample_rate = rate
        for p in s.encode(frame):
            out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    return path


def silent_video(path: Path, seconds: float = 2.0, fps: int = 10, size=(64, 48)) -> Path:
    """A short video with no audio stream (moving gray ramp)."""
    with av.open(str(path), "w") as out:
        s = out.add_stream("mpeg4", rate=fps)
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(int(seconds * fps)):
            img = np.full((size[1], size[0], 3), (i * 10) % 255, dtype=np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    return path


def looped(src: Path, dst: Path, repeats: int) -> Path:
    """Remux ``src`` ``repeats`` times back to back (no re-encoding): a long real video."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        streams = {}
        for s in (inp.streams.video[0], inp.streams.audio[0]):
            streams[s.index] = out.add_stream_from_template(s)
        for r in range(repeats):
            inp.seek(0)
            for pkt in inp.demux():
                if pkt.dts is None or pkt.stream.index not in streams:
                    continue
                st = pkt.stream
                span = Fraction(inp.duration, 1_000_000) / st.time_base
                off = int(r * span * 1.01)  # a 0.2 s gap keeps timestamps strictly increasing
                pkt.pts = None if pkt.pts is None else pkt.pts + off
                pkt.dts = pkt.dts + off
                pkt.stream = streams[st.index]
                out.mux(pkt)
    return dst
