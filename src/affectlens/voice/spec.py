"""The voice modality, declared (see :class:`affectlens.modality.ModalitySpec`)."""

from __future__ import annotations

from pathlib import Path

from ..modality import CueSpec, ModalitySpec

CUES = (  # subject, change threshold (cue unit), decimals, headline: see affectlens.reason.cues
    CueSpec("f0_median_st", ("st re 55 Hz",), "median pitch (octave-corrected contour)",
            "Pitch (median F0)", 2.0, 1, headline=True),
    CueSpec("f0_range_st", ("st (p10-p90)",), "pitch range (octave-corrected contour)", "Pitch range", 4.0, 1),
    CueSpec("hnr_db", ("dB",), "harmonics-to-noise ratio", "Harmonics-to-noise ratio", 3.0, 1),
    CueSpec("jitter_proxy", ("rel. period change / 10 ms",), "jitter (proxy)"),
    CueSpec("shimmer_proxy_db", ("dB / 10 ms",), "shimmer (proxy)"),
    CueSpec("loudness_db", ("dBFS",), "median loudness of speech", "Loudness", 4.0, 1, headline=True),
    CueSpec("speaking_rate_syl_s", ("syllables/s of speech",), "speaking rate", "Speaking rate", 1.0, 1,
            headline=True),
    CueSpec("pause_ratio", ("share of speech extent",), "share of pauses", "Pause share", 0.15, 2),
    CueSpec("spectral_tilt_db_oct", ("dB/octave",), "spectral tilt"),
)

SPEC = ModalitySpec(
    order=1,
    key="voice",
    needs="audio",
    analyzers={"voice": "affectlens.voice.analyzer:VoiceAnalyzer"},
    no_input="input has no audio stream",
    none_found="no speech found",
    quality_keys=("speech_s",),
    cues=CUES,
    eval_tasks={"voice": "voice"},
    examples="affectlens.voice.spec:examples",
)


def examples(root: Path):
    """A RAVDESS angry sentence; one second of silence has no voice."""
    import numpy as np

    from ..analyzers import SegmentInput
    from ..media import decode

    clip = next((root / "tests" / "data" / "voice").glob("03-01-05-*.flac"))
    audio = np.concatenate(list(decode.iter_audio(clip)))
    return [SegmentInput(0.0, audio.size / 16000, audio=audio)], SegmentInput(0.0, 1.0, audio=np.zeros(16000, np.float32))
