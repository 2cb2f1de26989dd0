"""Grounded explanations without an LLM: observations → interpretation → conclusion.

Every sentence cites the cues it rests on (``CueRef``) and is written from them by a fixed
template, so ``tests/audit.py`` can re-derive it from the output. The rules:

- a change is claimed only when a cue differs from the person's baseline by at least the
  cue's threshold (:mod:`affectlens.reason.cues`), and "higher"/"lower" follows the sign;
  without a baseline a cue is only reported as a measurement;
- a label is named only when it is not ``uncertain``; finer labels only when they belong to it;
- a word is cited only when removing it lowers the named reading by at least 0.05;
- dialogue and text utterances are referred to by number, media by time.

Model outputs are cited through an ``estimate`` cue that this module adds to each estimate
(its label and calibrated confidence).
"""

from __future__ import annotations

from ..schema import Analysis, Cue, CueRef, Estimate, Explanation, MediaInfo, Segment, Sentence, fine_canonical
from .cues import MIN_WORD_EFFECT, person, rule, salience, spreads

PER_MODALITY = 3
WHOSE = {"face": "face", "voice": "speaker"}


def clock(t: float) -> str:
    """``mm:ss.s``"""
    m, s = divmod(max(t, 0.0), 60)
    return f"{int(m):02d}:{s:04.1f}"


def ref(cue: Cue) -> CueRef:
    return CueRef(modality=cue.modality, name=cue.name, t0=cue.t0, text=cue.text if cue.name == "word" else None)


def estimate_cue(est: Estimate, t0: float, t1: float) -> Cue:
    """The ``estimate`` cue of an estimate (added once, so explanations can cite it)."""
    for cue in est.cues:
        if cue.name == "estimate":
            return cue
    cue = Cue(modality=est.modality, name="estimate", value=round(est.confidence, 4), unit="prob",
              t0=t0, t1=t1, text=est.label)
    est.cues.append(cue)
    return cue


def ordinal(analysis: Analysis) -> bool:
    """Text and dialogue inputs have utterances, not times."""
    return analysis.media.kind in ("text", "dialogue")


class _Where:
    """How a segment or cue is referred to: ``utterance #n`` or a time span."""

    def __init__(self, analysis: Analysis):
        self.ordinal = ordinal(analysis)
        self.index = {id(s): i for i, s in enumerate(analysis.segments)}
        self.spread = spreads(analysis.segments)

    def seg(self, seg: Segment) -> str:
        if self.ordinal:
            return f"in utterance #{self.index[id(seg)] + 1}"
        return f"at {clock(seg.start)}"

    def cue(self, seg: Segment, cue: Cue) -> str:
        if self.ordinal:
            return f"in utterance #{self.index[id(seg)] + 1}"
        return f"at {clock(cue.t0)}" if cue.t1 - cue.t0 < 0.05 else f"{clock(cue.t0)}–{clock(cue.t1)}"


def _num(v: float, decimals: int) -> str:
    return f"{v:.{decimals}f}"


def change_sentence(seg: Segment, cue: Cue, when: str) -> Sentence | None:
    """``<Subject> was higher|lower than this face's|speaker's baseline: v vs b unit (+d), when.``
    or ``None`` when the change is below the cue's threshold (or there is no baseline)."""
    r = rule(cue.modality, cue.name)
    if r is None or cue.baseline is None:
        return None
    delta = cue.value - cue.baseline
    # the printed difference is that of the printed numbers, so a reader's subtraction agrees
    shown = round(round(cue.value, r.decimals) - round(cue.baseline, r.decimals), r.decimals)
    if abs(delta) < r.threshold or abs(shown) < r.threshold:
        return None
    if shown * delta <= 0:
        return None
    verb = "higher" if delta > 0 else "lower"
    text = (f"{r.subject} was {verb} than this {WHOSE[cue.modality]}'s baseline: "
            f"{_num(cue.value, r.decimals)} vs {_num(cue.baseline, r.decimals)} {cue.unit} "
            f"({shown:+.{r.decimals}f}), {when}.")
    return Sentence(text=text, cites=[ref(cue)])


def measured_sentence(cues: list[Cue], modality: str, when: str) -> Sentence | None:
    """Headline cues of a person with no baseline yet, stated as measurements only."""
    shown = [(c, rule(c.modality, c.name)) for c in cues]
    shown = [(c, r) for c, r in shown if r is not None and r.headline and c.baseline is None]
    if not shown:
        return None
    items = "; ".join(f"{r.subject[0].lower() + r.subject[1:]} {_num(c.value, r.decimals)} {c.unit}" for c, r in shown)
    text = (f"Measured, with no baseline for this {WHOSE[modality]} yet (so no change is claimed): "
            f"{items}, {when}.")
    return Sentence(text=text, cites=[ref(c) for c, _ in shown])


