"""Streamed multipart upload: the file part goes straight to ``DIR/<uuid><ext>``.

The client's file name is kept only as a display string; the extension is used only
when it is one affectlens reads. The upload stops with 413 as soon as it passes the
limit (or at once when Content-Length already says so), so an oversized body is
never read whole.
"""

from __future__ import annotations

import codecs
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..media import decode

MEDIA_EXT = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".3gp",
             ".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".wma"}
KNOWN_EXT = MEDIA_EXT | decode.IMAGE_EXT | decode.TEXT_EXT | decode.TABLE_EXT
#: multipart headers and the request field ride on top of the file
OVERHEAD = 256 * 1024
MAX_REQUEST_FIELD = 64 * 1024


class ApiError(Exception):
    """An HTTP error with a one-line message (rendered as ``{"error": ...}``)."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


@dataclass
class Upload:
    filename: str  # display only
    media: str  # file name inside the upload folder
    size: int
    request: str | None


def display_name(name: str) -> str:
    """The client's file name as a harmless display string (last path part, printable, ≤ 200 chars)."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    return (base or "upload")[:200]


def safe_ext(name: str) -> str:
    ext = os.path.splitext(display_name(name))[1].lower()
    return ext if ext in KNOWN_EXT else ".bin"


async def receive(request, folder: Path, max_bytes: int) -> Upload:
    """Parse ``file`` (and optional ``request``) from a multipart request body."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_bytes + OVERHEAD:
        raise ApiError(413, f"upload is larger than the {max_bytes // 2**20} MB limit")
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or b"boundary" not in params:
        raise ApiError(400, "send multipart/form-data with a 'file' part")
    state = _Parts(folder, max_bytes)
    parser = MultipartParser(params[b"boundary"], state.callbacks())
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            if state.error:
                raise state.error
        parser.finalize()
    except ApiError:
        state.discard()
        raise
    except Exception:
        state.discard()
        raise ApiError(400, "malformed multipart body") from None
    finally:
        state.close()
    if state.media is None or state.size == 0:
        state.discard()
        raise ApiError(400, "the 'file' part is missing or empty")
    return Upload(state.filename, state.media, state.size, state.request)


class _Parts:
    """Callbacks for python-multipart's streaming parser."""

    def __init__(self, folder: Path, max_bytes: int):
        self.folder, self.max_bytes = folder, max_bytes
        self.header, self.value, self.disposition = b"", b"", b""
        self.part: str | None = None  # "file" | "request" | other
        self.out = None
        self.media: str | None = None
        self.filename = "upload"
        self.size = 0
        self.request: str | None = None
        self.field = bytearray()
        self.error: ApiError | None = None

    def callbacks(self) -> dict:
        return {"on_part_begin": self.begin, "on_header_field": self.hfield, "on_header_value": self.hvalue,
                "on_header_end": self.hend, "on_headers_finished": self.headers_done,
                "on_part_data": self.data, "on_part_end": self.end}

    def begin(self):
        self.disposition, self.part = b"", None

    def hfield(self, data, a, b):
        self.header += data[a:b]

    def hvalue(self, data, a, b):
        self.value += data[a:b]

    def hend(self):
        if self.header.lower() == b"content-disposition":
            self.disposition = self.value
        self.header, self.value = b"", b""

    def headers_done(self):
        from python_multipart.multipart import parse_options_header

        _, opts = parse_options_header(self.disposition)
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        if name == "file" and self.media is None:
            self.part = "file"
            client = opts.get(b"filename", b"").decode("utf-8", "replace")
            self.filename = display_name(client)
            self.media = uuid.uuid4().hex + safe_ext(client)
            self.folder.mkdir(parents=True, exist_ok=True)
            self.out = open(self.folder / self.media, "xb")
        elif name == "request":
            self.part, self.field = "request", bytearray()
        else:
            self.part = "ignored"

    def data(self, data, a, b):
        if self.error:
            return
        if self.part == "file":
            self.size += b - a
            if self.size > self.max_bytes:
                self.error = ApiError(413, f"upload is larger than the {self.max_bytes // 2**20} MB limit")
                return
            self.out.write(data[a:b])
        elif self.part == "request":
            self.field += data[a:b]
            if len(self.field) > MAX_REQUEST_FIELD:
                self.error = ApiError(413, "the 'request' field is too large")

    def end(self):
        if self.part == "file" and self.out is not None:
            self.out.close()
            self.out = None
        elif self.part == "request":
            self.request = self.field.decode("utf-8", "replace")
        self.part = None

    def close(self):
        if self.out is not None:
            self.out.close()
            self.out = None

    def discard(self):
        self.close()
        if self.media:
            (self.folder / self.media).unlink(missing_ok=True)


def check_media(path: Path) -> None:
    """415 unless affectlens can read the file (media or image probes; text decodes as UTF-8)."""
    try:
        if path.suffix in decode.TEXT_EXT | decode.TABLE_EXT:
            with open(path, "rb") as fh:  # the first MB, a character cut at its end is fine
                codecs.getincrementaldecoder("utf-8")().decode(fh.read(1 << 20), final=False)
        else:
            decode.probe(path)
    except (InputError, UnicodeDecodeError) as exc:
        reason = exc.reason if isinstance(exc, InputError) else "not UTF-8 text"
        raise ApiError(415, f"not a media, image or text file affectlens reads ({reason})") from None
