"""Live-stream delay: start ``affectlens serve`` on 127.0.0.1, stream the example clip's audio (and its
frames as JPEG, 5/s, when face is asked for) over ``/v1/stream`` at real time, and print when each
segment arrived relative to its end.

    python tests/serve_latency.py --modalities face,voice --seconds 20 [--wait 8]
"""

from __future__ import annotations

import argparse
import io
import json
import struct
import tempfile
import time
from pathlib import Path

from serve_util import CLIP, TOKEN, Server, clip_pcm


def main() -> None:
    from PIL import Image
    from websockets.sync.client import connect

    from affectlens.media.decode import iter_frames

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modalities", default="voice")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--wait", type=float, default=8.0, help="seconds between server start and stream (models load)")
    a = ap.parse_args()
    mods = a.modalities.split(",")
    frames = []
    if "face" in mods:
        for t, f in iter_frames(CLIP, fps=5):
            if t >= a.seconds:
                break
            b = io.BytesIO()
            Image.fromarray(f).save(b, "JPEG", quality=80)
            frames.append((t, b.getvalue()))
    pcm = clip_pcm(a.seconds)
    srv = Server(Path(tempfile.mkdtemp(prefix="affectlens-latency-")) / "data").start()
    try:
        time.sleep(a.wait)
        with connect(srv.url.replace("http", "ws") + "/v1/stream?token=" + TOKEN, open_timeout=60) as ws:
            ws.send(json.dumps({"sample_rate": 16000, "modalities": mods}))
            ws.recv(timeout=120)
            t0, got, fi = time.monotonic(), [], 0
            for i in range(0, len(pcm), 3200):  # 100 ms of audio per message
                now_s = i / 2 / 16000
                while time.monotonic() < t0 + now_s:
                    try:
                        m = json.loads(ws.recv(timeout=max(0.0, t0 + now_s - time.monotonic())))
                    except TimeoutError:
                        break
                    got.append((m, time.monotonic() - t0 - m["end"]))
                while fi < len(frames) and frames[fi][0] <= now_s:
                    ws.send(b"\x02" + struct.pack("<d", frames[fi][0]) + frames[fi][1])
                    fi += 1
                ws.send(b"\x01" + pcm[i:i + 3200])
            ws.send(json.dumps({"type": "end"}))
        for m, lag in got:
            print(f'{m["start"]:6.2f}–{m["end"]:6.2f} {m["kind"]:7s} +{lag:.2f} s {sorted(m["estimates"])} {m.get("text") or ""}')
        lags = sorted(lag for _, lag in got)
        print(f"{len(lags)} segments during the stream: median +{lags[len(lags) // 2]:.2f} s, max +{lags[-1]:.2f} s")
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
