"""Recipe: ``python -m affectlens.train fusion --data DIR``.

Learns the reliability-weighted fusion and the face–voice conflict model from validation
material only:

* faces: FER2013 ``val`` crops through the shipped face model (never trained on them);
* voices: RAVDESS actors 01–20 as **out-of-fold** predictions of the voice recipe
  (``runs/voice/oof.npz``, written by ``python -m affectlens.train voice``), so no clip is
  scored by a model that saw it;
* words: the shipped text model on the offline ASR transcript of each RAVDESS clip
  (scripted, emotionally neutral sentences — the fusion must learn to discount them).

Congruent (same label) and incongruent (different labels) face × voice pairs are drawn
per RAVDESS clip. Actors 01–10 and even-indexed FER images train; actors 11–20 and
odd-indexed images validate; the shipped parameters are then refitted on everything.
Writes ``models/fusion-lr/{fusion.json, meta.json}`` and the validation AV manifest.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from ..analyzers import SegmentInput, build_estimate, model_dir

from ..registry import get_analyzer
from ..state import RunState
from ..config import data_root
from ..licences import card_line
from ..evaluate import corpora, metrics
from ..fusion.fuse import cap_to_evidence
from ..fusion.params import FusionParams, conflict_features
from .fusion_fit import fit, fit_conflict
from ..media import decode
from ..schema import LABELS, Estimate, to_canonical

OUT = model_dir("fusion-lr")


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m affectlens.train fusion", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="corpus root (default $AFFECTLENS_DATA or ../shared/data)")
    ap.add_argument("--runs", default="runs", help="where the voice recipe left oof.npz; caches go to RUNS/fusion")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--pairs-per-clip", type=int, default=2, help="incongruent faces drawn per voice clip")
    ap.add_argument("--faces-per-clip", type=int, default=5, help="congruent faces drawn per voice clip")
    ap.add_argument("--limit", type=int, help="use only the first N clips/images (smoke tests)")
    ap.add_argument("--no-asr", action="store_true", help="skip the ASR text modality")
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args(argv)


def face_estimates(root: Path, limit: int | None) -> tuple[list[Path], list[int], list[Estimate]]:
    es = corpora.read("face", root / "fer2013" / "val", cropped=True)
    items = es.items[:limit] if limit else es.items
    face = get_analyzer("face")
    ests = []
    for i in range(0, len(items), 128):
        ests += face.analyze_batch([es.load(it) for it in items[i:i + 128]], RunState(evidence=False))
    return [it.source for it in items], [LABELS.index(it.target) for it in items], ests


def voice_estimates(runs: Path, root: Path, limit: int | None) -> tuple[list[Path], list[int], list[int], list[Estimate]]:
    """Out-of-fold RAVDESS estimates (actors 01–20) from the voice recipe."""
    from ..voice.head import valence_arousal

    oof = runs / "voice" / "oof.npz"
    if not oof.is_file():
        raise SystemExit(f"{oof} not found: run `python -m affectlens.train voice` first (it writes out-of-fold predictions)")
    data = np.load(oof, allow_pickle=False)
    if list(data["labels"]) != list(LABELS):
        raise SystemExit(f"{oof} holds {list(data['labels'])}, not the canonical labels: rerun the voice recipe")
    out_paths, ys, actors, ests = [], [], [], []
    for path, probs in zip(data["paths"], data["probs"]):
        p = Path(str(path))
        try:
            item = corpora.speech.parse(p)
        except (ValueError, KeyError):
            continue
        if item.corpus != "ravdess":
            continue
        label, actor = item.target, item.speaker.removeprefix("ravdess-")
        va = valence_arousal(probs)
        ests.append(build_estimate("voice", "voice-oof", probs, vad=(float(va[0]), float(va[1]), None)))
        out_paths.append(p if p.is_absolute() else (root / p).resolve())  # relative to the corpus root
        ys.append(LABELS.index(to_canonical(label, "speech")))
        actors.append(int(actor))
        if limit and len(ests) >= limit:
            break
    return out_paths, ys, actors, ests


def text_estimates(paths: list[Path], cache: Path) -> list[Estimate | None]:
    """Text model on the ASR transcript of each clip (transcripts cached)."""
    from ..analyzers import Word
    from ..media.asr import transcribe

    known = json.loads(cache.read_text()) if cache.is_file() else {}
    for i, p in enumerate(paths):
        if str(p) not in known:
            audio = np.concatenate(list(decode.iter_audio(p)))
            known[str(p)] = " ".join(w.text for w in transcribe(audio))
            if i % 50 == 0:
                cache.write_text(json.dumps(known))
                print(f"  asr {i}/{len(paths)}", flush=True)
    cache.write_text(json.dumps(known))
    text = get_analyzer("text")
    inputs = [SegmentInput(0.0, 1.0, words=[Word(known[str(p)], 0.0, 1.0)]) for p in paths]
    return text.analyze_batch(inputs, RunState(evidence=False))


def build(face, voice, text, voice_idx, face_idx, rng, pairs_per_clip, faces_per_clip=1):
    """Samples for the fusion fit and pairs for the conflict model: per voice clip,
    ``faces_per_clip`` congruent faces (each a face + voice and, with words, a face + voice + words
    sample and a congruent pair), one voice + words sample, and ``pairs_per_clip`` incongruent pairs."""
    face_paths, face_y, face_est = face
    by_label = {k: [i for i in face_idx if face_y[i] == k and face_est[i] is not None] for k in range(len(LABELS))}
    _, voice_y, _, voice_est = voice
    samples, pairs, rows = [], [], []
    for v in voice_idx:
        y = voice_y[v]
        if not by_label[y]:
            continue
        t = text[v] if text else None
        if t is not None:
            samples.append(({"voice": voice_est[v], "text": t}, y))
        for f in rng.choice(by_label[y], size=min(faces_per_clip, len(by_label[y])), replace=False):
            ests = {"face": face_est[int(f)], "voice": voice_est[v]}
            samples.append((ests, y))
            if t is not None:
                samples.append(({**ests, "text": t}, y))
            pairs.append((face_est[int(f)], voice_est[v], False))
            rows.append((face_paths[int(f)], v, y, y))
        others = [k for k in range(len(LABELS)) if k != y and by_label[k]]
        for k in rng.choice(others, size=min(pairs_per_clip, len(others)), replace=False):
            g = int(rng.choice(by_label[int(k)]))
            pairs.append((face_est[g], voice_est[v], True))
            rows.append((face_paths[g], v, int(k), y))
    return samples, pairs, rows


def scores(params: FusionParams, samples, pairs) -> dict:
    """Fused vs single-modality UAR/ECE on congruent samples; conflict AUROC."""
    out = {}
    full = [(e, y) for e, y in samples if {"face", "voice"} <= set(e)]
    y = np.array([t for _, t in full])
    def probs(fn):
        return np.stack([fn(e) for e, _ in full])
    vec = lambda est: np.array([est.probs[k] for k in LABELS])  # noqa: E731
    def shipped(e):  # what fusion.fuse computes: learned pooling, then the evidence cap
        return cap_to_evidence(np.asarray(params.fuse_probs(e)[0], dtype=np.float64), list(e.values()))

    for name, fn in (("fused", shipped), ("face", lambda e: vec(e["face"])),
                     ("voice", lambda e: vec(e["voice"]))):
        m = metrics.classification_report(y, probs(fn), list(LABELS))["metrics"]
        out[f"{name}_uar"], out[f"{name}_ece"] = m["uar"], m["ece"]
    vt = [(e, t) for e, t in samples if set(e) == {"voice", "text"}]
    if vt:
        yt = np.array([t for _, t in vt])
        out["voice_text_fused_uar"] = metrics.classification_report(
            yt, np.stack([shipped(e) for e, _ in vt]), list(LABELS))["metrics"]["uar"]
        out["voice_only_uar_same_rows"] = metrics.classification_report(
            yt, np.stack([vec(e["voice"]) for e, _ in vt]), list(LABELS))["metrics"]["uar"]
    if pairs and params.conflict_w.any():
        s = [float(params.conflict_w @ conflict_features(a, b) + params.conflict_b) for a, b, _ in pairs]
        out["conflict_auroc"] = metrics.auroc(np.array(s), np.array([t for _, _, t in pairs]))
    return out


def fit_all(samples, pairs) -> FusionParams:
    params = fit(samples)
    params.conflict_w, params.conflict_b = fit_conflict(pairs)
    z = np.array([params.conflict_w @ conflict_features(a, b) + params.conflict_b for a, b, _ in pairs])
    truth = np.array([t for _, _, t in pairs])
    cuts = np.quantile(z, np.linspace(0.05, 0.95, 91))
    best = max(cuts, key=lambda c: (z[truth] > c).mean() - (z[~truth] > c).mean())  # Youden's J
    params.meta["conflict_threshold_logit"] = float(best)
    return params


def write_manifest(path: Path, rows, voice_paths) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image_or_video", "audio", "text", "face_label", "voice_label", "label"])
        for face_path, v, fy, vy in rows:
            w.writerow([face_path, voice_paths[v], "", LABELS[fy], LABELS[vy], LABELS[vy] if fy == vy else ""])


def model_card(params: FusionParams, val: dict, n_samples: int, n_pairs: int) -> str:
    """MODEL_CARD.md of the learned fusion."""
    f = lambda k: f"{val[k]:.3f}" if k in val else "–"  # noqa: E731
    weights = ", ".join(f"{m} {w}" for m, w in params.meta["weights_at_typical"].items())
    return f"""# fusion-lr — reliability-weighted late fusion and face–voice conflict model

