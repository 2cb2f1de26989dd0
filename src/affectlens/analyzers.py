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
from pydantic import BaseModel, ConfigDict, ValidationError

from .schema import Estimate, ModelInfo
from .state import RunState, run_state

MODELS_DIR = Path(__file__).parent / "models"
#: the separate distribution holding the weights under restricted terms (see licences.py)
EXTRA_MODEL_PACKAGES = ("affectlens_models_nc",)


def model_roots() -> list[Path]:
    """Every installed folder of model folders: this package's, then each extra model package's."""
    import importlib.util

    roots = [MODELS_DIR]
    for pkg in EXTRA_MODEL_PACKAGES:
        spec = importlib.util.find_spec(pkg)
        if spec is not None and spec.submodule_search_locations:
            roots += [Path(p) for p in spec.submodule_search_locations]
    return roots


def model_dir(name: str) -> Path:
    """The folder of model ``name`` in the first root that has it (else where this package
    would hold it, so that a missing file is named there)."""
    for root in model_roots():
        if (root / name).is_dir():
            return root / name
    return MODELS_DIR / name


def model_missing_reason(name: str, modality: str, path: Path) -> str:
    """One line naming a model that is not installed and, for restricted ones, where it ships."""
    from .licences import missing_reason

    return missing_reason(name, modality) or f"no model for {modality}: {path} is not installed"


class ModelUnavailable(RuntimeError):
    """Raised when an analyzer's weights or runtime package are not installed."""


class ModelMeta(BaseModel):
    """A model folder's ``meta.json``, validated when the model loads.

    Every model records its ``name`` (the folder's name), ``version`` (reported in
    ``Analysis.models``) and ``val_metrics`` (the validation numbers its recipe measured);
    each analyzer adds the keys it reads (``Analyzer.meta_keys``). Other keys are kept as they are.
    """

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str
    version: str
    val_metrics: dict

    @classmethod
    def load(cls, model_dir: Path, required: Iterable[str] = ()) -> "ModelMeta":
        """Read and check ``model_dir/meta.json``.

        Raises
        ------
        ModelUnavailable
            When the file is missing, is not JSON, lacks a required key or names another model.
        """
        path = Path(model_dir) / "meta.json"
        if not path.is_file():
            raise ModelUnavailable(f"no model for {Path(model_dir).name}: {path} is not installed")
        try:
            meta = cls.model_validate(json.loads(path.read_text()))
        except (ValueError, ValidationError) as exc:
            first = exc.errors()[0] if isinstance(exc, ValidationError) else {"loc": (), "msg": str(exc)}
            where = ".".join(map(str, first["loc"]))
            raise ModelUnavailable(f"{path}: invalid meta.json ({where + ': ' if where else ''}{first['msg']})") from None
        missing = [k for k in required if k not in meta.model_extra]
        if missing:
            raise ModelUnavailable(f"{path}: invalid meta.json (missing {', '.join(missing)})")
        if meta.name != Path(model_dir).name:
            raise ModelUnavailable(f"{path}: meta.json names {meta.name!r}, not {Path(model_dir).name!r}")
        return meta

    def get(self, key: str, default=None):
        return self.model_extra.get(key, default) if key not in type(self).model_fields else getattr(self, key)

    def __getitem__(self, key: str):
        if key in type(self).model_fields:
            return getattr(self, key)
        return self.model_extra[key]


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
    faces : list of (float, list) or None
        Frames already tracked by the face analyzer (see ``FaceAnalyzer.track``).
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
    #: the span's frames already meshed and tracked by the face analyzer, ``(time, faces)``
    #: per frame, instead of ``frames`` (a video run tracks ahead while its audio is read)
    faces: list[tuple[float, list]] | None = None

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words).strip()


class Analyzer(ABC):
    """Uniform analyzer interface: ``name``, ``version``, ``modality``, ``analyze``.

    Subclasses load their model once in ``load`` (idempotent, called under a process-wide
    lock) and raise ``ModelUnavailable`` with a one-line reason when they cannot. After
    ``load`` an analyzer is read-only: whatever one input needs to carry from segment to
    segment (tracks, baselines, caches) lives in the :class:`~affectlens.state.RunState`
    passed to ``analyze`` / ``analyze_batch``, so one analyzer may serve many runs and threads.
    """

    name: str = ""
    modality: str = ""
    #: files the model needs, relative to ``models/<name>/``
    weights: tuple[str, ...] = ()
    #: ``meta.json`` keys this analyzer reads, beyond name, version and val_metrics
    meta_keys: tuple[str, ...] = ()
    @property
    def model_dir(self) -> Path:
        return model_dir(self.name)

    def unavailable_reason(self) -> str | None:
        """Why this analyzer cannot run here, or ``None`` when it can."""
        missing = [w for w in self.weights if not (self.model_dir / w).is_file()]
        if missing:
            return model_missing_reason(self.name, self.modality, self.model_dir / missing[0])
        return None

    def meta(self) -> ModelMeta:
        """The model's validated ``meta.json`` (read once; raises ``ModelUnavailable``)."""
        if "_model_meta" not in self.__dict__:
            self._model_meta = ModelMeta.load(self.model_dir, self.meta_keys)
        return self._model_meta

    @property
    def version(self) -> str:
        """The model's version, from its ``meta.json``."""
        return self.meta().version

    def info(self) -> ModelInfo:
        sha = None
        if self.weights and (self.model_dir / self.weights[0]).is_file():
            sha = _sha256(self.model_dir / self.weights[0])
        return ModelInfo(name=self.name, version=self.version, modality=self.modality, sha256=sha)

    def load(self) -> None:
        """Load the model (once; a no-op afterwards). Raises ``ModelUnavailable``.

        Subclasses that override it call ``super().load()``: it validates ``meta.json``."""
        self.meta()

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
