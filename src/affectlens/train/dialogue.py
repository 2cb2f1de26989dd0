"""Recipe: emotion recognition in conversation (``models/dialogue-minilm``).

``python -m affectlens.train dialogue --data DIR [--init runs/text/best.pt] [--epochs N] [--resume]``

Each MELD utterance is encoded with up to ``--max-context`` previous turns of its dialogue,
with speaker tags (``[CLS] [Ross] ... [SEP] [Monica] target [SEP]``, token type 1 on the
target; see ``affectlens.text.encoding.encode_dialogue``). The encoder starts from the
fine-tuned text model's checkpoint (``--init``, made by ``python -m affectlens.train text``;
its canonical-7 head initialises ours), then trains on MELD train with a 7-way softmax over
the canonical labels (MELD maps 1:1). The best epoch on MELD dev (weighted F1) is
given per-class logit offsets that maximise dev weighted F1, temperature-calibrated on dev
and exported to ONNX
(``input_ids, attention_mask, token_type_ids -> logits7``), int8 when dev F1 holds.

EmoryNLP is not trained on: it has no disgust or surprise class, and its Peaceful/Powerful
labels only map loosely onto the canonical set. Its dev split helps fit the context gate, which
``python -m affectlens.train dialogue_gate`` adds to the meta.json written here (the analyzer
needs it).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import numpy as np

from ..evaluate.corpora import dialogue
from ..schema import LABELS
from ..text.encoding import encode_dialogue
from .text import (QUANT_TOLERANCE, _batch_tensors, bucket_batches, build_model,
                   end_epoch, export_best, setup, start, step_on, fit_temperature, make_parser, onnx_predict, predict_torch)

MODEL_NAME = "dialogue-minilm"
#: written to meta.json; the analyzer reports it
VERSION = "1.0"
MAX_LEN = 128
MAX_CONTEXT = 3


def read_meld(path: Path) -> list[dict]:
    """MELD CSV (through the shared reader) -> utterances with ``speaker``, ``text``, ``label``
    (canonical) and ``context`` (previous ``(speaker, text)`` turns of the dialogue)."""
    _, items = dialogue.list_items(path, context_turns=None)
    return [{"speaker": it.speaker, "text": it.source, "label": it.target,
             "context": [(w.speaker, w.text) for w in it.context]} for it in items]


def encode_rows(tok, rows: list[dict], max_len: int, max_context: int):
    """Encode rows with :func:`encode_dialogue`; returns ids, token types, label indices."""
    ids, types = [], []
    for r in rows:
        a, b = encode_dialogue(tok, r["text"], r["context"], r["speaker"], max_len, max_context)
        ids.append(a)
        types.append(b)
    y = np.array([LABELS.index(r["label"]) for r in rows], dtype=np.int64)
    return ids, types, y


def tune_logit_bias(logits: np.ndarray, y: np.ndarray, sweeps: int = 3) -> np.ndarray:
    """Per-class additive logit offsets maximising weighted F1 (coordinate ascent on a
    -1.5..1.5 grid). On random halves of MELD dev, offsets tuned on one half raised the
    other half's weighted F1 by 0.006-0.023."""
    from sklearn.metrics import f1_score

    bias = np.zeros(logits.shape[1])
    grid = np.round(np.arange(-1.5, 1.51, 0.1), 2)
    for _ in range(sweeps):
        for c in range(logits.shape[1]):
            scores = []
            for v in grid:
                b = bias.copy()
                b[c] = v
                scores.append(f1_score(y, (logits + b).argmax(1), average="weighted"))
            bias[c] = grid[int(np.argmax(scores))]
    return bias


def dialogue_metrics(logits: np.ndarray, y: np.ndarray, temperature: float) -> dict:
    """Weighted/macro F1, accuracy, per-class F1 and NLL of calibrated probabilities."""
    from sklearn.metrics import accuracy_score, f1_score

    from ..analyzers import softmax

    p = softmax(logits, temperature)
    pred = p.argmax(1)
    per = f1_score(y, pred, average=None, labels=range(len(LABELS)), zero_division=0)
    return {
        "meld_weighted_f1": float(f1_score(y, pred, average="weighted")),
        "meld_macro_f1": float(f1_score(y, pred, average="macro")),
        "meld_accuracy": float(accuracy_score(y, pred)),
        "meld_per_class_f1": {k: round(float(v), 4) for k, v in zip(LABELS, per)},
        "meld_nll": float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-9, 1)).mean()),
    }


