"""affectlens: offline multimodal emotion understanding.

>>> import affectlens
>>> a = affectlens.analyze("clip.mp4", fps=5, asr=False)   # doctest: +SKIP
>>> a.to_dataframe()                                        # doctest: +SKIP

The public names load on first use, so ``import affectlens`` (and the CLI's start) stays light.
"""

from typing import TYPE_CHECKING

from . import config as _config  # noqa: F401  (sets the offline guards first)
from .version import __version__

if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load on first use
    from .engine import Engine, Settings, analyze
    from .errors import InputError
    from .request import AnalysisRequest
    from .schema import Analysis
    from .sources import Audio, Image, Text, Video
    from .state import RunState

#: public name -> module that defines it
_PUBLIC = {
    "analyze": "engine", "Engine": "engine", "Settings": "engine",
    "AnalysisRequest": "request", "RunState": "state",
    "Audio": "sources", "Video": "sources", "Image": "sources", "Text": "sources",
    "Analysis": "schema", "InputError": "errors", "batch": "batching",
}

__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name: str):
    if name in _PUBLIC:
        import importlib

        value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'affectlens' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
