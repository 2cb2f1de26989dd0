"""AV manifests: reading, and evaluation when face and voice models are installed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from affectlens.analyzers import ModelUnavailable, SegmentInput, Word
from affectlens.registry import get_analyzer
from affectlens.errors import InputError
from affectlens.evaluate.av import read_manifest
from conftest import DATA


def manifest(tmp_path):
    fer, speech = DATA / "corpora" / "fer", DATA / "voice"
    angry_face = next((fer / "angry").iterdir())
    happy_face = next((fer / "happy").iterdir())
    angry_voice = next(speech.glob("03-01-05-*"))
    rows = ["image_or_video,audio,text,face_label,voice_label,label",
            f"{angry_face},{angry_voice},,angry,angry,angry",
            f"{happy_face},{angry_voice},,happy,angry,",
            f"{happy_face},,,happy,,happy",
            f",{angry_voice},I am furious,,angry,angry"]
    p = tmp_path / "av.csv"
    p.write_text("\n".join(rows) + "\n")
    return p


def test_manifest_reading(tmp_path):
    rows = read_manifest(manifest(tmp_path))
    assert [r.label for r in rows] == ["angry", None, "happy", "angry"]
    assert rows[1].face_label != rows[1].voice_label and rows[2].audio is None
    (tmp_path / "bad.csv").write_text("image,audio\nx,y\n")
    with pytest.raises(InputError, match="lacks column"):
        read_manifest(tmp_path / "bad.csv")


def test_eval_av(tmp_path):
    for m in ("face", "voice"):
        try:
            get_analyzer(m)
        except ModelUnavailable as exc:
            res = subprocess.run([sys.executable, "-m", "affectlens", "eval", "av", str(manifest(tmp_path))],
                                 capture_output=True, text=True)
            assert res.returncode == 3 and "no model for" in res.stderr
            pytest.skip(str(exc))
    res = subprocess.run([sys.executable, "-m", "affectlens", "eval", "av", str(manifest(tmp_path)), "--json"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["n"] == 4
    # the 3 labelled rows (angry face+voice, happy face, angry voice+words) all fuse right
    conf = out["confusion"]
    assert sum(map(sum, conf)) == 3 and conf[1][1] == 1 and conf[3][3] == 2 and out["metrics"]["uar"] == 1.0
    # the happy-face/angry-voice pair scores as more conflicting than the congruent angry pair
    assert out["metrics"]["n_conflict_pairs"] == 2 and out["metrics"]["conflict_auroc"] == 1.0
    # the samples are RAVDESS actor 01 and FER2013 PublicTest: the fusion was fit on all of them
    assert out["train_overlap"] == 4 and out["overlap"]["models"]["fusion-lr"]["train_overlap"] == 4
    assert "warning: of 4 items" in res.stderr


def test_eval_av_asr_transcribes_audio_without_text(tmp_path):
    from affectlens.evaluate.av import evaluate_av

    try:
        get_analyzer("voice"), get_analyzer("text")
        from affectlens.media.asr import transcriber

        transcriber()
    except (ModelUnavailable, ImportError) as exc:
        pytest.skip(str(exc))
    clip = next((DATA / "voice").glob("03-01-05-*"))  # RAVDESS: "Kids are talking by the door", angry
    p = tmp_path / "voice.csv"
    p.write_text("image_or_video,audio,text,face_label,voice_label,label\n"
                 f",{clip},,,angry,angry\n")
    plain = evaluate_av(p)
    heard = evaluate_av(p, asr=True)
    assert heard["asr"] and not plain["asr"]
    assert "text_uar" not in plain["metrics"] and "text_uar" in heard["metrics"]  # words from the transcript
    assert heard["metrics"]["voice_uar"] == plain["metrics"]["voice_uar"]
    # evaluation ran with evidence off in its own runs: the shared analyzer still gives cues by default
    words = [Word("I am so furious with you", 0.0, 1.0)]
    assert get_analyzer("text").analyze(SegmentInput(0.0, 1.0, words=words)).cues
