"""What a modality is, in one declaration: ``ModalitySpec`` (read by the registry).

Each modality package (``face/``, ``voice/``, ``text/``) has a ``spec.py`` with a ``SPEC``;
:mod:`affectlens.registry` finds and collects them. The engine, fusion, report, CLI choices and the
conformance tests iterate the registry, so adding a modality means one folder (spec +
analyzer), a model folder and a recipe. This module imports nothing from affectlens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping


@dataclass(frozen=True)
class CueSpec:
    """A measured cue an analyzer of the modality emits.

    Attributes
    ----------
    name : str
        ``Cue.name``.
    units : tuple of str
        The ``Cue.unit`` values it may carry.
    what : str
        What is measured, in a few words.
    subject : str
        How explanations name it ("Lip-corner raise (AU12 proxy)"); empty: never phrased.
    threshold : float or None
        Least difference from the person's baseline, in the cue's unit, that explanations call
        a change (``None``: no change is ever claimed).
    decimals : int
        Decimals printed.
    headline : bool
        Stated as a plain measurement when the person has no baseline yet.
    """

    name: str
    units: tuple[str, ...]
    what: str
    subject: str = ""
    threshold: float | None = None
    decimals: int = 2
    headline: bool = False


@dataclass(frozen=True)
class ModalitySpec:
    """One modality: what it needs, its analyzers, how its absence reads, what fusion may use.

    Attributes
    ----------
    key : str
        ``face``, ``voice``, ``text``: the key of ``Segment.estimates`` and ``Analysis.modalities``.
    order : int
        Place in the output (``Analysis.modalities``, report rows, CLI lists); lower first.
    needs : {"video", "audio", "words"}
        What the input must offer (words come from a transcript or, for media with audio, ASR).
    analyzers : mapping
        Analyzer key -> ``"module:Class"``; the modality's own analyzer has the modality's key
        (``text`` also has ``dialogue``, used for conversations).
    no_input : str
        Why the modality is absent when the input lacks what it needs.
    none_found : str
        Why it is absent when the analyzer found nothing to read in any segment.
    quality_keys : tuple of str
        ``Estimate.quality`` signals the learned fusion may weigh (its ``fusion.json`` was
        fitted with exactly these; changing them needs a refit).
    cues : tuple of CueSpec
        Every measured cue its analyzers emit.
    eval_tasks : mapping
        ``affectlens eval`` task -> analyzer key.
    examples : str
        ``"module:function"``; ``function(root)`` returns conformance examples from the source
        tree at ``root``: ``(inputs the analyzer must read, an input with nothing to read)``.
    """

    key: str
    order: int
    needs: Literal["video", "audio", "words"]
    analyzers: Mapping[str, str]
    no_input: str
    none_found: str
    quality_keys: tuple[str, ...]
    cues: tuple[CueSpec, ...] = ()
    eval_tasks: Mapping[str, str] = field(default_factory=dict)
    examples: str = ""

    def cue(self, name: str) -> CueSpec | None:
        """The spec of cue ``name``, or ``None``."""
        return next((c for c in self.cues if c.name == name), None)
