"""One analysis: media → face | voice | text → fusion → an ``Analysis`` (used by ``Engine``).

Audio/video inputs are read twice, both times streaming: once for VAD (a list of
speech spans is all that is kept), then again, audio and video side by side, cut
into the planned segments. Buffers never hold more than one segment (≤ 8 s), so
memory stays flat in input length. In-memory sources stream the same way.
"""

from __future__ import annotations

import contextlib
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from .version import __version__
from .config import interrupts_deferred
from .analyzers import Analyzer, ModelUnavailable, SegmentInput, Word
from .fusion.conflict import detect
from .fusion.fuse import fuse
from .fusion.smooth import smooth_timeline
from .media import decode, segment, transcript
from .reason.cues import assign_baselines, fold_pitch_octaves
from .reason.explain import explain_all
from .reason.llm import LLMConfig
from .request import AnalysisRequest, Hook
from .registry import MODALITIES, SPECS
from .schema import Analysis, MediaInfo, Segment, fine_canonical
from .sources import Image, Media, Source, Text, media_of
from .state import RunState

CONTEXT_TURNS = 8
LLM_MAX_SEGMENTS = 24
#: a batch of segments is handed on before its frames exceed this many bytes
BATCH_FRAME_BYTES = 32 * 1024**2


@dataclass
class Run:
    """One analysis in progress: the request, its state, where analyzers come from, the hook."""

    request: AnalysisRequest
    state: RunState
    get: Callable[[str], Analyzer]  # raises ModelUnavailable
    hook: Hook | None = None

    def emit(self, step: str, payload, completed: float | None = None, total: float | None = None) -> None:
        if self.hook is not None:
            self.hook(step, payload, completed=completed, total=total)

    def analyzers(self, wanted: Iterable[str]) -> tuple[dict[str, Analyzer], dict[str, str]]:
        """The loadable analyzers among ``wanted`` and, for the others, why not."""
        found, status = {}, {}
        for key in wanted:
            try:
                found[key] = self.get(key)
            except ModelUnavailable as exc:
                status[key] = str(exc)
        return found, status


def analyze(source: Source, run: Run) -> Analysis:
    """Analyze one source (a path or an in-memory :mod:`affectlens.sources` value).

    Raises
    ------
    InputError
        When the input is missing, empty, corrupt, unsupported or too large.
    """
    kind, payload = media_of(source)
    if kind in ("text", "dialogue"):
        analysis = _analyze_text(payload, kind, run)
    elif kind == "image":
        analysis = _analyze_image(payload, run)
    else:
        analysis = _analyze_media(payload, run)
    analysis = interpret(analysis, run.request.llm)
    run.emit("done", analysis)
    return analysis


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


def _analyze_image(payload: Path | Image, run: Run) -> Analysis:
    if isinstance(payload, Path):
        info, img = decode.probe(payload), decode.load_image(payload)
    else:
        img = payload.pixels
        info = MediaInfo(path=payload.name, kind="image", size_bytes=img.nbytes, has_video=True,
                         width=img.shape[1], height=img.shape[0])
    run.emit("probe", info)
    frames = [(0.0, img)]
    return _run(info, [segment.Span(0.0, 0.0, "image")],
                lambda needs: iter([SegmentInput(0.0, 0.0, frames=frames)]), run, words_from=None)


def _analyze_media(media: Media, run: Run) -> Analysis:
    req, info = run.request, media.info
    run.emit("probe", info)
    words = transcript.load_transcript(req.transcript) if req.transcript else None
    with tempfile.TemporaryFile(prefix="affectlens-audio-") as spool, contextlib.ExitStack() as stack:
        faces = _track_ahead(media, run)
        if faces is not None:
            stack.callback(faces.close)
        speech, audio_s = None, None
        if info.has_audio:  # one decode: VAD reads the stream while it is spooled to disk
            room = decode.check_spool_room(Path(info.path), info.duration)
            chunks = decode.prefetch(media.audio_chunks())
            speech = _vad(decode.spool(chunks, spool, room, info.path))
            media.audio_finished()
            audio_s = spool.tell() / 2 / decode.SAMPLE_RATE
        run.emit("speech", list(speech or []))
        duration = info.duration or audio_s or media.measured_duration()
        plan = segment.plan(duration, speech, window_s=req.window_s)
        return _run(info, plan, lambda needs: _stream_segments(media, plan, req.fps, words, needs, spool, faces), run,
                    words_from="transcript" if words else None, speech_audio=lambda: _speech_audio(plan, spool))


def _vad(chunks: Iterable[np.ndarray]) -> list[tuple[float, float]]:
    from .voice.vad import speech_spans

    return speech_spans(chunks)


#: frames the face tracking may run ahead of the segments (a few KB each: faces, not pixels)
TRACK_AHEAD_FRAMES = 1024


