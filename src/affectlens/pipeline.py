"""Wire media → face | voice | text → fusion into an ``Analysis``.

Audio/video inputs are read twice, both times streaming: once for VAD (a list of
speech spans is all that is kept), then again, audio and video side by side, cut
into the planned segments. Buffers never hold more than one segment (≤ 8 s), so
memory stays flat in input length.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from . import __version__
from .analyzers import Analyzer, ModelUnavailable, SegmentInput, Word, get_analyzer
from .errors import InputError
from .fusion.conflict import detect
from .fusion.fuse import fuse
from .fusion.smooth import smooth_timeline
from .media import decode, segment, transcript
from .reason.cues import assign_baselines, fold_pitch_octaves
from .reason.explain import explain_all
from .reason.llm import LLMConfig
from .schema import MODALITIES, Analysis, FaceFrame, MediaInfo, Segment, fine_canonical

Progress = Callable[[float, float], None]
CONTEXT_TURNS = 8


@dataclass
class Options:
    """What to analyze and how."""

    fps: float = 5.0
    modalities: tuple[str, ...] = MODALITIES
    transcript: str | None = None
    asr: bool = True
    window_s: float = 2.0
    batch: int = 16
    progress: Progress | None = None
    analyzers: dict[str, Analyzer] = field(default_factory=dict)
    llm: LLMConfig | None = None
    per_frame: bool = False  # keep every analysed frame's faces in ``Analysis.frames``


def input_kind(path: str | Path) -> str:
    """``image``, ``text``, ``dialogue`` or ``media`` from the file name."""
    ext = Path(path).suffix.lower()
    if ext in decode.IMAGE_EXT:
        return "image"
    if ext in decode.TABLE_EXT:
        return "dialogue"
    if ext in decode.TEXT_EXT:
        return "text"
    return "media"


def _load_analyzers(opts: Options, wanted: Iterable[str]) -> tuple[dict[str, Analyzer], dict[str, str]]:
    found, status = {}, {}
    for key in wanted:
        if key in opts.analyzers:
            found[key] = opts.analyzers[key]
            continue
        try:
            found[key] = get_analyzer(key)
        except ModelUnavailable as exc:
            status[key] = str(exc)
    return found, status


def analyze(path: str | Path, opts: Options | None = None) -> Analysis:
    """Analyze one input file.

    Raises
    ------
    InputError
        When the file is missing, empty, corrupt, unsupported or too large.
    """
    opts = opts or Options()
    return interpret(_analyze(decode.check_file(path), opts), opts.llm)


LLM_MAX_SEGMENTS = 24


def interpret(analysis: Analysis, llm_cfg: LLMConfig | None = None) -> Analysis:
    """Conflicts, emotion shifts and grounded explanations over a finished timeline.

    With ``llm_cfg`` the whole-file summary comes from the LLM endpoint (offline fallback)."""
    smooth_timeline(analysis.segments)
    fold_pitch_octaves(analysis.segments)
    assign_baselines(analysis.segments)
    previous = None
    for seg in analysis.segments:
        seg.conflict = detect(seg.estimates)
        label = seg.fused.label if seg.fused else None
        seg.shift = bool(previous and label and label != "uncertain" and label != previous)
        if label and label != "uncertain":
            previous = label
    explain_all(analysis)
    if llm_cfg is not None:
        from .reason import llm

        with_est = [s for s in analysis.segments if s.estimates]
        if analysis.media.kind == "dialogue" or len(with_est) <= LLM_MAX_SEGMENTS:
            chosen = with_est[-LLM_MAX_SEGMENTS:]
        else:  # spread over the whole file
            idx = np.linspace(0, len(with_est) - 1, LLM_MAX_SEGMENTS).round().astype(int)
            chosen = [with_est[i] for i in sorted(set(idx))]
        analysis.summary = llm.explain(llm_cfg, chosen, analysis.summary)
    return analysis


def _analyze(p: Path, opts: Options) -> Analysis:
    kind = input_kind(p)
    if kind in ("text", "dialogue"):
        return _analyze_text(p, kind, opts)
    info = decode.probe(p)
    if kind == "image":
        frames = [(0.0, decode.load_image(p))]
        return _run(info, [segment.Span(0.0, 0.0, "image")],
                    lambda needs: iter([SegmentInput(0.0, 0.0, frames=frames)]), opts, words_from=None)
    words = transcript.load_transcript(opts.transcript) if opts.transcript else None
    with tempfile.TemporaryFile(prefix="affectlens-audio-") as spool:
        speech, audio_s = None, None
        if info.has_audio:  # one decode: VAD reads the stream while it is spooled to disk
            speech = _vad(decode.spool(decode.prefetch(decode.iter_audio(p)), spool))
            audio_s = spool.tell() / 2 / decode.SAMPLE_RATE
        duration = info.duration or audio_s or _measure_duration(p, info)
        plan = segment.plan(duration, speech, window_s=opts.window_s)
        return _run(info, plan, lambda needs: _stream_segments(p, info, plan, opts, words, needs, spool), opts,
                    words_from="transcript" if words else None)


def _vad(chunks: Iterable[np.ndarray]) -> list[tuple[float, float]]:
    from .voice.vad import speech_spans

    return speech_spans(chunks)


def _measure_duration(path: Path, info: MediaInfo) -> float:
    last = 0.0
    for t, _ in decode.iter_frames(path, fps=1.0):
        last = t
    return last + 1.0


def _stream_segments(path: Path, info: MediaInfo, plan: list[segment.Span], opts: Options,
                     words: list[Word] | None, needs: set[str], spool) -> Iterator[SegmentInput]:
    """Segment inputs in plan order, decoding only the streams the analyzers ``needs``
    (audio is read back from the ``spool`` the VAD pass wrote)."""
    want_video = info.has_video and "video" in needs
    want_audio = info.has_audio and "audio" in needs
    audio = _AudioCursor(decode.read_spool(spool)) if want_audio else None
    frames = _FrameCursor(decode.iter_frames(path, fps=opts.fps)) if want_video else None
    for span in plan:
        inp = SegmentInput(span.t0, span.t1)
        if audio is not None:
            inp.audio = audio.take(span.t0, span.t1)
        if frames is not None:
            inp.frames = frames.take(span.t0, span.t1)
        if words:
            inp.words = [w for w in words if span.t0 <= (w.t0 + w.t1) / 2 < span.t1]
        yield inp


class _AudioCursor:
    """Slices consecutive spans out of a chunked 16 kHz stream, dropping what is behind."""

    def __init__(self, chunks: Iterator[np.ndarray]):
        self.chunks = chunks
        self.buf = np.zeros(0, dtype=np.float32)
        self.start = 0  # sample index of buf[0]

    def take(self, t0: float, t1: float) -> np.ndarray:
        a, b = int(round(t0 * decode.SAMPLE_RATE)), int(round(t1 * decode.SAMPLE_RATE))
        while self.start + self.buf.size < b:
            chunk = next(self.chunks, None)
            if chunk is None:
                break
            self.buf = np.concatenate([self.buf, chunk])
        out = self.buf[max(0, a - self.start):max(0, b - self.start)].copy()
        drop = max(0, b - self.start)
        self.buf, self.start = self.buf[drop:], self.start + drop
        return out


class _FrameCursor:
    """Hands out the frames of consecutive spans from a frame generator."""

    def __init__(self, frames: Iterator[tuple[float, np.ndarray]]):
        self.frames = frames
        self.pending: tuple[float, np.ndarray] | None = None

    def take(self, t0: float, t1: float) -> list[tuple[float, np.ndarray]]:
        out = []
        while True:
            item = self.pending or next(self.frames, None)
            self.pending = None
            if item is None:
                return out
            if item[0] >= t1:
                self.pending = item
                return out
            if item[0] >= t0:
                out.append(item)


def _run(info: MediaInfo, plan: list[segment.Span], make_inputs: Callable[[set[str]], Iterator[SegmentInput]],
         opts: Options, words_from: str | None) -> Analysis:
    wanted = [m for m in opts.modalities if m in MODALITIES]
    has = {"face": info.has_video, "voice": info.has_audio,
           "text": bool(words_from) or (info.has_audio and opts.asr)}
    status = {m: "input has no " + {"face": "video or image", "voice": "audio stream",
                                    "text": "words (no transcript, ASR off)"}[m]
              for m in wanted if not has[m]}
    status.update({m: "not requested" for m in MODALITIES if m not in wanted})
    analyzers, missing = _load_analyzers(opts, [m for m in wanted if has[m]])
    status.update(missing)
    asr = None
    if "text" in analyzers and not words_from:
        asr, reason = _asr()
        if asr is None:
            status["text"] = reason
            analyzers.pop("text")
    needs = {"video"} if "face" in analyzers else set()
    if "voice" in analyzers or asr is not None:
        needs.add("audio")
    segments: list[Segment] = []
    frames: list[FaceFrame] = []
    face = analyzers.get("face")
    if opts.per_frame and face is not None and hasattr(face, "frame_sink"):
        face.frame_sink = frames.extend
    try:
        _fill(segments, plan, make_inputs, needs, analyzers, asr, opts, info.duration or 0.0)
    finally:
        if face is not None and hasattr(face, "frame_sink"):
            face.frame_sink = None
    for key in analyzers:
        if not any(key in s.estimates for s in segments):
            status[key] = {"face": "no face found", "voice": "no speech found",
                           "text": "no words found"}[key]
        else:
            status[key] = "present"
    return Analysis(affectlens_version=__version__, media=info,
                    models=[an.info() for an in analyzers.values()],
                    modalities={m: status[m] for m in MODALITIES}, segments=segments, frames=frames)


def _fill(segments: list[Segment], plan, make_inputs, needs: set[str], analyzers: dict[str, Analyzer],
          asr, opts: Options, total: float) -> None:
    """Run the analyzers over the planned segments, appending to ``segments``."""
    # decoding runs a couple of segments ahead in a thread, overlapping the models
    inputs = decode.prefetch(make_inputs(needs), depth=2)
    with contextlib.closing(inputs):
        for span, batch in _batched(plan, inputs, opts.batch):
            if asr is not None:
                for inp, sp in zip(batch, span):
                    if sp.kind == "speech" and inp.audio is not None:
                        inp.words = asr(inp.audio, inp.t0)
            ests, tracks = {}, [None] * len(batch)
            for key, an in analyzers.items():
                if hasattr(an, "analyze_batch_tracked"):
                    ests[key], tracks = map(list, zip(*an.analyze_batch_tracked(batch)))
                else:
                    ests[key] = an.analyze_batch(batch)
            for i, (sp, inp) in enumerate(zip(span, batch)):
                seg = Segment(start=sp.t0, end=sp.t1, kind=sp.kind, text=inp.text or None, track=tracks[i])
                seg.estimates = {k: v[i] for k, v in ests.items() if v[i] is not None}
                seg.fused = fuse(list(seg.estimates.values()))
                segments.append(seg)
            if opts.progress:
                opts.progress(span[-1].t1, total)


#: a batch of segments is handed on before its frames exceed this many bytes
BATCH_FRAME_BYTES = 32 * 1024**2


def _batched(plan: list[segment.Span], inputs: Iterator[SegmentInput], n: int):
    """Groups of up to ``n`` segments, smaller when their frames would take too much memory."""
    spans, batch, size = [], [], 0
    for sp, inp in zip(plan, inputs):
        spans.append(sp)
        batch.append(inp)
        size += sum(f.nbytes for _, f in inp.frames)
        if len(batch) >= n or size >= BATCH_FRAME_BYTES:
            yield spans, batch
            spans, batch, size = [], [], 0
    if batch:
        yield spans, batch


def _asr():
    """The offline ASR function, or ``(None, reason)`` when it cannot run."""
    try:
        from .media.asr import transcriber
    except ImportError as exc:
        return None, f"no words: ASR unavailable ({exc})"
    try:
        return transcriber(), None
    except ModelUnavailable as exc:
        return None, str(exc)


def _analyze_text(path: Path, kind: str, opts: Options) -> Analysis:
    dialogues = transcript.load_dialogues(path)
    info = MediaInfo(path=str(path), kind=kind, size_bytes=path.stat().st_size)
    plan, inputs = [], []
    for dialogue in dialogues:
        for i, w in enumerate(dialogue):
            plan.append(segment.Span(w.t0, w.t1, "utterance"))
            inputs.append(SegmentInput(w.t0, w.t1, words=[w], speaker=w.speaker,
                                       context=dialogue[max(0, i - CONTEXT_TURNS):i]))
    info.duration = None
    opts_text = Options(**{**opts.__dict__, "modalities": tuple(m for m in opts.modalities if m == "text")})
    analysis = _run(info, plan, lambda needs: iter(inputs), opts_text, words_from="text")
    for seg, inp in zip(analysis.segments, inputs):
        seg.speaker = inp.speaker
    if analysis.modalities["text"] == "present" and any(inp.context for inp in inputs):
        _add_dialogue_context(analysis, inputs, opts)
    return analysis


def _add_dialogue_context(analysis: Analysis, inputs: list[SegmentInput], opts: Options) -> None:
    """For conversations, the context-aware dialogue model decides the canonical label; the
    text model's fine labels, VAD and word cues stay."""
    found, _ = _load_analyzers(opts, ["dialogue"])
    if "dialogue" not in found:
        return
    dialogue = found["dialogue"]
    for start in range(0, len(inputs), opts.batch):
        ests = dialogue.analyze_batch(inputs[start:start + opts.batch])
        for seg, est in zip(analysis.segments[start:start + opts.batch], ests):
            text = seg.estimates.get("text")
            if est is None or text is None:
                continue
            # the text model's words and fine labels explain its own top label: keep them only
            # where they belong to the dialogue model's label
            same = text.top == est.top
            seg.estimates["text"] = text.model_copy(update={
                "model": f"{dialogue.name}+{text.model}", "probs": est.probs, "label": est.label,
                "confidence": est.confidence,
                "cues": [c for c in text.cues if c.name != "word" or same],
                "fine_predicted": [f for f in text.fine_predicted if est.top in fine_canonical(f)]})
            seg.fused = fuse(list(seg.estimates.values()))
    analysis.models.append(dialogue.info())


def analyze_many(paths: Iterable[str | Path], opts: Options | None = None,
                 on_error: Callable[[InputError], None] | None = None) -> Iterator[tuple[str, Analysis]]:
    """Analyze several inputs; a bad one is reported through ``on_error`` and skipped."""
    for path in paths:
        try:
            yield str(path), analyze(path, opts)
        except InputError as exc:
            if on_error is None:
                raise
            on_error(exc)
