"""The command line end to end on the shipped example and the sample corpora."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from media_factory import EXAMPLE

CORPORA = "tests/data/corpora"


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "affectlens", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def example_json(tmp_path_factory):
    out = tmp_path_factory.mktemp("analyze") / "example.json"
    res = run("analyze", str(EXAMPLE), "-o", str(out))
    assert res.returncode == 0, res.stderr
    data = json.loads(out.read_text())
    assert isinstance(data, list) and len(data) == 1  # JSON is always a list of analyses
    return res, data[0]


def test_analyze_example_prints_timeline(example_json):
    res, data = example_json
    assert "00:00.0" in res.stdout and "speech" in res.stdout
    assert data["media"]["kind"] == "video" and data["media"]["duration"] == pytest.approx(20, abs=0.1)
    segs = data["segments"]
    assert segs[0]["start"] == 0.0 and segs[-1]["end"] == pytest.approx(20.0, abs=0.1)
    assert all(1e-3 < s["end"] - s["start"] <= 8.0 + 1e-6 for s in segs)
    assert sorted(data["modalities"]) == ["face", "text", "voice"]
    for m, status in data["modalities"].items():  # present, or absent with a reason: never faked
        present = any(m in s["estimates"] for s in segs)
        assert (status == "present") == present
        if not present:
            assert status and f"{m}: absent — {status}" in res.stdout


def test_json_validates_against_schema(example_json, tmp_path):
    from affectlens.schema import Analysis

    _, data = example_json
    Analysis.model_validate(data)
    res = run("schema")
    schema = json.loads(res.stdout)
    assert schema["title"] == "Analysis" and "segments" in schema["properties"]


@pytest.mark.parametrize("ext", ["jsonl", "csv", "parquet", "vtt"])
def test_output_formats(tmp_path, ext):
    out = tmp_path / f"o.{ext}"
    res = run("analyze", str(EXAMPLE), "-o", str(out), "--no-asr", "-q", "--modalities", "voice")
    assert res.returncode == 0, res.stderr
    mask = os.umask(0o022)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask  # the umask, not the temp file's 0600
    if ext == "jsonl":
        first = json.loads(out.read_text().splitlines()[0])
        assert first["input"] == str(EXAMPLE) and first["segment"] == 0 and first["start"] == 0.0
    elif ext == "csv":
        assert {"start", "end", "kind", "input", "modality", "measure", "value"} <= set(pd.read_csv(out).columns)
    elif ext == "parquet":
        assert len(pd.read_parquet(out)) >= 5
    else:
        assert out.read_text().startswith("WEBVTT") and "-->" in out.read_text()


def test_long_table_and_jsonl_shapes(example_json, tmp_path):
    from affectlens.output import write
    from affectlens.schema import Analysis

    a = Analysis.model_validate(example_json[1])
    write([a], tmp_path / "o.jsonl")
    lines = (tmp_path / "o.jsonl").read_text().splitlines()
    assert len(lines) == len(a.segments)  # one record per segment
    write([a, a], tmp_path / "o.csv")
    df = pd.read_csv(tmp_path / "o.csv")
    measures = set(df["measure"])
    assert {"label", "prob:happy", "conflict_score", "conflict_flag", "cue:f0_median_st",
            "cue:AU12_lip_corner_raise", "cue:word", "valence"} <= measures
    assert any(m.startswith("fine:") for m in measures)
    flagged = df[(df["measure"] == "conflict_flag") & (df["value"] == 1.0)]
    assert len(flagged) == 2 * sum(1 for s in a.segments if s.conflict and s.conflict.flag)
    pitch = df[df["measure"] == "cue:f0_median_st"]
    assert set(pitch["unit"]) == {"st re 55 Hz"}  # one unit per field
    assert set(df.loc[df["modality"] == "face", "track"]) == {"face1"}


def test_per_frame_table(tmp_path):
    out = tmp_path / "frames.parquet"
    res = run("analyze", str(EXAMPLE), "-o", str(out), "--per-frame", "--no-asr", "-q", "--modalities", "face")
    assert res.returncode == 0, res.stderr
    df = pd.read_parquet(out)
    # 20 s at 5 fps, one face in every frame: one row per analysed frame per face
    assert len(df) == 100 and set(df["track"]) == {"face1"} and df["time"].is_monotonic_increasing
    assert {"x0", "y0", "x1", "y1", "eye_left_x", "mouth_right_y", "chin_x", "AU12_lip_corner_raise",
            "head_yaw", "p_neutral", "p_happy"} <= set(df.columns)
    assert (df["x1"] > df["x0"]).all() and ((df["x0"] <= df["nose_tip_x"]) & (df["nose_tip_x"] <= df["x1"])).all()
    probs = df[[c for c in df.columns if c.startswith("p_")]].sum(axis=1)
    assert probs.between(0.99, 1.01).all()


def test_bad_inputs_do_not_stop_the_others(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.mkv"
    corrupt.write_bytes(b"not a video" * 50)
    wrong = tmp_path / "notes.pdf"
    wrong.write_bytes(b"%PDF-1.4 binary")
    out = tmp_path / "all.jsonl"
    res = run("analyze", str(empty), str(EXAMPLE), str(corrupt), str(wrong), str(tmp_path / "missing.wav"),
              "-o", str(out), "-q", "--no-asr")
    assert res.returncode == 1
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 4, res.stderr
    assert any("empty.mp4: file is empty" in e for e in errors)
    assert any("missing.wav: file not found" in e for e in errors)
    assert any("corrupt.mkv" in e for e in errors) and any("notes.pdf" in e for e in errors)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert lines and {x["input"] for x in lines} == {str(EXAMPLE)}  # the good input was written, a segment per line


def test_existing_output_survives_failed_run(tmp_path):
    out = tmp_path / "keep.json"
    out.write_text('{"previous": true}')
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"")
    assert run("analyze", str(bad), "-o", str(out)).returncode == 1
    assert json.loads(out.read_text()) == {"previous": True}


def test_usage_errors(tmp_path):
    assert run("analyze", str(EXAMPLE), "-o", str(tmp_path / "x.xlsx")).returncode == 2
    res = run("analyze", str(EXAMPLE), "--modalities", "smell")
    assert res.returncode == 2 and "unknown modality" in res.stderr


def test_text_and_dialogue_inputs(tmp_path):
    res = run("analyze", f"{CORPORA}/meld_sample.csv", "-o", str(tmp_path / "d.json"))
    assert res.returncode == 0, res.stderr
    data = json.loads((tmp_path / "d.json").read_text())[0]
    assert data["media"]["kind"] == "dialogue" and data["segments"][0]["speaker"] == "Phoebe"
    assert data["modalities"]["face"] == "not requested" or "no video" in data["modalities"]["face"]


# measured with the shipped models on the samples (2026-12); a broken reader, label map or
# model moves these by far more than the tolerance
@pytest.mark.parametrize("task,data,extra,n,metric,value", [
    ("face", "fer", ["--cropped"], 14, "accuracy", 9 / 14),
    pytest.param("voice", "speech", [], 4, "uar", 1.0, marks=pytest.mark.corpus),  # RAVDESS + EmoDB clips
    ("text", "goemotions_sample.tsv", [], 30, "micro_f1", 0.554),
    ("dialogue", "meld_sample.csv", [], 30, "weighted_f1", 0.780),
    ("dialogue", "emorynlp_sample.csv", [], 20, "weighted_f1", 0.511),
    ("vad", "emobank_sample.csv", [], 20, "pearson_v", 0.652),
])
def test_eval_reads_every_format(task, data, extra, n, metric, value, request):
    path = request.getfixturevalue("speech_corpus") if data == "speech" else f"{CORPORA}/{data}"
    res = run("eval", task, str(path), "--json", *extra)
    assert "read " in res.stderr, res.stderr
    assert res.returncode == 0, res.stderr  # every model is installed here (models-nc too)
    out = json.loads(res.stdout)
    assert {"task", "data", "n", "model", "metrics", "per_class", "confusion", "train_overlap"} <= set(out)
    assert out["n"] == n and out["task"] == task
    assert out["metrics"][metric] == pytest.approx(value, abs=0.08)


def test_eval_bad_data(tmp_path):
    res = run("eval", "face", str(tmp_path / "nothing"))
    assert res.returncode == 1 and "not found" in res.stderr  # a bad corpus is bad input: exit 1
    (tmp_path / "x.tsv").write_text("hello\tnot,ints\tid\n")
    res = run("eval", "text", str(tmp_path / "x.tsv"))
    assert res.returncode == 1 and "no usable rows" in res.stderr


def test_example_conflicts_leave_neutral_words_out(example_json):
    """README: words the text model reads as neutral sit out (of the fusion and the conflicts)."""
    _, data = example_json
    conflicts = [s for s in data["segments"] if s.get("conflict")]
    assert conflicts
    for s in conflicts:
        c = s["conflict"]
        assert "text reads neutral" not in c["detail"], (s["start"], c)
        if "text" in c["modalities"]:
            probs = s["estimates"]["text"]["probs"]
            assert max(probs, key=probs.get) != "neutral", (s["start"], c)


def test_interrupt_during_native_loading_waits_for_the_block():
    """A SIGTERM that arrives while native code loads is held until the block ends, then
    raised as the CLI's handler raises it; a swallowed interrupt is raised again at the next
    checkpoint."""
    import signal

    from affectlens import cli
    from affectlens.config import interrupts_deferred

    restore = cli._interrupt_on_sigterm()
    try:
        reached_end = False
        with pytest.raises(KeyboardInterrupt):
            with interrupts_deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                for _ in range(1000):  # the signal is delivered here, not acted on
                    sum(range(100))
                reached_end = True
        assert reached_end
        try:  # an interrupt that some library swallowed ...
            os.kill(os.getpid(), signal.SIGTERM)
            sum(range(100))
        except KeyboardInterrupt:
            pass
        with pytest.raises(KeyboardInterrupt):  # ... comes back at the next checkpoint
            cli._check_interrupted()
    finally:
        restore()
        cli._INTERRUPTED.clear()
