"""In-memory inputs: audio samples, video frames, images and text, beside file paths.

``Engine.analyze`` takes any of these (or a path). Each becomes a :class:`Media` the pipeline
streams from, the same way for a file and for arrays: audio as 16 kHz mono float32 chunks
(resampled by the same FFmpeg resampler as decoded files), frames picked at the requested rate.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from . import limits
from .errors import InputError
from .media import decode
from .schema import MediaInfo


@dataclass(frozen=True)
class Audio:
    """Audio samples: ``(n,)`` mono or ``(n, channels)``, float in [-1, 1] or integer PCM,
    at any ``sample_rate`` of at least 4 kHz."""

    samples: Any
    sample_rate: int
    name: str = "<audio>"


@dataclass(frozen=True)
class Video:
    """Video frames (``HxWx3`` uint8 RGB each, or an ``NxHxWx3`` array) at ``fps`` frames per
    second, with an optional :class:`Audio` track starting at the first frame."""

    frames: Sequence[Any]
    fps: float
    audio: Audio | None = None
    name: str = "<video>"


@dataclass(frozen=True)
class Image:
    """One picture: an ``HxWx3`` (RGB), ``HxW`` (gray) or ``HxWx4`` (RGBA) uint8 array or a PIL image."""

    pixels: Any
    name: str = "<image>"


@dataclass(frozen=True)
class Text:
    """Text: one utterance per line, ``speaker: text`` lines for a dialogue, or SRT/WebVTT cues."""

    text: str
    name: str = "<text>"


Source = str | os.PathLike | Audio | Video | Image | Text | np.ndarray | Any


def rgb(pixels: Any, name: str) -> np.ndarray:
    """An image (numpy or PIL) as a contiguous ``HxWx3`` uint8 RGB array."""
    if hasattr(pixels, "convert") and hasattr(pixels, "size"):  # PIL
        pixels = np.asarray(pixels.convert("RGB"))
    img = np.asarray(pixels)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (3, 4) or min(img.shape[:2]) < 1:
        raise InputError(name, f"expected an HxWx3 RGB image, got shape {img.shape}")
    if img.dtype != np.uint8:
        if np.issubdtype(img.dtype, np.floating) and np.nanmax(img, initial=0.0) <= 1.0:
            img = img * 255.0
        img = np.clip(np.nan_to_num(img), 0, 255).astype(np.uint8)
    decode.check_pixels(name, img.shape[1], img.shape[0])
    return np.ascontiguousarray(img[:, :, :3])


def mono16k(audio: Audio) -> np.ndarray:
    """``audio`` as 16 kHz mono float32 in [-1, 1], resampled with FFmpeg's resampler."""
    x = np.asarray(audio.samples)
    rate = int(audio.sample_rate)
    lim = limits.current()
    if not lim.min_sample_rate <= rate <= lim.max_sample_rate:
        raise InputError(audio.name, f"sample rate {rate} Hz is outside {lim.min_sample_rate}–{lim.max_sample_rate} Hz "
                                     "(AFFECTLENS_MIN_SAMPLE_RATE / AFFECTLENS_MAX_SAMPLE_RATE)")
    if np.issubdtype(x.dtype, np.signedinteger):  # int16 / 32768, ...
        x = x / (np.iinfo(x.dtype).max + 1.0)
    elif np.issubdtype(x.dtype, np.unsignedinteger):  # uint8 centred on 128, ...
        half = (np.iinfo(x.dtype).max + 1) / 2
        x = (x - half) / half
    if x.ndim == 2:  # (n, channels), or (channels, n) when the first axis is the short one
        x = x.mean(axis=1 if x.shape[1] <= x.shape[0] else 0)
    if x.ndim != 1:
        raise InputError(audio.name, f"expected (n,) or (n, channels) samples, got shape {x.shape}")
    x = np.clip(np.nan_to_num(x.astype(np.float32)), -1.0, 1.0)
    if x.size == 0:
        raise InputError(audio.name, "audio is empty")
    if rate == decode.SAMPLE_RATE:
        return x
    import av

    resampler = av.AudioResampler(format="flt", layout="mono", rate=decode.SAMPLE_RATE)
    out = []
    step = 10 * rate
    for s in range(0, x.size, step):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[None, s:s + step]), format="flt", layout="mono")
        frame.sample_rate = rate
        out += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(out).astype(np.float32)


