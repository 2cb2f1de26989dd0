"""The web UI in real headless Chromium (Debian's ``chromium``, driven by playwright): upload by file
picker and by drag-and-drop, live progress, the result page with the report and downloads, and the
live page fed by Chromium's fake microphone (the example clip's audio) and fake webcam.

Screenshots go to ``$AFFECTLENS_SCREENSHOTS`` (default: the test's tmp dir)."""

from __future__ import annotations

import json
import os
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="needs the serve extra")
pytest.importorskip("playwright", reason="needs playwright (test extra)")
from serve_util import CLIP, ROOT, TOKEN, Server  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WIDTHS = (1280, 420)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    out = Path(os.environ.get("AFFECTLENS_SCREENSHOTS") or tmp_path_factory.mktemp("screens"))
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-ui")
    srv = Server(root / "data", None, TOKEN).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    from affectlens.media.decode import iter_audio

    wav = tmp_path_factory.mktemp("media") / "clip.wav"  # the fake microphone plays the example clip
    pcm = (np.clip(np.concatenate(list(iter_audio(CLIP))), -1, 1) * 32767).astype("<i2")
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm.tobytes())
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}", "--autoplay-policy=no-user-gesture-required"])
        yield b
        b.close()


def _shoot(page, shots: Path, name: str) -> None:
    for w in WIDTHS:
        page.set_viewport_size({"width": w, "height": 900})
        page.wait_for_timeout(300)
        page.screenshot(path=str(shots / f"{name}-{w}.png"), full_page=True)


def test_upload_progress_result_page(browser, server, shots):
    ctx = browser.new_context(accept_downloads=True)
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/#token=" + TOKEN)
    page.uncheck("#asr")
    page.fill("#fps", "2")
    page.set_input_files("#file", str(CLIP))  # the file picker behind the drop zone
    text = (ROOT / "examples" / "dialogue.txt").read_text()
    page.evaluate("""text => {  // drag-and-drop of a second file
        const dt = new DataTransfer();
        dt.items.add(new File([text], "dialogue.txt", {type: "text/plain"}));
        document.getElementById("drop").dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true}));
    }""", text)
    page.wait_for_selector('tr[data-status=running], tr[data-status=done]', timeout=60000)
    row = page.locator("tr", has_text=CLIP.name)
    row.locator("a").wait_for(timeout=120000)  # the link appears when the job is done
    assert "100%" in row.inner_text()
    page.locator("tr[data-status=done]", has_text="dialogue.txt").wait_for(timeout=60000)
    _shoot(page, shots, "jobs")
    row.locator("a").click()
    page.wait_for_selector("#downloads:not([hidden])", timeout=30000)
    frame = page.frame_locator("#report")
    assert frame.locator("h1").inner_text() == CLIP.name
    assert frame.locator("svg").count() >= 1  # the report's timeline
    with page.expect_download() as dl:
        page.click("button[data-format=json]")
    result = json.loads(Path(dl.value.path()).read_text())
    assert result["media"]["path"] == CLIP.name and len(result["segments"]) >= 5
    with page.expect_download() as dl:
        page.click("button[data-format=csv]")
    assert dl.value.suggested_filename == "obama_oilspill_2010.csv"
    _shoot(page, shots, "result")
    assert not errors, errors
    ctx.close()


def test_live_page_fake_microphone_and_webcam(browser, server, shots):
    ctx = browser.new_context()
    ctx.grant_permissions(["microphone", "camera"])
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/live#token=" + TOKEN)
    page.click("#start")
    page.wait_for_function("document.querySelectorAll('#segments tbody tr').length >= 3", timeout=40000)
    rows = page.locator("#segments tbody tr").all_inner_texts()
    assert any("%" in r for r in rows), rows  # estimates with confidences arrived
    assert page.locator("#preview").is_visible()  # the webcam preview runs
    _shoot(page, shots, "live")
    page.click("#stop")
    page.wait_for_selector("#summary h3", timeout=30000)
    assert "ended:" in page.inner_text("#state")
    assert not errors, errors
    ctx.close()
