"""``affectlens bench``: ours vs peer tools on the same data, in the same run.

Each bench returns ``{"task", "data", "n", "machine", "rows": [{"system", metric..., "items_per_s"}],
"ratios": {...}}`` and prints a table where accuracy and speed are also given as ours ÷ peer.
"""

from __future__ import annotations

import platform
import re
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ...analyzers import SegmentInput, Word

from ...registry import get_analyzer
from ...config import threads
from ...schema import GOEMOTIONS_LABELS, LABELS, LABEL_MAPS
from ...state import RunState
from .. import corpora, metrics, overlap

_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?")
# NRC emotions with a canonical counterpart (anticipation and trust have none)
_NRC = {"anger": "angry", "disgust": "disgusted", "fear": "fearful", "joy": "happy",
        "sadness": "sad", "surprise": "surprised"}


def machine() -> str:
    """One line naming the machine the numbers come from."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {threads()} threads, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def timed(fn: Callable[[list], list], items: list, batch: int = 64) -> tuple[list, float]:
    """Apply ``fn`` to ``items`` in batches; return results and items per second (after one
    untimed warm-up call, so that model loading is not counted)."""
    fn(items[:1])
    out, t = [], time.perf_counter()
    for i in range(0, len(items), batch):
        out += fn(items[i:i + batch])
    return out, len(items) / max(time.perf_counter() - t, 1e-9)


def print_table(result: dict, metric_names: list[str], speed: str = "items_per_s") -> None:
    """Rich table of a bench result with ours ÷ peer ratios (``speed`` names the speed column)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"bench {result['task']}: {result['data']} (n={result['n']})", title_justify="left",
                  caption=result["machine"])
    table.add_column("system")
    for m in metric_names + [speed]:
        table.add_column(m, justify="right")
    ours = result["rows"][0]
    for row in result["rows"]:
        cells = [row["system"]]
        for m in metric_names + [speed]:
            v = row.get(m)
            text = "–" if v is None else f"{v:.3f}" if m != speed else f"{v:.0f}"
            if row is not ours and v and ours.get(m) is not None:
                text += f" (×{ours[m] / v:.2f})"
            cells.append(text)
        table.add_row(*cells)
    console = Console()
    console.print(table)
    console.print("ratios in brackets: ours ÷ that peer (higher is better for us)")
    for note in result.get("notes", []):
        console.print(f"- {note}")


# ------------------------------------------------------------------ text
def _nrc():
    try:
        from nrclex import NRCLex
    except ImportError:
        raise RuntimeError("peer NRCLex is not installed: pip install -e '.[bench]'") from None
    lex = NRCLex()

    def scores(text: str) -> dict[str, float]:
        lex.load_token_list(_TOKEN.findall(text.lower()))
        return dict(lex.raw_emotion_scores)

    return scores


def _vader():
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        raise RuntimeError("peer VADER is not installed: pip install -e '.[bench]'") from None
    return SentimentIntensityAnalyzer()


def nrc_probs(scores: dict[str, float]) -> np.ndarray:
    """Canonical-7 distribution from NRC emotion-word counts (no emotion words → neutral)."""
    p = np.zeros(len(LABELS))
    for emo, label in _NRC.items():
        p[LABELS.index(label)] += scores.get(emo, 0)
    if p.sum() == 0:
        p[0] = 1.0
    return p / p.sum()


def run_text(data: Path, limit: int | None = None) -> dict:
    """GoEmotions dev (Ekman-7, single-label rows) and EmoBank dev valence: ours vs NRCLex and VADER."""
    go_path = data if data.suffix == ".tsv" else data / "goemotions" / "dev.tsv"
    es = corpora.read("text", go_path)
    to_canon = LABEL_MAPS["goemotions"]
    rows = []
    for it in es.items:
        canon = {to_canon[GOEMOTIONS_LABELS[i]] for i in np.flatnonzero(it.target)}
        if len(canon) == 1:
            rows.append((it.source, LABELS.index(canon.pop())))
    rows = rows[:limit] if limit else rows
    texts = [t for t, _ in rows]
    y = np.array([c for _, c in rows])
    analyzer = get_analyzer("text")
    nrc, vader = _nrc(), _vader()

    def ours(batch: list[str]):
        # classification only, like the peers (word cues cost ~10x)
        return analyzer.analyze_batch([SegmentInput(0.0, 1.0, words=[Word(t, 0.0, 1.0)]) for t in batch],
                                      RunState(evidence=False))

    est, ours_speed = timed(ours, texts)
    ours_p = np.array([[e.probs[k] for k in LABELS] for e in est])
    nrc_s, nrc_speed = timed(lambda b: [nrc(t) for t in b], texts)
    nrc_p = np.array([nrc_probs(s) for s in nrc_s])
    _, vader_speed = timed(lambda b: [vader.polarity_scores(t) for t in b], texts)

    def cls(name, p, speed):
        m = metrics.classification_report(y, p, list(LABELS))["metrics"]
        return {"system": name, "accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "uar": m["uar"],
                "items_per_s": speed}

    result = {"task": "text", "data": str(go_path), "n": len(rows), "machine": machine(),
              "notes": ["GoEmotions dev rows whose labels map to one canonical class (Ekman grouping)",
                        "affectlens timed without word-evidence cues (analyze adds them at ~10x the cost)",
                        "NRCLex: NRC emotion-word counts mapped to the canonical 7 (no emotion words = neutral)"],
              "rows": [cls(f"affectlens {analyzer.name}", ours_p, ours_speed), cls("NRCLex", nrc_p, nrc_speed)]}
    # valence on EmoBank dev: VADER's compound score is a valence estimate
    eb_path = data / "emobank" / "emobank.csv"
    if eb_path.is_file():
        eb = corpora.read("vad", eb_path, split="dev")
        items = eb.items[:limit] if limit else eb.items
        eb_texts = [it.source for it in items]
        v_true = np.array([it.target[0] for it in items])
        est, sp = timed(ours, eb_texts)
        vad_rows = [{"system": f"affectlens {analyzer.name}", "pearson_v": metrics.pearson(v_true, [e.valence for e in est]),
                     "items_per_s": sp}]
        comp, sp = timed(lambda b: [vader.polarity_scores(t)["compound"] for t in b], eb_texts)
        vad_rows.append({"system": "VADER", "pearson_v": metrics.pearson(v_true, comp), "items_per_s": sp})
        nrc_v, sp = timed(lambda b: [nrc(t) for t in b], eb_texts)
        pol = [(s.get("positive", 0) - s.get("negative", 0)) / max(1, s.get("positive", 0) + s.get("negative", 0))
               for s in nrc_v]
        vad_rows.append({"system": "NRCLex (pos−neg)", "pearson_v": metrics.pearson(v_true, pol), "items_per_s": sp})
        result["valence"] = overlap.attach({"task": "text valence", "data": f"{eb_path} [dev]", "n": len(items),
                                            "machine": result["machine"], "rows": vad_rows},
                                           overlap.eval_keys("vad", items), [analyzer.name])
    result["rows"].append({"system": "VADER (no emotion classes)", "items_per_s": vader_speed})
    return overlap.attach(result, overlap.eval_keys("text", [corpora.Item(t, None) for t in texts]), [analyzer.name])


