"""``affectlens serve`` end to end: a real server process, the example clip, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

pytest.importorskip("fastapi", reason="needs the serve extra")
httpx = pytest.importorskip("httpx", reason="needs httpx (test extra)")

from serve_util import CLIP, FAST, ROOT, TOKEN, Server, clip_pcm, store_url, submit, wait_status  # noqa: E402

STORES = ["sqlite", "postgresql"]


@pytest.fixture(scope="module", params=STORES)
def server(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"serve-{request.param}")
    srv = Server(root / "data", store_url(request.param, root), TOKEN, "--max-upload-mb", "2").start()
    yield srv
    srv.stop()


def test_job_roundtrip_and_auth(server):
    with server.client() as c, server.client(token=None) as anon, server.client(token="wrong") as bad:
        r = submit(c)
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        assert r.json()["status"] == "queued"
        job = wait_status(c, job_id)
        assert job["status"] == "done", job
        assert job["progress"] == 1.0 and job["finished"] and job["filename"] == CLIP.name
        result = c.get(f"/v1/jobs/{job_id}/result").json()
        assert result["media"]["path"] == CLIP.name  # never the server's path
        assert result["media"]["duration"] == pytest.approx(20.0, abs=0.1)
        assert len(result["segments"]) >= 5 and result["modalities"]["voice"] == "present"
        assert any(s["estimates"] for s in result["segments"])
        csv = c.get(f"/v1/jobs/{job_id}/result", params={"format": "csv"})
        assert csv.status_code == 200 and csv.text.startswith("input,segment,start,end")  # long format
        vtt = c.get(f"/v1/jobs/{job_id}/result", params={"format": "vtt"})
        assert vtt.text.startswith("WEBVTT") and "-->" in vtt.text
        assert c.get(f"/v1/jobs/{job_id}/result", params={"format": "parquet"}).content[:4] == b"PAR1"
        report = c.get(f"/v1/jobs/{job_id}/report")
        assert report.status_code == 200 and f"<h1>{CLIP.name}</h1>" in report.text
        assert job_id in [j["id"] for j in c.get("/v1/jobs", params={"status": "done"}).json()["jobs"]]
        # without or with a wrong token: 401 on every /v1 route, a JSON error, no result
        for client in (anon, bad):
            for path in (f"/v1/jobs/{job_id}", f"/v1/jobs/{job_id}/result", f"/v1/jobs/{job_id}/report", "/v1/jobs"):
                r = client.get(path)
                assert r.status_code == 401 and r.json() == {"error": "missing or wrong bearer token"}
                assert "segments" not in r.text
            assert submit(client).status_code == 401
            assert client.delete(f"/v1/jobs/{job_id}").status_code == 401
        assert anon.get("/healthz").status_code == 200
        assert anon.get("/openapi.json").json()["paths"]["/v1/jobs"]["post"]
        assert "swagger-ui" in anon.get("/docs").text and anon.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
        # delete an ended job: gone, with its upload
        assert c.delete(f"/v1/jobs/{job_id}").json()["status"] == "deleted"
        assert c.get(f"/v1/jobs/{job_id}").status_code == 404


def test_upload_limits_and_names(server, tmp_path):
    uploads = server.data_dir / "uploads"
    before = set(uploads.iterdir())
    outside = set(server.data_dir.parent.iterdir())
    with server.client() as c:
        big = tmp_path / "big.mp4"
        big.write_bytes(CLIP.read_bytes() * 3)  # 2.9 MB > --max-upload-mb 2
        r = submit(c, big)
        assert r.status_code == 413 and "2 MB" in r.json()["error"]

        def chunks():  # no Content-Length: the server must stop while streaming
            data = CLIP.read_bytes() * 3
            yield (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.mp4\"\r\n"
                   b"Content-Type: video/mp4\r\n\r\n")
            for i in range(0, len(data), 65536):
                yield data[i:i + 65536]
            yield b"\r\n--b--\r\n"
        r = c.post("/v1/jobs", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=b"})
        assert r.status_code == 413
        fake = tmp_path / "fake.mp4"
        fake.write_bytes(b"this is not a video " * 100)
        r = submit(c, fake)
        assert r.status_code == 415 and r.json()["error"].startswith("not a media")
        assert submit(c, CLIP, request='{"fps": -1}').status_code == 422
        assert submit(c, CLIP, request="{not json").status_code == 422
        r = submit(c, CLIP, request='{"transcript": "/etc/passwd"}')  # never a server-side path
        assert r.status_code == 422 and r.json()["error"].startswith("request: transcript")
        assert submit(c, CLIP, request='{"llm": {"url": "http://127.0.0.1:1/v1", "model": "x"}}').status_code == 422
        r = c.post("/v1/jobs", data={"request": FAST})
        assert r.status_code == 400 and "file" in r.json()["error"]
        # a hostile file name is only a display string
        r = submit(c, CLIP, name="../../x.mp4")
        assert r.status_code == 202
        job = wait_status(c, r.json()["id"])
        assert job["filename"] == "x.mp4" and job["status"] == "done"
        assert c.get(f"/v1/jobs/{job['id']}/result").json()["media"]["path"] == "x.mp4"
    added = set(uploads.iterdir()) - before
    assert len(added) == 1 and all(len(p.stem) == 32 and p.suffix == ".mp4" for p in added)
    assert set(server.data_dir.parent.iterdir()) - outside <= {server.data_dir.parent / f"server-{server.port}.log"}
    assert not (server.data_dir.parent.parent / "x.mp4").exists() and not (server.data_dir / "x.mp4").exists()


def test_cancel_running_job(server):
    with server.client() as c:
        job_id = submit(c, request='{"asr": false, "fps": 5, "batch": 1}').json()["id"]
        wait_status(c, job_id, want=("running",), timeout=60)
        assert c.delete(f"/v1/jobs/{job_id}").json()["status"] == "cancelled"
        time.sleep(1.5)  # the worker stops at its next progress step and never overwrites the status
        job = c.get(f"/v1/jobs/{job_id}").json()
        assert job["status"] == "cancelled" and c.get(f"/v1/jobs/{job_id}/result").status_code == 409
        after = submit(c).json()["id"]  # the worker is free again
        assert wait_status(c, after)["status"] == "done"


def test_errors_are_json(server):
    with server.client() as c:
        for r in (c.get("/v1/jobs/nope"), c.get("/v1/jobs", params={"limit": 0}),
                  c.get("/v1/jobs", params={"status": "weird"}), c.get("/v1/nothing")):
            assert r.status_code in (404, 422) and set(r.json()) == {"error"}
            assert "Traceback" not in r.text


@pytest.mark.parametrize("kind", STORES)
def test_sigkill_restart_resumes(kind, tmp_path):
    """SIGKILL while a job runs; after a restart it finishes once, and every earlier job and result is there."""
    db, data = store_url(kind, tmp_path), tmp_path / "data"
    first = Server(data, db).start()
    try:
        with first.client() as c:
            done_id = submit(c).json()["id"]
            assert wait_status(c, done_id)["status"] == "done"
            done_result = c.get(f"/v1/jobs/{done_id}/result").json()
            slow_id = submit(c, request='{"fps": 2, "asr": false, "batch": 1}').json()["id"]
            queued_id = submit(c, request='{"asr": false, "modalities": ["voice"]}').json()["id"]
            wait_status(c, slow_id, want=("running",), timeout=60)
            first.kill()
    finally:
        first.kill()
    second = Server(data, db).start()
    try:
        with second.client() as c:
            ids = {j["id"]: j for j in c.get("/v1/jobs").json()["jobs"]}
            assert {done_id, slow_id, queued_id} <= set(ids)
            assert ids[done_id]["status"] == "done" and ids[done_id]["attempts"] == 1
            slow = wait_status(c, slow_id, timeout=180)
            queued = wait_status(c, queued_id, timeout=120)
            assert slow["status"] == "done" and slow["attempts"] == 2  # interrupted once, run once more
            assert queued["status"] == "done" and queued["attempts"] == 1
            assert c.get(f"/v1/jobs/{done_id}/result").json() == done_result
            assert len(c.get(f"/v1/jobs/{slow_id}/result").json()["segments"]) >= 5
    finally:
        second.stop()


def test_queue_full_cancel_and_delete(tmp_path):
    """--workers 0 accepts jobs but runs none: the bounded queue answers 429; DELETE cancels."""
    srv = Server(tmp_path / "data", None, TOKEN, "--workers", "0", "--max-queue", "2").start()
    try:
        with srv.client() as c:
            ids = [submit(c).json()["id"] for _ in range(2)]
            r = submit(c)
            assert r.status_code == 429 and r.headers["retry-after"] and "queue is full" in r.json()["error"]
            assert c.delete(f"/v1/jobs/{ids[0]}").json()["status"] == "cancelled"
            assert c.get(f"/v1/jobs/{ids[0]}").json()["status"] == "cancelled"
            assert c.get(f"/v1/jobs/{ids[0]}/result").status_code == 409
            assert submit(c).status_code == 202  # room again
            assert c.delete(f"/v1/jobs/{ids[0]}").json()["status"] == "deleted"
            assert c.get(f"/v1/jobs/{ids[0]}").status_code == 404
    finally:
        srv.stop()


@pytest.mark.parametrize("args, message", [
    (["--host", "0.0.0.0"], "without a token"),
    (["--db", "nosuchdb://x"], "cannot open the job store"),
])
def test_startup_errors(tmp_path, args, message):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    env.pop("AFFECTLENS_TOKEN", None)
    r = subprocess.run([sys.executable, "-m", "affectlens", "serve", "--data-dir", str(tmp_path), *args],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_stream_pcm_segments_while_playing(server):
    """The clip's audio at real time over /v1/stream: segments arrive while it plays, ≤ 1.5 s after their end."""
    if "sqlite" not in str(server.data_dir):
        pytest.skip("the stream does not touch the store: run once")
    from websockets.sync.client import connect

    seconds, chunk = 9.0, 1600  # 100 ms chunks
    pcm = clip_pcm(seconds)
    ws_url = server.url.replace("http", "ws") + "/v1/stream"
    with pytest.raises(Exception):
        with connect(ws_url, open_timeout=10) as ws:  # no token: an error message, then a close
            assert json.loads(ws.recv(timeout=10))["type"] == "error"
            ws.recv(timeout=10)
    segments, lags = [], []
    with connect(ws_url, additional_headers={"Authorization": f"Bearer {TOKEN}"}, open_timeout=30) as ws:
        ws.send(json.dumps({"sample_rate": 16000, "modalities": ["voice"]}))
        ready = json.loads(ws.recv(timeout=60))
        assert ready["type"] == "ready" and ready["modalities"]["voice"] == "ready"
        t_start = time.monotonic()
        for i in range(0, len(pcm), 2 * chunk):
            target = t_start + i / 2 / 16000
            while time.monotonic() < target:
                try:
                    msg = json.loads(ws.recv(timeout=max(0.0, target - time.monotonic())))
                except TimeoutError:
                    break
                segments.append(msg)
                lags.append(time.monotonic() - t_start - msg["end"])
            ws.send(b"\x01" + pcm[i:i + 2 * chunk])
        ws.send(json.dumps({"type": "end"}))
        while True:
            msg = json.loads(ws.recv(timeout=60))
            if msg.get("type") == "summary":
                summary = msg["analysis"]
                break
            segments.append(msg)
    live = segments[:len(lags)]  # received before the end message
    assert len(live) >= 3, segments  # several segments arrived while the audio was still being sent
    assert max(lags) <= 1.5, lags
    assert any("voice" in s["estimates"] for s in live)
    assert [s["start"] for s in segments] == sorted(s["start"] for s in segments)
    assert all(a["end"] == pytest.approx(b["start"], abs=1e-3) for a, b in zip(segments, segments[1:]))
    assert summary["media"]["duration"] == pytest.approx(seconds, abs=0.05)
    assert len(summary["segments"]) == len(segments) and summary["modalities"]["voice"] == "present"
    print(f"stream: {len(live)} live segments, lag median {sorted(lags)[len(lags) // 2]:.2f} s, max {max(lags):.2f} s")


