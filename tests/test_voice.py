"""Voice modality: prosody, encoder export, analyzer and recipe."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from affectlens.analyzers import ModelUnavailable, SegmentInput
from affectlens.registry import get_analyzer
from affectlens.schema import LABELS
from affectlens.evaluate.corpora import speech as corpora
from affectlens.train import whisper_np
from affectlens.voice import features, head, prosody

from conftest import DATA, corpus_path

VOICE = DATA / "voice"
SR = 16000


def _tone(f0: float, seconds: float = 1.0, harmonics: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, harmonics + 1))
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def _analyzer():
    try:
        return get_analyzer("voice")
    except ModelUnavailable as exc:
        pytest.skip(str(exc))


# -- prosody ---------------------------------------------------------------------------
@pytest.mark.parametrize("f0", [85.0, 150.0, 220.0, 400.0])
@pytest.mark.parametrize("harmonics", [1, 5])
def test_yin_tone_f0_within_2_percent(f0, harmonics):
    pr = prosody.analyse(_tone(f0, harmonics=harmonics))
    assert pr.pitch.voiced.mean() > 0.9
    assert abs(np.median(pr.pitch.f0[pr.pitch.voiced]) / f0 - 1) < 0.02


def test_rms_db_and_speech_mask():
    x = np.concatenate([np.zeros(SR, np.float32), _tone(200.0), np.zeros(SR, np.float32)])
    db = prosody.rms_db(x)
    assert len(db) == int(np.ceil(len(x) / prosody.HOP))
    # a 0.3-amplitude sine is ~ -13.5 dBFS RMS
    assert abs(np.median(db[120:180]) - 20 * np.log10(0.3 / np.sqrt(2))) < 0.5
    mask = prosody.speech_mask(db)
    assert mask[110:190].all() and not mask[:90].any() and not mask[-90:].any()
    pr = prosody.analyse(x)
    assert 0.95 < pr.speech_s < 1.1
    assert prosody.pause_ratio(pr.mask) == 0.0


def test_pause_ratio_and_semitones():
    m = np.array([1] * 50 + [0] * 50 + [1] * 50, dtype=bool)
    assert prosody.pause_ratio(m) == pytest.approx(50 / 150)
    assert prosody.hz_to_st(np.array([110.0]))[0] == pytest.approx(12.0)
    assert np.isnan(prosody.hz_to_st(np.array([0.0]))[0])


def test_prosody_vector_and_cues_on_tone():
    x = _tone(200.0, seconds=1.5, harmonics=5)
    v = prosody.prosody_vector(x)
    assert v.shape == (len(prosody.vector_names()),) and np.isfinite(v).all()
    cues = prosody.prosody_cues(x, t0=10.0, baseline_st=float(prosody.hz_to_st(np.array([100.0]))[0]))
    byname = {c.name: c for c in cues}
    f0 = byname["f0_median_st"]  # 200 Hz is 22.35 st re 55 Hz, an octave above the 100 Hz baseline
    assert f0.unit == "st re 55 Hz" and f0.value == pytest.approx(22.35, abs=0.35)
    assert f0.value - f0.baseline == pytest.approx(12.0, abs=0.35)
    assert byname["f0_median_st"].t0 >= 10.0 and byname["f0_median_st"].modality == "voice"
    assert {"loudness_db", "f0_range_st", "speaking_rate_syl_s", "pause_ratio", "jitter_proxy",
            "shimmer_proxy_db", "hnr_db", "spectral_tilt_db_oct"} <= set(byname)


# -- labels ----------------------------------------------------------------------------
def test_circumplex_valence_arousal():
    va = head.valence_arousal(np.eye(len(LABELS))[LABELS.index("happy")])
    assert va[0] > 0.5 and va[1] > 0
    va = head.valence_arousal(np.eye(len(LABELS))[LABELS.index("sad")])
    assert va[0] < -0.5 and va[1] < 0


def test_speaker_stats_running_mean_and_variance():
    from affectlens.voice.analyzer import SpeakerStats

    st = SpeakerStats()
    rows = np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 1.0]])
    for r in rows:
        st.add("a", r)
    st.add("b", np.array([7.0, 7.0]))
    mean, var, n = st.get("a")
    assert mean == pytest.approx(rows.mean(0)) and var == pytest.approx(rows.var(0)) and n[0] == 3
    mean, var, n = st.get("b")
    assert mean == pytest.approx([7.0, 7.0]) and var == pytest.approx([0.0, 0.0]) and n[0] == 1


def test_parse_file_names():
    a = corpora.parse("Actor_03/03-01-05-02-01-01-03.flac")
    assert (a.corpus, a.speaker, a.target, a.intensity) == ("ravdess", "ravdess-03", "angry", 2)
    b = corpora.parse("08a02La.flac")
    assert (b.corpus, b.speaker, b.target) == ("emodb", "emodb-08", "bored")
    with pytest.raises(ValueError):
        corpora.parse("hello.flac")


# -- encoder ---------------------------------------------------------------------------
def test_log_mel_matches_whisper_frontend():
    fw = pytest.importorskip("faster_whisper.feature_extractor")
    x = corpora.load_audio(VOICE / "03a01Wa.flac")
    ref = fw.FeatureExtractor()(x, padding=0)
    ours = features.log_mel(x)
    assert np.abs(ours[:, : ref.shape[1]] - ref).max() < 1e-4


def test_numpy_encoder_matches_ctranslate2():
    pytest.importorskip("ctranslate2")
    x = corpora.load_audio(VOICE / "03a01Wa.flac")[: SR * 2]
    ref = features.WhisperEncoder(threads=1).encode(x)
    ours = whisper_np.WhisperEncoderNP(features.default_whisper_dir() / "model.bin")(features.log_mel(x))[-1]
    assert ours.shape == ref.shape
    assert np.corrcoef(ours.ravel(), ref.ravel())[0, 1] > 0.9999


def test_shipped_encoder_matches_numpy_blocks():
    an = _analyzer()
    x = corpora.load_audio(VOICE / "03-01-04-01-02-01-10.flac")
    pr = prosody.analyse(x)
    s, e = features.speech_extent(pr.mask, len(x))
    pooled = features.make_encoder(an.model_dir)(x[s:e], pr.mask[s // prosody.HOP:])
    states = whisper_np.WhisperEncoderNP(features.default_whisper_dir() / "model.bin")(
        features.log_mel(x[s:e]))
    ref = np.concatenate([features.pool_states(states[k], pr.mask[s // prosody.HOP:]) for k in (1, 2, 3)])
    assert pooled.shape == ref.shape
    assert np.corrcoef(pooled, ref)[0, 1] > 0.999


# -- analyzer --------------------------------------------------------------------------
def test_analyzer_real_clips():
    an = _analyzer()
    clips = sorted(VOICE.glob("*.flac"))
    assert clips
    batch = []
    for i, f in enumerate(clips):
        x = corpora.load_audio(f)
        batch.append(SegmentInput(t0=10.0 * i, t1=10.0 * i + len(x) / SR, audio=x, speaker="S1"))
    ests = an.analyze_batch(batch)
    assert all(e is not None for e in ests)
    # each segment is read with its speaker's statistics up to and including itself
    assert [e.quality["speaker_segments"] for e in ests] == list(range(1, len(clips) + 1))
    for e in ests:
        assert e.fine == {}  # v0.2 reads canonical labels only
        assert set(e.probs) == set(LABELS) and sum(e.probs.values()) == pytest.approx(1.0, abs=1e-4)
        assert -1 <= e.valence <= 1 and -1 <= e.arousal <= 1
        assert {"speech_s", "rms_db", "snr_db", "domain"} <= set(e.quality) and e.quality["speech_s"] > 0.5
        assert 0 < e.quality["domain"] < 50
        names = {c.name for c in e.cues}
        assert {"f0_median_st", "loudness_db", "speaking_rate_syl_s"} <= names
    # later segments of the same speaker carry a running F0 baseline
    assert any(c.baseline is not None for c in ests[-1].cues if c.name == "f0_median_st")
    # a fresh run gives the same result; the same clip alone is read with its own statistics only
    again = an.analyze_batch(batch)
    assert [e.probs for e in again] == [e.probs for e in ests]
    single = an.analyze(batch[0])
    assert single.quality["speaker_segments"] == 1


def test_two_speakers_keep_separate_statistics():
    an = _analyzer()
    clips = sorted(VOICE.glob("*.flac"))[:3]
    batch = [SegmentInput(0.0, 3.0, audio=corpora.load_audio(f), speaker=s) for f, s in zip(clips, "ABA")]
    ests = an.analyze_batch(batch)
    assert [e.quality["speaker_segments"] for e in ests] == [1, 1, 2]
    # cutting a run into batches does not change a result
    from affectlens.state import RunState

    with RunState() as st:
        parts = an.analyze_batch(batch[:1], st) + an.analyze_batch(batch[1:], st)
    assert [e.probs for e in parts] == [e.probs for e in ests]


def test_primed_statistics_read_every_clip_alike():
    from affectlens.state import RunState

    an = _analyzer()
    clips = sorted(VOICE.glob("*.flac"))[:3]
    batch = [SegmentInput(0.0, 3.0, audio=corpora.load_audio(f), speaker="A") for f in clips]
    with RunState() as st:
        an.prime(batch, st)
        ests = an.analyze_batch(batch, st)
    assert [e.quality["speaker_segments"] for e in ests] == [3, 3, 3]
    with RunState() as st:  # primed in two chunks (evaluation primes 256 clips at a time)
        an.prime(batch[:1], st)
        an.prime(batch[1:], st)
        chunked = an.analyze_batch(batch, st)
    assert [e.probs for e in chunked] == [e.probs for e in ests]


def test_angry_clip_reads_high_arousal():
    an = _analyzer()
    x = corpora.load_audio(VOICE / "03-01-05-02-01-01-03.flac")  # RAVDESS angry, strong
    e = an.analyze(SegmentInput(t0=0.0, t1=len(x) / SR, audio=x))
    assert e.arousal > 0.2


def test_estimate_does_not_depend_on_gain():
    an = _analyzer()
    x = corpora.load_audio(VOICE / "08a02La.flac")
    loud, quiet = an.analyze_batch([SegmentInput(0, 3, audio=x), SegmentInput(0, 3, audio=0.2 * x)])
    assert max(abs(loud.probs[k] - quiet.probs[k]) for k in LABELS) < 0.03


def test_silence_short_and_missing_audio_give_none():
    an = _analyzer()
    rng = np.random.default_rng(0)
    silent = np.zeros(2 * SR, np.float32)
    faint = (1e-4 * rng.standard_normal(2 * SR)).astype(np.float32)
    short = (0.1 * rng.standard_normal(SR // 10)).astype(np.float32)
    noise = (0.05 * rng.standard_normal(2 * SR)).astype(np.float32)  # loud but not a voice
    out = an.analyze_batch([SegmentInput(0, 2, audio=silent), SegmentInput(0, 2, audio=faint),
                            SegmentInput(0, 0.1, audio=short), SegmentInput(0, 1, audio=None),
                            SegmentInput(0, 2, audio=noise)])
    assert out == [None] * 5


def test_meta_records_validation():
    an = _analyzer()
    meta = json.loads((an.model_dir / "meta.json").read_text())
    assert meta["labels"] == list(LABELS)
    assert len(meta["confidence"]["theta"]) == 3 and meta["normalisation"]["shrink"] > 0
    for protocol in ("loco", "speaker_cv"):
        for reading in ("run-clean", "calm-clean", "single-clean", "run-degraded"):
            block = meta["val_metrics"][protocol][reading]
            assert set(block) == {"ravdess", "emodb", "nemo"}
            assert set(block["nemo"]["recall"]) == {"neutral", "happy", "sad", "angry", "fearful", "surprised"}


def test_training_rows_read_a_voice_at_its_own_average_as_neutral():
    """v0.3 rows: per clip 1 / 4 / all clips of its speaker and a mostly neutral subset; the
    speaker's neutral clips only for neutral clips (one-mood rows of other labels would teach
    that a voice at its own average is any emotion)."""
    from affectlens.train import voice as recipe

    neutral, angry = LABELS.index("neutral"), LABELS.index("angry")
    y = np.array([neutral] * 6 + [angry] * 6)
    X = np.random.default_rng(0).standard_normal((12, 5))
    groups = np.array(["s1"] * 12)
    prior = (X.mean(0), X.var(0) + 1e-8)
    rows, ys = recipe.training_rows(X, y, groups, prior, np.random.default_rng(0))
    assert len(rows) == 6 * 5 + 6 * 4 and np.bincount(ys)[neutral] == 30
    calm = recipe.mostly_neutral(np.arange(12), y, np.random.default_rng(0))
    assert set(np.flatnonzero(y == neutral)) <= set(calm) and (y[calm] != neutral).sum() == 2  # 25 % others
    readings = recipe.eval_rows(X, y, groups, prior)
    assert set(readings) == {"run", "same", "calm", "single"}
    assert readings["single"][1].tolist() == [1.0] * 12 and readings["run"][1].tolist() == [12.0] * 12


# -- recipe ----------------------------------------------------------------------------
@pytest.mark.corpus
def test_recipe_smoke(tmp_path: Path):
    root = corpus_path()
    for corpus in ("ravdess", "emodb", "nemo"):
        corpus_path(corpus)
    from affectlens.train import voice as recipe

    out = tmp_path / "model"
    out.mkdir()
    shipped = _analyzer().model_dir
    (out / "encoder.onnx").symlink_to(shipped / "encoder.onnx")  # the recipe keeps an existing encoder
    rc = recipe.main(["--data", str(root), "--out", str(out), "--cache", str(tmp_path / "cache"),
                      "--max-speakers", "2", "--max-per-speaker", "6", "--folds", "2", "--quick", "--no-augment"])
    assert rc == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["labels"] == list(LABELS) and meta["data"]["clips"] == 36
    from affectlens.config import onnx_session

    sess = onnx_session(out / "model.onnx")
    d = meta["input"]["features"]
    feed = {"features": np.zeros((2, d), np.float32), "run_mean": np.zeros((2, d), np.float32),
            "run_var": np.ones((2, d), np.float32), "run_n": np.ones((2, 1), np.float32)}
    logits, domain = sess.run(None, feed)
    assert logits.shape == (2, len(LABELS)) and domain.shape == (2, 1)


@pytest.mark.corpus
def test_bench_runs_on_a_small_split():
    pytest.importorskip("opensmile")
    pytest.importorskip("sklearn")
    _analyzer()
    root = corpus_path()
    from affectlens.evaluate.bench import voice as bench

    items = corpora.list_items(root)
    pick = []
    for spk in ("ravdess-01", "ravdess-02", "ravdess-03", "emodb-03", "emodb-08", "emodb-09"):
        mine = [i for i in items if i.speaker == spk]
        pick += mine[::6]
    train = [i for i in pick if i.speaker not in ("ravdess-03", "emodb-09")]
    test = [i for i in pick if i.speaker in ("ravdess-03", "emodb-09")]
    res = bench.run(train, test)
    for system in ("ours", "egemaps_svm"):
        assert res[system]["x_realtime"] > 0
        assert res[system]["emodb"]["n"] == sum(i.corpus == "emodb" for i in test)
        assert res[system]["ravdess"]["n"] == sum(i.corpus == "ravdess" for i in test)
    # measured: ours 0.50 vs eGeMAPS 0.125 UAR on actor 03 (chance 0.125) with 4 train speakers
    assert res["ours"]["ravdess"]["uar"] >= 0.375 > res["egemaps_svm"]["ravdess"]["uar"]
    with pytest.raises(ValueError):
        bench.run(train, train)


def test_octave_jumps_are_folded_back():
    from affectlens.voice.prosody import octave_corrected

    rng = np.random.default_rng(0)
    true = 14 + 2 * np.sin(np.linspace(0, 6, 300)) + rng.normal(0, 0.3, 300)  # a talking contour (st)
    tracked = true.copy()
    tracked[rng.choice(300, 30, replace=False)] += 12  # YIN locked on half the period
    tracked[rng.choice(300, 15, replace=False)] -= 12  # ... or on twice it
    fixed = octave_corrected(tracked)
    assert np.abs(fixed - true).max() < 1e-9
    assert np.ptp(fixed) < 8 < 20 < np.ptp(tracked)
    assert np.array_equal(octave_corrected(true), true)  # a clean contour is left alone
