"""The face analyzer: detect, track, align and classify faces; measure facial cues.

Registered as ``face`` (model ``face-cnn``). Two entry points:

- :meth:`FaceAnalyzer.analyze` — the dominant face of a segment (the track seen in the
  most frames, larger faces breaking ties), its probabilities averaged over the frames, each
  frame weighted by its quality (crop sharpness and head yaw, :mod:`affectlens.face.quality`);
- :meth:`FaceAnalyzer.analyze_tracks` — one estimate per face track, for a per-person
  timeline.

Tracks persist across consecutive segments of one run (frame times must increase), so a
person keeps the same id (``face1``, ``face2``, ...) for the whole video. The tracker (with its
MediaPipe graphs) and the frame cache belong to the run: they live in its ``RunState``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np

from ..analyzers import Analyzer, SegmentInput, build_estimate
from ..schema import LABELS, Cue, Estimate, FaceFrame
from ..state import RunState, run_state
from .classifier import MODEL_NAME, ExpressionCNN, to_gray48
from .geometry import CUE_UNITS, eye_centers
from .quality import frame_weights, weighted_mean
from .tracker import FaceObservation, FaceTracker


#: compound facial expressions (Du, Tao & Martinez, PNAS 2014) named by their two basic parts
COMPOUNDS = {
    frozenset(("happy", "surprised")): "happily surprised",
    frozenset(("happy", "disgusted")): "happily disgusted",
    frozenset(("sad", "fearful")): "sadly fearful",
    frozenset(("sad", "angry")): "sadly angry",
    frozenset(("sad", "surprised")): "sadly surprised",
    frozenset(("sad", "disgusted")): "sadly disgusted",
    frozenset(("fearful", "angry")): "fearfully angry",
    frozenset(("fearful", "surprised")): "fearfully surprised",
    frozenset(("fearful", "disgusted")): "fearfully disgusted",
    frozenset(("angry", "surprised")): "angrily surprised",
    frozenset(("angry", "disgusted")): "angrily disgusted",
    frozenset(("disgusted", "surprised")): "disgustedly surprised",
}


def compound(probs: np.ndarray, second_min: float = 0.25, pair_min: float = 0.6) -> list[str]:
    """``["happily surprised"]``-style compound label when the two most probable classes are
    both emotions (not neutral), the second has at least ``second_min`` and together at least
    ``pair_min``; else ``[]``. The classifier was trained on basic labels only: a compound is a
    reading of its two strongest outputs, not a separately learned class."""
    order = np.argsort(probs)[::-1]
    a, b = LABELS[order[0]], LABELS[order[1]]
    if probs[order[1]] < second_min or probs[order[0]] + probs[order[1]] < pair_min:
        return []
    name = COMPOUNDS.get(frozenset((a, b)))
    return [name] if name else []


#: face-mesh points written per frame (besides the two eye centres)
KEY_POINTS = {"nose_tip": 1, "mouth_right": 61, "mouth_left": 291, "chin": 152}


def face_frame(obs: FaceObservation, probs: np.ndarray) -> FaceFrame:
    """The per-frame record of one observation and its expression probabilities."""
    right, left = eye_centers(obs.landmarks)
    points = {"eye_right": right, "eye_left": left,
              **{k: obs.landmarks[i, :2] for k, i in KEY_POINTS.items()}}
    return FaceFrame(time=round(obs.time, 4), track=obs.track_id, box=[round(float(v), 1) for v in obs.box],
                     landmarks={k: [round(float(v), 1) for v in p[:2]] for k, p in points.items()},
                     cues={k: round(float(v), 4) for k, v in obs.cues.items()},
                     probs={k: round(float(v), 4) for k, v in zip(LABELS, probs)})


@dataclass
class TrackSummary:
    """What one track did in one segment."""

    track_id: str
    estimate: Estimate
    frames: int
    size: float


@dataclass
class _Seen:
    """A segment after meshing and tracking, before its crops are classified."""

    key: tuple
    frames: list[np.ndarray]
    n_frames: int
    obs: list[FaceObservation]
    baselines: dict[tuple[str, str], float | None]


@dataclass
class FaceRun:
    """A run's face state: its tracker and the summaries of the last segment seen."""

    tracker: FaceTracker = field(default_factory=FaceTracker)
    cache: tuple[tuple, list[np.ndarray], list[TrackSummary]] | None = None

    def close(self) -> None:
        self.tracker.close()


