"""Result schema and label contracts.

Everything affectlens returns is one of the typed objects below. ``Analysis`` is the
top level; it converts to a pandas DataFrame (one row per segment and modality) and
exports a JSON Schema (``affectlens schema``).

Canonical labels, in this order: neutral, happy, sad, angry, fearful, disgusted,
surprised. Each corpus label maps to them here and nowhere else; finer labels
(calm, bored, GoEmotions' 28, ...) travel beside them as ``fine`` labels.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

LABELS: tuple[str, ...] = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")

#: Each corpus' own label -> (canonical label, fine label kept beside it).
#: The fine label equals the canonical one unless the corpus says something finer.
_FER2013 = {
    "angry": "angry", "disgust": "disgusted", "fear": "fearful", "happy": "happy",
    "neutral": "neutral", "sad": "sad", "surprise": "surprised",
}
_MELD = {
    "neutral": "neutral", "joy": "happy", "sadness": "sad", "anger": "angry",
    "fear": "fearful", "disgust": "disgusted", "surprise": "surprised",
}
# EmoryNLP: Peaceful is low-arousal positive, mapped to neutral; Powerful is
# high-dominance positive, mapped to happy. Both stay as fine labels.
_EMORYNLP = {
    "neutral": "neutral", "joyful": "happy", "sad": "sad", "mad": "angry",
    "scared": "fearful", "peaceful": "neutral", "powerful": "happy",
}
# GoEmotions' published Ekman grouping (goemotions/ekman_mapping.json) plus neutral.
_GOEMOTIONS_EKMAN = {
    "angry": ("anger", "annoyance", "disapproval"),
    "disgusted": ("disgust",),
    "fearful": ("fear", "nervousness"),
    "happy": ("joy", "amusement", "approval", "excitement", "gratitude", "love", "optimism",
              "relief", "pride", "admiration", "desire", "caring"),
    "sad": ("sadness", "disappointment", "embarrassment", "grief", "remorse"),
    "surprised": ("surprise", "realization", "confusion", "curiosity"),
    "neutral": ("neutral",),
}
GOEMOTIONS_LABELS: tuple[str, ...] = (
    "admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion",
    "curiosity", "desire", "disappointment", "disapproval", "disgust", "embarrassment",
    "excitement", "fear", "gratitude", "grief", "joy", "love", "nervousness", "optimism",
    "pride", "realization", "relief", "remorse", "sadness", "surprise", "neutral",
)
_GOEMOTIONS = {fine: canon for canon, fines in _GOEMOTIONS_EKMAN.items() for fine in fines}
# Speech corpora. RAVDESS calm -> neutral and EmoDB boredom -> neutral (both low-arousal,
# no canonical counterpart); the fine labels "calm" and "bored" keep them apart.
RAVDESS_CODES = {
    "01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
    "06": "fearful", "07": "disgust", "08": "surprised",
}
EMODB_CODES = {
    "W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness",
    "T": "sadness", "N": "neutral",
}
_SPEECH = {
    "neutral": "neutral", "calm": "neutral", "happy": "happy", "happiness": "happy",
    "sad": "sad", "sadness": "sad", "angry": "angry", "anger": "angry", "fear": "fearful",
    "fearful": "fearful", "disgust": "disgusted", "surprised": "surprised",
    "surprise": "surprised", "boredom": "neutral", "bored": "neutral",
    # CREMA-D / TESS spellings
    "neu": "neutral", "hap": "happy", "ang": "angry", "fea": "fearful",
    "dis": "disgusted", "ps": "surprised", "pleasant_surprise": "surprised",
}
# Fine-label spelling per corpus label where it differs from the corpus' own word.
_FINE_NAMES = {"boredom": "bored", "happiness": "happy", "anger": "angry", "sadness": "sad",
               "disgust": "disgusted", "fear": "fearful", "surprise": "surprised",
               "joy": "happy", "mad": "angry", "scared": "fearful", "joyful": "happy"}

LABEL_MAPS: dict[str, dict[str, str]] = {
    "fer2013": _FER2013,
    "meld": _MELD,
    "emorynlp": _EMORYNLP,
    "goemotions": _GOEMOTIONS,
    "speech": _SPEECH,
    "canonical": {label: label for label in LABELS},
}


def to_canonical(label: str, corpus: str) -> str:
    """Map one corpus label to the canonical set.

    Parameters
    ----------
    label : str
        The corpus' own label (case-insensitive).
    corpus : str
        A key of ``LABEL_MAPS`` (fer2013, meld, emorynlp, goemotions, speech, canonical).

    Returns
    -------
    str
        One of ``LABELS``.

    Raises
    ------
    KeyError
        If the corpus or the label is unknown.
    """
    table = LABEL_MAPS[corpus]
    key = label.strip().lower()
    if key in LABELS and corpus != "goemotions":
        return key
    if key not in table:
        raise KeyError(f"label {label!r} is not in the {corpus} label map")
    return table[key]


def fine_name(label: str) -> str:
    """Normalised fine-label spelling of a corpus label (``boredom`` -> ``bored``)."""
    key = label.strip().lower()
    return _FINE_NAMES.get(key, key)


_ADVERBS = {"happily": "happy", "sadly": "sad", "fearfully": "fearful", "angrily": "angry",
            "disgustedly": "disgusted"}


def fine_canonical(fine: str) -> set[str]:
    """Canonical labels a fine label belongs to: one for GoEmotions and speech-corpus labels,
    two for a compound facial expression ("happily surprised"), none when unknown."""
    key = fine.strip().lower()
    if key in LABELS:
        return {key}
    words = key.split()
    if len(words) == 2 and words[0] in _ADVERBS and words[1] in LABELS:
        return {_ADVERBS[words[0]], words[1]}
    for table in (_GOEMOTIONS, _SPEECH):
        if key in table:
            return {table[key]}
    return set()


class Cue(BaseModel):
    """One measured piece of evidence that explanations may cite."""

    model_config = ConfigDict(extra="forbid")
    modality: Literal["face", "voice", "text", "fused"]
    name: str = Field(description="e.g. AU12_lip_corner_raise, f0_median_st, word")
    value: float
    unit: str = ""
    t0: float = Field(description="start time in seconds")
    t1: float = Field(description="end time in seconds")
    baseline: float | None = None
    text: str | None = Field(default=None, description="the word or phrase, for text cues")


class Estimate(BaseModel):
    """One modality's (or the fused) estimate for one segment."""

    model_config = ConfigDict(extra="forbid")
    modality: Literal["face", "voice", "text", "fused"]
    model: str
    probs: dict[str, float] = Field(description="probabilities over the canonical 7 labels")
    label: str = Field(description="top canonical label, or 'uncertain'")
    confidence: float = Field(ge=0.0, le=1.0, description="calibrated probability of `label`")
    fine: dict[str, float] = Field(default_factory=dict, description="fine-grained label scores")
    fine_predicted: list[str] = Field(default_factory=list)
    valence: float | None = Field(default=None, ge=-1.0, le=1.0)
    arousal: float | None = Field(default=None, ge=-1.0, le=1.0)
    dominance: float | None = Field(default=None, ge=-1.0, le=1.0)
    quality: dict[str, float] = Field(default_factory=dict, description="reliability signals")
    cues: list[Cue] = Field(default_factory=list)

    @property
    def top(self) -> str:
        """Most probable canonical label, even when the estimate is uncertain."""
        return max(self.probs, key=self.probs.get)


