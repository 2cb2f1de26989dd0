"""The voice analyzer: Whisper tiny.en encoder features + prosody -> the canonical 7 emotions.

Registered as ``voice``. Per segment it measures prosody (energy, speech mask, F0), encodes
the speech extent with blocks 1-3 of the Whisper tiny.en encoder (``encoder.onnx``) and pools
their states over speech frames. Each speaker's vectors are standardised by that speaker's
statistics in this run (:class:`SpeakerStats`, kept in the :class:`RunState`), shrunk towards
the training prior while few segments have been heard: each segment is read with its speaker's
statistics up to and including itself. The head (``model.onnx``) runs on all segments of a batch
at once. The temperature rises
with the distance from the training features and when few segments of the speaker are known,
so unfamiliar voices read ``uncertain`` rather than confidently wrong.
"""

from __future__ import annotations

import numpy as np

from ..analyzers import Analyzer, ModelUnavailable, SegmentInput, build_estimate, softmax
from ..schema import Estimate
from ..state import RunState, run_state
from . import head, prosody

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
    meta_keys = ("labels", "confidence", "normalisation")
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
        """Measure each segment, then run the head once on all that have speech. Each segment is
        read with its speaker's statistics up to and including itself (in batch order), so the
        result does not depend on how a run is cut into batches."""
        self.load()
        batch = list(batch)
        with _single_thread_blas():
            measured = self._map(self._measure, batch)
        rows = [i for i, m in enumerate(measured) if m is not None]
        out: list[Estimate | None] = [None] * len(batch)
        if not rows:
            return out
        feats = np.stack([measured[i][1].vector() for i in rows]).astype(np.float32)
        with run_state(state) as st:
            stats: SpeakerStats = st.part("voice.speaker_stats", SpeakerStats)
            running = []
            for i, v in zip(rows, feats):
                key = batch[i].speaker or "_"
                stats.add(key, v)
                running.append(stats.get(key))
            mean, var, n = (np.stack(a).astype(np.float32) for a in zip(*running))
            logits, domain = self._session.run(None, {"features": feats, "run_mean": mean, "run_var": var,
                                                      "run_n": n})
            conf = self._meta.get("confidence")
            probs = softmax(logits / temperature(conf["theta"], n[:, 0], domain[:, 0])[:, None])
            for j, i in enumerate(rows):
                out[i] = self._estimate(batch[i], measured[i], probs[j], st,
                                        {"speaker_segments": int(n[j, 0]), "domain": round(float(domain[j, 0]), 3)})
        return out

    def prime(self, batch, state: RunState) -> None:
        """Add ``batch`` to its speakers' statistics in ``state`` and freeze them: segments read
        afterwards are standardised by statistics of the whole batch (evaluation reads a
        speaker's clips as one recording this way)."""
        self.load()
        with _single_thread_blas():
            measured = self._map(self._measure, list(batch))
        stats: SpeakerStats = state.part("voice.speaker_stats", SpeakerStats)
        for inp, m in zip(batch, measured):
            if m is not None:
                stats.add(inp.speaker or "_", m[1].vector(), priming=True)
        stats.frozen = True

    def _estimate(self, inputs: SegmentInput, measured, probs: np.ndarray, state: RunState,
                  extra_quality: dict) -> Estimate:
        x, clip = measured
        pr = clip.prosody
        v = pr.pitch.voiced
        f0_med = float(np.median(prosody.hz_to_st(pr.pitch.f0[v]))) if v.sum() >= 5 else None
        base = self._baseline(state, inputs.speaker, inputs.t0, f0_med)
        cues = prosody.prosody_cues(x, t0=inputs.t0, baseline_st=base, pr=pr)
        va = head.valence_arousal(probs)
        quality = {
            "speech_s": round(pr.speech_s, 3),
            "rms_db": round(float(np.median(pr.db[pr.mask])), 2),
            "snr_db": round(prosody.snr_db(pr.db, pr.mask), 2),
            **extra_quality,
        }
        return build_estimate(
            self.modality, self.name, probs,
            vad=(float(va[0]), float(va[1]), None),
            quality=quality, cues=cues,
        )



def temperature(theta, n: np.ndarray, domain: np.ndarray) -> np.ndarray:
    """``T = exp(a + b log(domain) + c / n)``: hotter off the training data and for speakers
    heard only briefly (``theta`` from the recipe's held-out predictions, in ``meta.json``)."""
    a, b, c = theta
    return np.exp(a + b * np.log(np.maximum(domain, 1e-3)) + c / np.maximum(n, 1))


class SpeakerStats:
    """Running mean and variance of each speaker's head input vectors within one run
    (``frozen``: primed statistics that later segments no longer change)."""

    def __init__(self) -> None:
        self._acc: dict[str, list] = {}
        self.frozen = False

    def add(self, key: str, v: np.ndarray, priming: bool = False) -> None:
        """Add a vector to ``key``'s statistics (after priming, a primed speaker's stay as primed)."""
        if self.frozen and not priming and key in self._acc:
            return
        acc = self._acc.setdefault(key, [0, np.zeros(v.shape, np.float64), np.zeros(v.shape, np.float64)])
        acc[0] += 1
        acc[1] += v
        acc[2] += np.square(v, dtype=np.float64)

    def get(self, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(mean, variance, [n])`` of the speaker's vectors so far."""
        n, s, s2 = self._acc[key]
        mean = s / n
        return mean, np.maximum(s2 / n - mean**2, 0.0), np.array([n], np.float64)
