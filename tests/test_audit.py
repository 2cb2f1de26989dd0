"""Every explanation sentence re-derived from the JSON it cites (tests/audit.py), on real inputs.

The sample inputs: the example clip, the example dialogue, a face image, a speech file and a
short text; the corpus clips in /work/shared/data/clips when present. The audit itself is
checked on tampered copies: a flipped direction, a changed value, a label named for an
uncertain estimate, a tiny word effect and a wrong share must all be caught.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

import affectlens
from audit import audit
from conftest import DATA, EXAMPLES, corpus_path

SAMPLES = [EXAMPLES / "obama_oilspill_2010.mp4", EXAMPLES / "dialogue.txt", DATA / "face" / "fer_val_happy.jpg",
           DATA / "face" / "pexels_woman_frame200.jpg", DATA / "voice" / "03-01-05-02-01-01-03.flac"]


def analysed(path) -> dict:
    return json.loads(affectlens.analyze(path).model_dump_json())


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, dict]:
    text = tmp_path_factory.mktemp("t") / "short.txt"
    text.write_text("I can't believe they cancelled it again. This is so frustrating!\n")
    return {Path(p).name: analysed(p) for p in [*SAMPLES, text]}


def test_every_sentence_on_the_samples_is_true(outputs):
    total = 0
    for name, a in outputs.items():
        r = audit(a)
        assert r.ok, (name, r.false, r.overclaim, r.checks)
        total += r.sentences
    assert total >= 60  # the samples do produce explanations
    example = outputs["obama_oilspill_2010.mp4"]
    texts = [s["text"] for seg in example["segments"] if seg["explanation"]
             for s in seg["explanation"]["observations"]]
    assert any("than this speaker's baseline" in t for t in texts)  # voice changes are claimed
    assert any(t.startswith(("Loudness", "Speaking rate")) for t in texts)  # not only pitch
    assert all(s["track"] == "face1" for s in example["segments"] if "face" in s["estimates"])
    ranges = [c["value"] for s in example["segments"] if "voice" in s["estimates"]
              for c in s["estimates"]["voice"]["cues"] if c["name"] == "f0_range_st"]
    assert ranges and max(ranges) < 12  # octave-corrected: a calm speaker, no 25 st ranges


def test_dialogue_is_cited_by_utterance_and_labels_agree(outputs):
    a = outputs["dialogue.txt"]
    summary = [s["text"] for s in a["summary"]["observations"] + [a["summary"]["conclusion"]]]
    assert any("utterance #" in t for t in summary) and not any("00:0" in t for t in summary)
    assert "of 6 utterances" in summary[-1]


@pytest.mark.corpus
@pytest.mark.parametrize("clip", ["grid_bbaf2n.mpg", "grid_lwbsza.mpg", "pexels_woman_expressions.mp4"])
def test_every_sentence_on_the_corpus_clips_is_true(clip):
    r = audit(analysed(corpus_path("clips", clip)))
    assert r.ok and r.sentences > 5, (r.false, r.overclaim, r.checks)


def _first(a: dict, start: str) -> dict:
    return next(s for seg in a["segments"] if seg["explanation"]
                for s in seg["explanation"]["observations"] + seg["explanation"]["interpretation"]
                if s["text"].startswith(start))


def test_the_audit_catches_tampering(outputs):
    a = outputs["obama_oilspill_2010.mp4"]
    cases = []
    bad = copy.deepcopy(a)  # direction flipped
    s = _first(bad, next(t["text"].split(" was ")[0] for seg in bad["segments"] if seg["explanation"]
                         for t in seg["explanation"]["observations"] if " than this " in t["text"]))
    s["text"] = s["text"].replace(" higher ", " @ ").replace(" lower ", " higher ").replace(" @ ", " lower ")
    cases.append((bad, "false"))
    bad = copy.deepcopy(a)  # a measured value changed in the output
    seg = next(x for x in bad["segments"] if x["explanation"] and any(" than this " in t["text"] for t in x["explanation"]["observations"]))
    cite = next(t for t in seg["explanation"]["observations"] if " than this " in t["text"])["cites"][0]
    cue = next(c for c in seg["estimates"][cite["modality"]]["cues"] if c["name"] == cite["name"])
    cue["value"] += 1.0
    cases.append((bad, "false"))
    bad = copy.deepcopy(a)  # a label named for an uncertain estimate
    seg = next(x for x in bad["segments"] if x["explanation"] and any("reading is uncertain" in t["text"]
                                                                       for t in x["explanation"]["interpretation"]))
    s = next(t for t in seg["explanation"]["interpretation"] if "reading is uncertain" in t["text"])
    mod = s["text"].split()[1]
    s["text"] = f"The {mod} reads as sad (confidence {seg['estimates'][mod]['confidence']:.2f})."
    cases.append((bad, "overclaim"))
    bad = copy.deepcopy(a)  # a word cited below the minimum effect
    s = _first(bad, "The word ")
    seg = next(x for x in bad["segments"] if x["explanation"] and s in x["explanation"]["observations"])
    word = next(c for c in seg["estimates"]["text"]["cues"] if c["name"] == "word" and c["text"] == s["cites"][0]["text"])
    word["value"] = 0.01
    s["text"] = s["text"].rsplit("by ", 1)[0] + "by 0.01."
    cases.append((bad, "overclaim"))
    bad = copy.deepcopy(a)  # the summary share
    c = bad["summary"]["conclusion"]
    c["text"] = re.sub(r"\((\d+)%", lambda m: f"({int(m[1]) + 10}%", c["text"], count=1)
    cases.append((bad, "false"))
    for bad, kind in cases:
        r = audit(bad)
        assert len(r.false if kind == "false" else r.overclaim) == 1, (kind, r.false, r.overclaim)
    unit = copy.deepcopy(a)  # a unit switching inside one field
    next(c for seg in unit["segments"] if "voice" in seg["estimates"]
         for c in seg["estimates"]["voice"]["cues"] if c["name"] == "f0_median_st")["unit"] = "st re speaker baseline"
    assert audit(unit).checks