class DialogueExport:
    """ONNX wrapper: ``input_ids, attention_mask, token_type_ids -> logits7``."""

    @staticmethod
    def wrap(model):
        from torch import nn

        class Wrapper(nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.m.heads["canon7"](self.m.pool(input_ids, attention_mask, token_type_ids))

        return Wrapper(model).eval()


def main(argv: list[str] | None = None) -> int:
    """Train, calibrate, export and quantize the dialogue model; see the module docstring."""
    import torch

    parser = make_parser("dialogue", 3, 5e-5, 16, __doc__)
    parser.add_argument("--init", default="runs/text/best.pt",
                        help="text-model checkpoint to start from ('' = plain all-MiniLM-L6-v2)")
    parser.add_argument("--max-context", type=int, default=MAX_CONTEXT)
    args = parser.parse_args(argv)
    rng, root, runs, out, tok_path, tok = setup(args, MODEL_NAME)

    train_rows = read_meld(root / "meld" / "train_sent_emo.csv")
    dev_rows = read_meld(root / "meld" / "dev_sent_emo.csv")
    if args.limit:
        train_rows, dev_rows = train_rows[: args.limit], dev_rows[: args.limit]
    tr_ids, tr_tt, tr_y = encode_rows(tok, train_rows, MAX_LEN, args.max_context)
    dv_ids, dv_tt, dv_y = encode_rows(tok, dev_rows, MAX_LEN, args.max_context)
    print(f"meld train {len(tr_ids)} dev {len(dv_ids)}; mean tokens {np.mean([len(s) for s in tr_ids]):.1f}",
          flush=True)

    init = Path(args.init) if args.init else None
    if init is not None and not init.is_file():
        raise FileNotFoundError(f"--init {init} not found: run `python -m affectlens.train text` "
                                "first, or pass --init '' to start from all-MiniLM-L6-v2")
    model = build_model(init=init, n_out={"canon7": 7})
    steps_per_epoch, opt, sched, start_epoch, best_score, history = start(model, args, len(tr_ids), 5, runs, rng)

    t_start = time.time()
    for epoch in range(start_epoch, args.epochs):
        model.train()
        batches = bucket_batches([len(s) for s in tr_ids], args.batch_size, rng)[:steps_per_epoch]
        t0 = time.time()
        for step, idx in enumerate(batches):
            heads, _ = model(**_batch_tensors([tr_ids[i] for i in idx], [tr_tt[i] for i in idx]))
            loss = torch.nn.functional.cross_entropy(heads["canon7"], torch.from_numpy(tr_y[idx]))
            step_on(loss, model, opt, sched)
            if step % 50 == 0 or step == len(batches) - 1:
                dt = (time.time() - t0) / (step + 1)
                print(f"epoch {epoch + 1} step {step + 1}/{len(batches)} loss {loss.item():.4f} "
                      f"{dt:.3f} s/step, eta epoch {dt * (len(batches) - step - 1) / 60:.1f} min",
                      flush=True)
        dv = predict_torch(model, dv_ids, types=dv_tt)["canon7"]
        temp = fit_temperature(dv, np.eye(len(LABELS), dtype=np.float32)[dv_y])
        m = dialogue_metrics(dv, dv_y, temp)
        history.append({"epoch": epoch + 1, "minutes": (time.time() - t0) / 60, "temperature": temp,
                        **{k: v for k, v in m.items() if not isinstance(v, dict)}})
        print(json.dumps(history[-1]), flush=True)
        best_score = end_epoch(runs, model, opt, sched, rng, epoch + 1, m["meld_weighted_f1"],
                               best_score, history)
    print(f"training done in {(time.time() - t_start) / 60:.1f} min", flush=True)

    ck, tmp = export_best(model, runs, DialogueExport, ["input_ids", "attention_mask", "token_type_ids"],
                          ["logits7"])
    results = {}
    for kind in ("fp32", "int8"):
        logits = onnx_predict(tmp / f"model_{kind}.onnx", dv_ids, types=dv_tt)["logits7"]
        temp = fit_temperature(logits, np.eye(len(LABELS), dtype=np.float32)[dv_y])
        results[kind] = (dialogue_metrics(logits, dv_y, temp), temp)
        print(kind, json.dumps({k: v for k, v in results[kind][0].items() if not isinstance(v, dict)}),
              flush=True)
    fp, q = results["fp32"][0], results["int8"][0]
    use = "int8" if fp["meld_weighted_f1"] - q["meld_weighted_f1"] <= QUANT_TOLERANCE else "fp32"
    m_raw, _ = results[use]
    logits = onnx_predict(tmp / f"model_{use}.onnx", dv_ids, types=dv_tt)["logits7"]
    bias = tune_logit_bias(logits, dv_y)
    temp = fit_temperature(logits + bias, np.eye(len(LABELS), dtype=np.float32)[dv_y])
    m = dialogue_metrics(logits + bias, dv_y, temp)
    print("with logit bias", json.dumps({k: v for k, v in m.items() if not isinstance(v, dict)}),
          flush=True)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tmp / f"model_{use}.onnx", out / "model.onnx")
    shutil.copyfile(tok_path, out / "tokenizer.json")
    meta = {
        "name": MODEL_NAME,
        "version": VERSION,
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (+ text-minilm fine-tuning)",
        "inputs": {"input_ids": "int64 [batch, seq]", "attention_mask": "int64 [batch, seq]",
                   "token_type_ids": "int64 [batch, seq] (0 context, 1 target)"},
        "outputs": {"logits7": "canonical logits (softmax / T)"},
        "encoding": "affectlens.text.encoding.encode_dialogue",
        "max_len": MAX_LEN,
        "max_context": args.max_context,
        "labels": list(LABELS),
        "logit_bias": [round(float(b), 2) for b in bias],
        "temperature": temp,
        "quantization": use,
        "val_metrics": {"split": "MELD dev (logit bias and T tuned on it)", **m},
        "val_metrics_without_bias": {k: v for k, v in m_raw.items()},
        "val_metrics_fp32_vs_int8": {k: {"weighted_f1": r[0]["meld_weighted_f1"],
                                         "accuracy": r[0]["meld_accuracy"]} for k, r in results.items()},
        "training": {"epochs": args.epochs, "best_epoch": ck["epoch"], "batch_size": args.batch_size,
                     "lr": args.lr, "init": str(init) if init else None, "history": history},
        "sha256": hashlib.sha256((out / "model.onnx").read_bytes()).hexdigest(),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    print(f"wrote {out} ({use}, {(out / 'model.onnx').stat().st_size / 1e6:.1f} MB)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
