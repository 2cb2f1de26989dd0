"""One source of truth: README and model-card figures agree with bench/*.json and meta.json."""

from __future__ import annotations

import json
import re

import pytest

from affectlens.analyzers import model_dir
from affectlens.evaluate import numbers


def test_generated_numbers_are_current():
    stale = [str(p) for p, text in numbers.documents().items() if p.read_text() != text]
    assert not stale, f"figures drifted from bench/*.json or meta.json; run python -m affectlens.evaluate.numbers --write: {stale}"


def test_a_changed_meta_figure_makes_the_check_fail(monkeypatch):
    real = numbers._meta

    def drifted(name):
        meta = real(name)
        if name == "voice-whisper-tiny":
            meta = json.loads(json.dumps(meta))
            meta["val_metrics"]["speaker_cv"]["run-clean"]["ravdess"]["uar"] = 0.758  # the v0.1 figure
        return meta

    monkeypatch.setattr(numbers, "_meta", drifted)
    readme = numbers.ROOT / "README.md"
    assert numbers.documents()[readme] != readme.read_text()


@pytest.mark.parametrize("name, pattern, value", [
    ("voice-whisper-tiny", r"as if (\d+) prior clips had been seen", lambda m: m["normalisation"]["shrink"]),
    ("face-cnn", r"T = (\d\.\d+) \(fit by NLL", lambda m: m["temperature"]),
    ("dialogue-minilm", r"up to (\d+) previous turns", lambda m: m["max_context"]),
])
def test_card_figures_match_meta(name, pattern, value):
    card = (model_dir(name) / "MODEL_CARD.md").read_text()
    meta = json.loads((model_dir(name) / "meta.json").read_text())
    found = re.findall(pattern, card)
    assert found, f"{name} card does not state {pattern}"
    for f in found:
        assert float(f) == pytest.approx(value(meta), abs=0.5 * 10 ** -len(f.partition(".")[2])), (name, f)


def test_readme_dialogue_context_matches_meta():
    meta = json.loads((model_dir("dialogue-minilm") / "meta.json").read_text())
    readme = (numbers.ROOT / "README.md").read_text()
    assert re.findall(r"with up to (\d+) previous turns", readme) == [str(meta["max_context"])]


def test_every_result_file_names_its_overlap():
    for path in sorted(numbers.BENCH.glob("*.json")):
        res = json.loads(path.read_text())
        if not (isinstance(res, dict) and "metrics" in res or "rows" in res):
            continue  # speed-only measurements (e.g. batch_speed.json) score no items
        assert {"train_overlap", "tuning_overlap"} <= set(res), path.name
        assert res["tuning_overlap"] <= res["n"] and res["train_overlap"] <= res["n"], path.name
