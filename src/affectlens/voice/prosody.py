"""Prosodic and voice-quality measurements on 16 kHz mono audio (pure numpy).

Everything here is a pure function of a float waveform. Frame rate is 100 Hz
(10 ms hop) throughout. The measurements are the classic, interpretable ones:

- F0 with a vectorised YIN tracker (de Cheveigné & Kawahara 2002), in Hz and in
  semitones; F0 median/range relative to a speaker baseline.
- RMS energy in dBFS, an energy-based speech mask, SNR estimate.
- Speaking rate from syllable nuclei (intensity peaks in voiced speech, after
  de Jong & Wempe 2009), pause ratio.
- Jitter and shimmer *proxies* (frame-level, not cycle-level as in Praat),
  harmonics-to-noise ratio from the YIN aperiodicity, spectral tilt and alpha ratio.

:func:`prosody_vector` summarises them as fixed-length statistics for the
classifier; :func:`prosody_cues` turns them into ``Cue`` objects for explanations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SR = 16000
HOP = 160  # 10 ms
WIN = 400  # 25 ms analysis window for energy/spectrum
F0_MIN = 60.0
F0_MAX = 600.0
ST_REF_HZ = 55.0  # semitone reference (A1)


def frame_signal(x: np.ndarray, frame: int, hop: int = HOP) -> np.ndarray:
    """Frame a signal into overlapping windows (zero-padded at the end).

    Parameters
    ----------
    x : ndarray, shape (n,)
        Waveform.
    frame : int
        Frame length in samples.
    hop : int
        Hop in samples.

    Returns
    -------
    ndarray, shape (n_frames, frame)
        A strided view; ``n_frames = ceil(n / hop)`` (at least 1).
    """
    x = np.asarray(x, dtype=np.float32)
    n_frames = max(1, int(np.ceil(len(x) / hop)))
    need = (n_frames - 1) * hop + frame
    if len(x) < need:
        x = np.pad(x, (0, need - len(x)))
    return np.lib.stride_tricks.as_strided(
        x, shape=(n_frames, frame), strides=(hop * x.strides[0], x.strides[0]), writeable=False
    )


def rms_db(x: np.ndarray, frame: int = WIN, hop: int = HOP) -> np.ndarray:
    """Frame RMS level in dBFS (floor -100 dB).

    Parameters
    ----------
    x : ndarray
        Waveform in [-1, 1].
    frame, hop : int
        Frame length and hop in samples.

    Returns
    -------
    ndarray, shape (n_frames,)
    """
    fr = frame_signal(x, frame, hop)
    rms = np.sqrt(np.mean(fr.astype(np.float64) ** 2, axis=1))
    return 20.0 * np.log10(np.maximum(rms, 1e-5))


def speech_mask(db: np.ndarray, floor_db: float = -70.0) -> np.ndarray:
    """Energy-based speech/non-speech decision per frame.

    A frame is speech when it is above an absolute floor, within 30 dB of the
    clip's loud frames (95th percentile) and clearly above the noise floor
    (10th percentile + 6 dB, capped 10 dB below the loud level so that
    speech-only clips stay speech). Isolated decisions are smoothed with a
    3-frame majority filter.

    Parameters
    ----------
    db : ndarray
        Frame levels from :func:`rms_db`.
    floor_db : float
        Absolute silence floor in dBFS.

    Returns
    -------
    ndarray of bool, same shape as ``db``
    """
    if db.size == 0:
        return np.zeros(0, dtype=bool)
    loud = np.percentile(db, 95)
    quiet = np.percentile(db, 10)
    thr = max(floor_db, loud - 30.0, min(quiet + 6.0, loud - 10.0))
    m = db > thr
    if m.size >= 3:
        s = m.astype(np.int8)
        s = s + np.concatenate([[s[0]], s[:-1]]) + np.concatenate([s[1:], [s[-1]]])
        m = s >= 2
    return m


def snr_db(db: np.ndarray, mask: np.ndarray) -> float:
    """Rough SNR: mean level of speech frames minus that of non-speech frames (dB).

    When there are no non-speech frames, the 5th percentile stands for the noise.
    """
    if not mask.any():
        return 0.0
    speech = float(np.mean(db[mask]))
    noise = float(np.mean(db[~mask])) if (~mask).sum() >= 5 else float(np.percentile(db, 5))
    return max(0.0, speech - noise)


@dataclass
class Pitch:
    """Output of :func:`yin`: per-frame F0 (Hz, 0 = unvoiced) and aperiodicity."""

    f0: np.ndarray
    aperiodicity: np.ndarray
    voiced: np.ndarray


def yin(
    x: np.ndarray,
    sr: int = SR,
    fmin: float = F0_MIN,
    fmax: float = F0_MAX,
    hop: int = HOP,
    threshold: float = 0.3,
    level_mask: np.ndarray | None = None,
) -> Pitch:
    """Vectorised YIN pitch tracker.

    Parameters
    ----------
    x : ndarray
        Waveform.
    sr : int
        Sample rate.
    fmin, fmax : float
        Search range in Hz.
    hop : int
        Hop in samples (frames align with :func:`rms_db`).
    threshold : float
        Cumulative-mean-normalised difference below which a dip counts as a period.
    level_mask : ndarray of bool, optional
        Frames allowed to be voiced (e.g. the speech mask); others are unvoiced.

    Returns
    -------
    Pitch
        ``f0`` in Hz (0 where unvoiced), ``aperiodicity`` in [0, 1] (the CMND
        value at the chosen lag; low = periodic), ``voiced`` bool mask.
    """
    tau_min = max(2, int(sr / fmax))
    tau_max = int(np.ceil(sr / fmin))
    w = 2 * tau_max  # integration window: 2 periods of the lowest F0
    frame = w + tau_max + 1
    fr_all = frame_signal(x, frame, hop)
    n_all = fr_all.shape[0]
    rows_all = np.ones(n_all, dtype=bool)
    if level_mask is not None:
        m = np.asarray(level_mask, dtype=bool)[:n_all]
        rows_all = np.zeros(n_all, dtype=bool)
        rows_all[: len(m)] = m
    f0 = np.zeros(n_all)
    ap = np.ones(n_all)
    voiced = np.zeros(n_all, dtype=bool)
    if not rows_all.any():
        return Pitch(f0=f0, aperiodicity=ap, voiced=voiced)
    fr = fr_all[rows_all].astype(np.float64)
    n = fr.shape[0]
    # lags <= tau_max of a w-long window never wrap around an nfft >= frame FFT
    nfft = 1 << int(np.ceil(np.log2(frame)))
    a = fr[:, :w]
    cross = np.fft.irfft(np.conj(np.fft.rfft(a, nfft)) * np.fft.rfft(fr, nfft), nfft)[:, : tau_max + 1]
    sq = np.concatenate([np.zeros((n, 1)), np.cumsum(fr**2, axis=1)], axis=1)
    taus = np.arange(tau_max + 1)
    e_tau = sq[:, taus + w] - sq[:, taus]
    d = np.maximum(sq[:, w][:, None] + e_tau - 2.0 * cross, 0.0)
    cum = np.cumsum(d[:, 1:], axis=1)
    cmnd = np.ones_like(d)
    cmnd[:, 1:] = d[:, 1:] * taus[1:] / np.maximum(cum, 1e-12)
    seg = cmnd[:, tau_min:]
    below = seg < threshold
    has = below.any(axis=1)
    idx = np.where(has, below.argmax(axis=1), seg.argmin(axis=1))
    # walk to the bottom of the dip
    rows = np.arange(n)
    for _ in range(tau_max):
        nxt = np.minimum(idx + 1, seg.shape[1] - 1)
        step = seg[rows, nxt] < seg[rows, idx]
        if not step.any():
            break
        idx = np.where(step, nxt, idx)
    tau = idx + tau_min
    # parabolic interpolation on the CMND
    left = cmnd[rows, np.maximum(tau - 1, 1)]
    mid = cmnd[rows, tau]
    right = cmnd[rows, np.minimum(tau + 1, tau_max)]
    denom = left - 2 * mid + right
    shift = np.where(np.abs(denom) > 1e-12, 0.5 * (left - right) / np.where(denom == 0, 1, denom), 0.0)
    tau_f = tau + np.clip(shift, -1, 1)
    v = has & (tau > tau_min) & (tau < tau_max)
    voiced[rows_all] = v
    ap[rows_all] = np.clip(mid, 0.0, 1.0)
    f0[rows_all] = np.where(v, sr / tau_f, 0.0)
    return Pitch(f0=f0, aperiodicity=ap, voiced=voiced)


def hz_to_st(f0: np.ndarray, ref: float = ST_REF_HZ) -> np.ndarray:
    """Hz to semitones relative to ``ref`` (default 55 Hz); non-positive -> nan."""
    f0 = np.asarray(f0, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(f0 > 0, 12.0 * np.log2(f0 / ref), np.nan)


#: a voiced frame this far (st) from its reference is taken for an octave error
OCTAVE_JUMP_ST = 9.0


def octave_corrected(st: np.ndarray, window: int = 25) -> np.ndarray:
    """F0 contour (semitones, voiced frames in time order) with octave jumps folded back.

    YIN sometimes locks onto half or double the true period, which puts single frames
    12 semitones off and inflates the pitch range. A frame more than ``OCTAVE_JUMP_ST``
    from its reference is moved by whole octaves towards it: first the clip's median,
    then the running median of ``window`` frames of the once-corrected contour.
    """
    st = np.asarray(st, dtype=np.float64).copy()
    if st.size == 0:
        return st

    def fold(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
        dev = x - ref
        k = np.where(np.abs(dev) > OCTAVE_JUMP_ST, np.round(dev / 12.0), 0.0)
        return x - 12.0 * k

    st = fold(st, np.full_like(st, np.median(st)))
    half = window // 2
    padded = np.pad(st, half, mode="edge")
    local = np.median(np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1), axis=1)
    return fold(st, local)


def syllable_nuclei(db: np.ndarray, voiced: np.ndarray, min_dip_db: float = 2.0,
                    min_gap: int = 8) -> np.ndarray:
    """Frame indices of syllable nuclei: voiced intensity peaks with a dip before them.

    Parameters
    ----------
    db : ndarray
        Frame levels (dB) at 100 Hz.
    voiced : ndarray of bool
        Voiced frames.
    min_dip_db : float
        A peak counts when the level dipped at least this much since the previous peak.
    min_gap : int
        Minimum frames between nuclei (80 ms).

    Returns
    -------
    ndarray of int
    """
    if db.size < 3:
        return np.zeros(0, dtype=int)
    sm = np.convolve(db, np.ones(5) / 5, mode="same")
    loud = np.percentile(sm[voiced], 50) if voiced.any() else np.max(sm)
    is_peak = (sm[1:-1] > sm[:-2]) & (sm[1:-1] >= sm[2:])
    cand = np.nonzero(is_peak)[0] + 1
    cand = cand[voiced[cand] & (sm[cand] > loud - 12.0)]
    out: list[int] = []
    for c in cand:
        if out:
            prev = out[-1]
            dip = sm[prev:c + 1].min()
            if c - prev < min_gap or min(sm[prev], sm[c]) - dip < min_dip_db:
                if sm[c] > sm[prev] and c - prev < min_gap:
                    out[-1] = int(c)
                continue
        out.append(int(c))
    return np.asarray(out, dtype=int)


def pause_ratio(mask: np.ndarray, min_pause: int = 15) -> float:
    """Share of the speech extent (first to last speech frame) spent in pauses ≥ ``min_pause`` frames."""
    idx = np.nonzero(mask)[0]
    if idx.size < 2:
        return 0.0
    inner = ~mask[idx[0]: idx[-1] + 1]
    total = 0
    run = 0
    for v in inner:
        if v:
            run += 1
        else:
            if run >= min_pause:
                total += run
            run = 0
    if run >= min_pause:
        total += run
    return total / inner.size


def spectral_measures(x: np.ndarray, mask: np.ndarray, sr: int = SR) -> dict[str, np.ndarray]:
    """Per-frame spectral measures on speech frames.

    Returns
    -------
    dict
        ``tilt_db_oct`` (regression slope of the log power spectrum, 100–5000 Hz, in dB
        per octave), ``alpha_ratio_db`` (energy 1–5 kHz over 50 Hz–1 kHz),
        ``centroid_hz``, ``flux`` (spectral change) for the speech frames.
    """
    fr = frame_signal(x, 512, HOP)[: len(mask)]
    fr = fr[mask] if mask.any() else fr[:0]
    if fr.shape[0] == 0:
        z = np.zeros(0)
        return {"tilt_db_oct": z, "alpha_ratio_db": z, "centroid_hz": z, "flux": z}
    spec = np.abs(np.fft.rfft(fr * np.hanning(512), axis=1)) ** 2 + 1e-10
    freqs = np.fft.rfftfreq(512, 1.0 / sr)
    band = (freqs >= 100) & (freqs <= 5000)
    lf = np.log2(freqs[band])
    lp = 10 * np.log10(spec[:, band])
    lfc = lf - lf.mean()
    tilt = (lp - lp.mean(axis=1, keepdims=True)) @ lfc / (lfc @ lfc)
    lo = spec[:, (freqs >= 50) & (freqs < 1000)].sum(axis=1)
    hi = spec[:, (freqs >= 1000) & (freqs <= 5000)].sum(axis=1)
    alpha = 10 * np.log10(hi / lo)
    centroid = (spec * freqs).sum(axis=1) / spec.sum(axis=1)
    ls = np.log(spec)
    flux = np.r_[0.0, np.sqrt(np.mean(np.diff(ls, axis=0) ** 2, axis=1))] if len(ls) > 1 else np.zeros(1)
    return {"tilt_db_oct": tilt, "alpha_ratio_db": alpha, "centroid_hz": centroid, "flux": flux}


@dataclass
class Prosody:
    """Frame-level prosody of one clip (100 Hz frames)."""

    db: np.ndarray
    mask: np.ndarray
    pitch: Pitch
    duration: float
    #: derived measurements shared by :func:`prosody_vector` and :func:`prosody_cues`
    cache: dict = field(default_factory=dict, repr=False)

    @property
    def speech_s(self) -> float:
        return float(self.mask.sum() * HOP / SR)


def analyse(x: np.ndarray, sr: int = SR) -> Prosody:
    """Frame-level energy, speech mask and pitch of a 16 kHz clip.

    Parameters
    ----------
    x : ndarray
        16 kHz mono waveform.
    sr : int
        Must be 16000.
    """
    if sr != SR:
        raise ValueError(f"prosody expects {SR} Hz audio, got {sr}")
    x = np.asarray(x, dtype=np.float32)
    db = rms_db(x)
    mask = speech_mask(db)
    pitch = yin(x, sr, level_mask=mask)
    return Prosody(db=db, mask=mask, pitch=pitch, duration=len(x) / sr)


def _derived(x: np.ndarray, pr: Prosody) -> dict:
    """Spectral measures, jitter/shimmer and syllable nuclei of ``pr``, computed once."""
    if not pr.cache:
        pr.cache["spectral"] = spectral_measures(x, pr.mask)
        pr.cache["jitter_shimmer"] = jitter_shimmer(x, pr)
        pr.cache["nuclei"] = syllable_nuclei(pr.db, pr.pitch.voiced)
    return pr.cache


def _stats(v: np.ndarray) -> list[float]:
    v = v[np.isfinite(v)]
    if v.size == 0:
        return [0.0] * 6
    p = np.percentile(v, [10, 50, 90])
    return [float(v.mean()), float(v.std()), float(p[0]), float(p[1]), float(p[2]), float(p[2] - p[0])]


def jitter_shimmer(x: np.ndarray, pr: Prosody) -> tuple[float, float]:
    """Jitter and shimmer proxies over runs of voiced frames.

    Jitter: mean absolute relative change of the period between consecutive voiced
    frames (10 ms apart). Shimmer: mean absolute change of the frame peak amplitude
    in dB between consecutive voiced frames. Frame-level proxies of the Praat
    cycle-level measures; comparable within one recording chain only.
    """
    f0 = pr.pitch.f0
    v = pr.pitch.voiced
    both = v[1:] & v[:-1]
    if both.sum() < 3:
        return 0.0, 0.0
    per = np.where(v, 1.0 / np.maximum(f0, 1e-6), 0.0)
    jit = np.abs(np.diff(per))[both] / per[1:][both]
    fr = frame_signal(x, WIN, HOP)[: len(v)]
    peak_db = 20 * np.log10(np.maximum(np.abs(fr).max(axis=1), 1e-5))
    shim = np.abs(np.diff(peak_db))[both]
    return float(np.median(jit)), float(np.median(shim))


#: names of the entries of :func:`prosody_vector`, in order
def vector_names() -> list[str]:
    stat = ("mean", "std", "p10", "p50", "p90", "range")
    names = []
    for base in ("f0_st", "f0_rel_st", "f0_delta_st", "db_rel", "db_delta", "hnr_db",
                 "tilt", "alpha", "centroid_khz", "flux"):
        names += [f"{base}_{s}" for s in stat]
    names += ["voiced_frac", "speech_frac", "pause_ratio", "syl_rate", "jitter", "shimmer",
              "log_speech_s", "f0_slope_st_s", "db_slope_s"]
    return names


def prosody_vector(x: np.ndarray, sr: int = SR, pr: Prosody | None = None) -> np.ndarray:
    """Fixed-length eGeMAPS-like summary of one clip (see :func:`vector_names`).

    Level features are relative to the clip itself (``db_rel`` = level minus the
    clip's speech median) so that recording gain does not leak in; absolute level
    is left out on purpose (it cost nothing on cross-validation).

    Returns
    -------
    ndarray, shape (len(vector_names()),), float32
    """
    pr = pr or analyse(x, sr)
    v = pr.pitch.voiced
    st = hz_to_st(pr.pitch.f0)
    st_v = st[v]
    med = np.median(st_v) if st_v.size else 0.0
    st_rel = st_v - med
    dst = np.diff(st)
    dst = dst[np.isfinite(dst)]
    m = pr.mask
    db_s = pr.db[m] if m.any() else pr.db
    db_rel = db_s - np.median(db_s)
    ddb = np.diff(db_s)
    ap = pr.pitch.aperiodicity[v]
    hnr = 10 * np.log10(np.clip(1 - ap, 1e-3, 1) / np.clip(ap, 1e-3, 1))
    der = _derived(x, pr)
    sp = der["spectral"]
    n = max(1, len(m))
    nuclei = der["nuclei"]
    speech_s = max(pr.speech_s, 1e-2)
    jit, shim = der["jitter_shimmer"]
    t = np.arange(len(st)) * HOP / SR

    def slope(tt: np.ndarray, yy: np.ndarray) -> float:
        if yy.size < 3 or np.ptp(tt) == 0:
            return 0.0
        return float(np.polyfit(tt, yy, 1)[0])

    feats = (_stats(st_v) + _stats(st_rel) + _stats(np.abs(dst)) + _stats(db_rel)
             + _stats(np.abs(ddb)) + _stats(hnr) + _stats(sp["tilt_db_oct"])
             + _stats(sp["alpha_ratio_db"]) + _stats(sp["centroid_hz"] / 1000.0) + _stats(sp["flux"]))
    feats += [v.sum() / max(1, m.sum()), m.sum() / n, pause_ratio(m), len(nuclei) / speech_s,
              jit, shim, float(np.log(speech_s)), slope(t[v], st_v), slope(t[m], db_s) if m.any() else 0.0]
    return np.nan_to_num(np.asarray(feats, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)


def prosody_cues(x: np.ndarray, t0: float = 0.0, sr: int = SR, baseline_st: float | None = None,
                 pr: Prosody | None = None) -> list:
    """Interpretable voice cues of one segment, as ``affectlens.schema.Cue`` objects.

    Parameters
    ----------
    x : ndarray
        16 kHz mono waveform of the segment.
    t0 : float
        Segment start time (s); cue times are absolute.
    baseline_st : float, optional
        The speaker's F0 median in semitones re 55 Hz, carried as the ``baseline`` of
        ``f0_median_st`` (which is always absolute, re 55 Hz). The F0 cues are read from
        the octave-corrected contour (:func:`octave_corrected`).
    pr : Prosody, optional
        Precomputed :func:`analyse` result.

    Returns
    -------
    list of Cue
        f0_median_st, f0_range_st, loudness_db, speaking_rate_syl_s, pause_ratio,
        jitter_proxy, shimmer_proxy_db, hnr_db, spectral_tilt_db_oct (those measurable).
    """
    from ..schema import Cue

    pr = pr or analyse(x, sr)
    m = pr.mask
    if not m.any():
        return []
    idx = np.nonzero(m)[0]
    c0 = t0 + idx[0] * HOP / sr
    c1 = t0 + min((idx[-1] + 1) * HOP / sr, pr.duration)
    v = pr.pitch.voiced
    cues = []

    def add(name: str, value: float, unit: str, baseline: float | None = None) -> None:
        if np.isfinite(value):
            cues.append(Cue(modality="voice", name=name, value=round(float(value), 3), unit=unit,
                            t0=round(c0, 3), t1=round(c1, 3),
                            baseline=None if baseline is None else round(float(baseline), 3)))

    if v.sum() >= 5:
        st = octave_corrected(hz_to_st(pr.pitch.f0[v]))
        med = float(np.median(st))
        add("f0_median_st", med, "st re 55 Hz", baseline_st)
        p10, p90 = np.percentile(st, [10, 90])
        add("f0_range_st", p90 - p10, "st (p10-p90)")
        ap = pr.pitch.aperiodicity[v]
        add("hnr_db", float(np.median(10 * np.log10(np.clip(1 - ap, 1e-3, 1) / np.clip(ap, 1e-3, 1)))), "dB")
        jit, shim = _derived(x, pr)["jitter_shimmer"]
        add("jitter_proxy", jit, "rel. period change / 10 ms")
        add("shimmer_proxy_db", shim, "dB / 10 ms")
    add("loudness_db", float(np.median(pr.db[m])), "dBFS")
    nuclei = _derived(x, pr)["nuclei"]
    add("speaking_rate_syl_s", len(nuclei) / max(pr.speech_s, 1e-2), "syllables/s of speech")
    add("pause_ratio", pause_ratio(m), "share of speech extent")
    sp = _derived(x, pr)["spectral"]
    if sp["tilt_db_oct"].size:
        add("spectral_tilt_db_oct", float(np.median(sp["tilt_db_oct"])), "dB/octave")
    return cues
