"""HTML report: content checks, and a screenshot in headless Chromium when it is installed."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from affectlens.pipeline import interpret
from affectlens.report.html import render
from media_factory import EXAMPLE
from test_reason import FACE_CUES, TEXT_CUES, VOICE_CUES, analysis_with, est, seg


def sample():
    a = analysis_with(
        seg(0.0, 2.0, face=est("face", "neutral", 0.7, 0.0), voice=est("voice", "neutral", 0.6, 0.0)),
        seg(2.0, 4.0, face=est("face", "happy", 0.85, 0.7, FACE_CUES), voice=est("voice", "angry", 0.8, -0.6, VOICE_CUES),
            text=est("text", "angry", 0.7, -0.7, TEXT_CUES)),
        seg(4.0, 6.0, face=est("face", "sad", 0.3)))
    a.media.path = str(EXAMPLE)
    a.media.has_video, a.media.duration = True, 20.0
    return interpret(a)


def test_report_content():
    page = render(sample())
    assert page.startswith("<!doctype html>") and "<svg" in page
    assert page.count('stroke="#d93025"') == 1  # one conflict outlined
    assert "face reads happy" in page and "reads angry" in page
    assert page.count("data:image/jpeg;base64,") == 3  # a thumbnail per segment
    assert "uncertain" in page and "lip corners raised" in page


def test_report_cli_and_bad_json(tmp_path):
    res_json = tmp_path / "r.json"
    res_json.write_text(sample().model_dump_json())
    out = tmp_path / "r.html"
    res = subprocess.run([sys.executable, "-m", "affectlens", "report", str(res_json), "-o", str(out)],
                         capture_output=True, text=True)
    assert res.returncode == 0 and out.read_text().count("<tr") == 4
    (tmp_path / "bad.json").write_text("{not json")
    res = subprocess.run([sys.executable, "-m", "affectlens", "report", str(tmp_path / "bad.json")],
                         capture_output=True, text=True)
    assert res.returncode == 1 and "bad.json: not a JSON file" in res.stderr


@pytest.mark.skipif(shutil.which("chromium") is None, reason="headless Chromium not installed (apt install chromium)")
def test_report_screenshot(tmp_path):
    from PIL import Image

    page = tmp_path / "r.html"
    page.write_text(render(sample()))
    shot = tmp_path / "shot.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'u'}",
                    f"--screenshot={shot}", "--window-size=1280,900", page.as_uri()],
                   capture_output=True, timeout=120)
    img = Image.open(shot).convert("RGB")
    assert img.size == (1280, 900)
    colors = {c for _, c in img.getcolors(1 << 20)}
    assert (219, 68, 55) in colors or any(abs(r - 219) < 8 and abs(g - 68) < 8 and abs(b - 55) < 8 for r, g, b in colors)
    assert len(colors) > 50  # rendered, not blank
