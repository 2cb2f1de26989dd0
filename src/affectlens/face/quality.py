"""How far one frame's face crop can be trusted by the expression CNN.

A track's expression over a segment is the weighted mean of its frames' probabilities; each
frame's weight is the CNN's relative accuracy above chance at that frame's crop sharpness and
head yaw, measured on FER2013 val (``python -m affectlens.train face_quality``; sharpness from
the val images blurred and downscaled, yaw from the face mesh run on them). Blurred,
low-resolution and turned-away frames then count less than clear frontal ones.
"""

from __future__ import annotations

import numpy as np

#: crop sharpness (std of the 3x3 Laplacian / std of the pixels, 48x48 crop) -> relative accuracy
SHARPNESS = ((0.23, 0.38, 0.49, 0.61, 0.76, 0.93, 1.13, 1.43, 1.83, 2.77),
             (0.0, 0.14, 0.21, 0.28, 0.45, 0.62, 0.76, 0.86, 1.0, 1.0))
#: |head yaw| in degrees -> relative accuracy
YAW = ((3.5, 14.3, 23.2, 35.7, 49.0), (1.0, 0.88, 0.81, 0.75, 0.73))
#: least weight of a frame, so that a track seen only in poor frames still has a reading
FLOOR = 0.05


def sharpness(crops: np.ndarray) -> np.ndarray:
    """Sharpness of ``N x 48 x 48`` uint8 crops: std of the Laplacian over std of the pixels."""
    import cv2

    c = np.asarray(crops, dtype=np.float32)
    if c.ndim == 2:
        c = c[None]
    lap = np.stack([cv2.Laplacian(i, cv2.CV_32F, ksize=3) for i in c]) if len(c) else c
    return lap.std(axis=(1, 2)) / (c.std(axis=(1, 2)) + 1e-3)


def frame_weights(crops: np.ndarray, yaw: np.ndarray | None = None) -> np.ndarray:
    """Weight of each crop (``FLOOR``..1): the product of the sharpness and yaw reliabilities."""
    w = np.interp(sharpness(crops), *SHARPNESS)
    if yaw is not None:
        w = w * np.interp(np.abs(np.asarray(yaw, dtype=np.float64)), *YAW)
    return np.clip(w, FLOOR, 1.0)


def weighted_mean(probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean of ``N x K`` probabilities (rows of a track in one segment)."""
    w = np.asarray(weights, dtype=np.float64)
    return (np.asarray(probs) * w[:, None]).sum(0) / max(float(w.sum()), 1e-12)