class Media:
    """What the pipeline streams from: ``info``, audio chunks and frames at a rate."""

    info: MediaInfo

    def audio_chunks(self) -> Iterator[np.ndarray]:
        """16 kHz mono float32 chunks of the first audio stream."""
        raise NotImplementedError

    def frames(self, fps: float) -> Iterator[tuple[float, np.ndarray]]:
        """``(time_s, HxWx3 uint8 RGB)`` frames picked at ``fps``."""
        raise NotImplementedError

    def audio_finished(self) -> None:
        """Called once the audio stream was read through: refuse audio with nothing usable and
        note truncation or cleaned samples in ``info.warnings`` (files only)."""

    def measured_duration(self) -> float:
        """Duration found by reading the frames when the header gives none."""
        last = 0.0
        for t, _ in self.frames(1.0):
            last = t
        return last + 1.0


class FileMedia(Media):
    """A media file, decoded by PyAV as it streams."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.info = decode.probe(path)
        self.stats = decode.AudioStats()

    def audio_chunks(self) -> Iterator[np.ndarray]:
        self.stats = decode.AudioStats()
        return decode.iter_audio(self.path, stats=self.stats)

    def audio_finished(self) -> None:
        decode.audio_notes(self.path, self.info, self.stats)

    def frames(self, fps: float) -> Iterator[tuple[float, np.ndarray]]:
        return decode.iter_frames(self.path, fps=fps, notes=self.info.warnings)


class ArrayMedia(Media):
    """In-memory frames and/or samples."""

    def __init__(self, video: Video | None = None, audio: Audio | None = None) -> None:
        self._audio = mono16k(audio) if audio is not None else None
        self._frames, self._fps = (video.frames, float(video.fps)) if video is not None else ((), None)
        info = MediaInfo(path=video.name if video is not None else audio.name,
                         kind="video" if video is not None else "audio", size_bytes=0, duration=0.0)
        if self._audio is not None:
            info.has_audio, info.sample_rate = True, int(audio.sample_rate)
            info.size_bytes, info.duration = np.asarray(audio.samples).nbytes, self._audio.size / decode.SAMPLE_RATE
        if video is not None:
            if not np.isfinite(self._fps) or self._fps <= 0:
                raise InputError(info.path, f"video fps must be positive and finite, got {video.fps}")
            if len(self._frames) == 0:
                raise InputError(info.path, "video has no frames")
            info.height, info.width = rgb(self._frames[0], info.path).shape[:2]
            info.has_video, info.fps = True, self._fps
            info.size_bytes += sum(np.asarray(f).nbytes for f in self._frames)
            info.duration = max(info.duration, len(self._frames) / self._fps)
        self.info = info

    def audio_chunks(self) -> Iterator[np.ndarray]:
        step = 10 * decode.SAMPLE_RATE
        for s in range(0, self._audio.size, step):
            yield self._audio[s:s + step]

    def frames(self, fps: float) -> Iterator[tuple[float, np.ndarray]]:
        timed = ((i / self._fps, f) for i, f in enumerate(self._frames))
        for t, f in decode.pick_frames(timed, fps):
            yield t, decode.fit_side(rgb(f, self.info.path))


def media_of(source: Source) -> tuple[str, Any]:
    """``(kind, payload)`` for any source: ``image`` (a path, or an :class:`Image` holding an RGB
    array), ``text``/``dialogue`` (a path or a :class:`Text`), or ``media`` (a :class:`Media`)."""
    if isinstance(source, (str, os.PathLike)):
        p = decode.check_file(source)
        kind = decode.input_kind(p)
        if kind == "media":
            return kind, FileMedia(p)
        return kind, p
    if isinstance(source, Text):
        if not source.text.strip():
            raise InputError(source.name, "text is empty")
        return "text", source
    if isinstance(source, Video):
        return "media", ArrayMedia(video=source, audio=source.audio)
    if isinstance(source, Audio):
        return "media", ArrayMedia(audio=source)
    if isinstance(source, Image):
        return "image", Image(rgb(source.pixels, source.name), source.name)
    if isinstance(source, np.ndarray) or hasattr(source, "convert"):
        return "image", Image(rgb(source, "<image>"))
    raise TypeError(f"cannot analyze a {type(source).__name__}: pass a path, Audio, Video, Image, Text, "
                    "a numpy image or a PIL image")
