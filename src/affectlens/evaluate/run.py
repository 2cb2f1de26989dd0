"""Run an analyzer over an ``EvalSet`` and score it (the ``affectlens eval`` JSON)."""

from __future__ import annotations

import re
import time
from typing import Callable

import numpy as np

from ..analyzers import Analyzer, ModelMeta
from ..errors import InputError
from ..schema import LABEL_MAPS, LABELS, Estimate
from ..state import RunState
from . import metrics, overlap
from .corpora import EvalSet


def _canonical(label: str) -> str:
    if label in LABELS:
        return label
    for corpus in ("speech", "emorynlp"):
        if label in LABEL_MAPS[corpus]:
            return LABEL_MAPS[corpus][label]
    raise KeyError(label)


def _scores(est: Estimate | None, labels: list[str]) -> np.ndarray:
    """Probabilities over ``labels`` from an estimate: its fine scores when it has all of
    them, else its canonical probabilities; renormalised. NaN when there is no estimate."""
    if est is None:
        return np.full(len(labels), np.nan)
    if all(k in est.fine for k in labels):
        p = np.array([est.fine[k] for k in labels])
    else:
        p = np.array([est.probs[k] for k in labels])
    total = p.sum()
    return p / total if total > 0 else np.full(len(labels), 1 / len(labels))


def _meta_val(meta: ModelMeta) -> dict:
    """The validation numbers a model's meta.json records (``val_metrics``, or its ``metrics``)."""
    return meta.val_metrics.get("metrics", meta.val_metrics)


#: at most this many clips are decoded and analysed at once within a run
RUN_CHUNK = 256


def _runs(items: list, batch: int, by_speaker: bool) -> list[list[int]]:
    """Item indices analysed together as one run. Voice: each speaker's clips form one run, as
    one recording of that speaker would, primed with the speaker's statistics from all of them
    (the analyzer standardises a voice by its speaker's statistics in the run); clips without
    a speaker id form one run together. Else batches."""
    if not by_speaker:
        return [list(range(i, min(i + batch, len(items)))) for i in range(0, len(items), batch)]
    runs: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        runs.setdefault(it.speaker or "", []).append(i)
    return list(runs.values())


def skipped_summary(skipped: list[tuple[str, str]], keep: int = 50) -> dict:
    """``{"n", "by_reason": {reason: count}, "items": [{"item", "reason"}, ...first keep]}``."""
    by_reason: dict[str, int] = {}
    for _, reason in skipped:
        key = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", reason)[:120]  # group reasons that differ by a quoted value
        by_reason[key] = by_reason.get(key, 0) + 1
    return {"n": len(skipped), "by_reason": dict(sorted(by_reason.items(), key=lambda kv: -kv[1])),
            "items": [{"item": str(i), "reason": r} for i, r in skipped[:keep]]}


def _check_enough(es: EvalSet, n_ok: int, skipped: list[tuple[str, str]]) -> None:
    """A corpus that is mostly unreadable or unlabelled is an error, not a score."""
    total = n_ok + len(skipped)
    if n_ok == 0 or len(skipped) > total / 2:
        first = f"; first: {skipped[0][0]}: {skipped[0][1]}" if skipped else ""
        raise InputError(es.data, f"{len(skipped)} of {total} items are unreadable or unlabelled{first}")