{card_line("fusion-lr")}

Numbers, not a network: per modality a class bias ``b_m``, a base weight ``a_m`` and
reliability coefficients ``c_m`` (see `affectlens/fusion/params.py`):
``logits = Σ_m b_m + softplus(a_m + c_m · q_m) · log p_m`` over the modalities that take
part (text whose top label is neutral sits out; a lone modality passes through unchanged),
plus a logistic conflict model on 55 disagreement features of the face and voice estimates.
The ridge prior on each ``b_m`` counts only the samples modality m took part in, so words
(rarely non-neutral in scripted speech) keep biases near 0 and only learn their weight.

## Data and licence
Validation material only, never the data the modality models were trained on:
- faces: FER2013 `val` (PublicTest) crops through the shipped face model (research use);
- voices: RAVDESS actors 01–20 as out-of-fold predictions of the voice recipe
  (CC BY-NC-SA 4.0: these parameters are derived from it, so non-commercial, share-alike);
- words: the shipped text model on faster-whisper tiny.en transcripts of the same clips.
Congruent (same label) and incongruent face × voice pairs are drawn per clip; fitted on
{n_samples} fusion samples and {n_pairs} conflict pairs, class-balanced.

## Recipe
```
python -m affectlens.train voice --data DIR     # writes runs/voice/oof.npz
python -m affectlens.train fusion --data DIR
```

