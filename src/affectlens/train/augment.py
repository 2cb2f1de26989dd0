"""Degradations that imitate real recordings, for training the voice head off the lab corpora.

Each function maps a 16 kHz mono float32 clip to a degraded copy of the same length
(±1 frame). :func:`random_chain` draws one plausible recording condition: level change,
then any of reverberation, background noise (0–20 dB SNR), telephone band and a lossy
codec at a low bitrate. Training-only: the runtime never imports this module.
"""

from __future__ import annotations

import io

import numpy as np

SR = 16000


def level(x: np.ndarray, db: float) -> np.ndarray:
    """Gain of ``db`` decibels, clipped to [-1, 1] like a real converter."""
    return np.clip(x * np.float32(10 ** (db / 20)), -1.0, 1.0).astype(np.float32)


def reverb(x: np.ndarray, rt60: float, wet: float, rng: np.random.Generator) -> np.ndarray:
    """Convolve with a synthetic room response (exponentially decaying noise, ``rt60`` seconds)."""
    from scipy.signal import fftconvolve

    n = int(rt60 * SR)
    t = np.arange(n) / SR
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    ir[0] = 1.0
    ir /= np.sqrt(np.sum(ir ** 2))
    y = fftconvolve(x, ir)[: len(x)]
    out = (1 - wet) * x + wet * y
    return (out / max(1e-6, np.abs(out).max()) * max(1e-6, np.abs(x).max())).astype(np.float32)


def _colored_noise(n: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    white = rng.standard_normal(n)
    if kind == "white":
        return white
    spec = np.fft.rfft(white)
    f = np.maximum(np.fft.rfftfreq(n, 1 / SR), 20.0)
    spec /= np.sqrt(f) if kind == "pink" else f  # pink 1/f power, brown 1/f^2
    return np.fft.irfft(spec, n)


def add_noise(x: np.ndarray, snr_db: float, noise: np.ndarray) -> np.ndarray:
    """Mix ``noise`` (tiled to length) at ``snr_db`` relative to the clip's active power."""
    noise = np.resize(noise, len(x)).astype(np.float64)
    active = x[np.abs(x) > 0.1 * np.abs(x).max()] if np.abs(x).max() > 0 else x
    p_sig = np.mean(active.astype(np.float64) ** 2) + 1e-12
    p_noise = np.mean(noise ** 2) + 1e-12
    y = x + noise * np.sqrt(p_sig / (p_noise * 10 ** (snr_db / 10)))
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def telephone(x: np.ndarray) -> np.ndarray:
    """Narrow-band telephone channel: 300–3400 Hz band, 8 kHz, μ-law, back to 16 kHz."""
    from scipy.signal import butter, resample_poly, sosfilt

    sos = butter(4, [300, 3400], btype="bandpass", fs=SR, output="sos")
    y = resample_poly(sosfilt(sos, x), 1, 2)
    mu = 255.0
    q = np.round(np.sign(y) * np.log1p(mu * np.minimum(np.abs(y), 1.0)) / np.log1p(mu) * 127) / 127
    y = np.sign(q) * np.expm1(np.abs(q) * np.log1p(mu)) / mu
    return resample_poly(y, 2, 1)[: len(x)].astype(np.float32)


def codec(x: np.ndarray, name: str, kbps: int) -> np.ndarray:
    """Encode and decode with PyAV (``"mp3"`` or ``"opus"``) at ``kbps``; same length as ``x``."""
    import av

    fmt, enc, rate = {"mp3": ("mp3", "libmp3lame", 16000), "opus": ("ogg", "libopus", 16000)}[name]
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        st = out.add_stream(enc, rate=rate, layout="mono")
        st.bit_rate = kbps * 1000
        pcm = (np.clip(x, -1, 1) * 32767).astype(np.int16)[None]
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = SR
        for pkt in st.encode(frame):
            out.mux(pkt)
        for pkt in st.encode(None):
            out.mux(pkt)
    buf.seek(0)
    chunks = []
    with av.open(buf) as inp:
        rs = av.AudioResampler(format="flt", layout="mono", rate=SR)
        for fr in inp.decode(audio=0):
            for r in rs.resample(fr):
                chunks.append(r.to_ndarray().reshape(-1))
    y = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    y = np.pad(y, (0, max(0, len(x) - len(y))))[: len(x)]
    return y.astype(np.float32)


def random_chain(x: np.ndarray, rng: np.random.Generator, noises: list[np.ndarray] | None = None) -> np.ndarray:
    """One random recording condition applied to ``x`` (see the module docstring)."""
    y = level(x, rng.uniform(-20, 6))
    if rng.random() < 0.5:
        y = reverb(y, rng.uniform(0.2, 0.9), rng.uniform(0.2, 0.7), rng)
    if rng.random() < 0.7:
        if noises and rng.random() < 0.5:  # babble: other speech
            noise = noises[rng.integers(len(noises))]
        else:
            noise = _colored_noise(len(y), rng.choice(["white", "pink", "brown"]), rng)
        y = add_noise(y, rng.uniform(0, 20), noise)
    if rng.random() < 0.3:
        y = telephone(y)
    if rng.random() < 0.5:
        name = rng.choice(["mp3", "opus"])
        y = codec(y, name, int(rng.choice([8, 16, 24] if name == "mp3" else [6, 10, 16])))
    return y
