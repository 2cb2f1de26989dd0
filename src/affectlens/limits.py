"""Input limits, decided from file headers before any work starts.

Each limit has an environment variable; the values are read on every call, so a change
takes effect without a restart. A bad value is an error naming the variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

#: variable -> (default, unit, what it bounds)
LIMITS = {
    "AFFECTLENS_MAX_BYTES": (20_000_000_000, "bytes", "size of a media file"),
    "AFFECTLENS_MAX_TEXT_BYTES": (10_000_000, "bytes", "size of a text, subtitle or table file"),
    "AFFECTLENS_MAX_UTTERANCES": (1000, "count", "utterances in one text input"),
    "AFFECTLENS_MAX_WORDS": (15_000, "count", "words in one text input (word evidence costs one pass per word)"),
    "AFFECTLENS_MAX_DURATION_S": (12 * 3600, "seconds", "duration of audio or video"),
    "AFFECTLENS_MIN_SAMPLE_RATE": (4000, "Hz", "lowest audio sample rate"),
    "AFFECTLENS_MAX_SAMPLE_RATE": (768_000, "Hz", "highest audio sample rate"),
    "AFFECTLENS_MAX_PIXELS": (50_000_000, "pixels", "pixels of an image or video frame"),
    "AFFECTLENS_MAX_SPOOL_BYTES": (2_000_000_000, "bytes", "audio spooled to the temp folder"),
}


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_text_bytes: int
    max_utterances: int
    max_words: int
    max_duration_s: float
    min_sample_rate: int
    max_sample_rate: int
    max_pixels: int
    max_spool_bytes: int


class LimitSettingError(ValueError):
    """An ``AFFECTLENS_MAX_*`` variable holds something that is not a positive number."""


def current() -> Limits:
    """The limits in force now (defaults overridden by the environment)."""
    values = []
    for var, (default, _, _) in LIMITS.items():
        raw = os.environ.get(var)
        if raw is None or not raw.strip():
            values.append(default)
            continue
        try:
            value = float(raw)
        except ValueError:
            raise LimitSettingError(f"{var}={raw!r} is not a number") from None
        if not value > 0 or value == float("inf"):
            raise LimitSettingError(f"{var}={raw!r} must be a positive finite number")
        values.append(value if isinstance(default, float) else int(value))
    return Limits(*values)


def human_bytes(n: float) -> str:
    """``1536`` -> ``1.5 KB``; decimal units, enough digits to tell two sizes apart."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} bytes"


def human_seconds(s: float) -> str:
    """``46800`` -> ``13.0 h``."""
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    if s >= 60:
        return f"{s / 60:.1f} min"
    return f"{s:.2f} s"
