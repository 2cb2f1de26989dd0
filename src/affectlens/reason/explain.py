"""Grounded explanations without an LLM: observations → interpretation → conclusion.

Every sentence cites the cues it rests on (``CueRef``), and a sentence is only written
from a cue that is in the output. Model outputs are cited through an ``estimate`` cue
that this module adds to each estimate (its label and calibrated probability).
"""

from __future__ import annotations

from ..schema import Analysis, Cue, CueRef, Estimate, Explanation, Segment, Sentence

PER_MODALITY = 3

_FACE = {
    "AU12_lip_corner_raise": ("lip corners raised (AU12 proxy)", "lip corners lowered (AU12 proxy)"),
    "AU15_lip_corner_depress": ("lip corners pulled down (AU15 proxy)", "lip corners not depressed (AU15 proxy)"),
    "AU1_2_brow_raise": ("brows raised (AU1/2 proxy)", "brows lowered relative to the eyes (AU1/2 proxy)"),
    "AU4_brow_lower": ("brows drawn down (AU4 proxy)", "brows relaxed (AU4 proxy)"),
    "AU5_43_eye_aperture": ("eyes wider (AU5 proxy)", "eyes narrower (AU43 proxy)"),
    "AU9_nose_wrinkle": ("nose wrinkled (AU9 proxy)", "nose relaxed (AU9 proxy)"),
    "AU25_26_mouth_open": ("mouth opened (AU25/26 proxy)", "mouth closed (AU25/26 proxy)"),
    "head_yaw": ("head turned", "head turned"),
    "head_pitch": ("head tilted up/down", "head tilted up/down"),
    "head_roll": ("head tilted sideways", "head tilted sideways"),
}
_VOICE = {
    "f0_median_st": "pitch",
    "f0_range_st": "pitch range",
    "loudness_db": "loudness",
    "speaking_rate_syl_s": "speaking rate",
    "pause_ratio": "pause ratio",
    "jitter_proxy": "jitter (proxy)",
    "shimmer_proxy_db": "shimmer (proxy)",
    "hnr_db": "harmonics-to-noise ratio",
    "spectral_tilt_db_oct": "spectral tilt",
}


def clock(t: float) -> str:
    """``mm:ss.s``"""
    m, s = divmod(max(t, 0.0), 60)
    return f"{int(m):02d}:{s:04.1f}"


def ref(cue: Cue) -> CueRef:
    return CueRef(modality=cue.modality, name=cue.name, t0=cue.t0)


def estimate_cue(est: Estimate, t0: float, t1: float) -> Cue:
    """The ``estimate`` cue of an estimate (added once, so explanations can cite it)."""
    for cue in est.cues:
        if cue.name == "estimate":
            return cue
    cue = Cue(modality=est.modality, name="estimate", value=round(est.probs[est.top], 4), unit="prob",
              t0=t0, t1=t1, text=est.top)
    est.cues.append(cue)
    return cue


def _salience(cue: Cue) -> float:
    if cue.modality == "text":
        return cue.value
    if cue.baseline is not None:
        return abs(cue.value - cue.baseline) / (abs(cue.baseline) + 0.05)
    if cue.name.startswith("head_"):
        return abs(cue.value) / 30
    if cue.name == "f0_median_st":
        return abs(cue.value) / 3
    return 0.1


def describe(cue: Cue) -> str | None:
    """One observation about a measured cue, or ``None`` for cues with no phrasing."""
    when = f"at {clock(cue.t0)}" if cue.t1 - cue.t0 < 0.05 else f"{clock(cue.t0)}–{clock(cue.t1)}"
    if cue.modality == "text" and cue.name == "word" and cue.text:
        return f'The word "{cue.text}" {when} carries the text reading (removing it lowers its probability by {cue.value:.2f}).'
    if cue.modality == "face" and cue.name in _FACE:
        delta = cue.value - cue.baseline if cue.baseline is not None else cue.value
        up, down = _FACE[cue.name]
        phrase = up if delta >= 0 else down
        if cue.name.startswith("head_"):
            return f"The {phrase} by {cue.value:+.0f}° {when}."
        base = f" vs the face's baseline {cue.baseline:.3f}" if cue.baseline is not None else ""
        return f"The {phrase}: {cue.value:.3f} {cue.unit}{base}, {when}."
    if cue.modality == "voice" and cue.name in _VOICE:
        name = _VOICE[cue.name]
        if cue.name == "f0_median_st" and cue.baseline is not None:
            direction = "above" if cue.value >= 0 else "below"
            return f"The {name} was {abs(cue.value):.1f} semitones {direction} the speaker's baseline {when}."
        if cue.name == "pause_ratio":
            return f"Pauses took {cue.value:.0%} of the speech {when}."
        return f"The {name} was {cue.value:.2f} {cue.unit} {when}."
    return None


