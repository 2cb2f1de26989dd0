"""Face detection, 468-point mesh and identity tracking across frames.

Uses the legacy ``mediapipe.solutions.face_mesh`` graph of ``mediapipe==0.10.14``, which
loads the face-detection and face-landmark ``.tflite`` models shipped inside the wheel
(no download). In video mode a mesh graph runs the detector on every frame in which it has
fewer faces than its maximum and otherwise tracks each face's landmark ROI from frame to
frame; so while a video shows one face, a one-face graph meshes most frames (no detector
run) and the ``max_faces`` graph, which also looks for more faces, every ``RECHECK_FRAMES``-th
frame and every frame once it sees several.
Its built-in detector is the short-range model (faces within about 2 m); when it finds
no face, the full-range detector (``face_detection`` with ``model_selection=1``) looks
for small faces and a static mesh is run on an upscaled crop around each one.

MediaPipe does not give identities, so :class:`FaceTracker` assigns stable track ids by
greedy IoU matching of face boxes with the tracks seen in the last ``memory`` seconds
(a face that disappears briefly keeps its id).
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, field

import numpy as np

from ..analyzers import ModelUnavailable
from ..config import interrupts_deferred, native_stderr_silenced
from . import geometry

#: side (px) of the upscaled crop meshed around a small face
CROP = 256
#: while one face is tracked, the full mesh (which also looks for more faces) runs on every
#: this many frames, the one-face mesh on the others (a second face joins within 1 s at 5 fps)
RECHECK_FRAMES = 5


@dataclass
class FaceObservation:
    """One face in one frame."""

    track_id: str
    time: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels
    landmarks: np.ndarray  # 468 x 3 pixels (z scaled like x)
    crop: np.ndarray  # aligned 48 x 48 uint8 grayscale
    cues: dict[str, float]
    #: the track's running baseline of each cue as of this frame: the median of its recent
    #: frames (``None`` before ``BASELINE_MIN_FRAMES`` of them)
    baselines: dict[str, float | None] = field(default_factory=dict)

    @property
    def size(self) -> float:
        """Face size in pixels: the geometric mean of box width and height."""
        x0, y0, x1, y1 = self.box
        return float(np.sqrt(max(x1 - x0, 0) * max(y1 - y0, 0)))


@dataclass
class _Track:
    track_id: str
    box: tuple[float, float, float, float]
    last_seen: float
    history: dict[str, _CueHistory] = field(default_factory=dict)


#: a ``NormalizedLandmark`` with only x, y, z as protobuf puts it on the wire: field tag and
#: length of the list entry, then each coordinate's tag and float32 value
_WIRE = np.dtype([("tag", "u1"), ("len", "u1"), ("tx", "u1"), ("x", "<f4"),
                  ("ty", "u1"), ("y", "<f4"), ("tz", "u1"), ("z", "<f4")])


def landmarks_px(landmarks, w: int, h: int) -> np.ndarray:
    """``N x 3`` float64 pixel coordinates (z scaled like x) of a MediaPipe
    ``NormalizedLandmarkList``: read from its serialized bytes in one go (20x faster than
    per-point attribute access, the same numbers), or point by point when the message has
    other fields."""
    raw = landmarks.SerializeToString()
    if len(raw) % _WIRE.itemsize == 0:
        rec = np.frombuffer(raw, dtype=_WIRE)
        if ((rec["tag"] == 0x0A) & (rec["len"] == 15) & (rec["tx"] == 0x0D)
                & (rec["ty"] == 0x15) & (rec["tz"] == 0x1D)).all():
            return np.stack([rec["x"] * np.float64(w), rec["y"] * np.float64(h), rec["z"] * np.float64(w)], 1)
    return np.array([(p.x * w, p.y * h, p.z * w) for p in landmarks.landmark], dtype=np.float64)


#: frames of a cue a track needs before it has a baseline
BASELINE_MIN_FRAMES = 10


class _CueHistory:
    """The last ``size`` values of one cue (a numpy ring) and their median."""

    def __init__(self, size: int) -> None:
        self.values = np.empty(size, dtype=np.float64)
        self.count = 0

    def add(self, value: float) -> None:
        self.values[self.count % len(self.values)] = value
        self.count += 1

    def median(self) -> float | None:
        """``np.median`` of the values held (``None`` before ``BASELINE_MIN_FRAMES``), by a
        partial sort: 4x faster, as it runs on every frame."""
        n = min(self.count, len(self.values))
        if n < BASELINE_MIN_FRAMES:
            return None
        mid = n // 2
        if n % 2:
            return float(np.partition(self.values[:n], mid)[mid])
        part = np.partition(self.values[:n], (mid - 1, mid))
        return float((part[mid - 1] + part[mid]) / 2)


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class FaceTracker:
    """Detect, mesh, align and track faces frame by frame.

    Parameters
    ----------
    max_faces : int
        Most faces meshed per frame.
    memory : float
        Seconds a lost track is kept for re-identification.
    min_iou : float
        Least box IoU (with the track's last box) to continue a track.
    baseline_frames : int
        Frames of each cue kept per track for its running baseline (median).
    small_faces : bool
        Look for small faces with the full-range detector when the mesh finds none.
    """

    def __init__(self, max_faces: int = 4, memory: float = 1.0, min_iou: float = 0.3,
                 baseline_frames: int = 600, small_faces: bool = True) -> None:
        self.small_faces = small_faces
        self.max_faces = max_faces
        self.memory = memory
        self.min_iou = min_iou
        self.baseline_frames = baseline_frames
        self._mesh = None
        self._single = None
        self._fresh = False  # graphs started but fed no frame yet (see start)
        self._frame_no, self._multi = 0, False
        self._detector = None
        self._crop_mesh = None
        self._started: set[int] = set()
        self._ids = itertools.count(1)
        self._tracks: list[_Track] = []
        self._last_time: float | None = None
        self._shape: tuple[int, ...] | None = None

    # ------------------------------------------------------------------ mediapipe
    def _get_mesh(self):
        """The video-mode mesh for up to ``max_faces`` faces."""
        if self._mesh is None:
            self._mesh = self._new_mesh(self.max_faces)
        return self._mesh

    def _get_single(self):
        """The video-mode mesh for one face: while it tracks its face it never runs the detector
        (the full mesh runs it on every frame in which it has fewer than ``max_faces`` faces)."""
        if self._single is None:
            self._single = self._new_mesh(1)
        return self._single

    def _new_mesh(self, faces: int):
        try:
            with interrupts_deferred():  # an interrupt inside the import would break it for good
                import mediapipe as mp
        except ImportError as exc:  # pragma: no cover - depends on the extra
            raise ModelUnavailable(f"no face detector: mediapipe is not installed ({exc})") from exc
        with interrupts_deferred(), native_stderr_silenced():
            return mp.solutions.face_mesh.FaceMesh(
                static_image_mode=False, max_num_faces=faces, refine_landmarks=False,
                min_detection_confidence=0.5, min_tracking_confidence=0.5)

    def _frame_mesh(self):
        """The mesh for this frame: the full one every ``RECHECK_FRAMES`` frames and while it
        sees several faces, else the one-face mesh (about 40 % faster on a single face)."""
        if self.max_faces == 1 or self._multi or self._frame_no % RECHECK_FRAMES == 0:
            return self._get_mesh()
        return self._get_single()

    def start(self) -> None:
        """Build the MediaPipe graphs and run each once on a blank frame, stderr silenced, in the
        calling thread; frames tracked later in another thread then leave the process-wide stderr
        alone (a blank frame finds no face, so tracking starts as it would have)."""
        blank = np.zeros((CROP, CROP, 3), np.uint8)
        with interrupts_deferred(), native_stderr_silenced():
            self._run(self._get_mesh(), blank)
            if self.max_faces > 1:
                self._run(self._get_single(), blank)
            if self.small_faces:
                self._small_faces(blank)
                self._run(self._crop_mesh, blank)
        self._fresh = True

    def _quiet(self, *graphs):
        """``native_stderr_silenced()`` while any of ``graphs`` is unmade or has not run yet."""
        if all(g is not None and id(g) in self._started for g in graphs):
            return contextlib.nullcontext()
        return native_stderr_silenced()

    def _run(self, solution, rgb: np.ndarray):
        """``solution.process(rgb)``; the first call of each solution with native logging silenced
        (TFLite announces its delegates then)."""
        if id(solution) in self._started:
            return solution.process(rgb)
        with native_stderr_silenced():
            out = solution.process(rgb)
        self._started.add(id(solution))
        return out

    def _small_faces(self, rgb: np.ndarray) -> list[np.ndarray]:
        """Landmarks (frame pixels) of faces found by the full-range detector."""
        import cv2
        import mediapipe as mp

        if self._detector is None:
            with interrupts_deferred(), native_stderr_silenced():
                self._detector = mp.solutions.face_detection.FaceDetection(
                    model_selection=1, min_detection_confidence=0.5)
                self._crop_mesh = mp.solutions.face_mesh.FaceMesh(
                    static_image_mode=True, max_num_faces=1, refine_landmarks=False,
                    min_detection_confidence=0.5)
        h, w = rgb.shape[:2]
        out = []
        for det in (self._run(self._detector, rgb).detections or [])[: self.max_faces]:
            bb = det.location_data.relative_bounding_box
            cx, cy = (bb.xmin + bb.width / 2) * w, (bb.ymin + bb.height / 2) * h
            side = 2.0 * max(bb.width * w, bb.height * h, 1.0)
            s = CROP / side
            m = np.array([[s, 0, CROP / 2 - s * cx], [0, s, CROP / 2 - s * cy]])
            crop = cv2.warpAffine(rgb, m, (CROP, CROP), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT)
            res = self._run(self._crop_mesh, crop)
            if not res.multi_face_landmarks:
                continue
            pts = np.array([(p.x * CROP, p.y * CROP, p.z * CROP)
                            for p in res.multi_face_landmarks[0].landmark], dtype=np.float64)
            pts[:, 0] = (pts[:, 0] - m[0, 2]) / s
            pts[:, 1] = (pts[:, 1] - m[1, 2]) / s
            pts[:, 2] = pts[:, 2] / s
            out.append(pts)
        return out

    def reset(self) -> None:
        """Forget all tracks and the mesh's tracking state (new video or image)."""
        for graph in (self._mesh, self._single):
            if graph is not None and not self._fresh:  # a graph that saw only start()'s blank frame is clean
                with native_stderr_silenced():
                    graph.reset()  # restarts the graph: its next first frame logs again
                self._started.discard(id(graph))
        self._frame_no, self._multi = 0, False
        self._tracks = []
        self._ids = itertools.count(1)
        self._last_time = None
        self._shape = None

    def close(self) -> None:
        """Release the MediaPipe graph."""
        for graph in (self._mesh, self._single, self._detector, self._crop_mesh):
            if graph is not None:
                graph.close()
        self._mesh = self._single = self._detector = self._crop_mesh = None

    # ------------------------------------------------------------------ tracking
    def update(self, time: float, rgb: np.ndarray) -> list[FaceObservation]:
        """Process one frame; return its faces with track ids, aligned crops and cues.

        A frame whose time does not follow the previous one (earlier, the same, or more
        than ``2 * memory`` seconds later) or whose size differs starts afresh.
        """
        import cv2

        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 RGB frame, got shape {rgb.shape}")
        if (self._last_time is None or time <= self._last_time
                or time - self._last_time > 2 * self.memory or rgb.shape != self._shape):
            self.reset()
        self._last_time, self._shape = time, rgb.shape
        h, w = rgb.shape[:2]
        # a graph logs from its own threads while it starts: keep stderr silenced from its
        # creation (or reset) through its first frame
        mesh = self._frame_mesh()
        with self._quiet(mesh):
            result = self._run(mesh, rgb)
        self._fresh = False
        if mesh is self._mesh:
            self._multi = len(result.multi_face_landmarks or []) > 1
        self._frame_no += 1
        pts_all = [landmarks_px(f, w, h) for f in (result.multi_face_landmarks or [])]
        if not pts_all and self.small_faces:
            with self._quiet(self._detector, self._crop_mesh):
                pts_all = self._small_faces(rgb)
        if not pts_all:
            return []
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        boxes = [(float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()), float(p[:, 1].max()))
                 for p in pts_all]
        ids = self._match(time, boxes)
        out = []
        for tid, box, pts in zip(ids, boxes, pts_all):
            cues = geometry.measure(pts)
            track = next(t for t in self._tracks if t.track_id == tid)
            for k, v in cues.items():
                track.history.setdefault(k, _CueHistory(self.baseline_frames)).add(v)
            out.append(FaceObservation(tid, time, box, pts, geometry.align_crop(gray, pts), cues,
                                       {k: track.history[k].median() for k in cues}))
        return out

    def _match(self, time: float, boxes: list[tuple[float, float, float, float]]) -> list[str]:
        self._tracks = [t for t in self._tracks if time - t.last_seen <= self.memory]
        pairs = sorted(((iou(b, t.box), i, j) for i, b in enumerate(boxes)
                        for j, t in enumerate(self._tracks)), reverse=True)
        ids: list[str | None] = [None] * len(boxes)
        used: set[int] = set()
        for score, i, j in pairs:
            if score < self.min_iou:
                break
            if ids[i] is None and j not in used:
                ids[i] = self._tracks[j].track_id
                used.add(j)
        for i, b in enumerate(boxes):
            if ids[i] is None:
                self._tracks.append(_Track(f"face{next(self._ids)}", b, time))
                ids[i] = self._tracks[-1].track_id
        for i, b in enumerate(boxes):
            t = next(t for t in self._tracks if t.track_id == ids[i])
            t.box, t.last_seen = b, time
        return [str(i) for i in ids]
