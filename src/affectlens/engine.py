"""The public entry point: ``Engine`` holds loaded models; each ``analyze`` is one run.

>>> import affectlens
>>> a = affectlens.analyze("examples/obama_oilspill_2010.mp4", fps=5, asr=False)   # doctest: +SKIP
>>> eng = affectlens.Engine()
>>> a = eng.analyze(affectlens.Audio(samples, 44100), affectlens.AnalysisRequest(modalities=("voice",)))  # doctest: +SKIP

Models load lazily, once per process, and are read-only afterwards, so one engine may serve
many threads. Everything one input carries from segment to segment (face tracks, speaker
baselines, caches) lives in a fresh :class:`RunState` per call.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

from . import pipeline
from .analyzers import Analyzer
from .registry import get_analyzer
from .errors import InputError
from .request import AnalysisRequest, Hook
from .schema import Analysis
from .sources import Audio, Image, Source, Text, Video
from .state import RunState

__all__ = ["Engine", "Settings", "AnalysisRequest", "RunState", "Hook", "analyze",
           "Audio", "Video", "Image", "Text"]


@dataclass(frozen=True)
class Settings:
    """How an engine gets its analyzers.

    Parameters
    ----------
    analyzers : mapping
        Analyzers to use instead of the shipped ones, by key (``face``, ``voice``, ``text``,
        ``dialogue``); e.g. a custom model or a test double. They must be read-only, as the
        shipped ones are (per-input state belongs in the ``RunState``).
    """

    analyzers: Mapping[str, Analyzer] = field(default_factory=dict)


class Engine:
    """Analyzes inputs with models loaded once (lazily) and shared by every call and thread."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()

    def analyzer(self, key: str) -> Analyzer:
        """The loaded analyzer for ``key``. Raises ``ModelUnavailable`` with the reason."""
        return self.settings.analyzers.get(key) or get_analyzer(key)

    def analyze(self, source: Source, request: AnalysisRequest | None = None,
                hook: Hook | None = None) -> Analysis:
        """Analyze one input.

        Parameters
        ----------
        source : path, Audio, Video, Image, Text, numpy image or PIL image
        request : AnalysisRequest, optional
            What to analyze and how (defaults when omitted).
        hook : callable, optional
            ``hook(step, payload, completed=None, total=None)`` for steps ``probe``,
            ``speech``, ``segments`` and ``done`` (see :data:`affectlens.request.Hook`).

        Raises
        ------
        InputError
            When the input is missing, empty, corrupt, unsupported or too large.
        """
        request = request or AnalysisRequest()
        with RunState(evidence=request.evidence, per_frame=request.per_frame) as state:
            return pipeline.analyze(source, pipeline.Run(request, state, self.analyzer, hook))

    def analyze_many(self, sources: Iterable[Source], request: AnalysisRequest | None = None,
                     hook: Hook | None = None,
                     on_error: Callable[[InputError], None] | None = None) -> Iterator[tuple[str, Analysis]]:
        """Analyze inputs one after another, yielding ``(name, Analysis)``.

        A bad input (``InputError``, or memory running out on it) goes to ``on_error`` and is
        skipped; without ``on_error`` it is raised.
        """
        for source in sources:
            name = str(source) if isinstance(source, (str, Path)) else getattr(source, "name", "<input>")
            try:
                analysis = self.analyze(source, request, hook)
            except InputError as exc:
                if on_error is None:
                    raise
                on_error(exc)
                continue
            except MemoryError:
                err = InputError(name, "out of memory while analyzing")
                if on_error is None:
                    raise err from None
                on_error(err)
                continue
            yield name, analysis


_DEFAULT: Engine | None = None
_DEFAULT_LOCK = threading.Lock()


def default_engine() -> Engine:
    """The process-wide engine behind :func:`analyze`."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = Engine()
        return _DEFAULT


def analyze(source: Source, hook: Hook | None = None, **options) -> Analysis:
    """Analyze one input with the default engine.

    ``options`` are :class:`AnalysisRequest` fields, e.g. ``fps=5, asr=False,
    modalities=("face", "voice")``.

    Examples
    --------
    >>> import affectlens
    >>> a = affectlens.analyze("examples/obama_oilspill_2010.mp4", asr=False)  # doctest: +SKIP
    >>> a.to_dataframe().shape                                                  # doctest: +SKIP
    """
    return default_engine().analyze(source, AnalysisRequest(**options), hook)