def _observations(seg: Segment) -> list[Sentence]:
    out = []
    for modality, est in seg.estimates.items():
        measured = [c for c in est.cues if c.name != "estimate" and describe(c)]
        for cue in sorted(measured, key=_salience, reverse=True)[:PER_MODALITY]:
            out.append(Sentence(text=describe(cue), cites=[ref(cue)]))
    return out


def _reading(est: Estimate) -> str:
    top = est.top
    fine = f"; finer: {', '.join(est.fine_predicted[:3])}" if est.fine_predicted else ""
    return f"{top} ({est.probs[top]:.2f}{fine})"


def explain_segment(seg: Segment) -> Explanation | None:
    """Explanation of one segment from its estimates and their cues; ``None`` without estimates."""
    if not seg.estimates:
        return None
    cues = {m: estimate_cue(e, seg.start, seg.end) for m, e in seg.estimates.items()}
    interpretation = [Sentence(text=f"The {m} reads as {_reading(e)}.", cites=[ref(cues[m])])
                      for m, e in seg.estimates.items()]
    if seg.conflict is not None and seg.conflict.flag:
        a, b = seg.conflict.modalities
        what = " and ".join(w for w, on in (("label", seg.conflict.label_disagree),
                                            ("valence sign", seg.conflict.valence_disagree)) if on)
        interpretation.append(Sentence(text=f"The {a} and the {b} disagree on {what} ({seg.conflict.detail}).",
                                       cites=[ref(cues[a]), ref(cues[b])]))
    conclusion = None
    if seg.fused is not None:
        fused_cue = estimate_cue(seg.fused, seg.start, seg.end)
        f = seg.fused
        if f.label == "uncertain":
            text = f"Conclusion: uncertain — the best guess is {f.top} at only {f.confidence:.2f}."
        else:
            text = f"Conclusion: {f.label}, confidence {f.confidence:.2f}."
        if f.valence is not None and f.arousal is not None:
            text = text[:-1] + f"; valence {f.valence:+.2f}, arousal {f.arousal:+.2f}."
        conclusion = Sentence(text=text, cites=[ref(fused_cue)] + [ref(c) for c in cues.values()])
    return Explanation(observations=_observations(seg), interpretation=interpretation, conclusion=conclusion)


def explain_analysis(analysis: Analysis) -> Explanation | None:
    """Whole-file summary: the dominant fused reading, shifts and conflicts, citing segments."""
    fused = [s for s in analysis.segments if s.fused is not None]
    if not fused:
        return None
    weight: dict[str, float] = {}
    for s in fused:
        weight[s.fused.label] = weight.get(s.fused.label, 0.0) + max(s.end - s.start, 1.0)
    dominant = max(weight, key=weight.get)
    share = weight[dominant] / sum(weight.values())
    example = max((s for s in fused if s.fused.label == dominant), key=lambda s: s.fused.confidence)
    obs = [Sentence(text=f"The strongest {dominant} reading is at {clock(example.start)} "
                         f"({example.fused.confidence:.2f}).",
                    cites=[ref(estimate_cue(example.fused, example.start, example.end))])]
    shifts = [s for s in fused if s.shift]
    for s in shifts[:3]:
        obs.append(Sentence(text=f"At {clock(s.start)} the reading shifts to {s.fused.label}.",
                            cites=[ref(estimate_cue(s.fused, s.start, s.end))]))
    conflicts = [s for s in analysis.segments if s.conflict is not None and s.conflict.flag]
    interp = []
    if conflicts:
        c = conflicts[0]
        interp.append(Sentence(
            text=f"{len(conflicts)} segment(s) show conflicting modalities, first at {clock(c.start)} ({c.conflict.detail}).",
            cites=[ref(estimate_cue(c.estimates[m], c.start, c.end)) for m in c.conflict.modalities]))
    conclusion = Sentence(text=f"Overall: most often {dominant} ({share:.0%} of the analysed time).",
                          cites=[ref(estimate_cue(example.fused, example.start, example.end))])
    return Explanation(observations=obs, interpretation=interp, conclusion=conclusion)