class CueRef(BaseModel):
    """Points at one cue of the output: the segment's estimate of ``modality``, cue ``name`` at ``t0``."""

    model_config = ConfigDict(extra="forbid")
    modality: Literal["face", "voice", "text", "fused"]
    name: str
    t0: float
    text: str | None = Field(default=None, description="the word, for word cues (several may share t0)")


class Sentence(BaseModel):
    """One explanation sentence and the cues it rests on (never empty)."""

    model_config = ConfigDict(extra="forbid")
    text: str
    cites: list[CueRef] = Field(min_length=1)


class Explanation(BaseModel):
    """EMER-style explanation: observations → interpretation → conclusion, each citing cues."""

    model_config = ConfigDict(extra="forbid")
    observations: list[Sentence] = Field(default_factory=list)
    interpretation: list[Sentence] = Field(default_factory=list)
    conclusion: Sentence | None = None
    source: str = Field(default="offline", description="'offline' templates or 'llm:<model>'")
    open_labels: list[str] = Field(default_factory=list, description="open-vocabulary emotion words")
    reply: str | None = Field(default=None, description="empathetic reply (dialogue input, LLM backend)")

    def text(self) -> str:
        parts = self.observations + self.interpretation + ([self.conclusion] if self.conclusion else [])
        return " ".join(s.text for s in parts)


