"""Text analyzers: ``text`` (text-minilm) and ``dialogue`` (dialogue-minilm).

Both run a fine-tuned all-MiniLM-L6-v2 exported to ONNX, with onnxruntime and the
``tokenizers`` package (no torch at inference).

Evidence (word-occlusion cues: one extra forward pass per word, about 10× the cost) follows
the run's ``RunState.evidence``: on by default (and without a state), off in ``affectlens eval``
and ``affectlens bench``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..analyzers import (UNCERTAIN_BELOW, Analyzer, ModelUnavailable, SegmentInput, Word, build_estimate,
                         softmax)
from ..schema import LABELS, Cue, Estimate, fine_canonical
from ..state import RunState
from . import language
from .context_gate import gated_scores
from .encoding import encode_dialogue, encode_texts, load_tokenizer, pad_batch
from .occlusion import EDGE_PUNCT, occlude


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _tokens(words: Sequence[Word]) -> list[tuple[str, float, float]]:
    """Whitespace tokens of the words with the time span of the ``Word`` holding them."""
    out = []
    for w in words:
        for piece in w.text.split():
            out.append((piece, w.t0, w.t1))
    return out


class _MiniLMAnalyzer(Analyzer):
    """Shared ONNX session, tokenizer, batching and occlusion for the MiniLM analyzers."""

    modality = "text"
    weights = ("model.onnx", "tokenizer.json", "meta.json")
    #: texts per forward pass. 1: the int8 model quantizes activations per pass, so a text's
    #: result would otherwise depend on the padding and the other texts in its batch; and
    #: without padding, one at a time is also faster for short texts (measured 250 vs 150/s)
    batch_size = 1
    #: short texts cost too little for one pass to use several cores well: the session runs on
    #: one thread and ``threads()`` passes run side by side (measured 209 -> 345 texts/s, 2 cores)
    workers: int | None = None

    def __init__(self, model_dir: str | Path | None = None, n_cues: int = 3) -> None:
        self.n_cues = n_cues
        self._dir = Path(model_dir) if model_dir else None
        self._sess = None
        self._tok = None
        self._meta: dict = {}

    @property
    def model_dir(self) -> Path:
        return self._dir or super().model_dir

    def load(self) -> None:
        """Open the ONNX session and tokenizer once."""
        if self._sess is not None:
            return
        reason = self.unavailable_reason()
        if reason:
            raise ModelUnavailable(reason)
        super().load()
        try:
            import onnxruntime  # noqa: F401
            import tokenizers  # noqa: F401

            language.load()
        except ImportError as exc:
            raise ModelUnavailable(f"no model for text: {exc.name} is not installed "
                                   "(pip install affectlens[text])") from exc
        from ..config import ThreadMap, onnx_session

        self._meta = self.meta()
        self._tok = load_tokenizer(self.model_dir / "tokenizer.json")
        self._map = ThreadMap(self.workers, "affectlens-text")
        self._sess = onnx_session(self.model_dir / "model.onnx", intra_threads=1)
        self._inputs = {i.name for i in self._sess.get_inputs()}
        self._outputs = [o.name for o in self._sess.get_outputs()]

    def _run(self, seqs: list[list[int]], types: list[list[int]] | None = None) -> dict[str, np.ndarray]:
        """Forward passes over encoded sequences, length-sorted in batches of ``batch_size``,
        spread over ``workers`` threads (onnxruntime releases the GIL)."""
        order = np.argsort([len(s) for s in seqs], kind="stable")
        chunks = [order[s : s + self.batch_size] for s in range(0, len(order), self.batch_size)]

        def forward(idx: np.ndarray) -> list[np.ndarray]:
            feed = pad_batch([seqs[i] for i in idx], None if types is None else [types[i] for i in idx])
            return self._sess.run(self._outputs, {k: v for k, v in feed.items() if k in self._inputs})

        results = self._map(forward, chunks)
        inv = np.empty_like(order)
        inv[order] = np.arange(len(order))
        return {k: np.concatenate([r[j] for r in results])[inv] for j, k in enumerate(self._outputs)}

    def analyze(self, inputs: SegmentInput, state: RunState | None = None) -> Estimate | None:
        """One segment, with occlusion cues unless ``state.evidence`` is off."""
        return self.analyze_batch([inputs], state)[0]

    def _start(self, batch: Iterable[SegmentInput], state: RunState | None):
        """Load the model; the batch as a list, the evidence flag in force, the indices of
        segments that have readable words (English, recognised with confidence; the others are
        counted in ``state``, :mod:`affectlens.text.language`) and a result list of ``None``."""
        self.load()
        batch = list(batch)
        evidence = True if state is None else state.evidence
        live = [i for i, x in enumerate(batch) if x.text]
        skip = language.skip_unreadable({i: batch[i] for i in live}, state)
        live = [i for i in live if i not in skip]
        results: list[Estimate | None] = [None] * len(batch)
        return batch, evidence, live, results

    def _cues(self, x: SegmentInput, label: int, base: float, encode, run_probs) -> list[Cue]:
        toks = _tokens(x.words)
        words = [t[0] for t in toks]

        def label_prob(variants: list[str]) -> np.ndarray:
            return run_probs([encode(x, v) for v in variants])[:, label]

        cues = []
        for wd in occlude(words, label_prob, base, k=self.n_cues):
            _, t0, t1 = toks[wd.index]
            text = EDGE_PUNCT.sub("", wd.text) or wd.text
            cues.append(Cue(modality="text", name="word", value=round(wd.drop, 6), unit="prob",
                            t0=float(t0), t1=float(t1), text=text))
        return cues


class TextAnalyzer(_MiniLMAnalyzer):
    """Emotion in a segment's words: canonical 7 (calibrated), GoEmotions 28 and VAD.

    With evidence on, each estimate carries up to three ``word`` cues (leave-one-out occlusion).
    """

    name = "text-minilm"
    meta_keys = ("labels", "fine_labels", "temperature", "thresholds", "max_len")

    def _encode(self, texts: Sequence[str]) -> list[list[int]]:
        return encode_texts(self._tok, texts, int(self._meta["max_len"]))

    def _probs7(self, seqs: list[list[int]]) -> np.ndarray:
        return softmax(self._run(seqs)["logits7"], float(self._meta["temperature"]))

    def multilabel(self, est: Estimate) -> list[str]:
        """Every GoEmotions label of ``est`` at or above its threshold, whatever its canonical
        label (the model's multi-label prediction, which ``affectlens eval text`` scores)."""
        self.load()
        th = self._meta["thresholds"]
        return [k for k in self._meta["fine_labels"] if est.fine.get(k, 0.0) >= th[k]]

    def analyze_batch(self, batch: Iterable[SegmentInput],
                      state: RunState | None = None) -> list[Estimate | None]:
        """Analyze many segments in batched forward passes (cues unless ``state.evidence`` is off)."""
        batch, evidence, live, results = self._start(batch, state)
        if not live:
            return results
        seqs = self._encode([batch[i].text for i in live])
        out = self._run(seqs)
        p7 = softmax(out["logits7"], float(self._meta["temperature"]))
        p28 = _sigmoid(out["logits28"])
        fine_names = self._meta["fine_labels"]
        th = np.array([self._meta["thresholds"][k] for k in fine_names])
        max_len = int(self._meta["max_len"])
        for j, i in enumerate(live):
            x = batch[i]
            top = int(p7[j].argmax())
            above = np.flatnonzero(p28[j] >= th)
            # only fine labels of the canonical label (no "gratitude" on a fearful reading, none
            # on an uncertain one); ``multilabel`` gives all of them, as GoEmotions is scored
            label = LABELS[top] if p7[j, top] >= UNCERTAIN_BELOW else "uncertain"
            fine_pred = [fine_names[k] for k in above[np.argsort(-p28[j][above])]
                         if label in fine_canonical(fine_names[k])]
            cues = []
            if evidence:
                cues = self._cues(x, top, float(p7[j, top]),
                                  lambda _x, v: self._encode([v])[0], self._probs7)
            results[i] = build_estimate(
                "text", self.name, p7[j],
                fine=dict(zip(fine_names, p28[j].tolist())),
                fine_predicted=fine_pred,
                vad=tuple(float(v) for v in out["vad3"][j]),
                quality={"n_words": float(len(x.text.split())),
                         "truncated": float(len(seqs[j]) >= max_len)},
                cues=cues,
            )
        return results


class DialogueAnalyzer(_MiniLMAnalyzer):
    """Emotion of an utterance read with its preceding turns (MELD-style conversations).

    Reads ``SegmentInput.words`` (the utterance; speaker from ``speaker`` or the words'
    ``speaker``) and ``SegmentInput.context`` (previous utterances, oldest first). Each
    utterance with context is read twice, alone and with its context; the two readings are
    mixed by :mod:`affectlens.text.context_gate` (a clearly worded utterance keeps its own
    reading). ``quality["context_weight"]`` is the context reading's weight (0 without context).
    """

    name = "dialogue-minilm"
    meta_keys = ("labels", "max_len", "max_context", "context_gate")

    def _encode_one(self, x: SegmentInput, target: str):
        """``(with_context, alone)`` encodings (``ids, types``); ``with_context`` is ``None``
        when the utterance has no previous turns."""
        speaker = x.speaker or next((w.speaker for w in x.words if w.speaker), None)
        ctx = [(w.speaker, w.text) for w in x.context if w.text.strip()]
        kw = {"max_len": int(self._meta["max_len"]), "max_context": int(self._meta["max_context"])}
        alone = encode_dialogue(self._tok, target, [], speaker, **kw)
        return (encode_dialogue(self._tok, target, ctx, speaker, **kw) if ctx else None), alone

    def _logits(self, encoded: list) -> tuple[np.ndarray, np.ndarray]:
        """``(with_context, alone)`` logits of ``_encode_one`` results (the same where there
        is no context)."""
        alone = self._run([a[0] for _, a in encoded], [a[1] for _, a in encoded])["logits7"]
        with_ctx = [i for i, (c, _) in enumerate(encoded) if c is not None]
        ctx = alone.copy()
        if with_ctx:
            ctx[with_ctx] = self._run([encoded[i][0][0] for i in with_ctx],
                                      [encoded[i][0][1] for i in with_ctx])["logits7"]
        return ctx, alone

    def _gated(self, encoded: list) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated probabilities and context weights of ``_encode_one`` results."""
        ctx, alone = self._logits(encoded)
        gate = self._meta["context_gate"]
        scores, w = gated_scores(ctx, alone, float(gate["g0"]), float(gate["g1"]))
        w[[c is None for c, _ in encoded]] = 0.0
        return softmax(scores + np.asarray(gate["bias"], dtype=np.float64), float(gate["temperature"])), w

    def _probs7(self, encoded: list) -> np.ndarray:
        return self._gated(encoded)[0]

    def analyze_batch(self, batch: Iterable[SegmentInput],
                      state: RunState | None = None) -> list[Estimate | None]:
        """Analyze many utterances in batched forward passes (cues unless ``state.evidence`` is off)."""
        batch, evidence, live, results = self._start(batch, state)
        if not live:
            return results
        p7, w = self._gated([self._encode_one(batch[i], batch[i].text) for i in live])
        for j, i in enumerate(live):
            x = batch[i]
            top = int(p7[j].argmax())
            cues = self._cues(x, top, float(p7[j, top]), self._encode_one, self._probs7) if evidence else []
            results[i] = build_estimate(
                "text", self.name, p7[j],
                quality={"n_words": float(len(x.text.split())),
                         "n_context": float(min(len(x.context), int(self._meta["max_context"]))),
                         "context_weight": round(float(w[j]), 4)},
                cues=cues,
            )
        return results


__all__ = ["TextAnalyzer", "DialogueAnalyzer", "LABELS"]
