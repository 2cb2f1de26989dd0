"""Recipe: a valence/arousal/dominance branch on top of the trained text model (experimental).

Not shipped: on EmoBank dev it added under 0.01 Pearson r over v1.1 for +3.6 MB and two more
transformer layers per text (see the text-minilm model card, "Tried and not shipped").

``python -m affectlens.train text_vad --data DIR --init runs/text/best.pt
--vad-teacher runs/vad_teacher/goemotions_train_vad.npz [--branch-layers 2] [--epochs N]``

The text model's lower layers stay frozen; its top ``--branch-layers`` transformer layers are
copied into a second, VAD-only branch (mean pooling, linear head) trained on EmoBank train
(gold V/A/D) and on the GoEmotions train texts labelled by a larger teacher
(``python -m affectlens.train vad_teacher``). The 28-label, canonical-7 and embedding outputs
are computed exactly as before, so their thresholds, temperature and dev figures carry over
(the recipe checks that they are unchanged). The epoch with the best EmoBank dev valence
Pearson r is exported into the model folder's ``model.onnx`` (int8 when dev r holds) and
``meta.json`` is updated.
"""

from __future__ import annotations

import copy
import json
import random
import shutil
import time
from pathlib import Path

import numpy as np

from ..analyzers import file_sha256, model_dir
from ..config import data_root
from ..evaluate import metrics
from ..text.encoding import encode_texts, load_tokenizer, pad_batch
from .text import (MAX_LEN, MODEL_NAME, base_model_dir, build_model, bucket_batches,
                   export_onnx, onnx_predict, quantize, read_emobank, read_goemotions, save_checkpoint,
                   teacher_vad)

VERSION = "1.2"
OUTPUTS = ["logits28", "logits7", "vad3", "embedding"]
#: dev valence r that float32 branch weights must add to be worth their 11 MB
BRANCH_FLOAT_GAIN = 0.005


def _layers(model):
    return model.encoder.encoder.layer


def frozen_states(graph: Path, id_sets: list[list[list[int]]], upto: int, work: Path) -> list[list[np.ndarray]]:
    """Hidden states after the first ``upto`` layers as the shipped (int8) graph computes them,
    one text per pass like the analyzer: per set of encoded texts, one float16 ``(len, hidden)``
    array per text. The branch is trained on exactly the inputs it gets at run time."""
    import onnx

    from ..config import onnx_session

    m = onnx.load(str(graph))
    suffix = f"layer.{upto - 1}/output/LayerNorm/LayerNormalization_output_0"
    name = next(o for n in m.graph.node for o in n.output if o.endswith(suffix))
    m.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    tapped = work / "shared_states.onnx"
    onnx.save(m, str(tapped))
    sess = onnx_session(tapped)
    return [[sess.run([name], pad_batch([seq]))[0][0].astype(np.float16) for seq in ids] for ids in id_sets]


def _embed(enc, input_ids, attention_mask):
    """BertModel's embedding and attention-mask steps, as in its ``forward``."""
    emb = enc.embeddings(input_ids=input_ids)
    return emb, _attention_mask(enc, emb, attention_mask)


