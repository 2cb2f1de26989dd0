"""``WS /v1/stream``: the WebSocket side of ``affectlens.stream``.

Protocol (all JSON messages are text frames):

1. client → ``{"sample_rate": 16000, "modalities": ["face", "voice", "text"], "window_s": 2.0,
   "evidence": false}``
   (the hello; every key is optional)
2. server → ``{"type": "ready", "sample_rate": ..., "modalities": {...status...}}``
3. client → binary frames; the first byte says what follows:
   - ``0x01`` + 16-bit little-endian mono PCM at ``sample_rate``;
   - ``0x02`` + 8-byte little-endian float64 stream time in seconds + one JPEG (or PNG) image.
4. server → one ``Segment`` JSON (the schema of ``affectlens schema``; it has no ``type`` key)
   per finished segment, as soon as it ends.
5. client → ``{"type": "end"}``; server → the last segments, then
   ``{"type": "summary", "analysis": <Analysis>}`` and closes (1000).

Errors come as ``{"type": "error", "error": "..."}`` followed by a close
(1008 bad token, 1003 bad message, 1013 too many streams).
"""

from __future__ import annotations

import hmac
import json
import logging
import struct

from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect

log = logging.getLogger("affectlens.serve")
PCM, JPEG = 0x01, 0x02
MAX_MESSAGE = 8 * 2**20


class _Bad(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _authorized(ws: WebSocket, token: str | None) -> bool:
    if not token:
        return True
    scheme, _, value = ws.headers.get("authorization", "").partition(" ")
    given = value.strip() if scheme.lower() == "bearer" else ws.query_params.get("token", "")
    return hmac.compare_digest(given or "", token)


def _options(hello: str):
    from ..stream import LiveOptions

    try:
        data = json.loads(hello)
    except json.JSONDecodeError:
        raise _Bad(1003, "the first message must be the JSON hello") from None
    if not isinstance(data, dict):
        raise _Bad(1003, "the hello must be a JSON object")
    opts = LiveOptions()
    try:
        if "sample_rate" in data:
            opts.sample_rate = int(data["sample_rate"])
        if "modalities" in data:
            opts.modalities = tuple(str(m) for m in data["modalities"])
        if "evidence" in data:
            opts.evidence = bool(data["evidence"])
        if "window_s" in data:
            opts.window_s = min(max(float(data["window_s"]), 0.5), 8.0)
    except (TypeError, ValueError):
        raise _Bad(1003, "hello: sample_rate must be an integer, modalities a list, window_s a number") from None
    return opts


async def serve_stream(ws: WebSocket, settings, app) -> None:
    await ws.accept()
    state = app.state
    if not _authorized(ws, settings.token):
        await _close(ws, 1008, "missing or wrong token")
        return
    active = getattr(state, "streams", 0)
    if active >= settings.max_streams:
        await _close(ws, 1013, f"too many live streams ({settings.max_streams}); try again later")
        return
    state.streams = active + 1
    try:
        await _run(ws, state.runner.engine)
    except _Bad as exc:
        await _close(ws, exc.code, exc.message)
    except WebSocketDisconnect:
        pass
    except Exception as exc:
        log.exception("live stream failed")
        await _close(ws, 1011, f"internal error ({type(exc).__name__})")
    finally:
        state.streams -= 1


async def _run(ws: WebSocket, engine) -> None:
    from ..stream import LiveSession

    hello = await ws.receive_text()
    opts = _options(hello)
    try:
        session = await run_in_threadpool(LiveSession, opts, engine)
    except ValueError as exc:
        raise _Bad(1003, str(exc)) from None
    try:
        await _feed(ws, session, opts)
    finally:
        session.close()


async def _feed(ws: WebSocket, session, opts) -> None:
    await ws.send_json({"type": "ready", "sample_rate": opts.sample_rate,
                        "modalities": {m: session.status.get(m, "ready" if m in opts.modalities else "not requested")
                                       for m in ("face", "voice", "text")}})
    while True:
        msg = await ws.receive()
        if msg["type"] == "websocket.disconnect":
            return
        if msg.get("text") is not None:
            try:
                kind = json.loads(msg["text"]).get("type")
            except (json.JSONDecodeError, AttributeError):
                raise _Bad(1003, "text messages must be JSON objects") from None
            if kind == "end":
                break
            continue
        data = msg.get("bytes") or b""
        if len(data) > MAX_MESSAGE:
            raise _Bad(1009, "message too large")
        if not data:
            continue
        if data[0] == PCM:
            for seg in await run_in_threadpool(session.push_pcm, data[1:]):
                await ws.send_text(seg.model_dump_json())
        elif data[0] == JPEG and len(data) > 9:
            (t,) = struct.unpack("<d", data[1:9])
            try:
                await run_in_threadpool(session.push_jpeg, t, data[9:])
            except (ValueError, OSError) as exc:
                raise _Bad(1003, f"bad video frame ({exc})") from None
        else:
            raise _Bad(1003, "binary messages start with 0x01 (PCM) or 0x02 (JPEG frame)")
    last, analysis = await run_in_threadpool(session.finish)
    for seg in last:
        await ws.send_text(seg.model_dump_json())
    await ws.send_text(json.dumps({"type": "summary", "analysis": analysis.model_dump(mode="json")}))
    await ws.close(1000)


async def _close(ws: WebSocket, code: int, message: str) -> None:
    try:
        await ws.send_json({"type": "error", "error": message})
        await ws.close(code)
    except Exception:  # the client is already gone
        pass
