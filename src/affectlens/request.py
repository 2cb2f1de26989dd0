"""``AnalysisRequest``: what to analyze and how, as one frozen, serialisable value."""

from __future__ import annotations

from typing import Callable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .reason.llm import LLMConfig
from .registry import MODALITIES

#: ``hook(step, payload, completed=None, total=None)``: progress and intermediate results of one
#: analysis. Steps: ``probe`` (MediaInfo), ``speech`` (list of ``(start, end)`` speech spans),
#: ``segments`` (the list of Segments just finished; ``completed``/``total`` in media seconds,
#: utterance ordinals for text), ``done`` (the Analysis).
Hook = Callable[..., None]


class AnalysisRequest(BaseModel):
    """What to analyze and how (defaults: every modality, 5 fps, 2 s windows, ASR, evidence on).

    Frozen and JSON-serialisable (``model_dump_json``), so a server or batch job can store it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    modalities: tuple[str, ...] = Field(MODALITIES, description="subset of the registry's modalities (face, voice, text)")
    fps: float = Field(5.0, gt=0, le=120, allow_inf_nan=False, description="video frames analysed per second")
    window_s: float = Field(2.0, gt=0, le=3600, allow_inf_nan=False,
                            description="length of the fixed windows where nobody speaks (s)")
    asr: bool = Field(True, description="transcribe speech offline when there is no transcript")
    transcript: str | None = Field(None, description="timed transcript (.srt/.vtt) of the media")
    evidence: bool = Field(True, description="compute costly evidence cues (word occlusion)")
    batch: int = Field(16, ge=1, le=4096, description="segments per analyzer call")
    per_frame: bool = Field(False, description="keep every analysed frame's faces in Analysis.frames")
    llm: LLMConfig | None = Field(None, description="OpenAI-compatible endpoint for the explanations")

    @field_validator("modalities", mode="before")
    @classmethod
    def _split(cls, v):
        if isinstance(v, str):
            v = [m.strip() for m in v.split(",") if m.strip()]
        return tuple(dict.fromkeys(v))  # drop repeats, keep order

    @field_validator("modalities")
    @classmethod
    def _known(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [m for m in v if m not in MODALITIES]
        if bad:
            raise ValueError(f"unknown modality {bad[0]!r} (choose from {', '.join(MODALITIES)})")
        if not v:
            raise ValueError("no modality requested")
        return v
