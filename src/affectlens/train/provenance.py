"""``python -m affectlens.train provenance [--data DIR] [--check]``: record in each shipped
model's ``meta.json`` what it was fit on (``trained_on``) and tuned on (``tuned_on``).

The sources follow each recipe's split logic (see the recipe modules):

* face-cnn: FER2013 ``train`` (``Training_*``) fits; ``val`` (``PublicTest_*``) picks the
  checkpoint and fits the temperature;
* voice-whisper-tiny: the final head is fit on every RAVDESS and EmoDB clip under ``--data``
  (speaker-disjoint CV on the same speakers chose the head and the temperature);
* text-minilm: GoEmotions and EmoBank ``train`` fit; their ``dev`` splits pick the epoch,
  thresholds and temperature (texts hashed into ``provenance.gz``);
* dialogue-minilm: MELD ``train`` fits (starting from text-minilm); MELD ``dev`` picks the
  epoch, logit offsets and temperature (utterance + two previous turns hashed); MELD ``dev``
  and EmoryNLP ``dev`` chose the context gate (``train dialogue_gate``: its shape, whether
  offsets carry over; T on MELD ``dev``);
* fusion-lr: fit on FER2013 ``val`` face outputs and RAVDESS actors 01–20 out-of-fold voice
  outputs, validated on half of them, then refit on all (so all of it is training data).

Texts are hashed (``affectlens.evaluate.overlap.HASH_NOTE``); a hash file over 300 KB is not
written and the source names its split only.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..analyzers import model_dir
from ..config import data_root
from ..evaluate import corpora, overlap

MAX_HASH_BYTES = 300_000


def _speakers(root: Path) -> dict[str, list[str]]:
    from ..evaluate.corpora import speech as vc
    from .voice import CORPORA

    out: dict[str, set[str]] = {}
    for it in vc.list_items(root, CORPORA):  # the voice recipe's own item list
        out.setdefault(it.corpus, set()).add(it.speaker)
    return {k: sorted(v) for k, v in out.items()}


def _texts(root: Path) -> dict[str, list[bytes]]:
    go = {s: corpora.read("text", root / "goemotions" / f"{s}.tsv") for s in ("train", "dev")}
    eb = {s: corpora.read("vad", root / "emobank" / "emobank.csv", split=s) for s in ("train", "dev")}
    meld = {s: corpora.read("dialogue", root / "meld" / f"{s}_sent_emo.csv") for s in ("train", "dev")}
    sets = {f"goemotions/{s}": [k.hashes["text"] for k in overlap.eval_keys("text", es.items)] for s, es in go.items()}
    sets |= {f"emobank/{s}": [k.hashes["text"] for k in overlap.eval_keys("vad", es.items)] for s, es in eb.items()}
    sets |= {f"meld/{s}": [k.hashes["dialogue"] for k in overlap.eval_keys("dialogue", es.items)]
             for s, es in meld.items()}
    emory = corpora.read("dialogue", root / "emorynlp" / "emorynlp_dev_final.csv")
    sets["emorynlp/dev"] = [k.hashes["dialogue"] for k in overlap.eval_keys("dialogue", emory.items)]
    return sets


def _hashed(model: str, sets: dict[str, list[bytes]], names: list[str], key: str = "text") -> dict[str, dict]:
    """Write the named hash sets beside the model's meta.json; the source per set (hashes only
    when the file stays under ``MAX_HASH_BYTES``)."""
    path = model_dir(model) / overlap.PROVENANCE_FILE
    chosen = {n: sets[n] for n in names}
    overlap.write_hash_sets(path, chosen)
    small = path.stat().st_size <= MAX_HASH_BYTES
    if not small:
        path.unlink()
    out = {}
    for n in names:
        corpus, split = n.split("/")
        src = {"corpus": corpus, "split": split, "unique_texts": len(set(sets[n]))}
        if small:
            src |= {"texts": f"{overlap.PROVENANCE_FILE}#{n}", "key": key}
        out[n] = src
    return out


def build(root: Path) -> dict[str, dict]:
    """``{model: {"trained_on": [...], "tuned_on": [...]}}`` from the corpora under ``root``."""
    spk = _speakers(root)
    sets = _texts(root)
    fer = lambda split, pat, use: {"corpus": "fer2013", "split": split, "files": [pat], "for": use}  # noqa: E731
    voice = [{"corpus": c, "speakers": s} for c, s in sorted(spk.items())]
    meta = overlap._meta("voice-whisper-tiny")
    shipped = set((meta.get("val_metrics") or meta.get("val") or {}).get("speakers", []))
    if shipped and shipped != {s for v in voice for s in v["speakers"]}:
        raise SystemExit(f"speakers under {root} differ from those voice-whisper-tiny records: {sorted(shipped)}")
    ravdess_fusion = [s for s in spk.get("ravdess", []) if int(s.split("-")[1]) <= 20]
    text = _hashed("text-minilm", sets, ["goemotions/train", "emobank/train", "goemotions/dev", "emobank/dev"])
    dia = _hashed("dialogue-minilm", sets, ["meld/train", "meld/dev", "emorynlp/dev"], key="dialogue")
    return {
        "face-cnn": {"trained_on": [fer("train", "Training_*", "weights")],
                     "tuned_on": [fer("val", "PublicTest_*", "checkpoint selection, temperature, valence/arousal reference, class prior bias")]},
        "voice-whisper-tiny": {
            "trained_on": [{**v, "for": "final head (all speakers)"} for v in voice],
            "tuned_on": [{**v, "for": "C, shrinkage and confidence parameters by leave-one-corpus-out "
                                        "and speaker-disjoint CV"} for v in voice]},
        "text-minilm": {"trained_on": [text["goemotions/train"], text["emobank/train"]],
                        "tuned_on": [{**text["goemotions/dev"], "for": "epoch, thresholds, temperature"},
                                     {**text["emobank/dev"], "for": "epoch"}]},
        "dialogue-minilm": {"trained_on": [dia["meld/train"], {"model": "text-minilm", "for": "initialisation"}],
                            "tuned_on": [{**dia["meld/dev"], "for": "epoch, logit offsets, temperature; "
                                                                "context gate shape, offsets test, temperature"},
                                         {**dia["emorynlp/dev"], "for": "context gate shape and offsets test"}]},
        "fusion-lr": {
            "trained_on": [{"corpus": "ravdess", "speakers": ravdess_fusion,
                            "for": "out-of-fold voice outputs; fit on 01-10, validated on 11-20, refit on all"},
                           fer("val", "PublicTest_*", "face outputs; fit on even, validated on odd, refit on all")],
            "tuned_on": []},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m affectlens.train provenance", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="corpus root (default $AFFECTLENS_DATA or ../shared/data)")
    ap.add_argument("--check", action="store_true", help="only report models whose meta.json differs")
    args = ap.parse_args(argv)
    root = data_root(args.data)
    stale = 0
    for name, prov in build(root).items():
        path = model_dir(name) / "meta.json"
        if not path.is_file():
            print(f"{name}: not installed, skipped")
            continue
        raw = path.read_text()
        meta = json.loads(raw)
        if all(meta.get(k) == v for k, v in prov.items()):
            print(f"{name}: up to date")
            continue
        stale += 1
        if not args.check:
            meta.update(prov)
            indent = len(raw.split("\n", 2)[1]) - len(raw.split("\n", 2)[1].lstrip()) or None
            path.write_text(json.dumps(meta, indent=indent) + ("\n" if raw.endswith("\n") else ""))
        print(f"{name}: {'differs' if args.check else 'wrote'} trained_on/tuned_on in {path}")
    return 1 if args.check and stale else 0
