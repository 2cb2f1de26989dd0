"""Benchmark: our voice model vs the classic eGeMAPS + linear SVM baseline.

Both are trained on the same train speakers and scored on the same test clips
in one run. Ours = the shipped Whisper-blocks + prosody features with the head
configuration of the shipped model (``meta.json`` ``members``), refitted on
``train_items``; baseline = openSMILE eGeMAPSv02 functionals (88), standardised,
``LinearSVC`` (class-balanced, C = 0.1 — best of 0.001-1 on the recipe's 5 speaker folds:
UAR 0.52 RAVDESS / 0.65 EmoDB), trained jointly on both corpora like ours. Needs the ``bench`` extra (opensmile) and
scikit-learn.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ...analyzers import model_dir
from ...voice import features
from ...voice.head import FINE_LABELS
from ..corpora import speech as corpora

MODEL_DIR = model_dir("voice-whisper-tiny")


def _corpus_scores(scores: np.ndarray, y: np.ndarray, corpus: np.ndarray) -> dict:
    """UAR and accuracy per corpus, argmax restricted to the corpus' labels (``scores`` may be
    probabilities or decision values: a softmax keeps each row's order)."""
    z = scores - scores.max(axis=1, keepdims=True)
    p = np.exp(z)
    per = corpora.corpus_metrics(p / p.sum(axis=1, keepdims=True), y, corpus)
    return {c: {k: m[k] for k in ("n", "uar", "accuracy")} for c, m in per.items()}


def _ours_features(items: list[corpora.Item]) -> tuple[np.ndarray, float, float]:
    enc = features.make_encoder(MODEL_DIR)
    X, audio_s, t = [], 0.0, 0.0
    for it in items:
        x = corpora.load_audio(it.source)
        audio_s += len(x) / 16000
        t0 = time.perf_counter()
        X.append(features.measure(x, enc).vector())
        t += time.perf_counter() - t0
    return np.stack(X), audio_s, t


def _egemaps(items: list[corpora.Item]) -> tuple[np.ndarray, float, float]:
    import opensmile

    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                            feature_level=opensmile.FeatureLevel.Functionals)
    X, audio_s, t = [], 0.0, 0.0
    for it in items:
        x = corpora.load_audio(it.source)
        audio_s += len(x) / 16000
        t0 = time.perf_counter()
        X.append(smile.process_signal(x, 16000).to_numpy()[0])
        t += time.perf_counter() - t0
    return np.nan_to_num(np.stack(X).astype(np.float32)), audio_s, t


#: the speakers withheld from training by the corpus distribution (the official test speakers)
TEST_SPEAKERS = {f"ravdess-{a}" for a in ("21", "22", "23", "24")} | {"emodb-15", "emodb-16"}


def default_split(root: str | Path) -> tuple[list[corpora.Item], list[corpora.Item]]:
    """Train/test items for the benchmark under corpus root ``root``.

    Test = the withheld speakers (RAVDESS actors 21-24, EmoDB 15 and 16) when
    present; otherwise a speaker-disjoint stand-in: CV fold 0 of the training
    recipe (RAVDESS actors 01, 06, 11, 16; EmoDB speakers 03 and 12).
    """
    items = corpora.list_items(root)
    if not items:
        raise FileNotFoundError(f"no RAVDESS/EmoDB clips under {root}")
    test = [i for i in items if i.speaker in TEST_SPEAKERS]
    if not test:
        from ...train.voice import speaker_folds

        fold = speaker_folds(items, 5)
        test = [i for i, f in zip(items, fold) if f == 0]
    held = {i.speaker for i in test}
    return [i for i in items if i.speaker not in held], test


def run(train_items: list[corpora.Item], test_items: list[corpora.Item]) -> dict:
    """Train both systems on ``train_items``, score both on ``test_items``.

    Parameters
    ----------
    train_items, test_items : list of Item
        Labelled clips (see :func:`affectlens.evaluate.corpora.speech.list_items`); their
        speakers should be disjoint.

    Returns
    -------
    dict
        ``{"ours": {...}, "egemaps_svm": {...}}`` each with per-corpus ``uar`` and
        ``accuracy`` and ``rtf`` (processing time / audio time of feature extraction +
        prediction on the test clips; lower is faster) and ``x_realtime`` (1 / rtf).
    """
    import json

    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    from ...train.voice import fit_head, predict_members

    overlap = {i.speaker for i in train_items} & {i.speaker for i in test_items}
    if overlap:
        raise ValueError(f"train and test share speakers: {sorted(overlap)}")
    y_tr = np.array([FINE_LABELS.index(i.target) for i in train_items])
    y_te = np.array([FINE_LABELS.index(i.target) for i in test_items])
    c_te = np.array([i.corpus for i in test_items])
    results = {}

    meta = json.loads((MODEL_DIR / "meta.json").read_text())
    config = [(m["kind"], {k: v for k, v in m.items() if k != "kind"}) for m in meta["members"]]
    X_tr, _, _ = _ours_features(train_items)
    X_te, audio_s, t_feat = _ours_features(test_items)
    mu, sd, members = fit_head(config, X_tr, y_tr)
    t0 = time.perf_counter()
    scores = predict_members(members, (X_te - mu) / sd)
    t_pred = time.perf_counter() - t0
    rtf = (t_feat + t_pred) / audio_s
    results["ours"] = {**_corpus_scores(scores, y_te, c_te), "rtf": round(rtf, 5),
                       "x_realtime": round(1 / rtf, 1), "model": meta.get("head")}

    E_tr, _, _ = _egemaps(train_items)
    E_te, audio_s, t_feat = _egemaps(test_items)
    sc = StandardScaler().fit(E_tr)
    svm = LinearSVC(C=0.1, class_weight="balanced", max_iter=20000).fit(sc.transform(E_tr), y_tr)
    t0 = time.perf_counter()
    dec = np.full((len(E_te), len(FINE_LABELS)), -np.inf)
    dec[:, svm.classes_] = svm.decision_function(sc.transform(E_te))
    t_pred = time.perf_counter() - t0
    rtf = (t_feat + t_pred) / audio_s
    results["egemaps_svm"] = {**_corpus_scores(dec, y_te, c_te), "rtf": round(rtf, 5),
                              "x_realtime": round(1 / rtf, 1)}
    return results
