"""Every shipped analyzer passes the same contract (scikit-learn style conformance)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from affectlens.analyzers import (UNCERTAIN_BELOW, Analyzer, ModelUnavailable, SegmentInput, Word, get_analyzer,
                                  registered)
from affectlens.media import decode
from affectlens.schema import LABELS, Estimate
from conftest import DATA
from media_factory import EXAMPLE


def _inputs(modality: str) -> tuple[list[SegmentInput], SegmentInput]:
    """Real inputs the analyzer must read, and an empty one it must decline."""
    if modality == "face":
        frames = list(decode.iter_frames(EXAMPLE, fps=2))[:4]
        crop = decode.load_image(next((DATA / "corpora" / "fer" / "happy").iterdir()))
        real = [SegmentInput(0.0, 2.0, frames=frames), SegmentInput(0.0, 0.0, frames=[(0.0, crop)], face_crop=True)]
        return real, SegmentInput(0.0, 1.0, frames=[(0.0, np.zeros((240, 320, 3), np.uint8))])
    if modality == "voice":
        clip = next((DATA / "corpora" / "speech").glob("03-01-05-*.flac"))
        audio = np.concatenate(list(decode.iter_audio(clip)))
        return [SegmentInput(0.0, audio.size / 16000, audio=audio)], SegmentInput(0.0, 1.0, audio=np.zeros(16000, np.float32))
    words = [Word("I am so furious with you, this is a disaster.", 0.0, 1.0, speaker="A")]
    ctx = [Word("What did you do to my car?", -1.0, 0.0, speaker="A")]
    return [SegmentInput(0.0, 1.0, words=words), SegmentInput(0.0, 1.0, words=words, context=ctx, speaker="A")], \
        SegmentInput(0.0, 1.0, words=[])


def _check(est: Estimate, analyzer: Analyzer, inp: SegmentInput) -> None:
    assert est.modality == analyzer.modality
    assert list(est.probs) == list(LABELS)
    assert math.isclose(sum(est.probs.values()), 1.0, abs_tol=1e-4)
    assert all(0.0 <= p <= 1.0 for p in est.probs.values())
    top = max(est.probs, key=est.probs.get)
    assert est.confidence == pytest.approx(est.probs[top], abs=1e-6)
    floor = analyzer.meta().get("thresholds", {}).get("uncertain_below", UNCERTAIN_BELOW)
    assert est.label == (top if est.confidence >= floor else "uncertain")
    for v in (est.valence, est.arousal, est.dominance):
        assert v is None or -1.0 <= v <= 1.0
    for cue in est.cues:
        assert cue.modality == analyzer.modality and math.isfinite(cue.value)
        assert inp.t0 - 1e-6 <= cue.t0 <= cue.t1 <= max(inp.t1, inp.t0) + 1e-6 or inp.t1 == inp.t0


def _analyzer(key: str) -> Analyzer:
    try:
        return get_analyzer(key)
    except ModelUnavailable as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("key", sorted(registered()) or ["none"])
def test_analyzer_contract(key):
    if key == "none":
        pytest.skip("no analyzer registered")
    analyzer = _analyzer(key)
    assert analyzer.name and analyzer.version and analyzer.modality in ("face", "voice", "text")
    info = analyzer.info()
    assert info.sha256 and len(info.sha256) == 64
    real, empty = _inputs(analyzer.modality)
    results = analyzer.analyze_batch(real + [empty])
    assert len(results) == len(real) + 1
    assert results[-1] is None, "an input with nothing to read must give None, not a guess"
    for est, inp in zip(results, real):
        assert est is not None
        _check(est, analyzer, inp)
    # the real inputs are unambiguous: a FER happy crop, a RAVDESS angry clip, a furious sentence
    expected = {"face": [None, "happy"], "voice": ["angry"], "text": ["angry", "angry"]}[analyzer.modality]
    for est, want in zip(results, expected):
        assert want is None or max(est.probs, key=est.probs.get) == want, (key, est.probs)
    single = analyzer.analyze(real[0])
    assert single is not None
    # an estimate never depends on what else was in the batch
    np.testing.assert_allclose([single.probs[k] for k in LABELS], [results[0].probs[k] for k in LABELS], atol=1e-4)
    meta = analyzer.meta()
    assert meta, f"{analyzer.model_dir}/meta.json missing"
    assert (analyzer.model_dir / "MODEL_CARD.md").is_file()


def test_unknown_analyzer_is_reported():
    with pytest.raises(ModelUnavailable, match="no model for smell"):
        get_analyzer("smell")