def word_sentence(est: Estimate, cue: Cue, when: str) -> Sentence | None:
    """A word that carries the (certain) text reading by at least ``MIN_WORD_EFFECT``."""
    if est.label == "uncertain" or cue.value < MIN_WORD_EFFECT or not cue.text:
        return None
    return Sentence(text=f'The word "{cue.text}" {when} supports the {est.label} reading: without it, '
                         f"the text model's {est.label} probability falls by {cue.value:.2f}.",
                    cites=[ref(cue)])


def _observations(seg: Segment, where: _Where) -> list[Sentence]:
    out = []
    for modality, est in seg.estimates.items():
        if modality == "text":
            words = sorted((c for c in est.cues if c.name == "word"), key=lambda c: c.value, reverse=True)
            out += [s for s in (word_sentence(est, c, where.cue(seg, c)) for c in words) if s][:PER_MODALITY]
            continue
        ruled = [c for c in est.cues if rule(modality, c.name)]
        if not ruled:
            continue
        who = person(seg, modality)
        ranked = sorted(
            (c for c in ruled if c.baseline is not None),
            key=lambda c: salience(c.value, c.baseline, rule(modality, c.name).threshold,
                                   where.spread.get((modality, who, c.name), 0.0)),
            reverse=True)
        changes = [s for s in (change_sentence(seg, c, where.cue(seg, c)) for c in ranked) if s]
        out += changes[:PER_MODALITY]
        measured = measured_sentence(ruled, modality, where.cue(seg, ruled[0]))
        if measured is not None:
            out.append(measured)
    return out


def fine_shown(est: Estimate) -> list[str]:
    """Fine labels that belong to the estimate's (certain) label, at most three."""
    if est.label == "uncertain":
        return []
    return [f for f in est.fine_predicted if est.label in fine_canonical(f) and f != est.label][:3]


def reading(modality: str, est: Estimate) -> str:
    if est.label == "uncertain":
        return (f"The {modality} reading is uncertain: confidence {est.confidence:.2f}, "
                "too low to name a label.")
    fine = fine_shown(est)
    finer = f"; finer: {', '.join(fine)}" if fine else ""
    return f"The {modality} reads as {est.label} (confidence {est.confidence:.2f}{finer})."


def conflict_sentence(seg: Segment, cues: dict[str, Cue]) -> Sentence | None:
    c = seg.conflict
    if c is None or not c.flag:
        return None
    a, b = c.modalities
    ea, eb = seg.estimates[a], seg.estimates[b]
    parts = []
    if c.label_disagree and "uncertain" not in (ea.label, eb.label) and ea.label != eb.label:
        parts.append(f"{a} reads {ea.label}, {b} reads {eb.label}")
    if c.valence_disagree and ea.valence is not None and eb.valence is not None:
        parts.append(f"valence {ea.valence:+.2f} vs {eb.valence:+.2f}")
    what = "; ".join(parts) if parts else "their probabilities diverge"
    return Sentence(text=f"The {a} and the {b} disagree (conflict score {c.score:.2f}): {what}.",
                    cites=[ref(cues[a]), ref(cues[b])])


def conclusion_sentence(seg: Segment, cues: dict[str, Cue]) -> Sentence:
    f = seg.fused
    if f.label == "uncertain":
        text = f"Conclusion: uncertain (confidence {f.confidence:.2f}, too low to name a label)"
    else:
        text = f"Conclusion: {f.label}, confidence {f.confidence:.2f}"
    if f.valence is not None and f.arousal is not None:
        text += f"; valence {f.valence:+.2f}, arousal {f.arousal:+.2f}"
    fused_cue = estimate_cue(f, seg.start, seg.end)
    return Sentence(text=text + ".", cites=[ref(fused_cue)] + [ref(c) for c in cues.values()])


