"""Train/test overlap: eval and bench say when items were in a model's training or tuning data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from affectlens import cli
from affectlens.analyzers import model_dir
from affectlens.evaluate import corpora, overlap

DATA = Path(__file__).parent / "data" / "corpora"


def _eval(capsys, *args) -> tuple[int, dict, str]:
    code = cli.main(["eval", *args, "--json", "-"])
    out = capsys.readouterr()
    return code, (json.loads(out.out) if code == 0 else {}), out.err


@pytest.mark.corpus
def test_eval_voice_on_training_speakers_warns_and_counts(capsys, speech_corpus):
    code, res, err = _eval(capsys, "voice", str(speech_corpus))
    assert code == 0
    assert res["n"] == 4 and res["train_overlap"] == 4 and res["tuning_overlap"] == 4
    assert res["overlap"]["models"] == {"voice-whisper-tiny": {"train_overlap": 4, "tuning_overlap": 4}}
    lines = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    assert len(lines) == 1 and "4 in the training data" in lines[0] and "voice-whisper-tiny" in lines[0]
    assert cli.main(["eval", "voice", str(speech_corpus), "--strict"]) == 4


@pytest.mark.corpus
def test_eval_voice_on_withheld_speakers_reports_no_overlap(tmp_path, capsys, speech_corpus):
    # RAVDESS actor 22 and EmoDB speaker 15 are withheld from every recipe
    shutil.copy(speech_corpus / "03-01-05-02-01-01-01.flac", tmp_path / "03-01-05-02-01-01-22.flac")
    shutil.copy(speech_corpus / "03a01Wa.flac", tmp_path / "15a01Wa.flac")
    code, res, err = _eval(capsys, "voice", str(tmp_path), "--strict")
    assert code == 0
    assert res["n"] == 2 and res["train_overlap"] == 0 and res["tuning_overlap"] == 0
    assert "warning" not in err


def test_face_samples_are_tuning_data_and_training_names_are_caught():
    es = corpora.read("face", DATA / "fer")
    assert overlap.check(overlap.eval_keys("face", es.items), ["face-cnn"])["tuning_overlap"] == len(es.items) == 14
    keys = [overlap.ItemKey(name="Training_10019449.jpg"), overlap.ItemKey(name="PrivateTest_1.jpg")]
    assert overlap.check(keys, ["face-cnn"])["train_overlap"] == 1


@pytest.mark.parametrize("task, file, train, tune", [
    ("text", "goemotions_sample.tsv", 0, 30),  # GoEmotions dev: tuning data
    ("dialogue", "meld_sample.csv", 0, 30),  # MELD dev: tuning data
    # EmoryNLP shares Friends scenes with MELD train; its dev split chose the context gate
    ("dialogue", "emorynlp_sample.csv", 3, 20),
    ("vad", "emobank_sample.csv", 4, 20),  # EmoBank dev; 4 short texts ("Sincerely,") also in train
])
def test_text_overlap_by_hashed_texts(task, file, train, tune):
    es = corpora.read(task, DATA / file)
    model = "dialogue-minilm" if task == "dialogue" else "text-minilm"
    ov = overlap.check(overlap.eval_keys(task, es.items), [model])
    assert (ov["train_overlap"], ov["tuning_overlap"]) == (train, tune)
    fresh = overlap.eval_keys(task, [corpora.Item("A sentence written for this test only.", None)])
    assert overlap.check(fresh, [model])["train_overlap"] == 0


def test_every_shipped_model_records_provenance():
    for name in ("face-cnn", "voice-whisper-tiny", "text-minilm", "dialogue-minilm", "fusion-lr"):
        assert overlap.recorded(name), name
        for src in overlap.sources(name, "trained_on"):
            assert src.get("speakers") or src.get("files") or src.get("texts"), (name, src)
    assert (model_dir("text-minilm") / overlap.PROVENANCE_FILE).stat().st_size < 300_000


def test_hash_sets_round_trip(tmp_path):
    sets = {"a/train": [overlap.text_hash(t) for t in ("one", "Two  words", "one")], "a/dev": []}
    overlap.write_hash_sets(tmp_path / "p.gz", sets)
    back = overlap.read_hash_sets(tmp_path / "p.gz")
    assert back["a/train"] == {overlap.text_hash("one"), overlap.text_hash("two words")} and not back["a/dev"]


@pytest.mark.corpus
def test_eval_voice_on_the_public_emodb_speakers_is_training_data(capsys):
    from conftest import corpus_path

    code, res, err = _eval(capsys, "voice", str(corpus_path("emodb")), "--limit", "12")
    assert code == 0 and res["n"] == 12 and res["train_overlap"] == 12  # every public speaker trained it
    assert "warning: of 12 items, 12 in the training data" in err and "voice-whisper-tiny" in err
