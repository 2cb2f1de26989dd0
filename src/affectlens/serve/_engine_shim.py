"""TEMPORARY until the Engine lands on main: Engine/AnalysisRequest over pipeline.analyze."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from .. import pipeline


class AnalysisRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    modalities: tuple[str, ...] = ("face", "voice", "text")
    fps: float = Field(default=5.0, gt=0, le=120)
    window_s: float = 2.0
    asr: bool = True
    transcript: str | None = None
    evidence: bool = True
    batch: int = 16
    llm: dict | None = None


class Engine:
    def __init__(self, settings=None):
        pass

    def analyze(self, source, request=None, hook=None):
        request = request or AnalysisRequest()

        def progress(done, total):
            if hook:
                hook("segments", [], completed=done, total=total)

        opts = pipeline.Options(fps=request.fps, modalities=request.modalities, asr=request.asr,
                                window_s=request.window_s, batch=request.batch, progress=progress)
        a = pipeline.analyze(source, opts)
        if hook:
            hook("done", a)
        return a