def evaluate(es: EvalSet, analyzer: Analyzer, batch: int = 64, limit: int | None = None,
             progress: Callable[[int, int], None] | None = None) -> dict:
    """Score ``analyzer`` on ``es``.

    Returns
    -------
    dict
        ``{"task", "data", "format", "n", "skipped", "model", "labels", "metrics", "per_class", "confusion",
        "speed"}``; ``skipped`` counts the items that could not be read or had no usable label.

    Raises
    ------
    InputError
        When more than half of the items were skipped.
    """
    items = es.items[:limit] if limit else es.items
    skipped = list(es.skipped)
    if es.kind == "single":  # a target outside the label space cannot be scored
        for it in items:
            if it.target not in es.labels:
                skipped.append((str(it.source)[:80], f"label {it.target!r} is not in the corpus label space"))
        items = [it for it in items if it.target in es.labels]
    estimates: dict[int, Estimate | None] = {}
    t_model, done = 0.0, 0
    prime = getattr(analyzer, "prime", None) if es.task == "voice" else None

    def load(part: list[int], record: bool) -> tuple[list[int], list]:
        ok, inputs = [], []
        for i in part:
            try:
                inputs.append(es.load(items[i]))
                ok.append(i)
            except InputError as exc:  # unreadable item: skipped and counted
                if record:
                    skipped.append((exc.path, exc.reason))
        return ok, inputs

    for run in _runs(items, batch, by_speaker=prime is not None):
        with RunState(evidence=False) as state:  # scores only: skip costly cues
            if prime is not None:  # the speaker's statistics from all of its clips first
                for k in range(0, len(run), RUN_CHUNK):
                    inputs = load(run[k:k + RUN_CHUNK], record=False)[1]
                    t = time.perf_counter()
                    prime(inputs, state)
                    t_model += time.perf_counter() - t
            for k in range(0, len(run), RUN_CHUNK):
                part, inputs = load(run[k:k + RUN_CHUNK], record=True)
                t = time.perf_counter()
                if inputs:
                    estimates.update(zip(part, analyzer.analyze_batch(inputs, state)))
                t_model += time.perf_counter() - t
                done += min(RUN_CHUNK, len(run) - k)
                if progress:
                    progress(done, len(items))
    order = sorted(estimates)
    items, estimates = [items[i] for i in order], [estimates[i] for i in order]
    _check_enough(es, len(items), skipped)
    out = {"task": es.task, "data": es.data, "format": es.fmt, "n": len(items),
           "skipped": skipped_summary(skipped),
           "model": {**analyzer.info().model_dump(), "meta_val": _meta_val(analyzer.meta())}}
    if es.kind == "single":
        labels = es.labels
        fine_space = all(e is None or all(k in e.fine for k in labels) for e in estimates)
        if not fine_space:
            labels = [k for k in LABELS if k in {_canonical(x) for x in es.labels}]
        y = np.array([labels.index(it.target if fine_space else _canonical(it.target)) for it in items])
        probs = np.stack([_scores(e, labels) for e in estimates])
        rep = metrics.classification_report(y, probs, labels)
        out["labels"] = labels
        out["label_space"] = "fine" if fine_space else "canonical"
    elif es.kind == "multi":
        y = np.stack([it.target for it in items])
        pred = np.zeros_like(y)
        # an analyzer's full multi-label prediction where it has one (the text model reports
        # only the fine labels of its canonical reading in ``fine_predicted``)
        multilabel = getattr(analyzer, "multilabel", lambda e: e.fine_predicted)
        for r, e in enumerate(estimates):
            for lab in (multilabel(e) if e else []):
                if lab in es.labels:
                    pred[r, es.labels.index(lab)] = True
        rep = metrics.multilabel_report(y, pred, es.labels)
        out["labels"] = es.labels
    else:
        y = np.stack([it.target for it in items])
        pred = np.array([[np.nan if e is None or getattr(e, d) is None else getattr(e, d)
                          for d in ("valence", "arousal", "dominance")] for e in estimates])
        rep = metrics.dimensional_report(y, pred)
        rep["metrics"]["coverage"] = float((~np.isnan(pred).all(1)).mean())
        out["labels"] = es.labels
    out.update(rep)
    out.setdefault("per_class", {})
    out.setdefault("confusion", [])
    out["speed"] = {"items_per_s": len(items) / t_model if t_model > 0 else None, "model_s": t_model}
    return overlap.attach(out, overlap.eval_keys(es.task, items), [analyzer.name])
