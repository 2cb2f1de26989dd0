"""``affectlens batch``: 40 mixed inputs, SIGKILL + resume, worker processes, Ray, the Python API."""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from media_factory import silent_video, tone_wav

ROW_KEY = ["path", "segment", "modality"]
ROW_VALUES = [*ROW_KEY, "start", "end", "label", "confidence"]


def make_inputs(folder: Path) -> tuple[list[Path], list[Path]]:
    """30 small good inputs (audio, video, text, in subfolders) and 10 corrupt ones."""
    good, bad = [], []
    (folder / "audio").mkdir(parents=True)
    (folder / "video" / "deeper").mkdir(parents=True)
    (folder / "text").mkdir()
    for i in range(14):
        good.append(tone_wav(folder / "audio" / f"tone{i:02d}.wav", seconds=0.6 + 0.1 * (i % 5),
                             freq=150.0 + 20 * i, stereo=i % 2 == 0))
    for i in range(8):
        sub = folder / "video" / ("deeper" if i % 2 else "")
        good.append(silent_video(sub / f"clip{i}.mp4", seconds=0.8, fps=5))
    for i, line in enumerate(["I am so happy today", "This is terrible news", "We met at noon",
                              "I can't stand this anymore", "What a lovely surprise", "I miss her",
                              "The report is due tomorrow", "Get out of here now"]):
        p = folder / "text" / f"note{i}.txt"
        p.write_text(line + "\n")
        good.append(p)
    # fixed bytes (checked to be rejected): fresh random ones differ per run, so a rare one a
    # decoder accepts would make the test flaky
    rnd = random.Random(20261207).randbytes(4000)
    corrupt = {"random.mp4": rnd, "random.wav": rnd[:3000], "empty.wav": b"", "empty.mp4": b"",
               "truncated.wav": tone_wav(folder / "t.wav", 1.0).read_bytes()[:30],
               "binary.txt": b"\x00\x01\x02" * 100, "broken.png": b"\x89PNG\r\n\x1a\n" + rnd[:200],
               "header_only.mp4": b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 20, "empty.txt": b"",
               "noise.mkv": rnd[:1000]}
    (folder / "t.wav").unlink()
    (folder / "bad").mkdir()
    for name, data in corrupt.items():
        p = folder / "bad" / name
        p.write_bytes(data)
        bad.append(p)
    return good, bad


def run_batch(*args, **kw):
    return subprocess.run([sys.executable, "-m", "affectlens", "batch", *args], capture_output=True, text=True,
                          timeout=600, **kw)


def rows(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "segments")[ROW_VALUES].sort_values(ROW_KEY).reset_index(drop=True)


