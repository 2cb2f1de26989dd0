"""HTML report: content checks, and a screenshot in headless Chromium when it is installed."""

from __future__ import annotations

import shutil
from pathlib import Path
import subprocess
import sys

import pytest

from affectlens.pipeline import interpret
from affectlens.report.html import render
from media_factory import EXAMPLE
from test_reason import FACE_CUES, TEXT_CUES, VOICE_CUES, analysis_with, calm, est, seg


def sample():
    """Four calm segments of one person, then a smiling face with an angry voice, then an uncertain face."""
    conflict = seg(12.0, 14.0, face=est("face", "happy", 0.85, 0.7, FACE_CUES),
                   voice=est("voice", "angry", 0.8, -0.6, VOICE_CUES), text=est("text", "angry", 0.7, -0.7, TEXT_CUES))
    conflict.track = "face1"
    a = analysis_with(calm(4.0), calm(6.0), calm(8.0), calm(10.0), conflict, seg(14.0, 16.0, face=est("face", "sad", 0.3)))
    a.media.path = str(EXAMPLE)
    a.media.has_video, a.media.duration = True, 20.0
    a.modalities = {"face": "present", "voice": "present", "text": "input has no words (no transcript, ASR off)"}
    return interpret(a)


def test_report_content():
    page = render(sample())
    assert page.startswith("<!doctype html>") and "<svg" in page
    assert page.count('stroke="#d93025" stroke-width="2"') == 1  # one conflict outlined
    assert "conflict score" in page and "flagged" in page
    assert "face reads happy, voice reads angry" in page
    assert page.count("data:image/jpeg;base64,") == 6  # a thumbnail per segment
    assert "uncertain" in page and "Lip-corner raise (AU12 proxy) was higher" in page
    assert page.count("<details>") == 6  # collapsible explanations
    assert "time (m:ss)" in page and ">0:00<" in page and ">0:10<" in page  # ticks on the time axis
    assert ">+1.0<" in page and ">-1.0<" in page and "valence" in page  # V/A scale
    assert "absent — input has no words" in page


def test_report_cli_every_input_and_bad_json(tmp_path):
    from affectlens.output import write

    a, b = sample(), sample()
    b.media.path = "second.mp4"
    b.media.has_video = False
    res_json = tmp_path / "r.json"
    write([a, b], res_json)
    out = tmp_path / "r.html"
    res = subprocess.run([sys.executable, "-m", "affectlens", "report", str(res_json), "-o", str(out)],
                         capture_output=True, text=True)
    page = out.read_text()
    assert res.returncode == 0 and page.count("<section") == 2 and page.count("<tr") == 14
    assert "second.mp4" in page and "obama_oilspill_2010.mp4" in page
    (tmp_path / "bad.json").write_text("{not json")
    res = subprocess.run([sys.executable, "-m", "affectlens", "report", str(tmp_path / "bad.json")],
                         capture_output=True, text=True)
    assert res.returncode == 1 and "bad.json: not a JSON file" in res.stderr


def screenshot(page: Path, shot: Path, width: int, height: int = 1400) -> None:
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                    f"--user-data-dir={page.parent / 'u'}", f"--screenshot={shot}", f"--window-size={width},{height}",
                    page.as_uri()], capture_output=True, timeout=120)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="headless Chromium not installed (apt install chromium)")
def test_report_screenshot(tmp_path):
    """The example clip's report at a desktop and a narrow width: rendered, with the red conflict
    outline, the V/A curves' colours and the tick labels' dark pixels under the bars."""
    from PIL import Image

    page = tmp_path / "r.html"
    page.write_text(render(sample()))
    for width in (1280, 760):
        shot = tmp_path / f"shot{width}.png"
        screenshot(page, shot, width)
        img = Image.open(shot).convert("RGB")
        assert img.size == (width, 1400)
        colors = {c for _, c in img.getcolors(1 << 20)}
        near = lambda rgb: any(all(abs(a - b) < 10 for a, b in zip(c, rgb)) for c in colors)  # noqa: E731
        assert near((217, 48, 37)) and near((26, 115, 232)) and near((227, 116, 0))  # conflict, valence, arousal
        assert len(colors) > 50  # rendered, not blank
