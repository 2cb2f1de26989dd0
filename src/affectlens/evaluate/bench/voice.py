"""Benchmark: our voice model vs the classic eGeMAPS + linear SVM baseline.

Both are trained on the same train speakers (canonical labels, RAVDESS + EmoDB + nEMO) and
scored on the same test clips in one run. Ours = the shipped Whisper-blocks + prosody features
and the shipped head's recipe (speaker-normalised logistic regression, its C from ``meta.json``),
refitted on ``train_items`` and read with each test speaker's statistics from all its clips, as
``affectlens eval voice`` does; baseline = openSMILE eGeMAPSv02 functionals (88), standardised,
``LinearSVC`` (class-balanced, C = 0.1 — best of 0.001-1 on the earlier recipe's 5 speaker folds),
trained jointly on the corpora, without speaker normalisation. Needs the ``bench`` extra
(opensmile) and scikit-learn.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ...analyzers import model_dir
from ...voice import features
from ...schema import LABELS, to_canonical
from ..corpora import speech as corpora

MODEL_DIR = model_dir("voice-whisper-tiny")


def _corpus_scores(scores: np.ndarray, y: np.ndarray, corpus: np.ndarray) -> dict:
    """UAR and accuracy per corpus, argmax restricted to the corpus' labels (``scores`` may be
    probabilities or decision values: a softmax keeps each row's order)."""
    from ...analyzers import softmax
    from ...train.voice import corpus_scores

    per = corpus_scores(softmax(scores), y, corpus)
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
    recipe (RAVDESS actors 01, 06, 11, 16; EmoDB speakers 03 and 12; nEMO EB0, SM0).
    """
    from ...train.voice import CORPORA

    items = corpora.list_items(root, CORPORA)
    if not items:
        raise FileNotFoundError(f"no RAVDESS/EmoDB/nEMO clips under {root}")
    test = [i for i in items if i.speaker in TEST_SPEAKERS]
    if not test:
        from ...train.voice import speaker_folds

        fold = speaker_folds(np.array([i.speaker for i in items]), np.array([i.corpus for i in items]), 5)
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

    from ...train.voice import Head

    overlap = {i.speaker for i in train_items} & {i.speaker for i in test_items}
    if overlap:
        raise ValueError(f"train and test share speakers: {sorted(overlap)}")
    y_tr = np.array([LABELS.index(to_canonical(i.target, "speech")) for i in train_items])
    y_te = np.array([LABELS.index(to_canonical(i.target, "speech")) for i in test_items])
    c_te = np.array([i.corpus for i in test_items])
    results = {}

    meta = json.loads((MODEL_DIR / "meta.json").read_text())
    C = float(meta["head"].rsplit("C=", 1)[1])
    X_tr, _, _ = _ours_features(train_items)
    X_te, audio_s, t_feat = _ours_features(test_items)
    head = Head(X_tr, y_tr, np.array([i.speaker for i in train_items]), C)
    t0 = time.perf_counter()
    scores = head.predict(X_te, y_te, np.array([i.speaker for i in test_items]))["run"][0]  # y only feeds "same"
    t_pred = time.perf_counter() - t0
    rtf = (t_feat + t_pred) / audio_s
    results["ours"] = {**_corpus_scores(scores, y_te, c_te), "rtf": round(rtf, 5),
                       "x_realtime": round(1 / rtf, 1), "model": meta.get("head")}

    E_tr, _, _ = _egemaps(train_items)
    E_te, audio_s, t_feat = _egemaps(test_items)
    sc = StandardScaler().fit(E_tr)
    svm = LinearSVC(C=0.1, class_weight="balanced", max_iter=20000).fit(sc.transform(E_tr), y_tr)
    t0 = time.perf_counter()
    dec = np.full((len(E_te), len(LABELS)), -1e9)
    dec[:, svm.classes_] = svm.decision_function(sc.transform(E_te))
    t_pred = time.perf_counter() - t0
    rtf = (t_feat + t_pred) / audio_s
    results["egemaps_svm"] = {**_corpus_scores(dec, y_te, c_te), "rtf": round(rtf, 5),
                              "x_realtime": round(1 / rtf, 1)}
    return results