def run_voice(data: Path, limit: int | None = None) -> dict:
    """RAVDESS + EmoDB + nEMO: ours vs eGeMAPS (openSMILE) + linear SVM, both trained on the
    same speakers and tested on held-out speakers (the withheld ones when present)."""
    from . import voice as vb

    try:
        import opensmile  # noqa: F401
    except ImportError:
        raise RuntimeError("peer openSMILE is not installed: pip install -e '.[bench]'") from None
    train, test = vb.default_split(data)
    if limit:
        test = test[:limit]
    res = vb.run(train, test)
    rows = []
    for key, name in (("ours", "affectlens voice"), ("egemaps_svm", "eGeMAPS+SVM")):
        r = res[key]
        row = {"system": name, "x_realtime": r["x_realtime"]}
        for corpus in ("ravdess", "emodb", "nemo"):
            if corpus in r:
                row[f"{corpus}_uar"] = r[corpus]["uar"]
        rows.append(row)
    speakers = sorted({i.speaker for i in test})
    return {**voice_overlap(train, test),
            "task": "voice", "data": f"{data} (test speakers {', '.join(speakers)})", "n": len(test),
            "machine": machine(), "rows": rows, "raw": res,
            "notes": ["affectlens voice: the shipped voice-whisper-tiny features, its head refitted on the train speakers",
                      "eGeMAPS+SVM: openSMILE eGeMAPSv02 functionals, standardised, LinearSVC (C=0.1, balanced)",
                      "x_realtime: seconds of audio per second of feature extraction + prediction"]}


def voice_overlap(train: list, test: list) -> dict:
    """The voice bench fits both systems' heads on ``train`` (not the shipped head), so its
    overlap is the test clips whose speaker is among the train speakers."""
    hits = sum(i.speaker in {t.speaker for t in train} for i in test)
    ov = {"n": len(test), "train_overlap": hits, "tuning_overlap": 0, "unrecorded": [],
          "models": {"heads fit by this bench": {"train_overlap": hits, "tuning_overlap": 0}}}
    return {"train_overlap": hits, "tuning_overlap": 0, "overlap": ov}


def run(task: str, data: Path, limit: int | None = None, video: Path | None = None) -> dict:
    """Run the bench for ``task`` and print its tables (``video``: a clip for the face path's
    frames per second)."""
    if task == "text":
        result = run_text(data, limit)
        print_table(result, ["accuracy", "macro_f1", "uar"])
        if "valence" in result:
            print_table(result["valence"], ["pearson_v"])
        return result
    if task == "face":
        from . import face as fb

        res = fb.run(data, cropped=True, limit=limit)
        rows, notes = [], ["items_per_s: face crops per second (preprocessing + inference, 2 threads)"]
        for name, r in res["systems"].items():
            if "error" in r:
                notes.append(f"{name}: {r['error']}")
                continue
            rows.append({"system": name, "accuracy": r["accuracy"], "uar": r["uar"], "items_per_s": r["faces_per_s"]})
        result = {"task": "face", "data": str(res["data"]), "n": res["n"], "machine": machine(), "rows": rows,
                  "raw": res, "notes": notes}
        overlap.attach(result, [overlap.ItemKey(name=f) for f in res.pop("files")], [get_analyzer("face").name])
        if video is not None:
            v = fb.video_fps(video)
            result["video"] = v
            notes.append(f"video path (detect + mesh + track + align + classify + cues) on {Path(video).name}, "
                         f"{v['width']}x{v['height']}: {v['frames_per_s']:.1f} frames/s over {v['frames']} frames")
        print_table(result, ["accuracy", "uar"])
        return result
    if task == "voice":
        result = run_voice(data, limit)
        print_table(result, ["ravdess_uar", "ravdess_accuracy", "emodb_uar", "emodb_accuracy"], speed="x_realtime")
        return result
    raise RuntimeError(f"no bench for {task} in this version")
