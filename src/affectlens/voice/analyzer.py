"""The voice analyzer: Whisper tiny.en encoder features + prosody -> 9 fine emotions.

Registered as ``voice``. Per segment it measures prosody (energy, speech mask,
F0), encodes the speech extent with blocks 1-3 of the Whisper tiny.en encoder
(``encoder.onnx``), pools their states over speech frames, and runs the ONNX head (``models/voice-whisper-tiny/model.onnx``) on all segments
of a batch at once. Probabilities are temperature-calibrated; the canonical 7
sum calm and bored into neutral (see :mod:`affectlens.voice.head`).
"""

from __future__ import annotations

import numpy as np

from ..analyzers import Analyzer, ModelUnavailable, SegmentInput, build_estimate, softmax
from ..schema import Estimate
from ..state import RunState, run_state
from . import head, prosody
from .head import FINE_LABELS

MIN_SECONDS = 0.3  # shorter audio is not analysed
MIN_SPEECH_S = 0.2  # less detected speech than this -> None
MIN_VOICED_S = 0.1  # less voiced (periodic) speech than this -> None (noise, not a voice)
SILENCE_DB = -70.0  # loudest frames below this -> silent (acted sad/calm speech peaks near -50)


def _single_thread_blas():
    """Context limiting BLAS to one thread: the per-clip matrices are small, and a
    multi-threaded BLAS on a busy 2-core machine is several times slower."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        from contextlib import nullcontext

        return nullcontext()
    return threadpool_limits(1, user_api="blas")


class VoiceAnalyzer(Analyzer):
    """Speech emotion from the Whisper tiny.en encoder and prosodic statistics."""

    name = "voice-whisper-tiny"
    modality = "voice"
    weights = ("model.onnx", "encoder.onnx", "meta.json")
    meta_keys = ("labels", "temperature")
    #: segments measured side by side (default ``threads()``), each encoder pass on one
    #: thread: prosody (numpy) and the encoder (onnxruntime) then overlap on the cores
    workers: int | None = None

    def __init__(self) -> None:
        self._map = None
        self._session = None
        self._encoder = None
        self._meta: dict | None = None

    def unavailable_reason(self) -> str | None:
        reason = super().unavailable_reason()
        if reason:
            return reason
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return "voice needs the 'onnxruntime' package"
        return None

    def load(self) -> None:
        """Open the head and encoder sessions (once)."""
        if self._session is not None:
            return
        reason = self.unavailable_reason()
        if reason:
            raise ModelUnavailable(reason)
        super().load()
        from ..config import ThreadMap, onnx_session
        from .features import make_encoder

        self._meta = self.meta()
        self._map = ThreadMap(self.workers, "affectlens-voice")
        self._session = onnx_session(self.model_dir / "model.onnx")
        self._encoder = make_encoder(self.model_dir, intra_threads=1 if self._map.workers > 1 else None)

    # -- measurement -------------------------------------------------------------------
    def _measure(self, inputs: SegmentInput):
        """Prosody and the head input vector for one segment, or None if nothing to read."""
        from .features import measure

        x = inputs.audio
        if x is None:
            return None
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        if inputs.sample_rate != prosody.SR:
            raise ValueError(f"voice expects {prosody.SR} Hz audio, got {inputs.sample_rate}")
        if len(x) < MIN_SECONDS * prosody.SR or not np.isfinite(x).all():
            return None
        pr = prosody.analyse(x)
        voiced_s = pr.pitch.voiced.sum() * prosody.HOP / prosody.SR
        if pr.db.max() < SILENCE_DB or pr.speech_s < MIN_SPEECH_S or voiced_s < MIN_VOICED_S:
            return None
        clip = measure(x, self._encoder, pr=pr)
        return x, clip

    @staticmethod
    def _baseline(state: RunState, speaker: str | None, t0: float, f0_st: float | None) -> float | None:
        """The speaker's running F0 baseline in this run before this segment, then update it."""
        # speaker -> (running F0 median in st, last segment start); reset when time goes back
        baselines: dict[str, tuple[float, float]] = state.part("voice.f0_baselines", dict)
        key = speaker or "_"
        prev = baselines.get(key)
        if prev is not None and t0 <= prev[1]:  # time did not advance: a new recording
            prev = None
        base = prev[0] if prev else None
        if f0_st is not None and np.isfinite(f0_st):
            new = f0_st if base is None else 0.8 * base + 0.2 * f0_st
            baselines[key] = (new, t0)
        return base

    def analyze(self, inputs: SegmentInput, state: RunState | None = None) -> Estimate | None:
        """Estimate the voice emotion of one segment (None if too short or silent)."""
        return self.analyze_batch([inputs], state)[0]

    def analyze_batch(self, batch, state: RunState | None = None) -> list[Estimate | None]:
        """Measure each segment, then run the head once on all that have speech."""
        self.load()
        batch = list(batch)
        with _single_thread_blas():
            measured = self._map(self._measure, batch)
        rows = [i for i, m in enumerate(measured) if m is not None]
        out: list[Estimate | None] = [None] * len(batch)
        if not rows:
            return out
        feats = np.stack([measured[i][1].vector() for i in rows]).astype(np.float32)
        logits = self._session.run(None, {self._session.get_inputs()[0].name: feats})[0]
        fine = softmax(logits, float(self._meta["temperature"]))
        with run_state(state) as st:
            for j, i in enumerate(rows):
                out[i] = self._estimate(batch[i], measured[i], fine[j], st)
        return out

    def _estimate(self, inputs: SegmentInput, measured, fine: np.ndarray, state: RunState) -> Estimate:
        x, clip = measured
        pr = clip.prosody
        v = pr.pitch.voiced
        f0_med = float(np.median(prosody.hz_to_st(pr.pitch.f0[v]))) if v.sum() >= 5 else None
        base = self._baseline(state, inputs.speaker, inputs.t0, f0_med)
        cues = prosody.prosody_cues(x, t0=inputs.t0, baseline_st=base, pr=pr)
        va = head.valence_arousal(fine)
        quality = {
            "speech_s": round(pr.speech_s, 3),
            "rms_db": round(float(np.median(pr.db[pr.mask])), 2),
            "snr_db": round(prosody.snr_db(pr.db, pr.mask), 2),
        }
        return build_estimate(
            self.modality, self.name, head.canonical(fine),
            fine={k: float(p) for k, p in zip(FINE_LABELS, fine)},
            fine_predicted=head.fine_predicted(fine),
            vad=(float(va[0]), float(va[1]), None),
            quality=quality, cues=cues,
        )

