"""Dialogue plausibility: the context gate, fine labels that agree with the canonical label, and
the hand-written everyday exchanges (tests/data/text/everyday_exchanges.json; never tuned on)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import affectlens
from affectlens.analyzers import SegmentInput, Word
from affectlens.registry import get_analyzer
from affectlens.schema import fine_canonical
from affectlens.state import RunState
from affectlens.text.context_gate import context_weight, gated_scores, log_softmax

ROOT = Path(__file__).resolve().parents[1]
EXCHANGES = json.loads((ROOT / "tests" / "data" / "text" / "everyday_exchanges.json").read_text())["exchanges"]
TEXT_ONLY = affectlens.AnalysisRequest(modalities=("text",), evidence=False, asr=False)


@pytest.fixture(scope="module")
def engine():
    return affectlens.Engine()


@pytest.fixture(scope="module")
def example(engine):
    return engine.analyze(ROOT / "examples" / "dialogue.txt", request=TEXT_ONLY)


def test_gate_weight_falls_with_the_confidence_alone():
    clear, unclear = np.array([[6.0, 0, 0, 0, 0, 0, 0]]), np.zeros((1, 7))
    w_clear, w_unclear = context_weight(clear, 16, -20)[0], context_weight(unclear, 16, -20)[0]
    assert w_clear < 0.05 and w_unclear > 0.99
    ctx = np.array([[0, 0, 0, 5.0, 0, 0, 0]])
    scores, w = gated_scores(ctx, clear, 16, -20)
    assert scores[0].argmax() == 0 and w[0] == pytest.approx(w_clear)
    assert gated_scores(ctx, unclear, 16, -20)[0][0].argmax() == 3
    # the same reading with and without context is that reading, whatever the weight
    assert gated_scores(clear, clear, 16, -20)[0] == pytest.approx(log_softmax(clear))


def test_job_offer_after_an_impatient_turn_is_not_angry(example):
    offer = example.segments[2]
    assert offer.text.startswith("They offered me the job")
    est = offer.estimates["text"]
    assert est.model.startswith("dialogue-minilm") and est.top == "happy"
    assert est.probs["angry"] < 0.15
    # the turn reads clearly alone, so its context counts for little
    assert est.quality["n_context"] == 2 and est.quality["context_weight"] < 0.5
    assert example.segments[0].estimates["text"].quality["context_weight"] == 0.0  # no context


def test_example_summary_is_not_angry(example):
    assert "angry" not in example.summary.conclusion.text
    assert example.summary.conclusion.text.startswith("Overall: most often happy")


def test_fine_labels_belong_to_the_canonical_label(engine, example):
    texts = ["Thanks... I'm a bit scared of moving to a new city, though.",
             "Thank you so much, I'm terrified of the exam tomorrow.",
             "I love you but I'm so angry at you right now.",
             "Wow, I did not expect that. Thanks!"]
    single = [engine.analyze(affectlens.Text(t), request=TEXT_ONLY).segments[0] for t in texts]
    estimates = [s.estimates["text"] for s in single + example.segments]
    for est in estimates:
        assert all(est.label in fine_canonical(f) for f in est.fine_predicted), (est.label, est.fine_predicted)
    # the raw scores stay complete, and the model's full multi-label prediction is still there
    text_model = get_analyzer("text")
    full = [text_model.multilabel(e) for e in estimates]
    assert all(len(e.fine) == 28 for e in estimates)
    assert any(set(f) > set(e.fine_predicted) for f, e in zip(full, estimates))


def test_everyday_exchanges_read_correctly(engine):
    hits = []
    for ex in EXCHANGES:
        a = engine.analyze(affectlens.Text("\n".join(ex["turns"])), request=TEXT_ONLY)
        hits.append(a.segments[-1].estimates["text"].label == ex["expected"])
    assert len(hits) == 42
    assert sum(hits) >= 38, f"{sum(hits)}/42 last turns read as expected"  # 41/42 measured


def test_dialogue_analyzer_reads_each_turn_alone_too():
    dia = get_analyzer("dialogue")
    turn = [Word("They offered me the job. I start in March!", 1, 2, "Ann")]
    ctx = [Word("And? Don't keep me waiting!", 0, 1, "Ben")]
    with_ctx, alone = dia.analyze_batch([SegmentInput(1, 2, words=turn, context=ctx, speaker="Ann"),
                                         SegmentInput(1, 2, words=turn, speaker="Ann")], RunState(evidence=False))
    assert alone.quality["context_weight"] == 0.0 and 0.0 < with_ctx.quality["context_weight"] < 0.5
    assert with_ctx.top == alone.top == "happy"


@pytest.mark.corpus
def test_gate_recipe_runs_on_samples(capsys, text_corpus):
    from affectlens.train import dialogue_gate

    assert dialogue_gate.main(["--data", str(text_corpus), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert '"corpus": "emorynlp"' in out and "held-out weighted F1" in out and "offsets" in out