class Conflict(BaseModel):
    """Disagreement between modalities within a segment."""

    model_config = ConfigDict(extra="forbid")
    score: float = Field(ge=0.0, le=1.0)
    flag: bool
    modalities: list[str] = Field(default_factory=list, description="the most discordant pair")
    label_disagree: bool = False
    valence_disagree: bool = False
    detail: str = ""


class Segment(BaseModel):
    """A time span of the input with one estimate per modality present."""

    model_config = ConfigDict(extra="forbid")
    start: float
    end: float
    kind: Literal["speech", "window", "image", "utterance", "text"]
    track: str | None = Field(default=None, description="face track id")
    speaker: str | None = None
    text: str | None = None
    estimates: dict[str, Estimate] = Field(default_factory=dict)
    fused: Estimate | None = None
    smoothed: Estimate | None = Field(
        default=None, description="the fused estimate smoothed along the timeline (same speaker, media only)")
    conflict: Conflict | None = None
    shift: bool = Field(default=False, description="the fused label changed from the previous certain "
                        "fused label ('uncertain' never counts)")
    explanation: Explanation | None = None


class MediaInfo(BaseModel):
    """What the input file is."""

    model_config = ConfigDict(extra="forbid")
    path: str
    kind: Literal["video", "audio", "image", "text", "dialogue"]
    size_bytes: int
    duration: float | None = None
    has_video: bool = False
    has_audio: bool = False
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    sample_rate: int | None = None
    warnings: list[str] = Field(default_factory=list, description="problems found while reading the input "
                                "that did not stop the analysis (e.g. truncated, NaN samples set to 0)")


class ModelInfo(BaseModel):
    """A model used for the analysis."""

    model_config = ConfigDict(extra="forbid")
    name: str
    version: str
    modality: str
    sha256: str | None = None


class FaceFrame(BaseModel):
    """One face in one analysed video frame (``analyze --per-frame``)."""

    model_config = ConfigDict(extra="forbid")
    time: float = Field(description="frame time in seconds")
    track: str = Field(description="face track id (the segments' ``track``)")
    box: list[float] = Field(description="x0, y0, x1, y1 in frame pixels")
    landmarks: dict[str, list[float]] = Field(
        description="key face-mesh points (x, y) in frame pixels: eye centres, nose tip, mouth corners, chin")
    cues: dict[str, float] = Field(description="the facial cues of this frame (units as in the segment cues)")
    probs: dict[str, float] = Field(description="expression probabilities of this frame over the canonical 7")


class Analysis(BaseModel):
    """The result of analysing one input."""

    model_config = ConfigDict(extra="forbid")
    affectlens_version: str
    media: MediaInfo
    models: list[ModelInfo] = Field(default_factory=list)
    modalities: dict[str, str] = Field(
        default_factory=dict,
        description="per modality: 'present' or the reason it is absent",
    )
    segments: list[Segment] = Field(default_factory=list)
    summary: Explanation | None = None
    frames: list[FaceFrame] = Field(default_factory=list, description="per-frame faces (only with --per-frame)")

    def to_dataframe(self):
        """One row per segment and estimate (``modality`` face, voice, text, fused or smoothed);
        segments without any estimate get one row with empty modality."""
        import pandas as pd

        rows = []
        for i, seg in enumerate(self.segments):
            base = {"segment": i, "start": seg.start, "end": seg.end, "kind": seg.kind,
                    "track": seg.track, "speaker": seg.speaker, "text": seg.text}
            ests = [(m, e) for m, e in [*seg.estimates.items(), ("fused", seg.fused), ("smoothed", seg.smoothed)]
                    if e is not None]
            if not ests:
                rows.append({**base, "modality": None})
            for name, est in ests:
                row = {**base, "modality": name, "model": est.model, "label": est.label,
                       "confidence": est.confidence, "valence": est.valence,
                       "arousal": est.arousal, "dominance": est.dominance}
                row.update({f"p_{k}": est.probs.get(k) for k in LABELS})
                rows.append(row)
        return pd.DataFrame(rows)


def json_schema() -> dict:
    """JSON Schema of ``Analysis``, the top-level output."""
    return Analysis.model_json_schema()
