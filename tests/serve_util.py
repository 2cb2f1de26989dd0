"""Helpers for the serve tests: a real ``affectlens serve`` subprocess, a PostgreSQL database per
test, the example clip as PCM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "examples" / "obama_oilspill_2010.mp4"
TOKEN = "test-token-0123456789"
#: quick jobs: no ASR, 2 frames per second
FAST = '{"asr": false, "fps": 2}'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_url() -> str:
    """A fresh, empty database on the PostgreSQL named by ``$AFFECTLENS_TEST_PG`` (skips without it)."""
    admin = os.environ.get("AFFECTLENS_TEST_PG")
    if not admin:
        pytest.skip("no PostgreSQL: set AFFECTLENS_TEST_PG=postgresql://… (.ci/run starts one)")
    import psycopg

    name = "affectlens_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, query = admin.partition("?")
    base = base.rsplit("/", 1)[0] if base.count("/") > 2 else base
    return f"{base}/{name}" + (f"?{query}" if query else "")


def store_url(kind: str, data_dir: Path) -> str | None:
    return None if kind == "sqlite" else postgres_url()


class Server:
    """``affectlens serve`` on a free loopback port."""

    def __init__(self, data_dir: Path, db: str | None = None, token: str | None = TOKEN, *args: str):
        self.data_dir, self.db, self.token, self.args = data_dir, db, token, args
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> "Server":
        import httpx

        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
        env.pop("AFFECTLENS_TOKEN", None)
        if self.token:
            env["AFFECTLENS_TOKEN"] = self.token
        cmd = [sys.executable, "-m", "affectlens", "serve", "--port", str(self.port),
               "--data-dir", str(self.data_dir), *self.args]
        if self.db:
            cmd += ["--db", self.db]
        self.log = open(self.data_dir.parent / f"server-{self.port}.log", "ab")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not start: " + self.log_text()[-2000:])

    def log_text(self) -> str:
        return (self.data_dir.parent / f"server-{self.port}.log").read_text(errors="replace")

    def client(self, token: str | None = "default"):
        import httpx

        token = self.token if token == "default" else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def kill(self) -> None:
        """SIGKILL: no clean-up runs."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "log", None):
            self.log.close()


def submit(client, path: Path = CLIP, request: str | None = FAST, name: str | None = None):
    files = {"file": (name or path.name, path.read_bytes(), "application/octet-stream")}
    return client.post("/v1/jobs", files=files, data={"request": request} if request else None)


def wait_status(client, job_id: str, want=("done", "failed", "cancelled"), timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in want:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not reach {want} in {timeout} s: {job}")


def clip_pcm(seconds: float | None = None) -> bytes:
    """The example clip's audio as 16 kHz 16-bit little-endian mono PCM."""
    from affectlens.media.decode import iter_audio

    x = np.concatenate(list(iter_audio(CLIP)))
    if seconds is not None:
        x = x[: int(seconds * 16000)]
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
