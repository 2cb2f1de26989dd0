"""What explanations may say about a measured cue, and the person's baseline it is compared with.

A change is claimed only when a cue differs from the person's baseline by at least the
cue's ``threshold``, in the cue's own unit (thresholds chosen so that a change is visible or
audible, not from any label). The baseline of a cue in one segment is the median of the same
person's other segments (leave-one-out: the segment never counts towards its own baseline),
and exists only when there are at least ``MIN_OTHERS`` of them. A person is a face track for
face cues and a speaker for voice cues. Each cue's name, threshold and printed decimals are
declared with it in its modality's ``spec.py`` (``CueSpec``).
"""

from __future__ import annotations

import numpy as np

from ..modality import CueSpec
from ..registry import SPECS
from ..schema import Segment

#: other segments of the same person needed before a baseline exists
MIN_OTHERS = 3


#: (modality, cue name) -> its spec, for every cue explanations may phrase (those with a threshold)
RULES: dict[tuple[str, str], CueSpec] = {(m, c.name): c for m, spec in SPECS.items() for c in spec.cues
                                         if c.subject and c.threshold is not None}


#: least drop in the reading's probability for a word to be cited
MIN_WORD_EFFECT = 0.05


def rule(modality: str, name: str) -> CueSpec | None:
    return RULES.get((modality, name))


def person(seg: Segment, modality: str) -> str:
    """Whose cue this is: the face track or the speaker (``_`` when unnamed)."""
    who = seg.track if modality == "face" else seg.speaker
    return who or "_"


def _series(segments: list[Segment]) -> dict[tuple[str, str, str], list[tuple[int, float]]]:
    """(modality, person, cue name) -> [(segment index, value)] for every ruled cue."""
    out: dict[tuple[str, str, str], list[tuple[int, float]]] = {}
    for i, seg in enumerate(segments):
        for modality, est in seg.estimates.items():
            for cue in est.cues:
                if (modality, cue.name) in RULES:
                    out.setdefault((modality, person(seg, modality), cue.name), []).append((i, cue.value))
    return out


def _median_without(sorted_vals: np.ndarray, k: int) -> float:
    """Median of ``sorted_vals`` with the element at index ``k`` left out."""
    m = len(sorted_vals) - 1
    pick = lambda j: sorted_vals[j if j < k else j + 1]  # noqa: E731
    return float(pick(m // 2)) if m % 2 else float((pick(m // 2 - 1) + pick(m // 2)) / 2)


def fold_pitch_octaves(segments: list[Segment]) -> None:
    """Move a segment's median pitch by whole octaves towards the speaker's median when it is
    more than ``OCTAVE_JUMP_ST`` away (a whole short segment tracked an octave off); needs at
    least ``MIN_OTHERS + 1`` voiced segments of the speaker."""
    from ..voice.prosody import OCTAVE_JUMP_ST

    for (modality, _, name), items in _series(segments).items():
        if (modality, name) != ("voice", "f0_median_st") or len(items) <= MIN_OTHERS:
            continue
        mid = float(np.median([v for _, v in items]))
        for i, v in items:
            if abs(v - mid) > OCTAVE_JUMP_ST:
                cue = next(c for c in segments[i].estimates["voice"].cues if c.name == name)
                cue.value = round(v - 12.0 * round((v - mid) / 12.0), 3)


def assign_baselines(segments: list[Segment]) -> None:
    """Set every ruled cue's ``baseline`` to the leave-one-out median of the same person's
    other segments (``None`` with fewer than ``MIN_OTHERS`` of them)."""
    loo: dict[tuple[str, int, str], float | None] = {}
    for (modality, _, name), items in _series(segments).items():
        vals = np.array([v for _, v in items])
        order = np.argsort(vals, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        for (i, _), r in zip(items, rank):
            loo[(modality, i, name)] = (round(_median_without(vals[order], int(r)), 4)
                                        if len(items) - 1 >= MIN_OTHERS else None)
    for i, seg in enumerate(segments):
        for modality, est in seg.estimates.items():
            for cue in est.cues:
                if (modality, cue.name) in RULES:
                    cue.baseline = loo[(modality, i, cue.name)]


def spreads(segments: list[Segment]) -> dict[tuple[str, str, str], float]:
    """(modality, person, cue name) -> robust spread (1.4826 x MAD) over the timeline
    (0 with fewer than 3 values)."""
    out = {}
    for key, items in _series(segments).items():
        v = np.array([x for _, x in items])
        out[key] = float(1.4826 * np.median(np.abs(v - np.median(v)))) if len(v) >= 3 else 0.0
    return out


def salience(value: float, baseline: float, threshold: float, scale: float) -> float:
    """How unusual a change is: its size in units of the person's own spread (never less
    than the claim threshold, so a steady person does not make tiny changes look large)."""
    return abs(value - baseline) / max(threshold, scale)
