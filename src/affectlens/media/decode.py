"""Probe and stream-decode media with PyAV.

Video comes out as RGB frames at a chosen rate, audio as 16 kHz mono float32 chunks.
Both are generators over bounded chunks, so memory stays flat however long the input.
Every failure is an ``InputError`` naming the file and the reason in one line.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .. import limits
from ..errors import InputError
from ..schema import MediaInfo

SAMPLE_RATE = 16000
IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
TEXT_EXT = {".txt", ".srt", ".vtt"}
TABLE_EXT = {".csv", ".tsv"}
FLOAT_FORMATS = {"flt", "fltp", "dbl", "dblp"}
#: audio decoding gives up after this many damaged packets
MAX_BAD_PACKETS = 1000


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
    """Refuse missing, unreadable, special, empty or too large inputs with a one-line reason.

    The size limits are ``AFFECTLENS_MAX_BYTES`` (media) and ``AFFECTLENS_MAX_TEXT_BYTES``
    (text, subtitles, tables)."""
    p = Path(path)
    try:
        st = os.stat(p)
    except OSError as exc:
        raise InputError(p, _stat_reason(p, exc)) from None
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        raise InputError(p, "is a directory, expected a media, text or dialogue file")
    if not stat.S_ISREG(mode):
        what = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a device file"
                if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "a special file")
        raise InputError(p, f"is {what}; only regular files can be analyzed")
    if not os.access(p, os.R_OK):
        raise InputError(p, "permission denied")
    if st.st_size == 0:
        raise InputError(p, "file is empty (0 bytes)")
    lim = limits.current()
    text = p.suffix.lower() in TEXT_EXT | TABLE_EXT
    limit, var = (lim.max_text_bytes, "AFFECTLENS_MAX_TEXT_BYTES") if text else (lim.max_bytes, "AFFECTLENS_MAX_BYTES")
    if st.st_size > limit:
        raise InputError(p, f"file is too large ({limits.human_bytes(st.st_size)} > "
                            f"{limits.human_bytes(limit)} limit, {var})")
    return p


def _stat_reason(p: Path, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop (the link points back to itself)"
    if exc.errno == errno.ENOENT:
        if os.path.islink(p):
            return f"broken symlink (its target {os.readlink(p)} does not exist)"
        return "file not found"
    if exc.errno == errno.ENOTDIR:
        return "file not found (a part of the path is not a folder)"
    if exc.errno == errno.EACCES:
        return "permission denied"
    if exc.errno == errno.ENAMETOOLONG:
        return "file name too long"
    return f"cannot read ({exc.strerror or exc})"


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
    """Describe a media or image file from its headers, without decoding it, and apply the
    limits (duration, sample rate, pixels) before any work starts.

    Raises
    ------
    InputError
        Missing, empty, too large, corrupt, beyond a limit, or without a usable audio or video stream.
    """
    p = check_file(path)
    size = p.stat().st_size
    if p.suffix.lower() in IMAGE_EXT:
        width, height = image_size(p)
        return MediaInfo(path=str(p), kind="image", size_bytes=size, has_video=True, width=width, height=height)
    lim = limits.current()
    notes: list[str] = []
    wav_reason, wav_seconds = _wav_problem(p, lim)
    if wav_reason:
        raise InputError(p, wav_reason)
    with _open(p) as container:
        v = next((s for s in container.streams.video if s.frames != 1 or s.duration), None)
        v = v or (container.streams.video[0] if container.streams.video else None)
        a = container.streams.audio[0] if container.streams.audio else None
        if v is not None and v.codec_context is None:
            notes.append("video stream ignored: unsupported or broken encoding")
            v = None
        if v is not None:
            check_pixels(p, v.codec_context.width, v.codec_context.height, lim)
        if a is not None:
            reason = _audio_problem(a, lim)
            if reason and v is None:
                raise InputError(p, reason)
            if reason:
                notes.append(f"audio stream ignored: {reason}")
                a = None
        if v is None and a is None:
            raise InputError(p, "no usable audio or video stream")
        duration = None
        if container.duration:
            duration = container.duration / 1_000_000
        elif v is not None and v.duration and v.time_base:
            duration = float(v.duration * v.time_base)
        elif a is not None and a.duration and a.time_base:
            duration = float(a.duration * a.time_base)
        if duration is not None and duration <= 0:
            raise InputError(p, "media has zero duration")
        duration = max(duration or 0.0, wav_seconds or 0.0) or None
        if duration is not None and duration > lim.max_duration_s:
            raise InputError(p, f"media is {limits.human_seconds(duration)} long according to its header, over the "
                                f"{limits.human_seconds(lim.max_duration_s)} limit (AFFECTLENS_MAX_DURATION_S)")
        kind = "video" if v is not None else "audio"
        return MediaInfo(
            path=str(p), kind=kind, size_bytes=size, duration=duration,
            has_video=v is not None, has_audio=a is not None,
            width=v.codec_context.width if v is not None else None,
            height=v.codec_context.height if v is not None else None,
            fps=float(v.average_rate) if v is not None and v.average_rate else None,
            sample_rate=a.codec_context.sample_rate if a is not None else None,
            warnings=notes,
        )


def read_wav_header(path: str | os.PathLike) -> dict | None:
    """``{"format", "channels", "rate", "byte_rate", "bits", "data_bytes"}`` from a RIFF/WAVE
    header (None when the file is not RIFF/WAVE or has no fmt chunk). ``data_bytes`` is None
    when the header leaves it open (0 or 0xFFFFFFFF, as streaming writers do)."""
    with open(path, "rb") as f:
        head = f.read(65536)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    info, i = None, 12
    while i + 8 <= len(head):
        kind, size = head[i:i + 4], int.from_bytes(head[i + 4:i + 8], "little")
        if kind == b"fmt " and i + 24 <= len(head):
            tag, ch, rate, byte_rate, _, bits = struct.unpack("<HHIIHH", head[i + 8:i + 24])
            info = {"format": tag, "channels": ch, "rate": rate, "byte_rate": byte_rate, "bits": bits,
                    "data_bytes": None}
        elif kind == b"data":
            if info is not None and size not in (0, 0xFFFFFFFF):
                info["data_bytes"] = size
            break
        i += 8 + size + (size & 1)
    return info


def _wav_problem(p: Path, lim: limits.Limits) -> tuple[str | None, float | None]:
    """``(reason to refuse, seconds the header claims)`` for a RIFF/WAVE file."""
    h = read_wav_header(p)
    if h is None:
        return None, None
    pcm_bits = {1: {8, 16, 24, 32}, 3: {32, 64}}.get(h["format"])
    if pcm_bits is not None and h["bits"] not in pcm_bits:
        return f"unsupported WAV header: {h['bits']} bits per sample", None
    if not h["channels"]:
        return "WAV header says 0 channels", None
    seconds = h["data_bytes"] / h["byte_rate"] if h["data_bytes"] and h["byte_rate"] else None
    return None, seconds


def _audio_problem(stream, lim: limits.Limits) -> str | None:
    """Why an audio stream cannot be used, judged from its header (None when it can)."""
    cc = stream.codec_context
    if cc is None or cc.format is None:
        return "unsupported or broken audio encoding in the header (no sample format)"
    rate = cc.sample_rate or 0
    if rate < lim.min_sample_rate:
        return (f"audio sample rate {rate} Hz is below the {lim.min_sample_rate} Hz minimum "
                "(AFFECTLENS_MIN_SAMPLE_RATE)")
    if rate > lim.max_sample_rate:
        return f"audio sample rate {rate} Hz is above the {lim.max_sample_rate} Hz maximum (AFFECTLENS_MAX_SAMPLE_RATE)"
    if not cc.channels:
        return "audio stream has 0 channels"
    return None


def check_pixels(p: str | os.PathLike, width: int | None, height: int | None, lim: limits.Limits | None = None) -> None:
    """Refuse a frame size of zero or over ``AFFECTLENS_MAX_PIXELS``."""
    lim = lim or limits.current()
    if not width or not height:
        raise InputError(p, f"image or video frame has zero size ({width}x{height})")
    if width * height > lim.max_pixels:
        raise InputError(p, f"{width}x{height} pixels ({width * height / 1e6:.0f} MP) is over the "
                            f"{lim.max_pixels / 1e6:.0f} MP limit (AFFECTLENS_MAX_PIXELS)")


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """Width and height from the image header (nothing is decoded); refuses images over the
    pixel limit before they are decoded."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                size = im.size
    except Image.DecompressionBombError as exc:  # PIL refused from the header: far over any limit
        found = re.search(r"\((\d+) pixels\)", str(exc))
        claimed = f"{int(found.group(1)) / 1e6:.0f} MP" if found else "far more pixels"
        raise InputError(p, f"image header claims {claimed}, over the {limits.current().max_pixels / 1e6:.0f} MP "
                            "limit (AFFECTLENS_MAX_PIXELS)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(p, f"not a readable image ({_short(exc)})") from None
    check_pixels(p, size[0], size[1], limits.current())
    return size


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image as an ``HxWx3`` uint8 RGB array (the pixel limit is checked on the header
    first, so a decompression bomb is refused before it is decoded)."""
    from PIL import Image, UnidentifiedImageError

    p = check_file(path)
    image_size(p)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                im.load()
                return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(p, f"not a readable image ({_short(exc)})") from None


@dataclass
class AudioStats:
    """What ``iter_audio`` saw: samples out (16 kHz) and input samples it had to clean."""

    samples: int = 0
    nonfinite: int = 0
    clipped: int = 0
    bad_packets: int = 0  # packets the decoder refused (skipped, like ffmpeg does)
    first_error: str | None = None

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE


def _clean_float_frame(frame, stats: AudioStats):
    """NaN/inf input samples become 0 and samples beyond +-1 are clipped, counted in ``stats``
    (float formats only; returns the frame unchanged when it is clean)."""
    import av

    arr = frame.to_ndarray()
    finite = np.isfinite(arr)
    over = np.abs(np.where(finite, arr, 0)) > 1.0
    n_bad, n_over = int(arr.size - finite.sum()), int(over.sum())
    if not n_bad and not n_over:
        return frame
    stats.nonfinite += n_bad
    stats.clipped += n_over
    clean = np.clip(np.where(finite, arr, 0), -1.0, 1.0).astype(arr.dtype)
    out = av.AudioFrame.from_ndarray(np.ascontiguousarray(clean), format=frame.format.name, layout=frame.layout.name)
    out.sample_rate, out.pts, out.time_base = frame.sample_rate, frame.pts, frame.time_base
    return out


def iter_audio(path: str | os.PathLike, chunk_s: float = 10.0, stats: AudioStats | None = None) -> Iterator[np.ndarray]:
    """Decode the first audio stream to 16 kHz mono float32, in chunks of ``chunk_s`` seconds.

    NaN/inf samples are set to 0 and out-of-range float samples clipped; ``stats`` (when
    given) counts them and the samples produced.

    Yields
    ------
    ndarray
        float32 samples in [-1, 1]; the last chunk may be shorter.
    """
    import av

    p = Path(path)
    stats = stats if stats is not None else AudioStats()
    chunk = int(chunk_s * SAMPLE_RATE)
    with _open(p) as container:
        if not container.streams.audio:
            raise InputError(p, "no audio stream")
        stream = container.streams.audio[0]
        reason = _audio_problem(stream, limits.current())
        if reason:
            raise InputError(p, reason)
        stream.thread_type = "AUTO"
        is_float = stream.codec_context.format.name in FLOAT_FORMATS
        # fixed 4096-sample output frames: the same samples, a fraction of the per-frame overhead
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE, frame_size=4096)
        pending: list[np.ndarray] = []
        n = 0
        try:
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as exc:  # a damaged packet: skip it, count it
                    stats.bad_packets += 1
                    stats.first_error = stats.first_error or _short(exc)
                    if stats.bad_packets > MAX_BAD_PACKETS:
                        break
                    continue
                for frame in frames:
                    if is_float:
                        frame = _clean_float_frame(frame, stats)
                    for out in resampler.resample(frame):
                        pending.append(out.to_ndarray().reshape(-1))
                        n += pending[-1].size
                        stats.samples += pending[-1].size
                    while n >= chunk:
                        buf = np.concatenate(pending)
                        yield buf[:chunk]
                        pending, n = [buf[chunk:]], buf.size - chunk
            for out in resampler.resample(None):
                pending.append(out.to_ndarray().reshape(-1))
                stats.samples += pending[-1].size
        except av.error.FFmpegError as exc:  # the container broke: keep what decoded
            stats.bad_packets += 1
            stats.first_error = stats.first_error or _short(exc)
        except (ValueError, OverflowError) as exc:
            raise InputError(p, f"audio stream cannot be decoded ({_short(exc)})") from None
        if pending:
            tail = np.concatenate(pending)
            if tail.size:
                yield tail


def header_audio_seconds(path: str | os.PathLike) -> float | None:
    """The audio stream's duration as its header states it (None when it does not say)."""
    wav = read_wav_header(path)
    if wav is not None:
        return wav["data_bytes"] / wav["byte_rate"] if wav["data_bytes"] and wav["byte_rate"] else None
    with _open(Path(path)) as container:
        if not container.streams.audio:
            return None
        a = container.streams.audio[0]
        if a.duration and a.time_base:
            return float(a.duration * a.time_base)
        if not container.streams.video and container.duration:
            return container.duration / 1_000_000
    return None


def audio_notes(path: Path, info: MediaInfo, stats: AudioStats) -> None:
    """After the audio was decoded: refuse an input whose audio holds nothing usable; record
    cleaned samples and truncation in ``info.warnings``; a truncated file gets its real
    decoded duration as ``info.duration``."""
    if stats.samples == 0 and not info.has_video:
        if stats.bad_packets:
            raise InputError(path, f"audio stream is corrupt or truncated: nothing decodable ({stats.first_error})")
        raise InputError(path, "audio stream has no samples (0 decoded)")
    if stats.samples and stats.nonfinite >= stats.samples * 0.999:
        raise InputError(path, "audio is all NaN/inf (no valid samples)")
    if stats.nonfinite:
        info.warnings.append(f"{stats.nonfinite} NaN/inf audio samples were set to 0")
    if stats.clipped:
        info.warnings.append(f"{stats.clipped} float audio samples beyond +-1 were clipped")
    header = header_audio_seconds(path)
    real = stats.seconds
    short = bool(header) and real < header - max(0.25, 0.02 * header)
    if short:
        info.warnings.append(f"truncated: the header says {header:.2f} s of audio, only {real:.2f} s decoded")
        if not info.has_video:
            info.duration = real
    if stats.bad_packets:
        info.warnings.append(f"damaged: {stats.bad_packets} audio packet(s) could not be decoded and were "
                             f"skipped ({stats.first_error})")


def check_spool_room(path: Path, seconds: float | None, folder: str | None = None) -> int:
    """Bytes the audio spool may use; refuses up front when the header's duration needs more
    than ``AFFECTLENS_MAX_SPOOL_BYTES`` or than the temp folder has free."""
    import shutil
    import tempfile

    limit = limits.current().max_spool_bytes
    need = int((seconds or 0) * SAMPLE_RATE * 2)
    if need > limit:
        raise InputError(path, f"its audio would spool {limits.human_bytes(need)} to disk, over the "
                               f"{limits.human_bytes(limit)} limit (AFFECTLENS_MAX_SPOOL_BYTES)")
    folder = folder or tempfile.gettempdir()
    free = shutil.disk_usage(folder).free
    if need > free:
        raise InputError(path, f"its audio needs {limits.human_bytes(need)} of temp space, "
                               f"{folder} has {limits.human_bytes(free)} free")
    return limit


def spool(chunks: Iterable[np.ndarray], file, limit_bytes: int | None = None,
          path: str | os.PathLike = "audio") -> Iterator[np.ndarray]:
    """Pass ``chunks`` through while appending them to the binary ``file`` as 16-bit PCM,
    so a second pass can read the audio back (``read_spool``) without decoding it again.
    Past ``limit_bytes`` it stops with an ``InputError``."""
    written = 0
    for chunk in chunks:
        data = (np.clip(chunk, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()
        written += len(data)
        if limit_bytes is not None and written > limit_bytes:
            raise InputError(path, f"decoded audio exceeds the {limits.human_bytes(limit_bytes)} spool limit "
                                   "(AFFECTLENS_MAX_SPOOL_BYTES)")
        file.write(data)
        yield chunk


def read_spool(file, chunk_s: float = 10.0) -> Iterator[np.ndarray]:
    """Read back what ``spool`` wrote, as float32 chunks of ``chunk_s`` seconds."""
    file.flush()
    file.seek(0)
    size = int(chunk_s * SAMPLE_RATE) * 2
    while block := file.read(size):
        yield np.frombuffer(block, dtype="<i2").astype(np.float32) / 32767.0


def iter_frames(path: str | os.PathLike, fps: float = 5.0, max_side: int | None = 1280,
                notes: list[str] | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """Decode video frames at ``fps`` frames per second as ``(time_s, HxWx3 uint8 RGB)``.

    Frames are picked by timestamp (the first frame at or after each sampling instant);
    frames larger than ``max_side`` pixels on their long side are downscaled. When the stream
    breaks after some frames (a truncated file), iteration stops and, given ``notes``, a
    warning with the last decoded time is appended there; with ``notes=None`` it raises.
    """
    import av

    if not 0 < fps < float("inf"):
        raise ValueError(f"fps must be a positive finite number, not {fps}")
    p = Path(path)
    with _open(p) as container:
        if not container.streams.video:
            raise InputError(p, "no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        last = None
        try:
            timed = ((float(f.time), f) for f in container.decode(stream) if f.time is not None)
            for t, frame in pick_frames(timed, fps):
                size = _fitted(frame.width, frame.height, max_side)
                if size is None:
                    yield t, frame.to_ndarray(format="rgb24")
                else:
                    yield t, frame.to_ndarray(format="rgb24", width=size[0], height=size[1])
                last = t
        except av.error.FFmpegError as exc:
            if last is None or notes is None:
                raise InputError(p, f"video stream is corrupt ({_short(exc)})") from None
            notes.append(f"truncated or damaged: video decoding stopped after {last:.2f} s ({_short(exc)})")
        except (ValueError, OverflowError) as exc:
            raise InputError(p, f"video stream cannot be decoded ({_short(exc)})") from None


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


def prefetch(items: Iterable, depth: int = 4, start: bool = False) -> "Prefetch":
    """Run the producer ``items`` in a background thread, ``depth`` items ahead.

    Decoding (PyAV) and the consumer (e.g. the VAD, ONNX Runtime) release the GIL, so
    on two cores they overlap; the queue bound keeps memory flat. Exceptions from the
    producer are re-raised in the consumer; closing the iterator stops the producer. The
    thread starts on the first ``next`` or, with ``start``, at once.
    """
    return Prefetch(items, depth, start)


class Prefetch:
    """The iterator :func:`prefetch` returns."""

    _DONE = object()

    def __init__(self, items: Iterable, depth: int, start: bool) -> None:
        import queue
        import threading

        self.items = items
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.stop = threading.Event()
        self.worker = threading.Thread(target=self._produce, name="affectlens-prefetch", daemon=True)
        self.finished = False
        if start:
            self.worker.start()

    def _put(self, x) -> bool:
        import queue

        while not self.stop.is_set():
            try:
                self.queue.put(x, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        items = self.items
        try:
            for x in items:
                if not self._put((None, x)):
                    return
            self._put((None, self._DONE))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._put((exc, None))
        finally:
            if hasattr(items, "close"):
                items.close()  # release the container in the thread that used it

    def __iter__(self) -> "Prefetch":
        return self

    def __next__(self):
        if self.finished:
            raise StopIteration
        if self.worker.ident is None:  # not started yet
            self.worker.start()
        exc, x = self.queue.get()
        if exc is not None:
            self.close()
            raise exc
        if x is self._DONE:
            self.close()
            raise StopIteration
        return x

    def close(self) -> None:
        """Stop the producer and wait (briefly) for its thread."""
        self.finished = True
        self.stop.set()
        if self.worker.ident is not None:
            self.worker.join(timeout=5)

    def __del__(self) -> None:
        self.stop.set()
