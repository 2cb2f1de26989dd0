"""The expression CNN (``models/face-cnn``) run with onnxruntime.

Input: aligned 48x48 uint8 grayscale face crops. Output: temperature-calibrated
probabilities over the canonical 7 labels and derived valence/arousal.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..analyzers import ModelUnavailable, model_dir as find_model_dir, softmax
from ..schema import LABELS

MODEL_NAME = "face-cnn"
SIZE = 48


class ExpressionCNN:
    """Lazily loaded ONNX expression classifier.

    Parameters
    ----------
    model_dir : Path
        Folder with ``model.onnx`` and ``meta.json``.
    """

    def __init__(self, model_dir: Path | None = None) -> None:
        self.model_dir = Path(model_dir) if model_dir else find_model_dir(MODEL_NAME)
        self._session = None
        self._meta: dict | None = None

    @property
    def meta(self) -> dict:
        if self._meta is None:
            path = self.model_dir / "meta.json"
            if not path.is_file():
                raise ModelUnavailable(f"no model for face: {path} is not installed")
            self._meta = json.loads(path.read_text())
            if tuple(self._meta["labels"]) != LABELS:
                raise ModelUnavailable(f"{path}: labels {self._meta['labels']} are not the canonical ones")
        return self._meta

    @property
    def session(self):
        if self._session is None:
            path = self.model_dir / "model.onnx"
            if not path.is_file():
                raise ModelUnavailable(f"no model for face: {path} is not installed")
            try:
                from ..config import onnx_session
                self._session = onnx_session(path)
            except ImportError as exc:  # pragma: no cover - onnxruntime is a core dependency
                raise ModelUnavailable(f"no face model runtime: {exc}") from exc
        return self._session

    @property
    def temperature(self) -> float:
        return float(self.meta["temperature"])

    def logits(self, crops: np.ndarray, batch: int = 256) -> np.ndarray:
        """Raw logits (mean of image and mirror) for ``N x 48 x 48`` uint8 crops."""
        crops = np.asarray(crops)
        if crops.ndim != 3 or crops.shape[1:] != (SIZE, SIZE):
            raise ValueError(f"expected N x {SIZE} x {SIZE} crops, got {crops.shape}")
        if len(crops) == 0:
            return np.zeros((0, len(LABELS)), dtype=np.float32)
        out = [self.session.run(None, {"image": crops[i:i + batch, None].astype(np.float32)})[0]
               for i in range(0, len(crops), batch)]
        return np.concatenate(out)

    def probs(self, crops: np.ndarray) -> np.ndarray:
        """Calibrated probabilities ``N x 7`` in ``LABELS`` order."""
        return softmax(self.logits(crops), self.temperature)

    def valence_arousal(self, probs: np.ndarray) -> np.ndarray:
        """Derived (valence, arousal) of probabilities ``(..., 7)``; see :func:`neutral_referenced_va`."""
        va = self.meta["valence_arousal"]
        return neutral_referenced_va(probs, va["coords"], va.get("reference"))


def neutral_referenced_va(probs: np.ndarray, coords: dict, reference: dict | None = None) -> np.ndarray:
    """(valence, arousal) from class probabilities and per-class circumplex ``coords``.

    With ``reference`` (the mean probability each class gets on neutral validation faces) only
    each emotion's excess over that reference counts: ``Σ_k max(0, p_k - r_k) · coords_k``, so a
    face read like a typical neutral face sits at (0, 0) instead of being pulled towards the
    classes a neutral face is often confused with (sad, angry, fearful). Without it: the plain
    probability-weighted mean of the coordinates.
    """
    table = np.array([coords[k] for k in LABELS], dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64)
    if reference is not None:
        p = np.clip(p - np.array([reference[k] for k in LABELS]), 0.0, None)
    return np.clip(p @ table, -1.0, 1.0)


def to_gray48(rgb: np.ndarray) -> np.ndarray:
    """A face-crop image (RGB, gray or RGBA, any size) as a 48x48 uint8 grayscale array."""
    import cv2

    img = np.asarray(rgb)
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    elif img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.shape != (SIZE, SIZE):
        interp = cv2.INTER_AREA if min(img.shape) > SIZE else cv2.INTER_LINEAR
        img = cv2.resize(img, (SIZE, SIZE), interpolation=interp)
    return np.ascontiguousarray(img)
