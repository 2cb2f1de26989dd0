"""Probe and stream-decode media with PyAV.

Video comes out as RGB frames at a chosen rate, audio as 16 kHz mono float32 chunks.
Both are generators over bounded chunks, so memory stays flat however long the input.
Every failure is an ``InputError`` naming the file and the reason in one line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..errors import InputError
from ..schema import MediaInfo

SAMPLE_RATE = 16000
IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
TEXT_EXT = {".txt", ".srt", ".vtt"}
TABLE_EXT = {".csv", ".tsv"}
#: inputs larger than this are refused (override with AFFECTLENS_MAX_BYTES)
MAX_BYTES = int(os.environ.get("AFFECTLENS_MAX_BYTES", str(20 * 1024**3)))
MAX_IMAGE_PIXELS = 100_000_000
MAX_TEXT_BYTES = 50 * 1024**2


def input_kind(path: str | os.PathLike) -> str:
    """``image``, ``text``, ``dialogue`` or ``media`` from the file name."""
    ext = Path(path).suffix.lower()
    if ext in IMAGE_EXT:
        return "image"
    if ext in TABLE_EXT:
        return "dialogue"
    if ext in TEXT_EXT:
        return "text"
    return "media"


def check_file(path: str | os.PathLike) -> Path:
    """Refuse missing, unreadable, empty or absurdly large inputs with a one-line reason."""
    p = Path(path)
    if not p.exists():
        raise InputError(p, "file not found")
    if p.is_dir():
        raise InputError(p, "is a directory, expected a media, text or dialogue file")
    if not os.access(p, os.R_OK):
        raise InputError(p, "permission denied")
    size = p.stat().st_size
    if size == 0:
        raise InputError(p, "file is empty")
    limit = MAX_TEXT_BYTES if p.suffix.lower() in TEXT_EXT | TABLE_EXT else MAX_BYTES
    if size > limit:
        raise InputError(p, f"file is too large ({size / 1e9:.1f} GB > {limit / 1e9:.1f} GB limit)")
    return p


def _open(path: Path):
    import av

    try:
        return av.open(str(path))
    except (av.error.InvalidDataError, ValueError) as exc:
        raise InputError(path, f"not a decodable media file ({_short(exc)})") from None
    except av.error.FFmpegError as exc:
        raise InputError(path, f"cannot open media ({_short(exc)})") from None


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text.split(": '")[0][:120]


def probe(path: str | os.PathLike) -> MediaInfo:
    """Describe a media or image file without decoding it.

    Raises
    ------
    InputError
        Missing, empty, too large, corrupt, or without any audio or video stream.
    """
    p = check_file(path)
    size = p.stat().st_size
    if p.suffix.lower() in IMAGE_EXT:
        img = load_image(p)
        return MediaInfo(path=str(p), kind="image", size_bytes=size, has_video=True,
                         width=img.shape[1], height=img.shape[0])
    with _open(p) as container:
        v = next((s for s in container.streams.video if s.frames != 1 or s.duration), None)
        v = v or (container.streams.video[0] if container.streams.video else None)
        a = container.streams.audio[0] if container.streams.audio else None
        if v is None and a is None:
            raise InputError(p, "no audio or video stream")
        duration = None
        if container.duration:
            duration = container.duration / 1_000_000
        elif v is not None and v.duration and v.time_base:
            duration = float(v.duration * v.time_base)
        elif a is not None and a.duration and a.time_base:
            duration = float(a.duration * a.time_base)
        if duration is not None and duration <= 0:
            raise InputError(p, "media has zero duration")
        # A single-frame "video" (e.g. an image read through FFmpeg) counts as an image.
        kind = "video" if v is not None else "audio"
        return MediaInfo(
            path=str(p), kind=kind, size_bytes=size, duration=duration,
            has_video=v is not None, has_audio=a is not None,
            width=v.codec_context.width if v is not None else None,
            height=v.codec_context.height if v is not None else None,
            fps=float(v.average_rate) if v is not None and v.average_rate else None,
            sample_rate=a.codec_context.sample_rate if a is not None else None,
        )


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image as an ``HxWx3`` uint8 RGB array."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with Image.open(p) as im:
            im.load()
            return np.asarray(im.convert("RGB"))
    except Image.DecompressionBombError:
        raise InputError(p, f"image is too large (> {MAX_IMAGE_PIXELS} pixels)") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise InputError(p, f"not a readable image ({_short(exc)})") from None


def iter_audio(path: str | os.PathLike, chunk_s: float = 10.0) -> Iterator[np.ndarray]:
    """Decode the first audio stream to 16 kHz mono float32, in chunks of ``chunk_s`` seconds.

    Yields
    ------
    ndarray
        float32 samples in [-1, 1]; the last chunk may be shorter.
    """
    import av

    p = Path(path)
    chunk = int(chunk_s * SAMPLE_RATE)
    with _open(p) as container:
        if not container.streams.audio:
            raise InputError(p, "no audio stream")
        stream = container.streams.audio[0]
        stream.thread_type = "AUTO"
        # fixed 4096-sample output frames: the same samples, a fraction of the per-frame overhead
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE, frame_size=4096)
        pending: list[np.ndarray] = []
        n = 0
        try:
            for packet in container.demux(stream):
                for frame in packet.decode():
                    for out in resampler.resample(frame):
                        pending.append(out.to_ndarray().reshape(-1))
                        n += pending[-1].size
                    while n >= chunk:
                        buf = np.concatenate(pending)
                        yield buf[:chunk]
                        pending, n = [buf[chunk:]], buf.size - chunk
            for out in resampler.resample(None):
                pending.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            raise InputError(p, f"audio stream is corrupt ({_short(exc)})") from None
        if pending:
            tail = np.concatenate(pending)
            if tail.size:
                yield tail


def spool(chunks: Iterable[np.ndarray], file) -> Iterator[np.ndarray]:
    """Pass ``chunks`` through while appending them to the binary ``file`` as 16-bit PCM,
    so a second pass can read the audio back (``read_spool``) without decoding it again."""
    for chunk in chunks:
        file.write((np.clip(chunk, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes())
        yield chunk


def read_spool(file, chunk_s: float = 10.0) -> Iterator[np.ndarray]:
    """Read back what ``spool`` wrote, as float32 chunks of ``chunk_s`` seconds."""
    file.flush()
    file.seek(0)
    size = int(chunk_s * SAMPLE_RATE) * 2
    while block := file.read(size):
        yield np.frombuffer(block, dtype="<i2").astype(np.float32) / 32767.0


def iter_frames(path: str | os.PathLike, fps: float = 5.0,
                max_side: int | None = 1280) -> Iterator[tuple[float, np.ndarray]]:
    """Decode video frames at ``fps`` frames per second as ``(time_s, HxWx3 uint8 RGB)``.

    Frames are picked by timestamp (the first frame at or after each sampling instant);
    frames larger than ``max_side`` pixels on their long side are downscaled.
    """
    import av

    if fps <= 0:
        raise ValueError("fps must be positive")
    p = Path(path)
    with _open(p) as container:
        if not container.streams.video:
            raise InputError(p, "no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            timed = ((float(f.time), f) for f in container.decode(stream) if f.time is not None)
            for t, frame in pick_frames(timed, fps):
                size = _fitted(frame.width, frame.height, max_side)
                if size is None:
                    yield t, frame.to_ndarray(format="rgb24")
                else:
                    yield t, frame.to_ndarray(format="rgb24", width=size[0], height=size[1])
        except av.error.FFmpegError as exc:
            raise InputError(p, f"video stream is corrupt ({_short(exc)})") from None


def pick_frames(timed: Iterable[tuple[float, object]], fps: float) -> Iterator[tuple[float, object]]:
    """The ``(time, frame)`` pairs sampled at ``fps``: the first frame at or after each
    sampling instant (one rule for decoded files and in-memory frames)."""
    step = 1.0 / fps
    next_t = 0.0
    for t, frame in timed:
        if t + 1e-6 < next_t:
            continue
        yield t, frame
        next_t = (np.floor(t / step + 1e-6) + 1) * step


def fit_side(img: np.ndarray, max_side: int | None = 1280) -> np.ndarray:
    """An in-memory frame downscaled like ``iter_frames`` does when its long side exceeds
    ``max_side`` (to even sides)."""
    size = _fitted(img.shape[1], img.shape[0], max_side)
    if size is None:
        return img
    import cv2

    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def _fitted(w: int, h: int, max_side: int | None) -> tuple[int, int] | None:
    """``(width, height)`` scaled to fit ``max_side`` (even sides), or ``None`` when it fits."""
    if not max_side or max(w, h) <= max_side:
        return None
    scale = max_side / max(w, h)
    return int(round(w * scale)) // 2 * 2 or w, int(round(h * scale)) // 2 * 2 or h


def prefetch(items: Iterable, depth: int = 4) -> Iterator:
    """Run the producer ``items`` in a background thread, ``depth`` items ahead.

    Decoding (PyAV) and the consumer (e.g. the VAD, ONNX Runtime) release the GIL, so
    on two cores they overlap; the queue bound keeps memory flat. Exceptions from the
    producer are re-raised in the consumer; closing the generator stops the producer.
    """
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(x) -> bool:
        while not stop.is_set():
            try:
                q.put(x, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for x in items:
                if not put((None, x)):
                    return
            put((None, done))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put((exc, None))
        finally:
            if hasattr(items, "close"):
                items.close()  # release the container in the thread that used it

    worker = threading.Thread(target=produce, name="affectlens-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            exc, x = q.get()
            if exc is not None:
                raise exc
            if x is done:
                return
            yield x
    finally:
        stop.set()
        worker.join(timeout=5)
