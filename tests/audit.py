"""Audit of the offline explanations: re-derive every sentence from the JSON it cites.

Works on the JSON of one ``Analysis`` (a dict), not on the library's objects, and parses each
sentence's text on its own: a sentence is ``ok``, ``false`` (a quoted type, value, time, label
or direction does not match the output, a cite does not resolve, or the sentence is not of a
known kind) or ``overclaim`` (true numbers but a claim the evidence does not carry: a change
below the cue's threshold, a word effect under 0.05, a label named for an uncertain estimate).
Summary shares are recomputed from segment durations (media) or counts (utterances).

Run as a script on analyze JSON files: ``python tests/audit.py out.json ...``.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field

import numpy as np

from affectlens.reason.cues import MIN_OTHERS, MIN_WORD_EFFECT, RULES
from affectlens.schema import fine_canonical

NUM = r"[+-]?\d+(?:\.\d+)?"
#: words a sentence subject must contain for each cue (the audit's own naming table)
SUBJECT_WORD = {
    "AU25_26_mouth_open": "AU25/26", "AU12_lip_corner_raise": "AU12", "AU1_2_brow_raise": "AU1/2",
    "AU4_brow_lower": "AU4", "AU5_43_eye_aperture": "AU5/43", "AU9_nose_wrinkle": "AU9",
    "head_yaw": "yaw", "head_pitch": "pitch (nod)", "head_roll": "roll", "f0_median_st": "pitch (median f0)",
    "f0_range_st": "pitch range", "loudness_db": "loudness", "speaking_rate_syl_s": "speaking rate",
    "pause_ratio": "pause", "hnr_db": "harmonics-to-noise",
}
WHOSE = {"face": "face", "voice": "speaker"}

CHANGE = re.compile(rf"^(?P<subj>.+?) was (?P<dir>higher|lower) than this (?P<whose>face|speaker)'s baseline: "
                    rf"(?P<v>{NUM}) vs (?P<b>{NUM}) (?P<unit>.+?) \((?P<d>[+-]\d+(?:\.\d+)?)\), (?P<when>.+)\.$")
MEASURED = re.compile(r"^Measured, with no baseline for this (?P<whose>face|speaker) yet \(so no change is "
                      r"claimed\): (?P<items>.+), (?P<when>[^,]+)\.$")
WORD = re.compile(rf'^The word "(?P<w>.+)" (?P<when>.+) supports the (?P<label>\w+) reading: without it, '
                  rf"the text model's (?P<label2>\w+) probability falls by (?P<d>{NUM})\.$")
READS = re.compile(rf"^The (?P<m>\w+) reads as (?P<label>\w+) \(confidence (?P<c>{NUM})(?:; finer: (?P<fine>.+))?\)\.$")
UNSURE = re.compile(rf"^The (?P<m>\w+) reading is uncertain: confidence (?P<c>{NUM}), too low to name a label\.$")
CONFLICT = re.compile(rf"^The (?P<a>\w+) and the (?P<b>\w+) disagree \(conflict score (?P<s>{NUM})\): (?P<what>.+)\.$")
CONCLUSION = re.compile(rf"^Conclusion: (?:(?P<label>\w+), confidence (?P<c>{NUM})|uncertain \(confidence "
                        rf"(?P<uc>{NUM}), too low to name a label\))(?:; valence (?P<v>{NUM}), arousal (?P<a>{NUM}))?\.$")
STRONGEST = re.compile(rf"^The strongest (?P<label>\w+) reading is (?P<when>.+) \(confidence (?P<c>{NUM})\)\.$")
SHIFT = re.compile(r"^(?P<when>At \d\d:\d\d\.\d|In utterance #\d+) the fused reading shifts from (?P<a>\w+) "
                   r"to (?P<b>\w+)\.$")
CONFLICTS = re.compile(rf"^(?P<n>\d+) segment\(s\) have conflicting modalities; the first (?P<when>.+): "
                       rf"(?P<a>\w+) vs (?P<b>\w+), conflict score (?P<s>{NUM})\.$")
OVERALL = re.compile(r"^Overall: (?:most often (?P<label>\w+) \((?P<p>\d+)% (?P<what>[^)]+)\)"
                     r"(?:; as often (?P<tied>\w+(?: and \w+)*), with less confidence)?|uncertain for "
                     r"(?P<up>\d+)% (?P<uwhat>.+?)(?:; the most frequent certain label is (?P<l2>\w+) "
                     r"\((?P<p2>\d+)%\))?)\.$")


class Bad(Exception):
    """A false sentence (the reason is the message)."""


class Over(Exception):
    """An overclaiming sentence."""


@dataclass
class Result:
    sentences: int = 0
    false: list[tuple[str, str]] = field(default_factory=list)
    overclaim: list[tuple[str, str]] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)  # failed whole-output checks (units, shares)

    def add(self, other: "Result") -> None:
        self.sentences += other.sentences
        self.false += other.false
        self.overclaim += other.overclaim
        self.checks += other.checks

    @property
    def ok(self) -> bool:
        return not (self.false or self.overclaim or self.checks)


def clock(t: float) -> str:
    m, s = divmod(max(t, 0.0), 60)
    return f"{int(m):02d}:{s:04.1f}"


def decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


def same(shown: str, value: float, slack: float = 1.0) -> bool:
    """A printed number equals ``value`` up to its own rounding (``slack`` last digits)."""
    return abs(float(shown) - value) <= slack * 0.5 * 10 ** -decimals(shown) + 1e-9


class Auditor:
    def __init__(self, a: dict):
        self.a = a
        self.segs = a["segments"]
        self.ordinal = a["media"]["kind"] in ("text", "dialogue")

    # ---------------------------------------------------------------- lookups
    def person(self, seg: dict, modality: str) -> str:
        return (seg["track"] if modality == "face" else seg["speaker"]) or "_"

    def cue(self, seg: dict, cite: dict) -> dict:
        pools = []
        if cite["modality"] == "fused":
            pools = [seg["fused"]] if seg.get("fused") else []
        elif cite["modality"] in seg["estimates"]:
            pools = [seg["estimates"][cite["modality"]]]
        for est in pools:
            for c in est["cues"]:
                if c["name"] == cite["name"] and c["t0"] == cite["t0"] and (
                        cite.get("text") is None or c.get("text") == cite["text"]):
                    return c
        raise Bad(f"cite does not resolve: {cite}")

    def segment_at(self, when: str) -> tuple[int, dict]:
        """The segment a summary sentence names (``at mm:ss.s`` or ``in utterance #n``)."""
        m = re.fullmatch(r"(?:in|In) utterance #(\d+)", when)
        if m:
            if not self.ordinal:
                raise Bad("utterance number for timed media")
            i = int(m.group(1)) - 1
            if not 0 <= i < len(self.segs):
                raise Bad(f"no utterance #{i + 1}")
            return i, self.segs[i]
        m = re.fullmatch(r"(?:at|At) (\d\d:\d\d\.\d)", when)
        if not m or self.ordinal:
            raise Bad(f"bad time reference {when!r}")
        hits = [(i, s) for i, s in enumerate(self.segs) if clock(s["start"]) == m.group(1) and s.get("fused")]
        if not hits:
            raise Bad(f"no segment starts at {m.group(1)}")
        return hits[0]

    def cue_when(self, i: int, cue: dict, when: str) -> None:
        if self.ordinal:
            ok = when == f"in utterance #{i + 1}"
        elif cue["t1"] - cue["t0"] < 0.05:
            ok = when == f"at {clock(cue['t0'])}"
        else:
            ok = when == f"{clock(cue['t0'])}–{clock(cue['t1'])}"
        if not ok:
            raise Bad(f"time {when!r} is not the cue's ({cue['t0']}–{cue['t1']})")

    def loo_baseline(self, i: int, modality: str, name: str) -> float | None:
        """Independent leave-one-out median of the same person's other segments."""
        who = self.person(self.segs[i], modality)
        vals = [c["value"] for j, s in enumerate(self.segs) if j != i and modality in s["estimates"]
                and self.person(s, modality) == who for c in s["estimates"][modality]["cues"] if c["name"] == name]
        return float(np.median(vals)) if len(vals) >= MIN_OTHERS else None

    # ---------------------------------------------------------------- segment sentences
    def segment_sentence(self, i: int, seg: dict, sent: dict) -> None:
        text, cites = sent["text"], sent["cites"]
        cues = [self.cue(seg, c) for c in cites]  # every cite must resolve
        if m := CHANGE.match(text):
            return self.change(i, seg, m, cites, cues)
        if m := MEASURED.match(text):
            return self.measured(i, m, cites, cues)
        if m := WORD.match(text):
            return self.word(i, seg, m, cues)
        if m := READS.match(text):
            return self.reads(seg, m, cues)
        if m := UNSURE.match(text):
            est = seg["estimates"].get(m["m"])
            if est is None or est["label"] != "uncertain" or not same(m["c"], est["confidence"]):
                raise Bad("not an uncertain estimate with that confidence")
            return None
        if m := CONFLICT.match(text):
            return self.conflict(seg, m)
        if m := CONCLUSION.match(text):
            return self.conclusion(seg, m)
        raise Bad("sentence of no known kind")

    def change(self, i, seg, m, cites, cues) -> None:
        if len(cues) != 1:
            raise Bad("a change sentence cites one cue")
        cite, cue = cites[0], cues[0]
        modality, name = cite["modality"], cue["name"]
        if SUBJECT_WORD.get(name, "\0").lower() not in m["subj"].lower():
            raise Bad(f"subject {m['subj']!r} is not cue {name}")
        if m["whose"] != WHOSE.get(modality):
            raise Bad("wrong owner")
        if m["unit"] != cue["unit"]:
            raise Bad(f"unit {m['unit']!r} is not {cue['unit']!r}")
        base = self.loo_baseline(i, modality, name)
        if cue["baseline"] is None or base is None or abs(base - cue["baseline"]) > 1e-3:
            raise Bad(f"baseline {cue['baseline']} is not the person's leave-one-out median {base}")
        if not (same(m["v"], cue["value"]) and same(m["b"], cue["baseline"])):
            raise Bad("quoted value or baseline differs from the cue")
        delta = cue["value"] - cue["baseline"]
        if abs(float(m["d"]) - (float(m["v"]) - float(m["b"]))) > 0.5 * 10 ** -decimals(m["d"]):
            raise Bad("quoted difference is not the quoted value minus the quoted baseline")
        if (m["dir"] == "higher") != (delta > 0) or np.sign(float(m["d"])) != np.sign(delta):
            raise Bad("direction does not follow the sign of the change")
        self.cue_when(i, cue, m["when"])
        if abs(delta) < RULES[(modality, name)].threshold:
            raise Over(f"change {delta:+.4f} is below the threshold {RULES[(modality, name)].threshold}")

    def measured(self, i, m, cites, cues) -> None:
        items = m["items"].split("; ")
        if len(items) != len(cues):
            raise Bad("items and cites differ in number")
        for item, cite, cue in zip(items, cites, cues):
            if cue["baseline"] is not None:
                raise Bad("'no baseline' but the cue has one")
            if SUBJECT_WORD.get(cue["name"], "\0").lower() not in item.lower():
                raise Bad(f"item {item!r} is not cue {cue['name']}")
            num = re.search(rf" ({NUM}) (.+)$", item)
            if not num or not same(num.group(1), cue["value"]) or num.group(2) != cue["unit"]:
                raise Bad(f"item {item!r} does not match the cue")
            if m["whose"] != WHOSE.get(cite["modality"]):
                raise Bad("wrong owner")
        self.cue_when(i, cues[0], m["when"])

    def word(self, i, seg, m, cues) -> None:
        cue = cues[0]
        est = seg["estimates"].get("text")
        if len(cues) != 1 or cue["name"] != "word" or cue.get("text") != m["w"] or est is None:
            raise Bad("not the cited word")
        if m["label"] != m["label2"]:
            raise Bad("two labels")
        if not same(m["d"], cue["value"]):
            raise Bad("effect differs from the cue")
        self.cue_when(i, cue, m["when"])
        if est["label"] != m["label"]:
            if est["label"] == "uncertain":
                raise Over("label named for an uncertain text estimate")
            raise Bad(f"the text reads {est['label']}, not {m['label']}")
        if cue["value"] < MIN_WORD_EFFECT:
            raise Over(f"word effect {cue['value']:.3f} < {MIN_WORD_EFFECT}")

    def reads(self, seg, m, cues) -> None:
        est = seg["estimates"].get(m["m"])
        if est is None:
            raise Bad("no such estimate")
        if est["label"] != m["label"]:
            if est["label"] == "uncertain":
                raise Over(f"names {m['label']} for an uncertain estimate")
            raise Bad(f"label is {est['label']}")
        if not same(m["c"], est["confidence"]):
            raise Bad("confidence differs")
        for fine in (m["fine"] or "").split(", "):
            if fine and (fine not in est["fine_predicted"] or m["label"] not in fine_canonical(fine)):
                raise Bad(f"fine label {fine!r} is not predicted or contradicts {m['label']}")

    def conflict(self, seg, m) -> None:
        c = seg.get("conflict")
        if not c or not c["flag"] or set(c["modalities"]) != {m["a"], m["b"]} or not same(m["s"], c["score"]):
            raise Bad("no such flagged conflict")
        ea, eb = seg["estimates"][m["a"]], seg["estimates"][m["b"]]
        for part in m["what"].split("; "):
            if r := re.fullmatch(r"(\w+) reads (\w+), (\w+) reads (\w+)", part):
                for mod, lab in ((r[1], r[2]), (r[3], r[4])):
                    label = seg["estimates"][mod]["label"]
                    if label != lab:
                        raise (Over if label == "uncertain" else Bad)(f"{mod} label is {label}, not {lab}")
                if r[2] == r[4]:
                    raise Bad("the labels are the same")
            elif r := re.fullmatch(rf"valence ({NUM}) vs ({NUM})", part):
                if not (same(r[1], ea["valence"]) and same(r[2], eb["valence"])) or ea["valence"] * eb["valence"] >= 0:
                    raise Bad("valences differ from the output or do not differ in sign")
            elif part != "their probabilities diverge":
                raise Bad(f"unknown conflict detail {part!r}")

    def conclusion(self, seg, m) -> None:
        f = seg.get("fused")
        if not f:
            raise Bad("no fused estimate")
        if m["uc"] is not None:
            if f["label"] != "uncertain" or not same(m["uc"], f["confidence"]):
                raise Bad("fused estimate is not uncertain with that confidence")
        elif f["label"] != m["label"]:
            raise (Over if f["label"] == "uncertain" else Bad)(f"fused label is {f['label']}")
        elif not same(m["c"], f["confidence"]):
            raise Bad("confidence differs")
        if m["v"] is not None and not (same(m["v"], f["valence"]) and same(m["a"], f["arousal"])):
            raise Bad("valence/arousal differ")

    # ---------------------------------------------------------------- summary
    def shares(self) -> tuple[dict[str, float], str]:
        fused = [s for s in self.segs if s.get("fused")]
        timed = not self.ordinal and sum(s["end"] - s["start"] for s in fused) > 0
        w: dict[str, float] = {}
        for s in fused:
            w[s["fused"]["label"]] = w.get(s["fused"]["label"], 0.0) + ((s["end"] - s["start"]) if timed else 1.0)
        total = sum(w.values())
        noun = ("utterance" if self.ordinal else "segment") + ("s" if len(fused) != 1 else "")
        what = "of the analysed time" if timed else f"of {len(fused)} {noun}"
        return {k: v / total for k, v in w.items()}, what

    def summary_sentence(self, sent: dict) -> None:
        text = sent["text"]
        for c in sent["cites"]:  # each cite resolves in some segment
            if not any(self._resolves(s, c) for s in self.segs):
                raise Bad(f"cite does not resolve: {c}")
        if m := STRONGEST.match(text):
            _, seg = self.segment_at(m["when"])
            same_label = [s["fused"]["confidence"] for s in self.segs if s.get("fused") and s["fused"]["label"] == m["label"]]
            if seg["fused"]["label"] != m["label"] or not same(m["c"], seg["fused"]["confidence"]) \
                    or seg["fused"]["confidence"] < max(same_label):
                raise Bad("not the strongest segment of that label")
            return None
        if m := SHIFT.match(text):
            i, seg = self.segment_at(m["when"])
            prev = [s["fused"]["label"] for s in self.segs[:i] if s.get("fused") and s["fused"]["label"] != "uncertain"]
            if not seg["shift"] or seg["fused"]["label"] != m["b"] or not prev or prev[-1] != m["a"]:
                raise Bad("no such shift")
            return None
        if m := CONFLICTS.match(text):
            flagged = [s for s in self.segs if s.get("conflict") and s["conflict"]["flag"]]
            _, seg = self.segment_at(m["when"])
            if int(m["n"]) != len(flagged) or seg is not flagged[0] \
                    or set(seg["conflict"]["modalities"]) != {m["a"], m["b"]} or not same(m["s"], seg["conflict"]["score"]):
                raise Bad("conflict count, first conflict or score differs")
            return None
        if m := OVERALL.match(text):
            shares, what = self.shares()
            label, pct, shown_what = (m["label"], m["p"], m["what"]) if m["label"] else ("uncertain", m["up"], m["uwhat"])
            if shown_what != what:
                raise Bad(f"share is {what}, not {shown_what}")
            if label not in shares or abs(100 * shares[label] - int(pct)) > 0.5 + 1e-9 \
                    or shares[label] < max(shares.values()) - 1e-9:
                raise Bad(f"{label} share is {shares.get(label, 0):.3f}, the largest {max(shares.values()):.3f}")
            ties = [k for k in shares if k != label and abs(shares[k] - shares[label]) < 1e-9]
            if sorted((m["tied"] or "").split(" and ") if m["tied"] else []) != sorted(ties):
                raise Bad(f"labels as frequent as {label}: {ties}")
            conf = lambda k: sum(s["fused"]["confidence"] for s in self.segs  # noqa: E731
                                 if s.get("fused") and s["fused"]["label"] == k)
            if any(conf(k) > conf(label) + 1e-6 for k in ties):
                raise Bad(f"a label as frequent as {label} was read with more confidence")
            if m["l2"]:
                certain = {k: v for k, v in shares.items() if k != "uncertain"}
                if abs(100 * certain.get(m["l2"], -1) - int(m["p2"])) > 0.5 + 1e-9 or certain[m["l2"]] < max(certain.values()) - 1e-9:
                    raise Bad("most frequent certain label differs")
            return None
        raise Bad("summary sentence of no known kind")

    def _resolves(self, seg, cite) -> bool:
        try:
            self.cue(seg, cite)
            return True
        except Bad:
            return False

    # ---------------------------------------------------------------- whole output
    def units(self) -> list[str]:
        seen: dict[tuple[str, str], str] = {}
        bad = []
        for s in self.segs:
            for mod, est in s["estimates"].items():
                for c in est["cues"]:
                    key = (mod, c["name"])
                    if seen.setdefault(key, c["unit"]) != c["unit"]:
                        bad.append(f"{key} unit changes: {seen[key]!r} -> {c['unit']!r}")
        return bad

    def run(self) -> Result:
        res = Result(checks=self.units())

        def judge(text: str, fn) -> None:
            res.sentences += 1
            try:
                fn()
            except Bad as exc:
                res.false.append((text, str(exc)))
            except Over as exc:
                res.overclaim.append((text, str(exc)))

        for i, seg in enumerate(self.segs):
            exp = seg.get("explanation")
            if not exp or exp["source"] != "offline":
                continue
            for sent in exp["observations"] + exp["interpretation"] + ([exp["conclusion"]] if exp["conclusion"] else []):
                judge(sent["text"], lambda: self.segment_sentence(i, seg, sent))
        summ = self.a.get("summary")
        if summ and summ["source"] == "offline":
            for sent in summ["observations"] + summ["interpretation"] + [summ["conclusion"]]:
                judge(sent["text"], lambda: self.summary_sentence(sent))
        return res


def audit(analysis: dict) -> Result:
    """Audit one analysis (its JSON as a dict)."""
    return Auditor(analysis).run()


def main(paths: list[str]) -> int:
    total = Result()
    for p in paths:
        data = json.load(open(p))
        for a in data if isinstance(data, list) else [data]:
            r = audit(a)
            total.add(r)
            for kind, items in (("FALSE", r.false), ("OVERCLAIM", r.overclaim)):
                for text, why in items:
                    print(f"{kind} {a['media']['path']}: {text}  [{why}]")
            for c in r.checks:
                print(f"CHECK {a['media']['path']}: {c}")
    print(f"{total.sentences} sentences, {len(total.false)} false, {len(total.overclaim)} overclaiming, "
          f"{len(total.checks)} failed checks")
    return 0 if total.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
