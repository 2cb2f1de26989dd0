"""The one interface every modality analyzer implements.

An analyzer turns the inputs of one segment (frames, audio, words) into an
``Estimate`` for its modality, or ``None`` when the segment holds nothing it can
read (no face, no speech, no words). It never invents an estimate.

Each modality's ``spec.py`` names its analyzers; :mod:`affectlens.registry` creates and
loads them (``get_analyzer``), so the pipeline runs whatever is installed and reports the
rest as absent.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Iterable

import numpy as np

from .schema import Estimate, ModelInfo
from .state import RunState, run_state

MODELS_DIR = Path(__file__).parent / "models"


@dataclass
class Word:
    """A timed word or utterance of text."""

    text: str
    t0: float
    t1: float
    speaker: str | None = None
    confidence: float | None = None


@dataclass
class SegmentInput:
    """Everything one segment offers the analyzers.

    Attributes
    ----------
    t0, t1 : float
        Segment span in seconds.
    frames : list of (float, ndarray)
        ``(time, HxWx3 uint8 RGB)`` video frames inside the span (or one image).
    audio : ndarray or None
        16 kHz mono float32 samples of the span.
    words : list of Word
        Timed words or utterances inside the span.
    context : list of Word
        Preceding utterances (dialogue context), oldest first.
    """

    t0: float
    t1: float
    frames: list[tuple[float, np.ndarray]] = field(default_factory=list)
    audio: np.ndarray | None = None
    sample_rate: int = 16000
    words: list[Word] = field(default_factory=list)
    context: list[Word] = field(default_factory=list)
    speaker: str | None = None
    #: the frames are already face crops (e.g. FER2013 images): skip detection
    face_crop: bool = False

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words).strip()


class ModelUnavailable(RuntimeError):
    """Raised when an analyzer's weights or runtime package are not installed."""


class Analyzer(ABC):
    """Uniform analyzer interface: ``name``, ``version``, ``modality``, ``analyze``.

    Subclasses load their model once in ``load`` (idempotent, called under a process-wide
    lock) and raise ``ModelUnavailable`` with a one-line reason when they cannot. After
    ``load`` an analyzer is read-only: whatever one input needs to carry from segment to
    segment (tracks, baselines, caches) lives in the :class:`~affectlens.state.RunState`
    passed to ``analyze`` / ``analyze_batch``, so one analyzer may serve many runs and threads.
    """

    name: str = ""
    version: str = ""
    modality: str = ""
    #: files the model needs, relative to ``models/<name>/``
    weights: tuple[str, ...] = ()
    @property
    def model_dir(self) -> Path:
        return MODELS_DIR / self.name

    def unavailable_reason(self) -> str | None:
        """Why this analyzer cannot run here, or ``None`` when it can."""
        missing = [w for w in self.weights if not (self.model_dir / w).is_file()]
        if missing:
            return f"no model for {self.modality}: {self.model_dir / missing[0]} is not installed"
        return None

    def meta(self) -> dict:
        """The model's ``meta.json`` (labels, temperature, validation metrics)."""
        path = self.model_dir / "meta.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def info(self) -> ModelInfo:
        sha = None
        if self.weights and (self.model_dir / self.weights[0]).is_file():
            sha = _sha256(self.model_dir / self.weights[0])
        return ModelInfo(name=self.name, version=self.version, modality=self.modality, sha256=sha)

    def load(self) -> None:
        """Load the model (once; a no-op afterwards). Raises ``ModelUnavailable``."""

    @abstractmethod
    def analyze(self, inputs: SegmentInput, state: RunState | None = None) -> Estimate | None:
        """Estimate the emotion in one segment, or ``None`` if there is nothing to read.

        ``state`` is the run the segment belongs to; without one the call is a run of its own."""

    def analyze_batch(self, batch: Iterable[SegmentInput],
                      state: RunState | None = None) -> list[Estimate | None]:
        """Analyze consecutive segments of one run; analyzers override this to batch their
        forward pass."""
        with run_state(state) as st:
            return [self.analyze(x, st) for x in batch]


@cache
def _sha256(path: Path) -> str:
    return file_sha256(path)


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


#: below this calibrated confidence an estimate's label reads "uncertain"
UNCERTAIN_BELOW = 0.40


def softmax(logits: np.ndarray, temperature: float = 1.0, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax of ``logits / temperature``."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def build_estimate(
    modality: str,
    model: str,
    probs: np.ndarray,
    *,
    fine: dict[str, float] | None = None,
    fine_predicted: list[str] | None = None,
    vad: tuple[float | None, float | None, float | None] = (None, None, None),
    quality: dict[str, float] | None = None,
    cues: list | None = None,
    uncertain_below: float = UNCERTAIN_BELOW,
) -> Estimate:
    """Make an ``Estimate`` from calibrated canonical probabilities.

    Parameters
    ----------
    probs : ndarray, shape (7,)
        Calibrated probabilities in ``LABELS`` order.
    vad : tuple
        valence, arousal, dominance in [-1, 1] or ``None`` where not estimated.
    uncertain_below : float
        The label reads ``"uncertain"`` when the top probability is below this.
    """
    from .schema import LABELS

    p = np.clip(np.asarray(probs, dtype=np.float64), 0.0, 1.0)
    p = p / p.sum()
    top = int(p.argmax())
    conf = float(p[top])
    clip = lambda v: None if v is None else float(np.clip(v, -1.0, 1.0))  # noqa: E731
    return Estimate(
        modality=modality,
        model=model,
        probs={k: round(float(v), 6) for k, v in zip(LABELS, p)},
        label=LABELS[top] if conf >= uncertain_below else "uncertain",
        confidence=round(conf, 6),
        fine={k: round(float(v), 6) for k, v in (fine or {}).items()},
        fine_predicted=list(fine_predicted or []),
        valence=clip(vad[0]),
        arousal=clip(vad[1]),
        dominance=clip(vad[2]),
        quality=dict(quality or {}),
        cues=list(cues or []),
    )