def explain_segment(seg: Segment, analysis: Analysis | None = None, where: _Where | None = None) -> Explanation | None:
    """Explanation of one segment from its estimates and their cues; ``None`` without estimates.

    ``analysis`` (the whole timeline) gives utterance numbers and each person's cue spread;
    without it the segment is taken alone."""
    if not seg.estimates:
        return None
    if where is None:
        analysis = analysis or Analysis(affectlens_version="", media=MediaInfo(path="", kind="video", size_bytes=0),
                                        segments=[seg])
        where = _Where(analysis)
    cues = {m: estimate_cue(e, seg.start, seg.end) for m, e in seg.estimates.items()}
    interpretation = [Sentence(text=reading(m, e), cites=[ref(cues[m])]) for m, e in seg.estimates.items()]
    conflict = conflict_sentence(seg, cues)
    if conflict is not None:
        interpretation.append(conflict)
    conclusion = conclusion_sentence(seg, cues) if seg.fused is not None else None
    return Explanation(observations=_observations(seg, where), interpretation=interpretation,
                       conclusion=conclusion)


def explain_all(analysis: Analysis) -> None:
    """Explain every segment and write the whole-file summary."""
    where = _Where(analysis)
    for seg in analysis.segments:
        seg.explanation = explain_segment(seg, where=where)
    analysis.summary = explain_analysis(analysis)


def label_shares(analysis: Analysis) -> tuple[dict[str, float], str]:
    """Share of each fused label (``uncertain`` included) and what the share is of: real
    segment durations for media, utterance counts for text, dialogue and images."""
    fused = [s for s in analysis.segments if s.fused is not None]
    timed = not ordinal(analysis) and sum(s.end - s.start for s in fused) > 0
    weight: dict[str, float] = {}
    for s in fused:
        weight[s.fused.label] = weight.get(s.fused.label, 0.0) + ((s.end - s.start) if timed else 1.0)
    total = sum(weight.values())
    noun = ("utterance" if ordinal(analysis) else "segment") + ("s" if len(fused) != 1 else "")
    what = "of the analysed time" if timed else f"of {len(fused)} {noun}"
    return {k: v / total for k, v in weight.items()}, what


def explain_analysis(analysis: Analysis) -> Explanation | None:
    """Whole-file summary: the dominant fused reading, shifts and conflicts, citing segments."""
    fused = [s for s in analysis.segments if s.fused is not None]
    if not fused:
        return None
    where = _Where(analysis)
    cite = lambda s: ref(estimate_cue(s.fused, s.start, s.end))  # noqa: E731
    shares, what = label_shares(analysis)
    certain = {k: v for k, v in shares.items() if k != "uncertain"}
    # equal shares (a short dialogue) go to the label read with more summed confidence
    weight = {k: sum(s.fused.confidence for s in fused if s.fused.label == k) for k in shares}
    rank = lambda k: (round(shares[k], 9), weight[k])  # noqa: E731
    obs = []
    top_certain = max(certain, key=rank) if certain else None
    if top_certain:
        example = max((s for s in fused if s.fused.label == top_certain), key=lambda s: s.fused.confidence)
        obs.append(Sentence(text=f"The strongest {top_certain} reading is {where.seg(example)} "
                                 f"(confidence {example.fused.confidence:.2f}).", cites=[cite(example)]))
    previous = None
    shown = 0
    for s in fused:
        label = s.fused.label
        if s.shift and previous and shown < 3:
            obs.append(Sentence(text=f"{where.seg(s).capitalize()} the fused reading shifts from {previous} to {label}.",
                                cites=[cite(s)]))
            shown += 1
        if label != "uncertain":
            previous = label
    conflicts = [s for s in analysis.segments if s.conflict is not None and s.conflict.flag]
    interp = []
    if conflicts:
        c = conflicts[0]
        a, b = c.conflict.modalities
        interp.append(Sentence(
            text=f"{len(conflicts)} segment(s) have conflicting modalities; the first {where.seg(c)}: "
                 f"{a} vs {b}, conflict score {c.conflict.score:.2f}.",
            cites=[ref(estimate_cue(c.estimates[m], c.start, c.end)) for m in (a, b)]))
    dominant = max(shares, key=rank)
    tied = [k for k in shares if k != dominant and round(shares[k], 9) == round(shares[dominant], 9)]
    examples = [cite(s) for s in fused if s.fused.label == dominant][:5]
    if dominant == "uncertain":
        text = f"Overall: uncertain for {shares[dominant]:.0%} {what}"
        if top_certain:
            text += f"; the most frequent certain label is {top_certain} ({certain[top_certain]:.0%})"
    else:
        text = f"Overall: most often {dominant} ({shares[dominant]:.0%} {what})"
        if tied:
            text += f"; as often {' and '.join(tied)}, with less confidence"
    return Explanation(observations=obs, interpretation=interp, conclusion=Sentence(text=text + ".", cites=examples))
