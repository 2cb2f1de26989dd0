"""The modalities and their analyzers: specs collected from every ``affectlens/<package>/spec.py``.

``MODALITIES`` (in output order) and ``SPECS`` come from those specs, so a new modality is a
new package with a ``spec.py`` (plus its model folder and recipe); ``get_analyzer``
creates and loads each analyzer once per process (read-only afterwards, shared by all runs).
Nothing heavy is imported until an analyzer is asked for (this module itself needs only the specs).
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from .modality import CueSpec, ModalitySpec

if TYPE_CHECKING:
    from .analyzers import Analyzer

def load_ref(ref: str):
    """The object named by ``"module:attribute"``."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def spec_refs() -> list[str]:
    """``"affectlens.<package>.spec:SPEC"`` for every package of affectlens with a ``spec.py``."""
    root = Path(__file__).parent
    return [f"{__package__}.{m.name}.spec:SPEC" for m in pkgutil.iter_modules([str(root)])
            if m.ispkg and (root / m.name / "spec.py").is_file()]


SPECS: dict[str, ModalitySpec] = {s.key: s for s in sorted(map(load_ref, spec_refs()), key=lambda s: s.order)}
MODALITIES: tuple[str, ...] = tuple(SPECS)

_INSTANCES: dict[str, Analyzer] = {}
#: guards analyzer creation and model loading (two threads never load one model twice)
LOAD_LOCK = threading.RLock()


def registered() -> dict[str, str]:
    """Every analyzer key (``face``, ``voice``, ``text``, ``dialogue``) -> ``"module:Class"``."""
    return {key: ref for spec in SPECS.values() for key, ref in spec.analyzers.items()}


def modality_of(analyzer_key: str) -> ModalitySpec:
    """The spec of the modality an analyzer belongs to."""
    return next(s for s in SPECS.values() if analyzer_key in s.analyzers)


def cue_spec(modality: str, name: str) -> CueSpec | None:
    """The spec of a modality's cue, or ``None``."""
    spec = SPECS.get(modality)
    return spec.cue(name) if spec else None


def get_analyzer(key: str) -> Analyzer:
    """The loaded analyzer for ``key`` (one read-only instance per process, shared by all runs).

    Raises
    ------
    ModelUnavailable
        If nothing is registered for ``key``, its runtime is not installed or its weights are missing.
    """
    from .analyzers import ModelUnavailable  # here: reading the specs stays light (CLI start-up)
    from .config import interrupts_deferred

    # loading imports native libraries: an interrupt waits until it is done
    with LOAD_LOCK, interrupts_deferred():
        if key in _INSTANCES:
            return _INSTANCES[key]
        refs = registered()
        if key not in refs:
            raise ModelUnavailable(f"no model for {key}: no {key} analyzer is shipped in this version")
        try:
            analyzer = load_ref(refs[key])()
        except ImportError as exc:  # an optional extra is not installed
            raise ModelUnavailable(f"no model for {key}: {exc}") from None
        reason = analyzer.unavailable_reason()
        if reason:
            raise ModelUnavailable(reason)
        analyzer.load()
        _INSTANCES[key] = analyzer
        return analyzer