@pytest.fixture(scope="module")
def forty(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch")
    good, bad = make_inputs(root / "in")
    out = root / "out-w2"
    res = run_batch(str(root / "in"), "-o", str(out), "--no-asr", "--workers", "2")
    return root, good, bad, out, res


def test_forty_inputs_good_have_rows_corrupt_have_errors(forty):
    root, good, bad, out, res = forty
    assert res.returncode == 1, res.stderr  # some inputs failed
    files = pd.read_parquet(out / "files.parquet").set_index("path")
    assert len(files) == 40 and len(good) == 30 and len(bad) == 10
    seg = pd.read_parquet(out / "segments")
    counts = seg.groupby("path").size()
    for p in good:
        assert files.loc[str(p), "status"] == "done", files.loc[str(p), "error"]
        assert counts.get(str(p), 0) == files.loc[str(p), "rows"] > 0
    for p in bad:
        assert files.loc[str(p), "status"] == "failed"
        assert files.loc[str(p), "error"].startswith(f"{p}: ")
        assert str(p) not in counts
    assert not seg.duplicated(ROW_KEY).any()
    tones = seg[seg.path.str.endswith(".wav") & (seg.modality == "voice")]
    assert len(tones) >= 14 and tones.label.notna().all() and tones[[f"p_{k}" for k in ("neutral", "sad")]].notna().all().all()
    texts = seg[seg.path.str.endswith(".txt") & (seg.modality == "text")]
    assert texts.path.nunique() == 8 and texts.valence.notna().all()
    assert {"conflict_score", "conflict_flag", "dominance", "arousal"} <= set(seg.columns)
    assert files.loc[[str(p) for p in good if p.suffix == ".wav"], "media_duration_s"].gt(0.5).all()
    assert files.wall_s.notna().all() and files.content_hash[files.status == "done"].str.len().eq(64).all()


def test_sigkill_then_rerun_loses_and_duplicates_nothing(forty):
    root, good, bad, out_full, _ = forty
    out = root / "out-killed"
    cmd = [sys.executable, "-m", "affectlens", "batch", str(root / "in"), "-o", str(out), "--no-asr",
           "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    state = out / "_state"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if state.exists() and len(list(state.glob("*.json"))) >= 20:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its worker, as a job scheduler would
    proc.wait()
    finished = len(list(state.glob("*.json")))
    assert 20 <= finished < 40
    res = run_batch(*cmd[4:])
    assert res.returncode == 1, res.stderr
    files = pd.read_parquet(out / "files.parquet")
    assert len(files) == 40 and (files.status == "done").sum() == 30
    killed, full = rows(out), rows(out_full)
    assert not killed.duplicated(ROW_KEY).any()
    pd.testing.assert_frame_equal(killed, full)  # same rows as the uninterrupted --workers 2 run
    # a crash between an input's part and its record: the input is redone and replaces its rows
    one = files[files.status == "done"].path.iloc[0]
    from affectlens.batching.store import path_key

    (state / f"{path_key(one)}.json").unlink()
    res = run_batch(*cmd[4:])
    assert "1 done, 0 failed, 39 already finished (10 of them failed)" in " ".join(res.stderr.split())
    pd.testing.assert_frame_equal(rows(out), full)


def test_python_api_resume_keys_on_content_and_request(tmp_path):
    import affectlens

    a = tone_wav(tmp_path / "a.wav", 1.0)
    b = tone_wav(tmp_path / "b.wav", 1.2, freq=300.0)
    out = tmp_path / "out"
    opts = dict(workers=0, modalities=("voice",), asr=False)
    r1 = affectlens.batch([str(a), str(b)], out, **opts)
    assert (r1.done, r1.failed, r1.skipped) == (2, 0, 0)
    n = len(r1.segments)
    assert affectlens.batch([str(a), str(b)], out, **opts).skipped == 2
    os.utime(a, ns=(1, 1))  # touched, same bytes: not redone
    assert affectlens.batch([str(a), str(b)], out, **opts).skipped == 2
    tone_wav(b, 2.5, freq=300.0)  # new content at the same path: redone, its old rows replaced
    r3 = affectlens.batch([str(a), str(b)], out, **opts)
    assert (r3.done, r3.skipped) == (1, 1)
    seg = r3.segments
    assert not seg.duplicated(ROW_KEY).any() and seg[seg.path == str(b)].end.max() == pytest.approx(2.5, abs=0.05)
    r4 = affectlens.batch([str(a), str(b)], out, **{**opts, "fps": 2.0})  # another request: both redone
    assert (r4.done, r4.skipped) == (2, 0)
    assert len(r4.segments) >= n and r4.files.request_hash.nunique() == 1


def test_inputs_globs_manifest_and_folders(tmp_path):
    from affectlens.batching.inputs import expand
    from affectlens.errors import InputError

    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/x.wav", "a/b/y.mp4", "a/b/z.txt", "a/notes.md", "a/.hidden.wav"):
        (tmp_path / name).write_bytes(b"1")
    (tmp_path / "subs.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
    manifest = tmp_path / "list.csv"
    with open(manifest, "w", newline="") as f:
        csv.writer(f).writerows([["path", "transcript", "group"], ["a/x.wav", "subs.srt", "1"],
                                 [str(tmp_path / "a/b/y.mp4"), "", "2"], ["missing.wav", "", "3"]])
    folder = [i.path for i in expand([str(tmp_path / "a")])]
    assert folder == [str(tmp_path / p) for p in ("a/b/y.mp4", "a/b/z.txt", "a/x.wav")]
    assert [i.path for i in expand([str(tmp_path / "a" / "**" / "*.mp4")])] == [str(tmp_path / "a/b/y.mp4")]
    items = expand([str(manifest), str(tmp_path / "a")])
    assert items[0].path == str(tmp_path / "a/x.wav") and items[0].transcript == str(tmp_path / "subs.srt")
    assert items[2].path == str(tmp_path / "missing.wav")  # kept: it becomes an error row
    assert len(items) == 4  # y.mp4 and x.wav are not repeated
    with pytest.raises(InputError, match="glob matches no file"):
        expand([str(tmp_path / "*.nothing")])


def test_ray_local_gives_the_same_rows(forty, tmp_path):
    pytest.importorskip("ray", reason="the [ray] extra is not installed")
    root, good, bad, out_full, _ = forty
    chosen = [good[0], good[1], good[15], good[22], good[29], bad[0], bad[4]]
    manifest = tmp_path / "some.csv"
    manifest.write_text("path\n" + "".join(f"{p}\n" for p in chosen))
    out = tmp_path / "out-ray"
    res = run_batch(str(manifest), "-o", str(out), "--no-asr", "--ray", "--workers", "2")
    assert res.returncode == 1, res.stderr
    files = pd.read_parquet(out / "files.parquet")
    assert len(files) == 7 and (files.status == "failed").sum() == 2
    full = rows(out_full)
    pd.testing.assert_frame_equal(rows(out), full[full.path.isin({str(p) for p in chosen})].reset_index(drop=True))
    res = run_batch(str(manifest), "-o", str(out), "--no-asr", "--ray", "--workers", "2")  # resume: nothing to do
    assert res.returncode == 1 and "0 done, 0 failed, 7 already finished (2 of them" in " ".join(res.stderr.split())


def test_a_worker_over_its_memory_bound_is_replaced(tmp_path):
    import affectlens

    paths = [str(tone_wav(tmp_path / f"t{i}.wav", 0.8, freq=200.0 + 50 * i)) for i in range(3)]
    r = affectlens.batch(paths, tmp_path / "out", workers=1, max_worker_mb=1, modalities=("voice",), asr=False)
    assert (r.done, r.failed) == (3, 0)
    assert r.files.worker.nunique() == 3  # every worker passed 1 MB, so each input had a fresh one