def build_branch(model, n_layers: int):
    """Copies of the top ``n_layers`` layers and of the VAD head, as a trainable module."""
    from torch import nn

    class Branch(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.ModuleList(copy.deepcopy(list(_layers(model)[-n_layers:])))
            self.dropout = nn.Dropout(0.1)
            self.head = copy.deepcopy(model.heads["vad"])

        def forward(self, h, mask, attention_mask):
            for layer in self.layers:
                h = layer(h, mask)
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            return self.head(self.dropout((h * m).sum(1) / m.sum(1).clamp(min=1.0)))

    branch = Branch()
    for prm in branch.parameters():
        prm.requires_grad_(True)
    return branch


def _padded_states(states: list[np.ndarray], idx) -> tuple:
    import torch

    width = max(len(states[i]) for i in idx)
    h = np.zeros((len(idx), width, states[idx[0]].shape[1]), np.float32)
    am = np.zeros((len(idx), width), np.int64)
    for j, i in enumerate(idx):
        h[j, : len(states[i])] = states[i]
        am[j, : len(states[i])] = 1
    return torch.from_numpy(h), torch.from_numpy(am)


def _attention_mask(enc, h, am):
    """BertModel's attention mask for hidden states ``h`` and the 0/1 mask ``am``."""
    return enc._create_attention_masks(attention_mask=am, encoder_attention_mask=None,
                                       embedding_output=h, encoder_hidden_states=None, cache=None)[0]


def predict_branch(model, branch, states: list[np.ndarray], batch_size: int = 128) -> np.ndarray:
    """Standardised V/A/D of the branch over cached states."""
    import torch

    branch.eval()
    order, out = np.argsort([len(s) for s in states]), np.zeros((len(states), 3), np.float32)
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            h, am = _padded_states(states, idx)
            out[idx] = branch(h, _attention_mask(model.encoder, h, am), am).numpy()
    branch.train()
    return out


def pearsons(pred: np.ndarray, gold: np.ndarray) -> list[float]:
    """Pearson r of valence, arousal and dominance."""
    return [metrics.pearson(pred[:, k], gold[:, k]) for k in range(3)]


class BranchExport:
    """ONNX wrapper: the text model's outputs, with ``vad3`` from the branch."""

    @staticmethod
    def wrap(model, branch, n_frozen: int):
        from torch import nn

        class Wrapper(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.m, self.b = model, branch

            def forward(self, input_ids, attention_mask):
                h, mask = _embed(self.m.encoder, input_ids, attention_mask)
                for i, layer in enumerate(_layers(self.m)):
                    if i == n_frozen:
                        split = h
                    h = layer(h, mask)
                m = attention_mask.unsqueeze(-1).to(h.dtype)
                pooled = (h * m).sum(1) / m.sum(1).clamp(min=1.0)
                heads = self.m.heads
                vad = self.b(split, mask, attention_mask) * self.m.vad_std + self.m.vad_mean
                return heads["go28"](pooled), heads["canon7"](pooled), vad, pooled

        return Wrapper().eval()


def main(argv: list[str] | None = None) -> int:
    """Train the VAD branch, export it with the text model, check the shared outputs."""
    import argparse

    import torch

    p = argparse.ArgumentParser(prog="python -m affectlens.train text_vad", description=__doc__.strip().splitlines()[0])
    p.add_argument("--data", default=None, help="corpus root (default $AFFECTLENS_DATA or ../shared/data)")
    p.add_argument("--init", default="runs/text/best.pt", help="the text model's checkpoint (train text)")
    p.add_argument("--vad-teacher", default=None, help="teacher V/A/D for GoEmotions train (train vad_teacher)")
    p.add_argument("--out", default=None, help="model folder to update (default src/affectlens/models/text-minilm)")
    p.add_argument("--runs", default="runs/text_vad", help="checkpoint folder")
    p.add_argument("--branch-layers", type=int, default=2, help="top layers copied into the VAD branch")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--batch-size", type=int, default=32, help="teacher-labelled GoEmotions texts per step")
    p.add_argument("--emobank-batch", type=int, default=16, help="EmoBank texts per step")
    p.add_argument("--distill-weight", type=float, default=1.0)
    p.add_argument("--limit", type=int, default=0, help="first N rows of each split (smoke tests)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=13)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    root, runs = data_root(args.data), Path(args.runs)
    out = Path(args.out) if args.out else model_dir(MODEL_NAME)
    runs.mkdir(parents=True, exist_ok=True)
    init = Path(args.init)
    if not init.is_file():
        raise FileNotFoundError(f"--init {init} not found: run `python -m affectlens.train text` first")
    old_meta = json.loads((out / "meta.json").read_text())

    eb = read_emobank(root / "emobank" / "emobank.csv")
    (tr_x, tr_y), (dv_x, dv_y) = eb["train"], eb["dev"]
    go_x = read_goemotions(root / "goemotions" / "train.tsv")[0] if args.vad_teacher else []
    if args.limit:
        tr_x, tr_y, dv_x, dv_y, go_x = tr_x[: args.limit], tr_y[: args.limit], dv_x[: args.limit], dv_y[: args.limit], go_x[: args.limit]
    mean, std = tr_y.mean(0), tr_y.std(0) + 1e-6
    tr_z = (tr_y - mean) / std
    go_z = (teacher_vad(Path(args.vad_teacher), go_x) - mean) / std if args.vad_teacher else np.zeros((0, 3), np.float32)

    model = build_model(init, n_out={"go28": 28, "canon7": 7, "vad": 3}, vad_stats=(mean, std)).eval()
    for prm in model.parameters():
        prm.requires_grad_(False)
    n_frozen = len(_layers(model)) - args.branch_layers
    tok = load_tokenizer(base_model_dir() / "tokenizer.json")
    t0 = time.time()
    tr_s, dv_s, go_s = frozen_states(out / "model.onnx", [encode_texts(tok, x, MAX_LEN) for x in (tr_x, dv_x, go_x)],
                                     n_frozen, runs)
    print(f"cached layer-{n_frozen} states of {len(tr_s)} + {len(dv_s)} EmoBank and {len(go_s)} GoEmotions texts "
          f"in {time.time() - t0:.0f} s", flush=True)

    branch = build_branch(model, args.branch_layers)
    print("EmoBank dev Pearson V/A/D of the text model's own VAD head (copied into the branch):",
          [round(r, 4) for r in pearsons(predict_branch(model, branch, dv_s) * std + mean, dv_y)], flush=True)
    steps = max(1, (len(go_s) or len(tr_s)) // args.batch_size)
    opt = torch.optim.AdamW([{"params": branch.layers.parameters(), "lr": args.lr},
                             {"params": branch.head.parameters(), "lr": args.lr * 10}], weight_decay=0.01)
    total, warm = steps * args.epochs, max(1, int(0.06 * steps * args.epochs))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    best, history = -1.0, []
    mse = torch.nn.functional.mse_loss
    for epoch in range(args.epochs):
        t0 = time.time()
        eb_batches = iter(())
        go_order = list(range(len(go_s)))
        rng.shuffle(go_order)
        for step in range(steps):
            eb_idx = next(eb_batches, None)
            if eb_idx is None:
                eb_batches = iter(bucket_batches([len(s) for s in tr_s], args.emobank_batch, rng))
                eb_idx = next(eb_batches)
            go_idx = go_order[step * args.batch_size : (step + 1) * args.batch_size]
            states = [tr_s[i] for i in eb_idx] + [go_s[i] for i in go_idx]
            h, am = _padded_states(states, list(range(len(states))))
            pred = branch(h, _attention_mask(model.encoder, h, am), am)
            n = len(eb_idx)
            loss = mse(pred[:n], torch.from_numpy(tr_z[eb_idx]))
            if go_idx:
                loss = loss + args.distill_weight * mse(pred[n:], torch.from_numpy(go_z[go_idx]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(branch.parameters(), 1.0)
            opt.step()
            sched.step()
            if step % 200 == 0:
                print(f"epoch {epoch + 1} step {step + 1}/{steps} loss {loss.item():.4f} "
                      f"{(time.time() - t0) / (step + 1):.3f} s/step", flush=True)
        r = pearsons(predict_branch(model, branch, dv_s) * std + mean, dv_y)
        history.append({"epoch": epoch + 1, "emobank_dev_pearson_vad": r, "minutes": (time.time() - t0) / 60})
        print(json.dumps(history[-1]), flush=True)
        if r[0] > best:
            best = r[0]
            save_checkpoint(runs / "best.pt", branch=branch.state_dict(), epoch=epoch + 1)

    ck = torch.load(runs / "best.pt", map_location="cpu", weights_only=False)
    branch.load_state_dict(ck["branch"])
    branch.eval()
    tmp = runs / "export"
    export_onnx(BranchExport.wrap(model, branch, n_frozen), tmp / "model_fp32.onnx", ["input_ids", "attention_mask"], OUTPUTS)
    quantize(tmp / "model_fp32.onnx", tmp / "model_int8.onnx")
    quantize(tmp / "model_fp32.onnx", tmp / "model_int8-fp32branch.onnx", keep_float="/b/")
    return _ship(args, out, old_meta, tmp, tok, (dv_x, dv_y), ck["epoch"], history)


def _ship(args, out: Path, old_meta: dict, tmp: Path, tok, data, best_epoch: int, history: list) -> int:
    """Score both precisions on EmoBank dev, check the shared outputs against the shipped model,
    copy the chosen graph into ``out`` and update ``meta.json``."""
    dv_x, dv_y = data
    dv_ids = encode_texts(tok, dv_x, MAX_LEN)
    scores = {}
    for kind in ("fp32", "int8", "int8-fp32branch"):
        res = onnx_predict(tmp / f"model_{kind}.onnx", dv_ids)
        scores[kind] = (pearsons(res["vad3"], dv_y), res)
        print(kind, "EmoBank dev Pearson V/A/D", [round(r, 4) for r in scores[kind][0]], flush=True)
    if old_meta.get("quantization") != "int8":
        raise RuntimeError("the shipped text model is not int8; rerun `train text` first")
    # the shared part stays int8 as shipped; the branch too unless float32 weights pay on dev
    use = "int8" if scores["int8-fp32branch"][0][0] - scores["int8"][0][0] <= BRANCH_FLOAT_GAIN else "int8-fp32branch"
    old = onnx_predict(out / "model.onnx", dv_ids)
    drift = max(float(np.abs(old[k] - scores[use][1][k]).max()) for k in ("logits28", "logits7", "embedding"))
    print(f"largest change of the shared outputs on EmoBank dev: {drift:.2e}", flush=True)
    if drift > 1e-4:
        raise RuntimeError(f"the shared outputs changed by {drift:.2e}: --init is not the shipped model's checkpoint")
    report = metrics.dimensional_report(dv_y, scores[use][1]["vad3"])["metrics"]
    shutil.copyfile(tmp / f"model_{use}.onnx", out / "model.onnx")
    meta = dict(old_meta)
    meta["version"] = VERSION
    meta["quantization"] = use
    vm = dict(meta["val_metrics"])
    for name in "vad":
        vm[f"emobank_pearson_{name}"] = report[f"pearson_{name}"]
        vm[f"emobank_ccc_{name}"] = report[f"ccc_{name}"]
    meta["val_metrics"] = vm
    meta["vad_branch"] = {
        "layers": args.branch_layers, "teacher": args.vad_teacher and Path(args.vad_teacher).name,
        "distill_weight": args.distill_weight, "epochs": args.epochs, "best_epoch": best_epoch, "lr": args.lr,
        "history": history, "emobank_dev_pearson_vad_fp32_vs_int8": {k: v[0] for k, v in scores.items()},
        "shared_outputs_max_change": drift}
    meta["sha256"] = file_sha256(out / "model.onnx")
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    print(f"wrote {out} ({use}, {(out / 'model.onnx').stat().st_size / 1e6:.1f} MB)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
