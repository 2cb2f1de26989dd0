"""Every shipped analyzer passes the same contract (scikit-learn style conformance)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from affectlens.analyzers import UNCERTAIN_BELOW, Analyzer, ModelUnavailable, SegmentInput
from affectlens.registry import MODALITIES, SPECS, get_analyzer, load_ref, modality_of, registered
from affectlens.schema import LABELS, Estimate
from conftest import HERE

ROOT = HERE.parent


def _inputs(key: str) -> tuple[list[SegmentInput], SegmentInput]:
    """The conformance examples its modality spec declares: real inputs the analyzer must read,
    and an empty one it must decline."""
    return load_ref(modality_of(key).examples)(ROOT)


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
    spec = SPECS[analyzer.modality]
    if analyzer.name != "dialogue-minilm":  # the dialogue reading replaces the text label only
        assert set(spec.quality_keys) <= set(est.quality)  # the signals fusion weighs are there
    for cue in est.cues:
        assert cue.modality == analyzer.modality and math.isfinite(cue.value)
        declared = spec.cue(cue.name)  # every cue an analyzer emits is declared in its spec
        assert declared is not None and cue.unit in declared.units, (cue.name, cue.unit)
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
    real, empty = _inputs(key)
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


def test_registry_lists_the_specs_and_their_analyzers():
    assert MODALITIES == ("face", "voice", "text")  # output order
    assert set(registered()) == {"face", "voice", "text", "dialogue"}
    for key, ref in registered().items():
        spec = modality_of(key)
        assert load_ref(ref).modality == spec.key and spec.analyzers[key] == ref
        assert spec.needs in ("video", "audio", "words") and spec.no_input and spec.none_found
        assert len({c.name for c in spec.cues}) == len(spec.cues)


def test_every_model_folder_has_a_valid_meta():
    from affectlens.analyzers import ModelMeta, model_dir, model_roots

    folders = sorted((p for root in model_roots() for p in root.iterdir() if (p / "meta.json").is_file()),
                     key=lambda p: p.name)
    assert [p.name for p in folders] == ["dialogue-minilm", "face-cnn", "fusion-lr", "text-minilm", "voice-whisper-tiny"]
    for p in folders:
        meta = ModelMeta.load(p)
        assert meta.name == p.name and meta.version and meta.val_metrics
    assert ModelMeta.load(model_dir("dialogue-minilm"))["max_context"] == 3  # as the README says


def test_a_broken_meta_is_refused_with_its_reason(tmp_path):
    import json

    from affectlens.analyzers import MODELS_DIR, ModelMeta

    good = json.loads((MODELS_DIR / "text-minilm" / "meta.json").read_text())
    folder = tmp_path / "text-minilm"
    folder.mkdir()
    for broken, reason in [({k: v for k, v in good.items() if k != "version"}, "version"),
                           ({k: v for k, v in good.items() if k != "temperature"}, "missing temperature"),
                           ({**good, "name": "other"}, "names 'other'")]:
        (folder / "meta.json").write_text(json.dumps(broken))
        with pytest.raises(ModelUnavailable, match=reason):
            ModelMeta.load(folder, ("temperature",))
    (folder / "meta.json").write_text("{not json")
    with pytest.raises(ModelUnavailable, match="invalid meta.json"):
        ModelMeta.load(folder)
