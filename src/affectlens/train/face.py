"""Recipe for the face expression CNN (``face-cnn``), trained on FER2013 on CPU.

Usage::

    python -m affectlens.train face --data DIR [--epochs N] [--resume] [--export-only]

Steps: load FER2013 ``train``/``val`` into uint8 arrays once (cached as ``.npy`` in the
run directory), train a compact VGG-style CNN with strong on-the-fly augmentation,
label smoothing, AdamW with warm-up + cosine decay and an exponential moving average
(EMA) of the weights; checkpoint every epoch (``last.pt``, ``best.pt`` by validation
accuracy of the EMA or the raw weights, whichever is higher). Export takes ``best.pt``, bakes per-image standardisation
and test-time horizontal flip into one ONNX graph, fits a temperature on the validation
split and writes ``model.onnx``, ``meta.json`` and ``MODEL_CARD.md``.

Needs the ``train`` extra (torch, onnx, onnxscript).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from ..analyzers import model_dir
from ..config import data_root
from ..licences import card_line
from ..evaluate.corpora import fer2013
from ..evaluate.metrics import expected_calibration_error as ece
from . import face_int8
from ..schema import LABELS

MODEL_NAME = "face-cnn"
DEFAULT_OUT = model_dir(MODEL_NAME)
SIZE = 48

#: Per-class (valence, arousal) in [-1, 1]: circumplex coordinates of the category
#: prototypes, after Russell (1980) and Scherer's (2005) placements, rounded.
#: The analyzer reports the probability-weighted mean of these (a derived estimate,
#: not a learned regressor).
CIRCUMPLEX: dict[str, tuple[float, float]] = {
    "neutral": (0.0, 0.0),
    "happy": (0.8, 0.5),
    "sad": (-0.7, -0.4),
    "angry": (-0.6, 0.7),
    "fearful": (-0.6, 0.6),
    "disgusted": (-0.7, 0.3),
    "surprised": (0.2, 0.8),
}


def class_halves(y: np.ndarray) -> np.ndarray:
    """Mask of every other item of each class: two class-balanced halves for out-of-fold fits."""
    half = np.zeros(len(y), dtype=bool)
    for k in range(len(LABELS)):
        half[np.flatnonzero(y == k)[::2]] = True
    return half


def valence_arousal_meta(probs: np.ndarray, y: np.ndarray) -> dict:
    """The ``valence_arousal`` block of meta.json, fitted on validation ``(probs, y)``.

    ``reference``: the mean probability each class gets on the neutral faces; the analyzer counts
    only each class's excess over it (:func:`affectlens.face.classifier.neutral_referenced_va`).
    ``val_mean``: per true class mean (valence, arousal) with and without the reference; the
    ``out_of_fold`` figures fit the reference on one half of each class and score the other.
    """
    from ..face.classifier import neutral_referenced_va

    coords = {k: list(v) for k, v in CIRCUMPLEX.items()}

    def reference(mask):
        return {k: round(float(v), 4) for k, v in zip(LABELS, probs[mask & (y == 0)].mean(0))}

    half = class_halves(y)
    oof = np.zeros((len(y), 2))
    for fold in (half, ~half):
        oof[~fold] = neutral_referenced_va(probs[~fold], coords, reference(fold))
    ref = reference(np.ones(len(y), dtype=bool))
    plain = neutral_referenced_va(probs, coords)

    def per_class(va):
        return {k: [round(float(v), 3) for v in va[y == i].mean(0)] for i, k in enumerate(LABELS) if (y == i).any()}

    return {"method": "excess of each class probability over its mean on neutral val faces, "
                      "times per-class circumplex coordinates",
            "coords": coords, "reference": ref,
            "val_mean": {"probability_weighted": per_class(plain), "out_of_fold": per_class(oof)}}


# --------------------------------------------------------------------------- data
def load_split(root: Path, split: str, cache_dir: Path, limit: int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """FER2013 images of one split as ``(N, 48, 48) uint8`` and canonical label ids.

    Parameters
    ----------
    root : Path
        Corpus root holding ``fer2013/<split>/<label>/*.jpg``.
    split : str
        ``train`` or ``val``.
    cache_dir : Path
        Where the arrays are cached as ``fer2013_<split>_{x,y}.npy`` (full split only).
    limit : int, optional
        Keep only the first ``limit`` images per class (for smoke tests; not cached).
    """
    import cv2

    xs_path = cache_dir / f"fer2013_{split}_x.npy"
    ys_path = cache_dir / f"fer2013_{split}_y.npy"
    if limit is None and xs_path.is_file() and ys_path.is_file():
        return np.load(xs_path), np.load(ys_path)
    base = root / "fer2013" / split
    if not base.is_dir():
        raise FileNotFoundError(f"FER2013 split not found: {base}")
    xs, ys, per_class = [], [], {}
    for it in fer2013.list_items(base):  # the shared reader: label folders and files in name order
        per_class[it.target] = per_class.get(it.target, 0) + 1
        if limit and per_class[it.target] > limit:
            continue
        img = cv2.imread(str(it.source), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise ValueError(f"unreadable image: {it.source}")
        if img.shape != (SIZE, SIZE):
            img = cv2.resize(img, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
        xs.append(img)
        ys.append(LABELS.index(it.target))
    x, y = np.stack(xs).astype(np.uint8), np.asarray(ys, dtype=np.int64)
    if limit is None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        np.save(xs_path, x)
        np.save(ys_path, y)
    return x, y


# --------------------------------------------------------------------------- model
def build_model(width: int = 24, dropout: float = 0.3):
    """VGG-style CNN: four stages of two 3x3 conv + BN + ReLU, max-pool, GAP, linear.

    Input is a standardised ``N x 1 x 48 x 48`` float tensor; output 7 logits in
    ``LABELS`` order.
    """
    import torch.nn as nn

    def conv(i: int, o: int) -> list:
        return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]

    layers: list = []
    c_in = 1
    for k in range(4):
        c_out = width * 2 ** k
        layers += conv(c_in, c_out) + conv(c_out, c_out) + [nn.MaxPool2d(2)]
        c_in = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(c_in, len(LABELS))]
    return nn.Sequential(*layers)


def standardize(x):
    """Per-image standardisation of ``N x 1 x H x W`` pixel values (any scale)."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    std = x.std(dim=(1, 2, 3), keepdim=True)
    return (x - mean) / (std + 1e-6)


class ExportWrapper:
    """Builds the exported graph: raw gray pixels -> mean logits of image and mirror, averaged
    over one or more networks (a snapshot ensemble)."""

    @staticmethod
    def make(nets):
        import torch
        import torch.nn as nn

        class _Wrapped(nn.Module):
            def __init__(self, inner: list) -> None:
                super().__init__()
                self.inner = nn.ModuleList(inner)

            def forward(self, image: torch.Tensor) -> torch.Tensor:
                x = standardize(image.float())
                both = torch.cat([x, torch.flip(x, dims=[3])], dim=0)
                n = x.shape[0]
                total = None
                for net in self.inner:
                    logits = net(both)
                    mean = 0.5 * (logits[:n] + logits[n:])
                    total = mean if total is None else total + mean
                return total / len(self.inner)

        return _Wrapped(nets if isinstance(nets, (list, tuple)) else [nets]).eval()


# --------------------------------------------------------------------------- augmentation
def augment(xb, gen):
    """Random flip, rotation (±15°), scale (0.85-1.15), shift (±10 %), gamma, noise and
    random erasing on a float batch ``N x 1 x 48 x 48`` in [0, 1]."""
    import torch
    import torch.nn.functional as F

    n = xb.shape[0]
    u = lambda *s: torch.rand(*s, generator=gen)  # noqa: E731
    ang = (u(n) * 2 - 1) * math.radians(15)
    scale = 1.0 / (0.85 + 0.30 * u(n))
    flip = torch.where(u(n) < 0.5, -1.0, 1.0)
    tx, ty = (u(n) * 2 - 1) * 0.2, (u(n) * 2 - 1) * 0.2
    cos, sin = torch.cos(ang) * scale, torch.sin(ang) * scale
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1),
                         torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(xb.shape), align_corners=False)
    xb = F.grid_sample(xb, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    gamma = torch.exp((u(n, 1, 1, 1) * 2 - 1) * math.log(1.5))
    xb = xb.clamp(1e-4, 1.0) ** gamma
    contrast = 0.7 + 0.6 * u(n, 1, 1, 1)
    mean = xb.mean(dim=(1, 2, 3), keepdim=True)
    xb = (xb - mean) * contrast + mean + (u(n, 1, 1, 1) - 0.5) * 0.2
    xb = xb + torch.randn(xb.shape, generator=gen) * 0.02 * u(n, 1, 1, 1)
    # random erasing: one rectangle (2-20 % of the area) per image with p = 0.5
    area = (0.02 + 0.18 * u(n)) * SIZE * SIZE
    aspect = torch.exp((u(n) * 2 - 1) * math.log(3.0))
    h = (area * aspect).sqrt().clamp(1, SIZE).long()
    w = (area / aspect).sqrt().clamp(1, SIZE).long()
    y0 = (u(n) * (SIZE - h + 1).float()).long()
    x0 = (u(n) * (SIZE - w + 1).float()).long()
    rows = torch.arange(SIZE).view(1, SIZE, 1)
    cols = torch.arange(SIZE).view(1, 1, SIZE)
    mask = ((rows >= y0.view(-1, 1, 1)) & (rows < (y0 + h).view(-1, 1, 1))
            & (cols >= x0.view(-1, 1, 1)) & (cols < (x0 + w).view(-1, 1, 1))
            & (u(n) < 0.5).view(-1, 1, 1)).unsqueeze(1)
    xb = torch.where(mask, torch.rand(xb.shape, generator=gen), xb)
    return xb


# --------------------------------------------------------------------------- training
def lr_at(step: int, total: int, peak: float, warmup: int) -> float:
    """Linear warm-up to ``peak`` then cosine decay to 1 % of it."""
    if step < warmup:
        return peak * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))


def _logits(net, x_u8: np.ndarray, tta: bool = True, batch: int = 512) -> np.ndarray:
    import torch

    out = []
    net.eval()
    with torch.no_grad():
        for i in range(0, len(x_u8), batch):
            xb = standardize(torch.from_numpy(x_u8[i:i + batch]).float().unsqueeze(1) / 255.0)
            xb = xb.contiguous(memory_format=torch.channels_last)
            lg = net(xb)
            if tta:
                lg = 0.5 * (lg + net(torch.flip(xb, dims=[3])))
            out.append(lg.numpy())
    return np.concatenate(out)


def train(args: argparse.Namespace) -> None:
    """Train (or resume) and checkpoint every epoch to ``args.run_dir``."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    run = Path(args.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    root = data_root(args.data)
    xtr, ytr = load_split(root, "train", run, args.limit)
    xva, yva = load_split(root, "val", run, args.limit)
    print(f"train {xtr.shape} val {xva.shape}", flush=True)

    torch.manual_seed(args.seed)
    net = build_model(args.width, args.dropout).to(memory_format=torch.channels_last)
    ema = build_model(args.width, args.dropout).to(memory_format=torch.channels_last)
    ema.load_state_dict(net.state_dict())
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    gen = torch.Generator().manual_seed(args.seed)
    epoch, step, best = 0, 0, -1.0
    history: list[dict] = []
    last = run / "last.pt"
    if args.resume and last.is_file():
        ck = torch.load(last, map_location="cpu", weights_only=False)
        net.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        gen.set_state(ck["gen"])
        epoch, step, best, history = ck["epoch"], ck["step"], ck["best"], ck["history"]
        if ck["width"] != args.width:
            raise SystemExit(f"checkpoint width {ck['width']} != --width {args.width}")
        print(f"resumed at epoch {epoch} (step {step}, best val acc {best:.4f})", flush=True)

    n = len(xtr)
    spe = n // args.batch_size if n >= args.batch_size else 1
    total = args.epochs * spe
    warmup = min(spe, total // 10 + 1)
    xtr_t = torch.from_numpy(xtr)
    ytr_t = torch.from_numpy(ytr)
    while epoch < args.epochs:
        net.train()
        perm = torch.randperm(n, generator=gen)
        t0, seen, loss_sum, correct = time.time(), 0, 0.0, 0
        for b in range(spe):
            if args.max_steps and step >= args.max_steps:
                break
            idx = perm[b * args.batch_size:(b + 1) * args.batch_size]
            xb = xtr_t[idx].float().unsqueeze(1) / 255.0
            yb = ytr_t[idx]
            xb = standardize(augment(xb, gen)).contiguous(memory_format=torch.channels_last)
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, args.lr, warmup)
            logits = net(xb)
            loss = F.cross_entropy(logits, yb, label_smoothing=args.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            decay = min(args.ema, (1 + step) / (10 + step))
            with torch.no_grad():
                for pe, pn in zip(ema.state_dict().values(), net.state_dict().values()):
                    if pe.dtype.is_floating_point:
                        pe.mul_(decay).add_(pn.detach(), alpha=1 - decay)
                    else:
                        pe.copy_(pn)
            seen += len(idx)
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
            if b % 100 == 0:
                print(f"  epoch {epoch + 1} step {b}/{spe} loss {loss_sum / max(seen, 1):.4f} "
                      f"{(time.time() - t0) / (b + 1):.3f}s/step", flush=True)
        epoch += 1
        acc_ema = float((_logits(ema, xva).argmax(1) == yva).mean())
        acc_net = float((_logits(net, xva).argmax(1) == yva).mean())
        rec = {"epoch": epoch, "step": step, "train_loss": loss_sum / max(seen, 1),
               "train_acc": correct / max(seen, 1), "val_acc_ema_tta": acc_ema,
               "val_acc_tta": acc_net, "lr": lr_at(step, total, args.lr, warmup),
               "seconds": time.time() - t0}
        history.append(rec)
        print(json.dumps(rec), flush=True)
        score = max(acc_ema, acc_net)
        state = {"model": net.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                 "gen": gen.get_state(), "epoch": epoch, "step": step, "best": max(best, score),
                 "history": history, "width": args.width, "dropout": args.dropout,
                 "args": vars(args)}
        torch.save(state, run / "last.tmp")
        (run / "last.tmp").replace(last)
        if score > best:
            best = score
            weights = ema.state_dict() if acc_ema >= acc_net else net.state_dict()
            torch.save({"weights": weights, "epoch": epoch, "val_acc_tta": score,
                        "width": args.width, "dropout": args.dropout, "args": vars(args)},
                       run / "best.pt")
            print(f"  new best {score:.4f} at epoch {epoch}", flush=True)
        if args.max_steps and step >= args.max_steps:
            break


# --------------------------------------------------------------------------- export
def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """Temperature minimising the negative log-likelihood on ``(logits, y)``."""
    from scipy.optimize import minimize_scalar

    def nll(log_t: float) -> float:
        z = logits / math.exp(log_t)
        z = z - z.max(1, keepdims=True)
        lp = z - np.log(np.exp(z).sum(1, keepdims=True))
        return float(-lp[np.arange(len(y)), y].mean())

    res = minimize_scalar(nll, bounds=(math.log(0.2), math.log(10.0)), method="bounded")
    return float(math.exp(res.x))


def metrics(probs: np.ndarray, y: np.ndarray) -> dict:
    """Accuracy, unweighted average recall and per-class recall."""
    pred = probs.argmax(1)
    per = {LABELS[k]: float((pred[y == k] == k).mean()) for k in range(len(LABELS)) if (y == k).any()}
    return {"accuracy": float((pred == y).mean()), "uar": float(np.mean(list(per.values()))),
            "per_class_accuracy": per, "n": int(len(y))}


def _bench_onnx(path: Path, x: np.ndarray, threads: int = 2, batch: int = 64) -> float:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    xb = x[:batch].astype(np.float32)[:, None]
    sess.run(None, {"image": xb})
    reps, t0 = 0, time.time()
    while time.time() - t0 < 3.0:
        sess.run(None, {"image": xb})
        reps += 1
    return reps * len(xb) / (time.time() - t0)


def export(args: argparse.Namespace) -> dict:
    """Export ``best.pt`` to ONNX, quantize, calibrate on val, write meta.json and MODEL_CARD.md."""
    import torch

    torch.set_num_threads(1)
    run = Path(args.run_dir)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ck = torch.load(run / "best.pt", map_location="cpu", weights_only=False)
    members = [ck] + [torch.load(p, map_location="cpu", weights_only=False) for p in args.ensemble]
    nets = []
    for m in members:
        nets.append(build_model(m["width"], m["dropout"]))
        nets[-1].load_state_dict(m["weights"])
    wrapped = ExportWrapper.make(nets)
    onnx_path = out / "model.fp32.onnx"  # the float master; model.onnx ships (int8 if it holds)
    dummy = torch.zeros(2, 1, SIZE, SIZE)
    torch.onnx.export(wrapped, (dummy,), str(onnx_path), input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": {0: "n"}, "logits": {0: "n"}},
                      opset_version=17, dynamo=False)
    root = data_root(args.data)
    xva, yva = load_split(root, "val", run, args.limit)
    logits = face_int8.graph_logits(onnx_path, xva[:256])
    # the exported graph must match the torch model
    ref = np.mean([_logits(n, xva[:256]) for n in nets], axis=0)
    if not np.allclose(ref, logits, atol=1e-3):
        raise RuntimeError("exported ONNX graph disagrees with the torch model")
    xtr, ytr = load_split(root, "train", run, args.limit)
    runtime = face_int8.ship(out, face_int8.calibration_images(xtr, ytr), xva, yva)
    history = []
    if (run / "last.pt").is_file():
        history = torch.load(run / "last.pt", map_location="cpu", weights_only=False)["history"]
    meta = {
        "name": MODEL_NAME,
        "version": f"1.0.{ck['epoch']}",
        "labels": list(LABELS),
        "input": {"name": "image", "shape": ["N", 1, SIZE, SIZE], "dtype": "float32",
                  "range": "raw grayscale pixel values 0..255 (any affine scale works: the graph "
                           "standardises each image)", "layout": "NCHW"},
        "output": {"name": "logits", "shape": ["N", 7],
                   "notes": "mean logits of the image and its mirror (test-time flip)"
                            + (f", averaged over {len(nets)} networks" if len(nets) > 1 else "")
                            + "; divide by temperature, then softmax"},
        "ensemble": [{"checkpoint": str(p), "epoch": m["epoch"], "val_acc_tta": m.get("val_acc_tta")}
                     for p, m in zip([run / "best.pt", *args.ensemble], members)],
        "train": {"epochs_done": ck["epoch"], "width": ck["width"], "args": ck["args"],
                  "history": history, "note": args.note,
                  "params": int(sum(p.numel() for n in nets for p in n.parameters()))},
        "runtime": runtime,
        **calibrate(out / "model.onnx", xva, yva),
    }
    return write_meta(out, meta)


def calibrate(shipped: Path, xva: np.ndarray, yva: np.ndarray) -> dict:
    """Temperature (NLL on val), calibrated val metrics, speed and sha256 of the shipped graph."""
    import hashlib

    from ..analyzers import softmax

    logits = face_int8.graph_logits(shipped, xva)
    temp = fit_temperature(logits, yva)
    p_raw, p_cal = softmax(logits), softmax(logits, temp)
    val = metrics(p_cal, yva)
    val.update({"ece_before": ece(p_raw, yva), "ece_after": ece(p_cal, yva),
                "nll_after": float(-np.log(p_cal[np.arange(len(yva)), yva] + 1e-12).mean())})
    return {"temperature": temp, "val_metrics": val, "valence_arousal": valence_arousal_meta(p_cal, yva),
            "faces_per_second_2_threads": _bench_onnx(shipped, xva),
            "sha256": hashlib.sha256(shipped.read_bytes()).hexdigest()}


def requantize(args: argparse.Namespace) -> dict:
    """Re-quantize the installed float graph (``model.fp32.onnx``; a float ``model.onnx`` from
    before int8 shipping becomes it), recalibrate on val and rewrite meta.json and the card."""
    out, run, root = Path(args.out), Path(args.run_dir), data_root(args.data)
    if not (out / "model.fp32.onnx").is_file():
        (out / "model.onnx").rename(out / "model.fp32.onnx")
    meta = json.loads((out / "meta.json").read_text())
    xva, yva = load_split(root, "val", run, args.limit)
    xtr, ytr = load_split(root, "train", run, args.limit)
    meta["runtime"] = face_int8.ship(out, face_int8.calibration_images(xtr, ytr), xva, yva)
    meta.update(calibrate(out / "model.onnx", xva, yva))
    return write_meta(out, meta)


def write_meta(out: Path, meta: dict) -> dict:
    """Write ``meta.json`` and ``MODEL_CARD.md``; print the headline numbers."""
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    (out / "MODEL_CARD.md").write_text(model_card(meta))
    print(json.dumps({k: meta[k] for k in ("temperature", "val_metrics", "faces_per_second_2_threads")},
                     indent=2), flush=True)
    return meta


def refit_valence_arousal(args: argparse.Namespace) -> dict:
    """Refit the ``valence_arousal`` block of an installed model (``--out``) on val."""
    from ..face.classifier import ExpressionCNN

    out = Path(args.out)
    xva, yva = load_split(data_root(args.data), "val", Path(args.run_dir), args.limit)
    cnn = ExpressionCNN(out)
    meta = dict(cnn.meta)
    meta["valence_arousal"] = valence_arousal_meta(cnn.probs(xva), yva)
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    (out / "MODEL_CARD.md").write_text(model_card(meta))
    print(json.dumps(meta["valence_arousal"], indent=1), flush=True)
    return meta


def model_card(meta: dict) -> str:
    """MODEL_CARD.md text from ``meta``."""
    v = meta["val_metrics"]
    per = "\n".join(f"| {k} | {a:.3f} |" for k, a in v["per_class_accuracy"].items())
    va = meta["valence_arousal"]
    ref, means = va.get("reference", {}), va.get("val_mean", {})
    coords = "\n".join(
        f"| {k} | {a:+.1f} | {b:+.1f} | {ref.get(k, 0.0):.3f} | "
        + " | ".join("{:+.2f}, {:+.2f}".format(*means[m][k]) if k in means.get(m, {}) else "–"
                     for m in ("probability_weighted", "out_of_fold")) + " |"
        for k, (a, b) in va["coords"].items())
    tr = meta["train"]
    ens = meta.get("ensemble", [])
    members = "" if len(ens) < 2 else (
        "\n\nEnsemble: the exported graph averages the logits of these checkpoints (other runs or\n"
        "snapshots of one run) "
        "(`--export-only --ensemble OTHER_BEST_PT ...`, or `python -m affectlens.train face_ensemble --members\n"
        "MODEL_ONNX_OR_BEST_PT ...`, which also takes an exported model.onnx):\n\n| checkpoint | epoch | val acc (flip) |\n|---|---|---|\n"
        + "\n".join(f"| `{m['checkpoint']}` | {m['epoch']} | {m['val_acc_tta']:.4f} |" for m in ens))
    cb = meta.get("class_bias")
    bias = ""
    if cb:
        before, after = cb["out_of_fold"]["without"], cb["out_of_fold"]["with_bias_out_of_fold"]
        bias = (
            "\n- Class prior: a per-class logit bias ("
            + ", ".join(f"{k} {b:+.2f}" for k, b in cb["values"].items() if abs(b) >= 0.005)
            + f") is added inside the graph: {cb.get('scale', 1.0):g} × the bias that minimises the class-balanced "
            "NLL on val. FER2013 holds few disgust faces (1.5 % of train), so without it disgust was mostly read "
            "as angry; half the bias keeps accuracy, the full one costs some. Out of fold "
            "(fit on one half of each val class, scored on the other): accuracy "
            f"{before['accuracy']:.4f} → {after['accuracy']:.4f}, UAR {before['uar']:.4f} → {after['uar']:.4f}, "
            f"disgust recall {before['per_class_accuracy']['disgusted']:.3f} → "
            f"{after['per_class_accuracy']['disgusted']:.3f}, angry {before['per_class_accuracy']['angry']:.3f} → "
            f"{after['per_class_accuracy']['angry']:.3f}. The val figures below include a bias fit on all of val, "
            "so they are optimistic; the out-of-fold ones are the fair estimate (`python -m affectlens.train "
            "face_ensemble --members UNBIASED_MODEL_ONNX --class-bias apply --bias-scale 0.5`).")
    rt = meta.get("runtime")
    precision = "" if not rt else (
        f"\n- Precision: `model.onnx` is the **{rt['precision']}** graph. The float master "
        f"`model.fp32.onnx` scores {rt['val_accuracy_fp32']:.4f} on val, its static int8 "
        f"quantization (per-channel int8 weights, uint8 activations calibrated on "
        f"{rt['calibration']}) {rt['val_accuracy_int8']:.4f}; int8 ships when it loses at most "
        f"{rt['max_loss']} (`python -m affectlens.train face --requantize` redoes this step).")
    curve = "\n".join(f"| {h['epoch']} | {h['train_loss']:.4f} | {h['val_acc_ema_tta']:.4f} | "
                      f"{h['val_acc_tta']:.4f} | {h['lr']:.2e} |" for h in tr.get("history", []))
    return f"""# face-cnn — facial expression classifier (7 canonical classes)

{card_line(MODEL_NAME)}

A compact VGG-style CNN ({tr['params']:,} parameters; four stages of two 3×3 conv +
BatchNorm + ReLU with max-pooling, global average pooling, dropout, linear) trained from
scratch on CPU.

## Data and licence
- **FER2013** (Goodfellow et al., ICML 2013 representation-learning challenge), `train`
  split (28,709 images) for training, `val` (= original PublicTest, 3,589 images) for model
  selection and temperature calibration. Terms: research use. The withheld PrivateTest is
  never read by the recipe.
- Labels map to the canonical set via `affectlens.schema.LABEL_MAPS["fer2013"]`.

## Recipe (reproduces these weights)
```
python -m affectlens.train face --data DIR --epochs {tr['args']['epochs']} --width {tr['width']}
python -m affectlens.train face --data DIR --export-only    # re-export best.pt
```
Training resumes with `--resume` from `runs/face/last.pt`; a resume with another
`--epochs` continues the warm-up + cosine schedule from the current step under the new
length. {tr.get('note', '')} Augmentation: horizontal flip,
rotation ±15°, scale 0.85–1.15, shift ±10 %, gamma/contrast/brightness, Gaussian noise,
random erasing; label smoothing {tr['args']['label_smoothing']}; AdamW (lr {tr['args']['lr']},
weight decay {tr['args']['weight_decay']}), warm-up + cosine; EMA of weights
({tr['args']['ema']}); batch {tr['args']['batch_size']}. Weights exported from epoch
{tr['epochs_done']}.{members}

## Input / output
- Input `image`: float32 `N×1×48×48`, raw grayscale pixels 0..255 of a face crop (eyes
  level, face filling the crop like FER2013). The graph standardises each image and
  averages the logits of the image and its mirror (test-time flip).
- Output `logits` `N×7` in the order {", ".join(meta['labels'])}. Calibrated probabilities:
  `softmax(logits / T)` with T = {meta['temperature']:.4f} (fit by NLL on val).{bias}{precision}
- Valence/arousal are **derived**, not learned, from per-class circumplex coordinates (after
  Russell 1980 / Scherer 2005). Only the excess of each class probability over the reference
  (its mean on the neutral val faces) counts: `Σ_k max(0, p_k − r_k) · coords_k`. The plain
  probability-weighted mean put neutral faces at negative valence, since they get some sad,
  angry and fearful probability. Mean (valence, arousal) per true val class, before (plain
  weighted mean) and after (reference fit on one half of each class, scored on the other):

| class | valence | arousal | reference | val mean before | val mean after (out of fold) |
|---|---|---|---|---|---|
{coords}

  The reference is tuned on val (the split also used for temperature); a mean over neutral faces
  near 0 does not make each neutral face 0, and faces far from FER2013 (e.g. GRID speakers,
  read as partly sad by the classifier itself) still get some negative valence.

## Validation (FER2013 val = PublicTest, test-time flip, calibrated)
<!-- numbers:validation:begin (generated: python -m affectlens.evaluate.numbers --write) -->
- accuracy **{v['accuracy']:.4f}**, UAR {v['uar']:.4f} (n = {v['n']})
- ECE (15 bins) before calibration {v['ece_before']:.4f}, after {v['ece_after']:.4f}
- speed: {meta['faces_per_second_2_threads']:.0f} faces/s in onnxruntime, 2 threads, batch 64

| class | accuracy (recall) |
|---|---|
{per}
<!-- numbers:validation:end -->

Training curve (val accuracy with test-time flip, before calibration; EMA and raw weights;
the learning rate is the one at the end of the epoch):

| epoch | train loss | val acc (EMA) | val acc (raw) | lr |
|---|---|---|---|---|
{curve}

## Limits
- Trained on 48×48 grayscale crops: colour and fine detail are discarded; very small or
  blurred faces, strong profile views and occlusions (hands, masks) degrade accuracy.
- FER2013 mixes posed and spontaneous, web-scraped images with noisy labels (human accuracy
  is about 65 ± 5 %); *disgust* has few training examples and the lowest recall; *fear*
  and *sad* are often confused.
- The data's demographic make-up (age, skin tone, gender, culture) is not documented and is
  known to be unbalanced; accuracy across groups has not been measured. Facial expression
  is not the same as felt emotion: treat outputs as evidence about a displayed expression.
"""


# --------------------------------------------------------------------------- CLI
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m affectlens.train face", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None, help="corpus root (default $AFFECTLENS_DATA or ../shared/data)")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="model folder to write")
    ap.add_argument("--run-dir", default="runs/face", help="checkpoints and array cache")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--width", type=int, default=24, help="channels of the first stage")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--dropout", type=float, default=0.3)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--resume", action="store_true", help="continue from run-dir/last.pt")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for training")
    ap.add_argument("--export-only", action="store_true", help="only export run-dir/best.pt")
    ap.add_argument("--va-only", action="store_true",
                    help="only refit the valence/arousal reference of the model in --out on val "
                         "(updates meta.json and MODEL_CARD.md)")
    ap.add_argument("--ensemble", nargs="*", default=[], metavar="BEST_PT",
                    help="more best.pt checkpoints whose logits are averaged with run-dir/best.pt in the exported graph")
    ap.add_argument("--no-export", action="store_true", help="train without exporting")
    ap.add_argument("--requantize", action="store_true",
                    help="only re-quantize the installed model.fp32.onnx (int8) and recalibrate")
    ap.add_argument("--note", default="", help="free text about this run for the model card")
    ap.add_argument("--limit", type=int, default=None, help="images per class (smoke tests)")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (smoke tests)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m affectlens.train face``."""
    args = parse_args(argv)
    if args.va_only:
        refit_valence_arousal(args)
        return 0
    if args.requantize:
        requantize(args)
        return 0
    if not args.export_only:
        train(args)
    if not args.no_export:
        export(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