def test_load_status_and_list(server):
    """50 clients for 10 s on the status and list routes: no server error, p95 < 200 ms, RSS bounded."""
    from serve_load import run

    with server.client() as c:
        job_id = submit(c).json()["id"]
        wait_status(c, job_id)
        for _ in range(20):
            submit(c, request='{"asr": false, "modalities": ["voice"]}')
    load = os.getloadavg()[0] / (os.cpu_count() or 1)
    res = run(server.url, TOKEN, job_id, clients=50, seconds=10, pid=server.proc.pid)
    print("load test:", json.dumps(res))
    assert res["server_errors"] == 0 and res["conn_errors"] == 0 and res["requests"] > 500
    assert set(res["status"]) == {200}
    bound = 200 if load <= 2 else 600  # a machine already busy with other work gets 3x
    assert res["p95_ms"] < bound, (res, f"load per core before the run {load:.1f}")
    assert res["rss_mb_max"] - res["rss_mb_start"] < 100


def test_stream_video_frames_and_bad_messages(server):
    """JPEG frames tagged 0x02 (+ float64 time) give face estimates; a bad tag closes with 1003."""
    if "sqlite" not in str(server.data_dir):
        pytest.skip("the stream does not touch the store: run once")
    import io
    import struct

    from PIL import Image
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    from affectlens.media.decode import iter_frames

    seconds = 6.0
    pcm = clip_pcm(seconds)
    ws_url = server.url.replace("http", "ws") + f"/v1/stream?token={TOKEN}"
    with connect(ws_url, open_timeout=30) as ws:
        ws.send(json.dumps({"sample_rate": 16000, "modalities": ["face", "voice"]}))
        assert json.loads(ws.recv(timeout=60))["modalities"]["face"] == "ready"
        for t, frame in iter_frames(CLIP, fps=5):
            if t >= seconds:
                break
            jpeg = io.BytesIO()
            Image.fromarray(frame).save(jpeg, "JPEG", quality=85)
            a = int(t * 16000) * 2
            ws.send(b"\x01" + pcm[a:a + 6400])  # 0.2 s of audio per frame
            ws.send(b"\x02" + struct.pack("<d", t) + jpeg.getvalue())
        ws.send(json.dumps({"type": "end"}))
        messages = []
        while not messages or messages[-1].get("type") != "summary":
            messages.append(json.loads(ws.recv(timeout=60)))
    summary = messages.pop()["analysis"]
    assert any("face" in m["estimates"] for m in messages), messages
    assert summary["media"]["has_video"] and summary["modalities"]["face"] == "present"
    with connect(ws_url, open_timeout=30) as ws:
        ws.send(json.dumps({"sample_rate": 16000, "modalities": ["voice"]}))
        ws.recv(timeout=60)
        ws.send(b"\x07junk")
        assert json.loads(ws.recv(timeout=30))["type"] == "error"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=30)
    assert closed.value.rcvd.code == 1003