class FaceAnalyzer(Analyzer):
    """Facial expression (7 labels + valence/arousal) and facial cues per face track."""

    name = MODEL_NAME
    modality = "face"
    weights = ("model.onnx", "meta.json")
    meta_keys = ("labels", "temperature", "valence_arousal")

    def __init__(self) -> None:
        self.cnn = ExpressionCNN(self.model_dir)

    def load(self) -> None:
        """Validate meta.json, read the classifier's meta and open its ONNX session."""
        super().load()
        self.cnn.meta, self.cnn.session  # noqa: B018  (properties load on first access)

    def _run(self, state: RunState) -> FaceRun:
        return state.part("face", FaceRun)

    # ------------------------------------------------------------------ face crops
    def _crop_estimates(self, batch: list[SegmentInput]) -> list[Estimate | None]:
        """One CNN pass for many face-crop inputs (each may hold several frames)."""
        crops, owner, sizes = [], [], []
        for i, x in enumerate(batch):
            for _, img in x.frames:
                crops.append(to_gray48(img))
                owner.append(i)
                sizes.append(float(np.sqrt(img.shape[0] * img.shape[1])))
        out: list[Estimate | None] = [None] * len(batch)
        if not crops:
            return out
        crops_a = np.stack(crops)
        probs, weights = self.cnn.probs(crops_a), frame_weights(crops_a)
        owner_a, sizes_a = np.asarray(owner), np.asarray(sizes)
        for i in set(owner):
            m = owner_a == i
            p = weighted_mean(probs[m], weights[m])
            v, a = self.cnn.valence_arousal(p)
            out[i] = build_estimate("face", self.name, p, vad=(v, a, None), fine_predicted=compound(p),
                                    quality={"face_size": float(sizes_a[m].mean()),
                                             "frames_with_face": 1.0, "n_tracks": 1.0,
                                             "frame_quality": round(float(weights[m].mean()), 3)})
        return out

    # ------------------------------------------------------------------ video / images
    def observe(self, inputs: SegmentInput, state: RunState | None = None) -> list[list[FaceObservation]]:
        """Per-frame faces of a segment: for each frame, its observations (track id,
        box, 468 landmarks, aligned crop, per-frame cues), tracked within ``state``'s run."""
        if inputs.faces is not None:
            return [faces for _, faces in inputs.faces]
        with run_state(state) as st:
            return [faces for _, faces in self.track(inputs.frames, st)]

    def prepare(self, state: RunState) -> None:
        """Start the run's face graphs in this thread, before :meth:`track` runs in another."""
        self._run(state).tracker.start()

    def track(self, frames: Iterable[tuple[float, np.ndarray]], state: RunState,
              ) -> Iterator[tuple[float, list[FaceObservation]]]:
        """Mesh and track a run's frames in time order: each frame's time and faces.

        A video run calls it on all its frames in a thread of its own, ahead of the segments
        (which then carry the result as ``SegmentInput.faces``); the same frames give the same
        faces either way."""
        tracker = self._run(state).tracker
        for t, img in frames:
            yield float(t), tracker.update(float(t), img)

    def _summaries(self, inputs: SegmentInput, state: RunState) -> list[TrackSummary]:
        seen = self._observe(inputs, state)
        if isinstance(seen, list):  # the cached summaries of this very segment
            return seen
        return self._summarize(seen, self._classify(seen), state)

    def _observe(self, inputs: SegmentInput, state: RunState) -> list[TrackSummary] | _Seen:
        """Mesh and track the segment's frames (in order: tracking and the cue baselines
        are causal), or the cached summaries when this is the segment seen last."""
        # The cache keeps the frame arrays themselves, so an identical key means the very
        # same frames (analyze + analyze_tracks on one segment mesh it only once).
        run = self._run(state)
        timed = inputs.frames if inputs.faces is None else inputs.faces
        key = (inputs.t0, inputs.t1, tuple(float(t) for t, _ in timed))
        frames = [x for _, x in timed]
        if (run.cache is not None and run.cache[0] == key
                and len(run.cache[1]) == len(frames)
                and all(a is b for a, b in zip(run.cache[1], frames))):
            return run.cache[2]
        obs = [o for frame in self.observe(inputs, state) for o in frame]
        last = {o.track_id: o for o in obs}  # each track's baselines as of its last frame here
        baselines = {(tid, name): _round(o.baselines.get(name)) for tid, o in last.items() for name in CUE_UNITS}
        return _Seen(key, frames, max(1, len(timed)), obs, baselines)

    def _classify(self, seen: _Seen) -> tuple[np.ndarray, np.ndarray] | None:
        """Expression probabilities (one CNN pass) and quality weights of every observed face
        crop; ``None`` without faces."""
        if not seen.obs:
            return None
        crops = np.stack([o.crop for o in seen.obs])
        return self.cnn.probs(crops), frame_weights(crops, [o.cues.get("head_yaw", 0.0) for o in seen.obs])

    def _summarize(self, seen: _Seen, classified: tuple[np.ndarray, np.ndarray] | None,
                   state: RunState) -> list[TrackSummary]:
        """One summary per track of an observed segment, dominant track first."""
        obs = seen.obs
        summaries: list[TrackSummary] = []
        if obs:
            probs, weights = classified
            if state.frames is not None:  # the request asked for per-frame records
                state.frames.extend(face_frame(o, p) for o, p in zip(obs, probs))
            ids = sorted({o.track_id for o in obs}, key=lambda s: int(s.removeprefix("face")))
            for tid in ids:
                idx = [k for k, o in enumerate(obs) if o.track_id == tid]
                mine = [obs[k] for k in idx]
                p = weighted_mean(probs[idx], weights[idx])
                v, a = self.cnn.valence_arousal(p)
                size = float(np.median([o.size for o in mine]))
                t0, t1 = min(o.time for o in mine), max(o.time for o in mine)
                cues = [Cue(modality="face", name=name, unit=unit, t0=t0, t1=t1,
                            value=round(float(np.median([o.cues[name] for o in mine])), 4),
                            baseline=seen.baselines[(tid, name)])
                        for name, unit in CUE_UNITS.items()]
                quality = {"face_size": round(size, 1), "frames_with_face": len(mine) / seen.n_frames,
                           "n_tracks": float(len(ids)), "frame_quality": round(float(weights[idx].mean()), 3)}
                est = build_estimate("face", self.name, p, vad=(v, a, None), quality=quality, cues=cues,
                                     fine_predicted=compound(p))
                summaries.append(TrackSummary(tid, est, len(mine), size))
            summaries.sort(key=lambda s: (s.frames, s.size), reverse=True)
        self._run(state).cache = (seen.key, seen.frames, summaries)
        return summaries

    def analyze_tracks(self, inputs: SegmentInput, state: RunState | None = None) -> dict[str, Estimate]:
        """One estimate per face track in the segment, dominant track first.

        Returns
        -------
        dict
            ``track_id -> Estimate`` (empty when no face is found). Each estimate's
            ``quality`` has ``face_size`` (px), ``frames_with_face`` (share of the
            segment's frames showing this track), ``n_tracks`` and ``frame_quality`` (mean
            frame weight, 0.05..1; the probabilities are the frames' mean weighted by it); its ``cues`` are the
            segment medians of the facial cues with the track's running baseline.
        """
        if inputs.face_crop:
            est = self._crop_estimates([inputs])[0]
            return {} if est is None else {"face1": est}
        with run_state(state) as st:
            return {s.track_id: s.estimate for s in self._summaries(inputs, st)}

    def dominant_track(self, inputs: SegmentInput, state: RunState | None = None) -> str | None:
        """Id of the segment's dominant track (``None`` without faces)."""
        if inputs.face_crop:
            return "face1" if inputs.frames else None
        with run_state(state) as st:
            s = self._summaries(inputs, st)
        return s[0].track_id if s else None

    def analyze(self, inputs: SegmentInput, state: RunState | None = None) -> Estimate | None:
        """Estimate of the segment's dominant face, or ``None`` when no face is found."""
        return self.analyze_batch([inputs], state)[0]

    def analyze_batch(self, batch: Iterable[SegmentInput],
                      state: RunState | None = None) -> list[Estimate | None]:
        """Face-crop inputs share one batched CNN pass; video segments run in order."""
        return [est for est, _ in self.analyze_batch_tracked(batch, state)]

    def analyze_batch_tracked(self, batch: Iterable[SegmentInput], state: RunState | None = None,
                              ) -> list[tuple[Estimate | None, str | None]]:
        """Like :meth:`analyze_batch`, each estimate with the id of the track it describes."""
        batch = list(batch)
        out: list[tuple[Estimate | None, str | None]] = [(None, None)] * len(batch)
        crop_idx = [i for i, x in enumerate(batch) if x.face_crop]
        for i, est in zip(crop_idx, self._crop_estimates([batch[i] for i in crop_idx])):
            out[i] = (est, None if est is None else "face1")
        video = [i for i, x in enumerate(batch) if not x.face_crop]
        if video:
            with run_state(state) as st, ThreadPoolExecutor(1, thread_name_prefix="face-cnn") as cnn:
                # segment k is classified in a helper thread while segment k+1 is observed here
                # (meshed, unless its faces were tracked ahead); both release the GIL
                seen, pending = [], []
                for i in video:
                    seen.append(self._observe(batch[i], st))
                    pending.append(None if isinstance(seen[-1], list) else cnn.submit(self._classify, seen[-1]))
                for i, x, p in zip(video, seen, pending):
                    s = x if p is None else self._summarize(x, p.result(), st)
                    out[i] = (s[0].estimate, s[0].track_id) if s else (None, None)
        return out


def _round(v: float | None) -> float | None:
    return None if v is None else round(float(v), 4)