def _track_ahead(media: Media, run: Run) -> decode.Prefetch | None:
    """Start meshing and tracking the video's faces in a thread now, so that they overlap
    the audio pass (VAD) and later the other models; the segments then take the tracked
    frames (``SegmentInput.faces``). ``None`` without video, face model or face request."""
    if not media.info.has_video or "face" not in run.request.modalities:
        return None
    try:
        face = run.get("face")
    except ModelUnavailable:
        return None
    if not hasattr(face, "track"):  # a custom face analyzer: it gets the frames
        return None
    face.prepare(run.state)  # graph start-up logs are silenced here, not from the thread
    frames = decode.prefetch(media.frames(run.request.fps), depth=2)
    return decode.prefetch(face.track(frames, run.state), depth=TRACK_AHEAD_FRAMES, start=True)


def _stream_segments(media: Media, plan: list[segment.Span], fps: float, words: list[Word] | None,
                     needs: set[str], spool, faces=None) -> Iterator[SegmentInput]:
    """Segment inputs in plan order, decoding only the streams the analyzers ``needs``
    (audio is read back from the ``spool`` the VAD pass wrote; with ``faces``, the frames
    come already tracked)."""
    want_video = media.info.has_video and "video" in needs
    want_audio = media.info.has_audio and "audio" in needs
    audio = _AudioCursor(decode.read_spool(spool)) if want_audio else None
    tracked = want_video and faces is not None
    frames = _FrameCursor(faces if tracked else media.frames(fps)) if want_video else None
    for span in plan:
        inp = SegmentInput(span.t0, span.t1)
        if audio is not None:
            inp.audio = audio.take(span.t0, span.t1)
        if frames is not None and tracked:
            inp.faces = frames.take(span.t0, span.t1)
        elif frames is not None:
            inp.frames = frames.take(span.t0, span.t1)
        if words:
            inp.words = [w for w in words if span.t0 <= (w.t0 + w.t1) / 2 < span.t1]
        yield inp


#: seconds of speech audio handed to the ASR per call (bounds its memory)
ASR_SPEECH_S = 240.0


def _speech_audio(plan: list[segment.Span], spool) -> Iterator[tuple[segment.Span, np.ndarray]]:
    """The audio of each speech span of the plan, read back from the spool."""
    audio = _AudioCursor(decode.read_spool(spool))
    for span in plan:
        if span.kind == "speech":
            yield span, audio.take(span.t0, span.t1)


def _transcribe_plan(asr, speech: Iterator[tuple[segment.Span, np.ndarray]]) -> dict:
    """Words per speech span, transcribed ``ASR_SPEECH_S`` seconds of speech at a time."""
    words, pending, size = {}, [], 0
    for span, audio in [*speech, (None, None)]:
        if span is not None:
            pending.append((span, audio))
            size += audio.size
        if pending and (span is None or size >= ASR_SPEECH_S * decode.SAMPLE_RATE):
            words.update(zip([sp for sp, _ in pending], asr([(a, sp.t0) for sp, a in pending])))
            pending, size = [], 0
    return words


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
         run: Run, words_from: str | None, wanted: Iterable[str] | None = None,
         speech_audio: Callable[[], Iterator[tuple[segment.Span, np.ndarray]]] | None = None) -> Analysis:
    req = run.request
    wanted = [m for m in (req.modalities if wanted is None else wanted) if m in MODALITIES]
    offers = {"video": info.has_video, "audio": info.has_audio,
              "words": bool(words_from) or (info.has_audio and req.asr)}
    status = {m: SPECS[m].no_input for m in wanted if not offers[SPECS[m].needs]}
    status.update({m: "not requested" for m in MODALITIES if m not in wanted})
    analyzers, missing = run.analyzers([m for m in wanted if offers[SPECS[m].needs]])
    status.update(missing)
    asr = None
    if not words_from and any(SPECS[m].needs == "words" for m in analyzers):
        asr, reason = _asr()
        if asr is None:
            for m in [m for m in analyzers if SPECS[m].needs == "words"]:
                status[m] = reason
                analyzers.pop(m)
    needs = {SPECS[m].needs for m in analyzers} - {"words"}
    if asr is not None:
        needs.add("audio")
    segments: list[Segment] = []
    total = info.duration or (plan[-1].t1 if plan else 0.0)
    # decoding runs a couple of segments ahead in a thread, overlapping the models
    # speech is transcribed first, from the spooled audio alone: many segments per ASR call
    heard = _transcribe_plan(asr, speech_audio()) if asr is not None and speech_audio else {}
    inputs = decode.prefetch(make_inputs(needs), depth=2)
    # the face runs in this thread, the other analyzers beside it (each keeps its own part
    # of the run state; ONNX Runtime and MediaPipe release the GIL)
    with contextlib.closing(inputs), ThreadPoolExecutor(1, thread_name_prefix="analyzers") as beside:
        for span, batch in _batched(plan, inputs, req.batch):
            for sp, inp in zip(span, batch):
                if sp in heard:
                    inp.words = heard.pop(sp)
            tracks = [None] * len(batch)
            pending = {key: beside.submit(an.analyze_batch, batch, run.state)
                       for key, an in analyzers.items() if not hasattr(an, "analyze_batch_tracked")}
            done_here = {}
            for key, an in analyzers.items():
                if key not in pending:  # the face: each estimate's track id
                    done_here[key], tracks = map(list, zip(*an.analyze_batch_tracked(batch, run.state)))
            ests = {key: done_here[key] if key in done_here else pending[key].result() for key in analyzers}
            done = []
            for i, (sp, inp) in enumerate(zip(span, batch)):
                seg = Segment(start=sp.t0, end=sp.t1, kind=sp.kind, text=inp.text or None, track=tracks[i])
                seg.estimates = {k: v[i] for k, v in ests.items() if v[i] is not None}
                seg.fused = fuse(list(seg.estimates.values()))
                done.append(seg)
            segments += done
            run.emit("segments", done, completed=span[-1].t1, total=total)
    for key in analyzers:
        found = any(key in s.estimates for s in segments)
        status[key] = "present" if found else run.state.absent.get(key, SPECS[key].none_found)
    return Analysis(affectlens_version=__version__, media=info,
                    models=[an.info() for an in analyzers.values()],
                    modalities={m: status[m] for m in MODALITIES}, segments=segments,
                    frames=list(run.state.frames or []))


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
    with interrupts_deferred():  # loading native code: an interrupt waits until it is done
        try:
            from .media.asr import batch_transcriber
        except ImportError as exc:
            return None, f"no words: ASR unavailable ({exc})"
        try:
            return batch_transcriber(), None
        except ModelUnavailable as exc:
            return None, str(exc)