## Validation (fit on actors 01–10 + even FER images, scored on actors 11–20 + odd images)
<!-- numbers:validation:begin (generated: python -m affectlens.evaluate.numbers --write) -->
| | UAR | ECE |
|---|---|---|
| face only | {f("face_uar")} | {f("face_ece")} |
| voice only | {f("voice_uar")} | {f("voice_ece")} |
| **fused face + voice + words** | **{f("fused_uar")}** | **{f("fused_ece")}** |
| voice + ASR words, fused | {f("voice_text_fused_uar")} | |
| voice only, same rows | {f("voice_only_uar_same_rows")} | |

Conflict detection (labels differ, incongruent vs congruent pairs): AUROC **{f("conflict_auroc")}**.
<!-- numbers:validation:end -->
Typical weights after the fit: {weights}.

## Limits
- Trained on pairs of *different people's* face and voice (no audiovisual corpus with
  separate face and voice labels is available here): it learns how reliable each model is,
  not how one person's face and voice co-vary.
- Acted speech with fixed neutral sentences; natural conversation differs.
- The conflict model was fitted on face–voice pairs; for other pairs the pipeline applies the
  same model to those two estimates.
"""


def main(argv=None) -> int:
    args = parse_args(argv or [])
    root = data_root(args.data)
    runs = Path(args.runs)
    (runs / "fusion").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    print("faces: FER2013 val through the face model", flush=True)
    face = face_estimates(root, args.limit)
    print("voices: RAVDESS out-of-fold predictions", flush=True)
    voice = voice_estimates(runs, root, args.limit)
    text = None
    if not args.no_asr:
        print("words: ASR + text model on RAVDESS clips", flush=True)
        text = text_estimates(voice[0], runs / "fusion" / "asr.json")
    actors = np.array(voice[2])
    v_train = list(np.flatnonzero(actors <= 10))
    v_val = list(np.flatnonzero(actors > 10))
    f_train = list(range(0, len(face[0]), 2))
    f_val = list(range(1, len(face[0]), 2))
    tr_s, tr_p, _ = build(face, voice, text, v_train, f_train, rng, args.pairs_per_clip, args.faces_per_clip)
    va_s, va_p, va_rows = build(face, voice, text, v_val, f_val, rng, args.pairs_per_clip, args.faces_per_clip)
    held = fit_all(tr_s, tr_p)
    val = scores(held, va_s, va_p)
    print("validation (actors 11-20, odd FER val images):", json.dumps({k: round(v, 4) for k, v in val.items()}))
    all_s, all_p, all_rows = build(face, voice, text, list(range(len(voice[1]))), list(range(len(face[0]))), rng,
                                   args.pairs_per_clip, args.faces_per_clip)
    final = fit_all(all_s, all_p)
    final.meta.update({"val_metrics": val, "n_samples": len(all_s), "n_pairs": len(all_p),
                       "recipe": "python -m affectlens.train fusion --data DIR",
                       "weights_at_typical": {m: round(float(np.log1p(np.exp(final.a[m]))), 3) for m in final.a}})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    final.save(out / "fusion.json")
    (out / "meta.json").write_text(json.dumps({"name": "fusion-lr", "version": "1.0", "val_metrics": val,
                                               "modalities": list(final.a), "manifest": "runs/fusion/av_val_manifest.csv"},
                                              indent=1))
    (out / "MODEL_CARD.md").write_text(model_card(final, val, len(all_s), len(all_p)))
    write_manifest(runs / "fusion" / "av_val_manifest.csv", va_rows, voice[0])
    print(f"wrote {out}/fusion.json and {runs}/fusion/av_val_manifest.csv")
    return 0
