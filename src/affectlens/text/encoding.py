"""Text normalisation and WordPiece encoding shared by training and inference.

Both the training recipes and the analyzers encode text through these functions,
so the token ids the ONNX graphs see at run time are exactly those seen in training.
Only ``tokenizers`` and ``numpy`` are needed (no torch, no transformers).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np

#: UTF-8 bytes read as cp1252 (MELD's "â€™" for "’") -> the intended character.
_MOJIBAKE = {
    "â€™": "'", "â€˜": "'", "â€œ": '"', "â€\x9d": '"', "â€": '"', "â€”": " - ",
    "â€“": " - ", "â€¦": "...", "Ã©": "é", "Ã¨": "è", "Â ": " ",
}
_PUNCT = {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2014": " - ",
          "\u2013": " - ", "\u2026": "...", "\u00a0": " ", "\x92": "'", "\x93": '"', "\x94": '"',
          "\x85": "..."}
_SPACES = re.compile(r"\s+")
_MOJI_RE = re.compile("|".join(re.escape(k) for k in sorted(_MOJIBAKE, key=len, reverse=True)))
_PUNCT_RE = re.compile("|".join(re.escape(k) for k in _PUNCT))


def normalize_text(text: str) -> str:
    """Repair cp1252 mojibake, unify quotes and dashes, collapse whitespace.

    Parameters
    ----------
    text : str
        Raw utterance, e.g. MELD's ``"He\u00e2\u20ac\u2122s"`` or ``"He\u2019s"``.

    Returns
    -------
    str
        ``"He's"`` in both cases.
    """
    if "â" in text or "Ã" in text or "Â" in text:
        try:  # exact repair when the whole string round-trips
            text = text.encode("cp1252").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            text = _MOJI_RE.sub(lambda m: _MOJIBAKE[m.group(0)], text)
    text = _PUNCT_RE.sub(lambda m: _PUNCT[m.group(0)], text)
    return _SPACES.sub(" ", text).strip()


def load_tokenizer(path: str | Path):
    """A ``tokenizers.Tokenizer`` from ``tokenizer.json`` with padding and truncation off
    (we pad per batch and truncate ourselves)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.no_truncation()
    return tok


def _special_ids(tok) -> tuple[int, int, int]:
    return tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]"), tok.token_to_id("[PAD]") or 0


def pad_batch(seqs: Sequence[Sequence[int]], types: Sequence[Sequence[int]] | None = None,
              pad_id: int = 0) -> dict[str, np.ndarray]:
    """Right-pad id lists to the longest one.

    Returns
    -------
    dict
        ``input_ids``, ``attention_mask`` (and ``token_type_ids`` when ``types``), int64.
    """
    n, width = len(seqs), max(1, max((len(s) for s in seqs), default=1))
    ids = np.full((n, width), pad_id, dtype=np.int64)
    mask = np.zeros((n, width), dtype=np.int64)
    tt = np.zeros((n, width), dtype=np.int64)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = s
        mask[i, : len(s)] = 1
        if types is not None:
            tt[i, : len(s)] = types[i]
    out = {"input_ids": ids, "attention_mask": mask}
    if types is not None:
        out["token_type_ids"] = tt
    return out


def encode_texts(tok, texts: Sequence[str], max_len: int = 64) -> list[list[int]]:
    """``[CLS] text [SEP]`` WordPiece ids per text, truncated to ``max_len`` tokens."""
    cls, sep, _ = _special_ids(tok)
    encs = tok.encode_batch([normalize_text(t) for t in texts], add_special_tokens=False)
    return [[cls] + e.ids[: max_len - 2] + [sep] for e in encs]


def speaker_tag(speaker: str | None) -> str:
    """``"Ross"`` -> ``"[Ross]"``; EmoryNLP's ``"['Rachel Green']"`` -> ``"[Rachel]"``."""
    if not speaker:
        return ""
    name = re.sub(r"[\[\]'\"]", "", str(speaker)).split(",")[0].strip()
    name = name.split()[0] if name else ""
    return f"[{name}] " if name else ""


def encode_dialogue(tok, target: str, context: Sequence[tuple[str | None, str]],
                    speaker: str | None = None, max_len: int = 128,
                    max_context: int = 4) -> tuple[list[int], list[int]]:
    """Encode one utterance with its preceding turns.

    Layout: ``[CLS] [A] ctx_1 [SEP] [B] ctx_2 ... [SEP] [Ross] target [SEP]``, context
    oldest first; token type 0 for context, 1 for the target. The target is kept whole
    (up to ``max_len // 2`` tokens); the oldest context turns are dropped, then
    left-truncated, to fit ``max_len``.

    Parameters
    ----------
    target : str
        The utterance to classify.
    context : sequence of (speaker, text)
        Previous utterances, oldest first; only the last ``max_context`` are used.
    speaker : str or None
        The target's speaker.

    Returns
    -------
    ids, token_types : list of int
    """
    cls, sep, _ = _special_ids(tok)
    turns = list(context)[-max_context:] if max_context > 0 else []
    texts = [speaker_tag(s) + normalize_text(t) for s, t in turns]
    texts.append(speaker_tag(speaker) + normalize_text(target))
    encs = tok.encode_batch(texts, add_special_tokens=False)
    tgt = encs[-1].ids[: max_len // 2 - 2]
    budget = max_len - len(tgt) - 2
    ctx: list[int] = []
    for e in reversed(encs[:-1]):  # newest first
        piece = e.ids + [sep]
        if len(piece) > budget - len(ctx):
            room = budget - len(ctx)
            if room > 4:  # keep the end of a turn that does not fit whole
                ctx = piece[-room:] + ctx
            break
        ctx = piece + ctx
    ids = [cls] + ctx + tgt + [sep]
    types = [0] * (1 + len(ctx)) + [1] * (len(tgt) + 1)
    return ids, types
