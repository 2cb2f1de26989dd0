"""Recipe: ``python -m affectlens.train face_ensemble --members A B [...] --out DIR``.

Ships several face networks as ONE ONNX graph with the analyzer's interface (input ``image``
``N×1×48×48`` raw gray pixels, output ``logits`` ``N×7``): the members' logits are averaged
inside the graph. A member is either an exported ``model.onnx`` (e.g. the installed face-cnn)
or a training checkpoint ``best.pt`` of the face recipe (exported here with standardisation
and test-time flip, like ``python -m affectlens.train face --export-only``).

Then, on FER2013 val: the temperature is refit, accuracy / UAR / per-class recall / ECE of each
member and of the ensemble are reported, the valence/arousal reference is refit, and faces/s
(onnxruntime, 2 threads) measured. As in the face recipe, the merged float graph is kept as
``model.fp32.onnx`` and ``model.onnx`` ships its static int8 quantization when that loses at
most 0.005 val accuracy (an ``.onnx`` member with a ``model.fp32.onnx`` beside it contributes
that float master). Optionally (``--class-bias``) a per-class logit bias fit on
val is measured out of fold (two halves of each class) and, if kept, added to the graph; it is
tuned on val, so val figures with it are optimistic and the card says so.

Writes ``model.onnx``, ``meta.json`` and ``MODEL_CARD.md`` to ``--out`` (never the installed
model unless ``--out`` points there).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from ..analyzers import softmax
from ..config import data_root
from ..evaluate.metrics import expected_calibration_error as ece
from ..schema import LABELS
from . import face, face_int8


def member_onnx(path: Path, tmp: Path):
    """An ONNX ``ModelProto`` for a member (``.onnx`` as is, ``.pt`` exported)."""
    import onnx

    if path.suffix == ".onnx":  # an int8 model.onnx: merge its float master, quantize the whole
        master = path.with_name("model.fp32.onnx")
        return onnx.load(str(master if master.is_file() else path))
    import torch

    ck = torch.load(path, map_location="cpu", weights_only=False)
    net = face.build_model(ck["width"], ck["dropout"])
    net.load_state_dict(ck["weights"])
    out = tmp / f"{path.stem}_{abs(hash(str(path)))}.onnx"
    torch.onnx.export(face.ExportWrapper.make([net]), (torch.zeros(2, 1, face.SIZE, face.SIZE),), str(out),
                      input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "n"}, "logits": {0: "n"}}, opset_version=17, dynamo=False)
    return onnx.load(str(out))


def member_epoch(path: Path) -> int | None:
    """The training epoch of a member (a checkpoint's own, or the one its meta.json records)."""
    if path.suffix == ".pt":
        import torch

        return int(torch.load(path, map_location="cpu", weights_only=False)["epoch"])
    meta = path.parent / "meta.json"
    ens = json.loads(meta.read_text()).get("ensemble", []) if meta.is_file() else []
    return ens[0].get("epoch") if len(ens) == 1 else None


def merge(models: list, bias: np.ndarray | None = None):
    """One graph: every member reads ``image``; ``logits`` = mean of their logits (+ ``bias``)."""
    import onnx
    from onnx import TensorProto, compose, helper, numpy_helper

    nodes, inits, outs = [], [], []
    opset = max(m.opset_import[0].version for m in models)
    for i, m in enumerate(models):
        g = compose.add_prefix(m, prefix=f"m{i}/").graph
        for n in g.node:
            n.input[:] = ["image" if x == f"m{i}/image" else x for x in n.input]
        nodes += list(g.node)
        inits += list(g.initializer)
        outs.append(f"m{i}/logits")
    final = "mean_logits" if bias is not None else "logits"
    nodes.append(helper.make_node("Mean", outs, [final], name="ensemble_mean"))
    if bias is not None:
        inits.append(numpy_helper.from_array(np.asarray(bias, np.float32)[None], "class_bias"))
        nodes.append(helper.make_node("Add", [final, "class_bias"], ["logits"], name="class_bias_add"))
    graph = helper.make_graph(
        nodes, "face_ensemble",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 1, face.SIZE, face.SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", len(LABELS)])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="affectlens.train.face_ensemble")
    model.ir_version = min(m.ir_version for m in models)
    onnx.checker.check_model(model)
    return model


def run_logits(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(None, {"image": x[i:i + 512].astype(np.float32)[:, None]})[0]
                           for i in range(0, len(x), 512)])


def summary(logits: np.ndarray, y: np.ndarray) -> dict:
    """Temperature fit on ``(logits, y)`` and the calibrated metrics."""
    t = face.fit_temperature(logits, y)
    p = softmax(logits, t)
    out = face.metrics(p, y)
    out.update({"temperature": t, "ece_before": ece(softmax(logits), y), "ece_after": ece(p, y),
                "nll_after": float(-np.log(p[np.arange(len(y)), y] + 1e-12).mean())})
    return out


def fit_class_bias(logits: np.ndarray, y: np.ndarray, steps: int = 300) -> np.ndarray:
    """Per-class logit bias minimising the class-balanced NLL (each class weighs the same),
    which raises the recall of rare classes (disgust) at some cost in accuracy."""
    from scipy.optimize import minimize

    w = 1.0 / np.bincount(y, minlength=len(LABELS))[y]

    def loss(b):
        z = logits + b
        z = z - z.max(1, keepdims=True)
        lp = z - np.log(np.exp(z).sum(1, keepdims=True))
        p = np.exp(lp)
        onehot = np.eye(len(LABELS))[y]
        grad = ((p - onehot) * w[:, None]).sum(0) / w.sum()
        return float(-(lp[np.arange(len(y)), y] * w).sum() / w.sum()), grad

    b = minimize(loss, np.zeros(len(LABELS)), jac=True, method="L-BFGS-B", options={"maxiter": steps}).x
    return b - b[0]


def class_bias_oof(logits: np.ndarray, y: np.ndarray, scale: float = 1.0) -> dict:
    """Out-of-fold effect of the class bias (times ``scale``): fit on one half of each class,
    score the other."""
    half = face.class_halves(y)
    biased = logits.copy()
    for fold in (half, ~half):
        biased[~fold] = logits[~fold] + scale * fit_class_bias(logits[fold], y[fold])
    return {"without": summary(logits, y), "with_bias_out_of_fold": summary(biased, y)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m affectlens.train face_ensemble", description=__doc__.split("\n\n")[0])
    ap.add_argument("--members", nargs="+", required=True, help="model.onnx and/or best.pt files")
    ap.add_argument("--out", required=True, help="folder to write model.onnx, meta.json, MODEL_CARD.md")
    ap.add_argument("--data", default=None)
    ap.add_argument("--run-dir", default="runs/face", help="where the FER2013 arrays are cached")
    ap.add_argument("--base-meta", default=None, help="meta.json whose training record is kept "
                    "(default: next to the first .onnx member)")
    ap.add_argument("--class-bias", choices=("measure", "apply"), default=None,
                    help="measure a per-class logit bias out of fold on val; 'apply' also bakes it in")
    ap.add_argument("--bias-scale", type=float, default=0.5,
                    help="fraction of the fitted class bias to apply (out of fold on FER2013 val: 0.5 keeps "
                         "accuracy, disgust recall 0.36 -> 0.50; 1.0 costs 0.008 accuracy for 0.68)")
    args = ap.parse_args(argv)
    members = [Path(m) for m in args.members]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    xva, yva = face.load_split(data_root(args.data), "val", Path(args.run_dir))
    with tempfile.TemporaryDirectory() as tmp:
        protos = [member_onnx(m, Path(tmp)) for m in members]
    per_member = []
    member_logits = []
    for m, proto in zip(members, protos):
        lg = run_logits(proto.SerializeToString(), xva)
        member_logits.append(lg)
        s = summary(lg, yva)
        per_member.append({"checkpoint": str(m), "epoch": member_epoch(m), "val_acc_tta": s["accuracy"],
                           "uar": s["uar"], "ece_after": s["ece_after"]})
        print(json.dumps(per_member[-1]), flush=True)
    ens = np.mean(member_logits, axis=0)
    bias_report, bias = None, None
    if args.class_bias:
        bias_report = class_bias_oof(ens, yva, args.bias_scale)
        print(json.dumps({k: {kk: v[kk] for kk in ("accuracy", "uar", "per_class_accuracy", "ece_after")}
                          for k, v in bias_report.items()}, indent=1), flush=True)
        if args.class_bias == "apply":
            bias = args.bias_scale * fit_class_bias(ens, yva)
    model = merge(protos, bias)
    master = out / "model.fp32.onnx"
    master.write_bytes(model.SerializeToString())
    expected = ens + (bias if bias is not None else 0.0)
    if not np.allclose(run_logits(master.read_bytes(), xva), expected, atol=1e-3):
        raise RuntimeError("the merged graph disagrees with the mean of its members")
    xtr, ytr = face.load_split(data_root(args.data), "train", Path(args.run_dir))
    runtime = face_int8.ship(out, face_int8.calibration_images(xtr, ytr), xva, yva)
    shipped = face.calibrate(out / "model.onnx", xva, yva)  # temperature, val metrics, V/A, speed
    base = args.base_meta or next((m.parent / "meta.json" for m in members if m.suffix == ".onnx"
                                   and (m.parent / "meta.json").is_file()), None)
    meta = json.loads(Path(base).read_text()) if base else {"name": face.MODEL_NAME, "train": {}}
    meta.update({
        "name": face.MODEL_NAME,
        "version": meta.get("version", "1.0.0") + f"+ens{len(members)}",
        "labels": list(LABELS),
        "output": {"name": "logits", "shape": ["N", 7],
                   "notes": f"mean logits of {len(members)} networks, each the mean of the image and its mirror"
                            + (" plus a per-class bias tuned on val" if bias is not None else "")
                            + "; divide by temperature, then softmax"},
        "ensemble": per_member,
        "runtime": runtime,
        **shipped,
    })
    if bias is not None:
        meta["class_bias"] = {"values": dict(zip(LABELS, map(float, bias))), "scale": args.bias_scale,
                              "out_of_fold": {k: {kk: v[kk] for kk in ("accuracy", "uar", "per_class_accuracy")}
                                              for k, v in bias_report.items()}}
    meta.setdefault("train", {})["params"] = int(sum(
        int(np.prod(t.dims)) for p in protos for t in p.graph.initializer))
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    if meta["train"].get("args"):
        (out / "MODEL_CARD.md").write_text(face.model_card(meta))
    print(json.dumps({k: meta[k] for k in ("temperature", "val_metrics", "faces_per_second_2_threads", "runtime")},
                     indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
