"""Train/test overlap: which evaluation items a shipped model was fit or tuned on.

Each model's ``meta.json`` records ``trained_on`` and ``tuned_on`` (written by
``python -m affectlens.train provenance``): a list of sources, each one of

* ``{"corpus", "speakers": ["ravdess-01", ...]}`` — speech by these speakers;
* ``{"corpus", "split", "files": ["Training_*", ...]}`` — files whose names match;
* ``{"corpus", "split", "texts": "provenance.gz#goemotions/train", "key": "text"|"dialogue"}`` —
  hashed texts (``key`` dialogue: the two previous turns and the utterance) in a gzip beside meta.json;
* ``{"model": "text-minilm"}`` — everything that model was fit on (e.g. an initialisation).

``check`` counts the evaluation items that match, per model, so that ``eval`` and ``bench``
can say when a score is measured on training or tuning data.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import json
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from ..analyzers import model_dir

HASH_BYTES = 5
HASH_NOTE = f"sha256[:{HASH_BYTES}] of the NFKC-lowercased, whitespace-collapsed text"
PROVENANCE_FILE = "provenance.gz"
KINDS = ("trained_on", "tuned_on")
#: a dialogue turn's key: the turn and this many turns before it in its dialogue
DIALOGUE_TURNS = 2


def normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def text_hash(text: str, previous: str | None = None) -> bytes:
    """Hash of one text (``previous``: the turn before it, for dialogue keys)."""
    s = normalise(text) if previous is None else "\n".join(map(normalise, previous.split("\n") + [text]))
    return hashlib.sha256(s.encode("utf-8")).digest()[:HASH_BYTES]


@dataclass
class ItemKey:
    """What identifies an evaluation item against training data."""

    speaker: str | None = None  # "ravdess-01"
    name: str | None = None  # file name
    hashes: dict[str, bytes] = field(default_factory=dict)  # key kind -> hash


def speech_key(path: Path, speaker: str | None = None) -> ItemKey:
    from .corpora import speech

    try:
        spk = speech.parse(path).speaker
    except (ValueError, KeyError):
        spk = speaker
    return ItemKey(speaker=spk, name=Path(path).name)


def text_key(text: str, previous: str | None = None, dialogue: bool = False) -> ItemKey:
    """A text's key; a dialogue turn is keyed by itself and the turns before it (short turns
    such as "Okay." recur everywhere, so the text alone would match by chance)."""
    if dialogue:
        return ItemKey(hashes={"dialogue": text_hash(text, previous or "")})
    return ItemKey(hashes={"text": text_hash(text)})


# ---------------------------------------------------------------- provenance files
def write_hash_sets(path: Path, sets: dict[str, list[bytes]]) -> None:
    """One gzip: a JSON header line (set names and sizes), then each set's sorted hashes."""
    sets = {k: sorted(set(v)) for k, v in sets.items()}
    header = {"hash": HASH_NOTE, "sets": {k: len(v) for k, v in sets.items()}}
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(json.dumps(header).encode() + b"\n")
        for v in sets.values():
            f.write(b"".join(v))


@cache
def read_hash_sets(path: Path) -> dict[str, frozenset[bytes]]:
    with gzip.open(path, "rb") as f:
        header = json.loads(f.readline())
        body = f.read()
    out, pos = {}, 0
    for name, n in header["sets"].items():
        chunk = body[pos:pos + n * HASH_BYTES]
        out[name] = frozenset(chunk[i:i + HASH_BYTES] for i in range(0, len(chunk), HASH_BYTES))
        pos += n * HASH_BYTES
    return out


@cache
def _meta(name: str) -> dict:
    path = model_dir(name) / "meta.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def sources(name: str, kind: str, _seen: frozenset = frozenset()) -> list[dict]:
    """The model's ``kind`` sources, models it builds on expanded (their ``trained_on``)."""
    out = []
    for src in _meta(name).get(kind, []):
        if "model" in src:
            if src["model"] not in _seen:
                out += sources(src["model"], "trained_on", _seen | {name})
        else:
            out.append({**src, "_dir": str(model_dir(name))})
    return out


def recorded(name: str) -> bool:
    return all(k in _meta(name) for k in KINDS)


def matches(src: dict, key: ItemKey) -> bool:
    if "speakers" in src:
        return key.speaker in src["speakers"]
    if "files" in src:
        return key.name is not None and any(fnmatch.fnmatchcase(key.name, p) for p in src["files"])
    if "texts" in src:
        kind = src.get("key", "text")
        if kind not in key.hashes:
            return False
        file, _, set_name = src["texts"].partition("#")
        return key.hashes[kind] in read_hash_sets(Path(src["_dir"]) / file)[set_name]
    return False


def check(keys: list[ItemKey], models: list[str]) -> dict:
    """Overlap of the items with what ``models`` were trained and tuned on.

    Returns
    -------
    dict
        ``{"train_overlap": N, "tuning_overlap": M, "n": len(keys), "models": {name: {...}},
        "unrecorded": [models without provenance]}``; an item counts once however many
        models or sources it matches.
    """
    per_model, train_any, tune_any = {}, set(), set()
    for name in models:
        hits = {}
        for kind in KINDS:
            srcs = sources(name, kind)
            hits[kind] = {i for i, k in enumerate(keys) if any(matches(s, k) for s in srcs)}
        per_model[name] = {"train_overlap": len(hits["trained_on"]), "tuning_overlap": len(hits["tuned_on"])}
        train_any |= hits["trained_on"]
        tune_any |= hits["tuned_on"]
    return {"n": len(keys), "train_overlap": len(train_any), "tuning_overlap": len(tune_any),
            "models": per_model, "unrecorded": [m for m in models if not recorded(m)]}


def warning(result: dict) -> str | None:
    """One line when any item overlaps training or tuning data (or provenance is missing)."""
    ov = result.get("overlap") or {}
    parts = []
    if ov.get("train_overlap"):
        parts.append(f"{ov['train_overlap']} in the training data")
    if ov.get("tuning_overlap"):
        parts.append(f"{ov['tuning_overlap']} in the tuning data")
    if parts:
        who = ", ".join(m for m, v in ov["models"].items() if v["train_overlap"] or v["tuning_overlap"])
        return (f"warning: of {ov['n']} items, {' and '.join(parts)} of {who}: "
                "these scores do not measure generalisation")
    if ov.get("unrecorded"):
        return f"warning: no training provenance recorded for {', '.join(ov['unrecorded'])}: overlap unknown"
    return None


def attach(result: dict, keys: list[ItemKey], models: list[str]) -> dict:
    """Put the overlap counts into an eval/bench result (top-level ``train_overlap`` and
    ``tuning_overlap``, details under ``overlap``)."""
    ov = check(keys, models)
    result["train_overlap"], result["tuning_overlap"] = ov["train_overlap"], ov["tuning_overlap"]
    result["overlap"] = ov
    return result


def eval_keys(task: str, items: list) -> list[ItemKey]:
    """Keys of the items of an ``EvalSet`` of ``task`` (face, voice, text, vad, dialogue)."""
    if task == "face":
        return [ItemKey(name=Path(it.source).name) for it in items]
    if task == "voice":
        return [speech_key(it.source, it.speaker) for it in items]
    if task == "dialogue":
        return [text_key(it.source, "\n".join(w.text for w in it.context[-DIALOGUE_TURNS:]), dialogue=True)
                for it in items]
    return [text_key(it.source) for it in items]
