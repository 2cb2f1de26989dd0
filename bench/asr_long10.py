"""Packed ASR on a long mixed recording: word error rate and CPU time of ``transcribe_many``.

    python bench/asr_long10.py [shipped|alone|FILE.py] [--clips DIR]

The audio of the four sample clips (two GRID sentences, the Obama excerpt, the wordless pexels
clip) is repeated back to back to 603 s, cut by the VAD into speech segments as ``analyze``
does, and transcribed 240 s of speech per call, as ``analyze`` does. ``shipped`` packs
segments into windows (the default); ``alone`` decodes each segment on its own; a path to
another version of ``affectlens/media/asr.py`` runs that one. The reference is the published
Obama remarks and the GRID sentences (grammar); words heard in the wordless clip are errors.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path

import numpy as np

from affectlens.config import data_root
from affectlens.evaluate.metrics import asr_words as words_of, word_errors as edits
from affectlens.media import decode, segment
from affectlens.voice.vad import speech_spans

OBAMA = ("speak with you about the battle we're waging against an oil spill that is assaulting our shores "
         "and our citizens on april 20th an explosion ripped through bp deepwater horizon drilling rig "
         "about 40 miles off the coast of louisiana 11 workers lost their lives 17 others")
CLIPS = {"grid_bbaf2n.mpg": "bin blue at f two now", "grid_lwbsza.mpg": "lay white by s zero again",
         "obama_oilspill_2010.mp4": OBAMA, "pexels_woman_expressions.mp4": ""}
SECONDS = 603.0
SPEECH_PER_CALL_S = 240.0


def asr_module(which: str):
    if which in ("shipped", "alone"):
        from affectlens.media import asr
        if which == "alone":
            asr.MAX_PER_WINDOW = 1
        return asr
    spec = importlib.util.spec_from_file_location("affectlens.media._asr_variant", which)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("which", nargs="?", default="shipped")
    ap.add_argument("--clips", default=None, help="folder of the sample clips (default DATA/clips)")
    args = ap.parse_args()
    asr = asr_module(args.which)
    folder = Path(args.clips) if args.clips else data_root(None) / "clips"
    audio_of = {c: np.concatenate(list(decode.iter_audio(folder / c))) for c in CLIPS}
    parts, ref, total = [], [], 0
    while total < SECONDS * 16000:
        for c, text in CLIPS.items():
            if total < SECONDS * 16000:
                parts.append(audio_of[c])
                ref.append(text)
                total += audio_of[c].size
    audio = np.concatenate(parts)
    plan = [s for s in segment.plan(audio.size / 16000, speech_spans([audio])) if s.kind == "speech"]
    segs = [(audio[int(s.t0 * 16000):int(s.t1 * 16000)], s.t0) for s in plan]
    cpu, wall = time.process_time(), time.time()
    words, pending, size = [], [], 0
    for seg in segs + [None]:
        if seg is not None:
            pending.append(seg)
            size += seg[0].size
        if pending and (seg is None or size >= SPEECH_PER_CALL_S * 16000):
            words += asr.transcribe_many(pending)
            pending, size = [], 0
    cpu, wall = time.process_time() - cpu, time.time() - wall
    r, h = words_of(" ".join(ref)), words_of(" ".join(w.text for ws in words for w in ws))
    e = edits(r, h)
    print(json.dumps({"asr": args.which, "seconds": round(audio.size / 16000, 1), "speech_segments": len(plan),
                      "empty_segments": sum(not ws for ws in words), "errors": e, "reference_words": len(r),
                      "wer": round(e / len(r), 3), "cpu_s": round(cpu, 1), "wall_s": round(wall, 1)}))


if __name__ == "__main__":
    main()
