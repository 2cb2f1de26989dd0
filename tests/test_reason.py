"""Conflict detection and grounded explanations: every sentence traces to a cue in the output."""

from __future__ import annotations

import json

import numpy as np

from affectlens.analyzers import build_estimate
from affectlens.pipeline import interpret
from affectlens.schema import LABELS, Analysis, Cue, MediaInfo, Segment


def est(modality, label, p=0.8, valence=None, cues=()):
    probs = np.full(7, (1 - p) / 6)
    probs[LABELS.index(label)] = p
    return build_estimate(modality, f"{modality}-test", probs, vad=(valence, 0.2, None), cues=list(cues))


def analysis_with(*segments):
    return Analysis(affectlens_version="t", media=MediaInfo(path="x.mp4", kind="video", size_bytes=1),
                    segments=list(segments))


def seg(t0, t1, **estimates):
    from affectlens.fusion.fuse import fuse

    s = Segment(start=t0, end=t1, kind="speech", estimates=estimates)
    s.fused = fuse(list(estimates.values()))
    return s


FACE_CUES = [Cue(modality="face", name="AU12_lip_corner_raise", value=0.12, unit="IOD", t0=12.4, t1=12.4, baseline=0.05),
             Cue(modality="face", name="head_yaw", value=4.0, unit="deg", t0=12.4, t1=12.4)]
VOICE_CUES = [Cue(modality="voice", name="f0_median_st", value=15.2, unit="st re 55 Hz", t0=12.0, t1=14.0),
              Cue(modality="voice", name="loudness_db", value=-18.0, unit="dBFS", t0=12.0, t1=14.0)]
TEXT_CUES = [Cue(modality="text", name="word", value=0.41, unit="prob", t0=12.5, t1=12.9, text="furious")]


def cited_cues_exist(analysis: Analysis) -> int:
    data = json.loads(analysis.model_dump_json())
    n = 0
    for s in data["segments"]:
        pool = {(m, c["name"], c["t0"]) for m, e in s["estimates"].items() for c in e["cues"]}
        for key in ("fused", "smoothed"):
            if s.get(key):
                pool |= {("fused", c["name"], c["t0"]) for c in s[key]["cues"]}
        exp = s["explanation"]
        if not exp:
            continue
        for sent in exp["observations"] + exp["interpretation"] + ([exp["conclusion"]] if exp["conclusion"] else []):
            assert sent["cites"], sent["text"]
            for c in sent["cites"]:
                assert (c["modality"], c["name"], c["t0"]) in pool, (sent["text"], c)
            n += 1
    summary = data["summary"]
    all_cues = {(m, c["name"], c["t0"]) for s in data["segments"] for m, e in
                list(s["estimates"].items()) + [("fused", s["fused"]), ("fused", s.get("smoothed"))] if e
                 for c in e["cues"]}
    for sent in summary["observations"] + summary["interpretation"] + [summary["conclusion"]]:
        assert sent["cites"], f"summary sentence cites nothing: {sent['text']}"
        assert all((c["modality"], c["name"], c["t0"]) in all_cues for c in sent["cites"]), sent["text"]
        n += 1
    return n


def calm(t0):
    """A calm segment of the same person: AU12 at 0.05, pitch at 12 st, loudness -24 dBFS."""
    face = [Cue(modality="face", name="AU12_lip_corner_raise", value=0.05, unit="IOD", t0=t0, t1=t0),
            Cue(modality="face", name="head_yaw", value=4.0, unit="deg", t0=t0, t1=t0)]
    voice = [Cue(modality="voice", name="f0_median_st", value=12.0, unit="st re 55 Hz", t0=t0, t1=t0 + 2),
             Cue(modality="voice", name="loudness_db", value=-24.0, unit="dBFS", t0=t0, t1=t0 + 2)]
    s = seg(t0, t0 + 2, face=est("face", "neutral", 0.9, 0.0, face), voice=est("voice", "neutral", 0.9, 0.0, voice))
    s.track = "face1"
    return s


def test_smiling_face_angry_voice_is_a_conflict_and_explained():
    s = seg(12.0, 14.0, face=est("face", "happy", 0.85, 0.7, FACE_CUES),
            voice=est("voice", "angry", 0.8, -0.6, VOICE_CUES), text=est("text", "angry", 0.7, -0.7, TEXT_CUES))
    s.track = "face1"
    a = interpret(analysis_with(calm(4.0), calm(6.0), calm(8.0), calm(10.0), s))
    c = a.segments[4].conflict
    assert c.flag and c.label_disagree and c.valence_disagree and "face" in c.modalities
    text = a.segments[4].explanation.text()
    # changes against the leave-one-out baselines (the calm segments), verbs following the sign
    assert "Lip-corner raise (AU12 proxy) was higher than this face's baseline: 0.120 vs 0.050 IOD (+0.070), at 00:12.4." in text
    assert "Pitch (median F0) was higher than this speaker's baseline: 15.2 vs 12.0 st re 55 Hz (+3.2)" in text
    assert "Loudness was higher than this speaker's baseline: -18.0 vs -24.0 dBFS (+6.0)" in text
    assert "Head yaw" not in text  # 4 deg = its baseline: no change claimed
    assert 'The word "furious" 00:12.5–00:12.9 supports the angry reading' in text
    assert "face reads happy, voice reads angry; valence +0.70 vs -0.60" in text
    assert a.segments[4].shift
    assert cited_cues_exist(a) >= 8
    from audit import audit

    r = audit(json.loads(a.model_dump_json()))
    assert r.ok and r.sentences >= 20, (r.false, r.overclaim, r.checks)


def test_small_changes_and_uncertain_labels_are_not_claimed():
    s = calm(12.0)
    s.estimates["face"].cues[0].value = 0.06  # +0.01 IOD: under the 0.03 threshold
    s.estimates["face"] = est("face", "sad", 0.3, -0.2, s.estimates["face"].cues)
    a = interpret(analysis_with(calm(4.0), calm(6.0), calm(8.0), calm(10.0), s))
    text = a.segments[4].explanation.text()
    assert "Lip-corner" not in text and "sad" not in text
    assert "The face reading is uncertain: confidence 0.30, too low to name a label." in text


def test_congruent_modalities_no_conflict_and_weak_evidence_is_uncertain():
    s = seg(0.0, 2.0, face=est("face", "sad", 0.3), voice=est("voice", "sad", 0.32))
    a = interpret(analysis_with(s))
    assert not a.segments[0].conflict.flag
    # agreeing modalities add up (learned pooling), but no further than certainty
    assert 0.32 <= a.segments[0].fused.confidence < 0.9
    cited_cues_exist(a)
    weak = interpret(analysis_with(seg(0.0, 2.0, face=est("face", "sad", 0.3))))
    assert weak.segments[0].fused.label == "uncertain"
    assert "uncertain" in weak.segments[0].explanation.conclusion.text


def test_no_estimates_no_explanation():
    a = interpret(analysis_with(Segment(start=0.0, end=2.0, kind="window")))
    assert a.segments[0].explanation is None and a.summary is None
