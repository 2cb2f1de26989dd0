"""Load test for ``affectlens serve``: N concurrent keep-alive clients hammer the status and
list routes of a server on 127.0.0.1 for a fixed time, then report latency percentiles and
errors. Loopback only.

    python tests/serve_load.py http://127.0.0.1:8000 --token T --clients 50 --seconds 60 [--pid PID]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit


async def _client(host: str, port: int, paths: list[str], token: str, stop_at: float, out: dict) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = 0
    try:
        while time.monotonic() < stop_at:
            path = paths[i % len(paths)]
            i += 1
            req = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
                   "Connection: keep-alive\r\n\r\n").encode()
            t0 = time.perf_counter()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            out["lat"].append(time.perf_counter() - t0)
            out["status"][status] = out["status"].get(status, 0) + 1
    except (ConnectionError, asyncio.IncompleteReadError) as exc:
        out["conn_errors"].append(type(exc).__name__)
    finally:
        writer.close()


def rss_mb(pid: int) -> float | None:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def _run(url: str, token: str, paths: list[str], clients: int, seconds: float, pid: int | None) -> dict:
    u = urlsplit(url)
    if u.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("the load test only targets this machine's loopback address")
    out = {"lat": [], "status": {}, "conn_errors": []}
    rss = [rss_mb(pid)] if pid else []
    stop_at = time.monotonic() + seconds
    tasks = [asyncio.create_task(_client(u.hostname, u.port, paths, token, stop_at, out)) for _ in range(clients)]
    while pid and not all(t.done() for t in tasks):
        await asyncio.sleep(1.0)
        rss.append(rss_mb(pid))
    await asyncio.gather(*tasks)
    lat = sorted(out["lat"])
    pct = (lambda q: round(1000 * lat[min(len(lat) - 1, int(q * len(lat)))], 1)) if lat else (lambda q: None)
    rss = [r for r in rss if r is not None]
    return {"clients": clients, "seconds": seconds, "requests": len(lat), "rps": round(len(lat) / seconds, 1),
            "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99), "max_ms": pct(1.0),
            "status": out["status"], "server_errors": sum(n for s, n in out["status"].items() if s >= 500),
            "conn_errors": len(out["conn_errors"]),
            "rss_mb_start": rss[0] if rss else None, "rss_mb_max": max(rss) if rss else None,
            "rss_mb_end": rss[-1] if rss else None}


def run(url: str, token: str, job_id: str, clients: int = 50, seconds: float = 60.0, pid: int | None = None) -> dict:
    paths = [f"/v1/jobs/{job_id}", "/v1/jobs?limit=20", "/v1/jobs?status=done&limit=20"]
    return asyncio.run(_run(url, token, paths, clients, seconds, pid))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    ap.add_argument("--token", required=True)
    ap.add_argument("--job", required=True, help="a job id for the status route")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--pid", type=int, help="server process id, for RSS")
    a = ap.parse_args()
    print(json.dumps(run(a.url, a.token, a.job, a.clients, a.seconds, a.pid), indent=1))


if __name__ == "__main__":
    main()
