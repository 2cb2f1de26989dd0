"""The bad-input suite (#16): a few hundred mutated and odd inputs built from the shipped samples
(``bad_inputs.build``), each run through the CLI. Nothing may print a traceback, hang, grow past
1.5 GB, fail without a one-line ``error:`` naming the file, or lose the good input beside a bad one.

Most cases run in-process (the models load once); bombs, huge headers and SIGTERM run as
subprocesses so their memory and signals are measured for real."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bad_inputs import EXAMPLES, Case, build, problems, run_inprocess, run_subprocess

from affectlens import cli

RSS_LIMIT_MB = 1500


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> list[Case]:
    return build(tmp_path_factory.mktemp("bad"))


def _report(results) -> list[str]:
    return [f"{r.case.name} (exit {r.rc}, {r.seconds:.1f} s): {p}" for r in results for p in problems(r)]


def test_bad_inputs_in_process(cases):
    inproc = [c for c in cases if not c.subprocess]
    assert len(inproc) >= 300
    results = [run_inprocess(c, timeout=60) for c in inproc]
    bad = _report(results)
    assert not bad, f"{len(bad)} problems:\n" + "\n".join(bad[:40])
    # every expectation class was exercised, and most bad inputs really were refused
    assert sum(r.rc == 1 for r in results) >= 150
    assert {r.rc for r in results} >= {0, 1, 2}
    # interrupted or failed writes leave no temporary files beside the outputs
    out_dir = Path(inproc[0].output).parent if inproc[0].output else None
    if out_dir is not None:
        assert not [p.name for p in out_dir.iterdir() if p.name.startswith(".")]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert peak_mb < RSS_LIMIT_MB


def test_bombs_and_huge_headers_in_subprocesses(cases):
    """Decompression bombs, a 1 Hz WAV, a sparse 19 GiB WAV, 200k utterances: refused from
    their headers in seconds, without the memory they claim."""
    sub = [c for c in cases if c.subprocess]
    assert len(sub) >= 5
    results = [run_subprocess(c, timeout=120) for c in sub]
    bad = _report(results)
    assert not bad, "\n".join(bad)
    for r in results:
        assert r.max_rss_mb < 600, (r.case.name, r.max_rss_mb)  # far below what the headers claim
        assert r.rc == 1 and any(line.startswith("error:") for line in r.stderr.splitlines())


def _main(*argv: str, capsys) -> tuple[int, str, str]:
    try:
        rc = cli.main(list(argv))
    except SystemExit as exc:
        rc = exc.code
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_limits_come_from_env(cases, monkeypatch, capsys):
    root = Path(cases[0].output).parent.parent
    flac = str(Path(__file__).parent / "data" / "voice" / "03a01Wa.flac")
    monkeypatch.setenv("AFFECTLENS_MAX_DURATION_S", "1")
    rc, _, err = _main("analyze", flac, "--no-asr", "-q", capsys=capsys)
    assert rc == 1 and "over the 1.00 s limit (AFFECTLENS_MAX_DURATION_S)" in err
    monkeypatch.setenv("AFFECTLENS_MAX_DURATION_S", "abc")
    rc, _, err = _main("analyze", flac, "--no-asr", "-q", capsys=capsys)
    assert rc == 2 and "AFFECTLENS_MAX_DURATION_S='abc' is not a number" in err
    monkeypatch.delenv("AFFECTLENS_MAX_DURATION_S")
    monkeypatch.setenv("AFFECTLENS_MAX_PIXELS", "1000")
    face = str(Path(__file__).parent / "data" / "face" / "fer_val_happy.jpg")
    rc, _, err = _main("analyze", face, "-q", capsys=capsys)
    assert rc == 1 and "48x48 pixels" in err and "AFFECTLENS_MAX_PIXELS" in err
    monkeypatch.delenv("AFFECTLENS_MAX_PIXELS")
    monkeypatch.setenv("AFFECTLENS_MIN_SAMPLE_RATE", "20000")  # the sample is 16 kHz
    rc, _, err = _main("analyze", flac, "--no-asr", "-q", capsys=capsys)
    assert rc == 1 and "16000 Hz is below the 20000 Hz minimum" in err
    assert (root / "good.txt").exists()


def test_truncated_audio_reports_real_duration(cases, capsys):
    case = next(c for c in cases if c.name == "truncated flac 0.3 warns")
    bad = next(a for a in case.argv if a.endswith("flac_0.3.flac"))
    rc, _, err = _main("analyze", bad, "--no-asr", "-q", "-o", case.output, capsys=capsys)
    assert rc == 0, err
    media = json.loads(Path(case.output).read_text())[0]["media"]  # JSON is a list of analyses
    assert 0.3 < media["duration"] < 0.9  # the header says 1.88 s; under a third of the file is there
    assert any(w.startswith("truncated: the header says 1.88 s") for w in media["warnings"])
    assert "warning:" in err and "truncated" in err


def test_eval_counts_skipped_items(cases, capsys):
    case = next(c for c in cases if c.name == "goemotions bad rows")
    rc, _, err = _main(*case.argv, capsys=capsys)
    assert rc == 0, err
    result = json.loads(Path(case.argv[-1]).read_text())
    skipped = result["skipped"]
    assert skipped["n"] == 5 and result["n"] > 0
    assert {"not UTF-8", "expected text<TAB>label ids", "label ids are not integers",
            "label ids outside 0..27"} == set(skipped["by_reason"])
    assert "skipped 5 of" in err


def test_sigterm_keeps_last_complete_output(cases, tmp_path):
    """SIGTERM during the second input: exit 130, one error line, ``-o`` holds the first input,
    no temporary file is left beside it."""
    good = Path(cases[0].output).parent.parent / "good.txt"
    out = tmp_path / "r.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parent.parent / "src"), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, "-m", "affectlens", "analyze", str(good),
                             str(EXAMPLES / "obama_oilspill_2010.mp4"), "-q", "-o", str(out)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, text=True)
    t0 = time.monotonic()
    while not out.exists() and proc.poll() is None and time.monotonic() - t0 < 90:
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.fail(f"finished before it could be interrupted: {proc.stderr.read()}")
    proc.send_signal(signal.SIGTERM)
    try:
        err = proc.communicate(timeout=30)[1]
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("SIGTERM did not stop the run within 30 s")
    assert proc.returncode == 130, err
    assert "error: interrupted" in err and "Traceback" not in err
    assert [a["media"]["path"] for a in json.loads(out.read_text())] == [str(good)]
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