def _analyze_text(payload: Path | Text, kind: str, run: Run) -> Analysis:
    if isinstance(payload, Text):
        dialogues = [transcript.parse_text(payload.text, payload.name, check_limits=True)]
        info = MediaInfo(path=payload.name, kind=kind, size_bytes=len(payload.text.encode()))
    else:
        dialogues = transcript.load_dialogues(payload)
        info = MediaInfo(path=str(payload), kind=kind, size_bytes=payload.stat().st_size)
    run.emit("probe", info)
    plan, inputs = [], []
    for dialogue in dialogues:
        for i, w in enumerate(dialogue):
            plan.append(segment.Span(w.t0, w.t1, "utterance"))
            inputs.append(SegmentInput(w.t0, w.t1, words=[w], speaker=w.speaker,
                                       context=dialogue[max(0, i - CONTEXT_TURNS):i]))
    analysis = _run(info, plan, lambda needs: iter(inputs), run, words_from="text",
                    wanted=[m for m in run.request.modalities if SPECS[m].needs == "words"])
    for seg, inp in zip(analysis.segments, inputs):
        seg.speaker = inp.speaker
    if analysis.modalities["text"] == "present" and any(inp.context for inp in inputs):
        _add_dialogue_context(analysis, inputs, run)
    return analysis


def _add_dialogue_context(analysis: Analysis, inputs: list[SegmentInput], run: Run) -> None:
    """For conversations, the context-aware dialogue model decides the canonical label; the
    text model's VAD stays, its fine labels and word cues where they agree with that label."""
    found, _ = run.analyzers(["dialogue", "text"])
    if "dialogue" not in found:
        return
    dialogue, n = found["dialogue"], run.request.batch
    # every fine label above its threshold, to keep those of the dialogue model's label
    above = getattr(found.get("text"), "multilabel", lambda e: e.fine_predicted)
    for start in range(0, len(inputs), n):
        ests = dialogue.analyze_batch(inputs[start:start + n], run.state)
        for seg, est in zip(analysis.segments[start:start + n], ests):
            text = seg.estimates.get("text")
            if est is None or text is None:
                continue
            # the text model's words and fine labels explain its own top label: keep them only
            # where they belong to the dialogue model's label
            same = text.top == est.top
            fine = sorted((f for f in above(text) if est.label in fine_canonical(f)), key=lambda f: -text.fine[f])
            seg.estimates["text"] = text.model_copy(update={
                "model": f"{dialogue.name}+{text.model}", "probs": est.probs, "label": est.label,
                "confidence": est.confidence, "quality": {**text.quality, **est.quality},
                "cues": [c for c in text.cues if c.name != "word" or same],
                "fine_predicted": fine})
            seg.fused = fuse(list(seg.estimates.values()))
    analysis.models.append(dialogue.info())
