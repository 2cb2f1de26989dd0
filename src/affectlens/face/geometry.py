"""Face geometry from the 468-point MediaPipe face mesh: alignment and facial cues.

All measurements are taken in pixel coordinates, with the eye line rotated level, and
divided by the inter-ocular distance (IOD, distance between the two eye centres), so
they do not depend on face size or in-plane rotation. Each measurement is signed so
that a larger value means *more* of the named action; compare it with the track's own
baseline (a person's resting face differs from the next person's).
"""

from __future__ import annotations

import math

import numpy as np

# MediaPipe face-mesh landmark indices ("right"/"left" are the subject's own sides).
R_EYE_OUTER, R_EYE_INNER, R_EYE_UP, R_EYE_LOW = 33, 133, 159, 145
L_EYE_INNER, L_EYE_OUTER, L_EYE_UP, L_EYE_LOW = 362, 263, 386, 374
R_BROW = (70, 63, 105, 66, 107)
L_BROW = (300, 293, 334, 296, 336)
R_BROW_INNER, L_BROW_INNER = 107, 336
MOUTH_R, MOUTH_L, LIP_UP_IN, LIP_LOW_IN = 61, 291, 13, 14
SUBNASALE = 2
R_ALA, L_ALA = 129, 358
FOREHEAD, CHIN = 10, 152

#: Where FER2013 puts a face: eye centre at (24.1, 19.1) px of the 48x48 crop, eyes
#: 17.0 px apart, eye centre to mouth centre 18.0 px. Medians measured by running the
#: face mesh on 247 FER2013 val images; aligning video faces to the same framing keeps
#: them in the classifier's training distribution.
FER_EYE_CENTER = (24.1, 19.1)
FER_IOD = 17.0
FER_EYE_MOUTH = 18.0

#: cue name -> unit; the values are computed by :func:`measure`.
CUE_UNITS: dict[str, str] = {
    "AU25_26_mouth_open": "IOD",
    "AU12_lip_corner_raise": "IOD",
    "AU15_lip_corner_depress": "IOD",
    "AU1_2_brow_raise": "IOD",
    "AU4_brow_lower": "IOD",
    "AU5_43_eye_aperture": "IOD",
    "AU9_nose_wrinkle": "IOD",
    "head_yaw": "deg",
    "head_pitch": "deg",
    "head_roll": "deg",
}


def eye_centers(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the subject's right and left eye (mean of the two corners), ``(x, y)``."""
    right = pts[[R_EYE_OUTER, R_EYE_INNER], :2].mean(0)
    left = pts[[L_EYE_INNER, L_EYE_OUTER], :2].mean(0)
    return right, left


def align_matrix(pts: np.ndarray, size: int = 48) -> np.ndarray:
    """2x3 similarity transform from the frame to a FER2013-like ``size`` crop.

    The eye line becomes horizontal, the eye centre lands where FER2013 has it and the
    scale follows the geometric mean of inter-ocular and eye-to-mouth distances (robust
    to moderate yaw and pitch).

    Parameters
    ----------
    pts : ndarray, shape (468, 2 or 3)
        Landmarks in frame pixels.
    """
    right, left = eye_centers(pts)
    center = (right + left) / 2
    d = left - right  # subject's right eye is on the image's left
    iod = float(np.hypot(*d))
    mouth = pts[[LIP_UP_IN, LIP_LOW_IN], :2].mean(0)
    eye_mouth = float(np.hypot(*(mouth - center)))
    k = size / 48.0
    scale = k * math.sqrt((FER_IOD * FER_EYE_MOUTH) / max(iod * eye_mouth, 1e-6))
    angle = math.atan2(d[1], d[0])
    c, s = math.cos(-angle) * scale, math.sin(-angle) * scale
    tx = FER_EYE_CENTER[0] * k - (c * center[0] - s * center[1])
    ty = FER_EYE_CENTER[1] * k - (s * center[0] + c * center[1])
    return np.array([[c, -s, tx], [s, c, ty]], dtype=np.float64)


def align_crop(gray: np.ndarray, pts: np.ndarray, size: int = 48) -> np.ndarray:
    """Aligned ``size x size`` uint8 face crop from a grayscale frame."""
    import cv2

    m = align_matrix(pts, size)
    return cv2.warpAffine(gray, m, (size, size), flags=cv2.INTER_AREA if m[0, 0] < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def head_pose(pts3: np.ndarray) -> tuple[float, float, float]:
    """Head (yaw, pitch, roll) in degrees from 3-D mesh landmarks in pixels.

    yaw > 0: the subject turns to their own left (towards the image's right);
    pitch > 0: chin up; roll > 0: head tilted clockwise in the image. The axes are
    built from the eye corners (x) and forehead-to-chin (y), so they are approximate
    (a few degrees) and best read relative to the track's baseline.
    """
    x = pts3[L_EYE_OUTER] - pts3[R_EYE_OUTER]
    x = x / (np.linalg.norm(x) + 1e-9)
    y = pts3[CHIN] - pts3[FOREHEAD]
    y = y - x * float(np.dot(x, y))
    y = y / (np.linalg.norm(y) + 1e-9)
    roll = math.degrees(math.atan2(x[1], x[0]))
    yaw = math.degrees(math.asin(float(np.clip(x[2], -1, 1))))
    pitch = -math.degrees(math.asin(float(np.clip(y[2], -1, 1))))
    return yaw, pitch, roll


def measure(pts3: np.ndarray) -> dict[str, float]:
    """Per-frame facial cues from one face's mesh (468 x 3, pixels; z scaled like x).

    Returns
    -------
    dict
        ``CUE_UNITS`` keys -> value. Distances are in IOD units, angles in degrees.
    """
    right, left = eye_centers(pts3)
    center = (right + left) / 2
    d = left - right
    iod = float(np.hypot(*d)) + 1e-9
    ang = math.atan2(d[1], d[0])
    c, s = math.cos(-ang), math.sin(-ang)
    # rotate so the eye line is level, origin at the eye centre, unit = IOD
    p = pts3[:, :2] - center
    p = np.stack([c * p[:, 0] - s * p[:, 1], s * p[:, 0] + c * p[:, 1]], 1) / iod
    yv = p[:, 1]  # image y grows downwards
    eye_y = yv[[R_EYE_OUTER, R_EYE_INNER, L_EYE_INNER, L_EYE_OUTER]].mean()
    corner_y = yv[[MOUTH_R, MOUTH_L]].mean()
    # corners above the lip midline (between the inner lips), which moves with the jaw: an open
    # mouth alone does not lower it, as it did measured from the nose
    corner_up = float((yv[LIP_UP_IN] + yv[LIP_LOW_IN]) / 2 - corner_y)
    mouth_width = float(abs(p[MOUTH_L, 0] - p[MOUTH_R, 0]))
    brow_y = yv[list(R_BROW) + list(L_BROW)].mean()
    inner_brow_h = float(eye_y - yv[[R_BROW_INNER, L_BROW_INNER]].mean())
    inner_brow_gap = float(abs(p[L_BROW_INNER, 0] - p[R_BROW_INNER, 0]))
    aperture = float((yv[R_EYE_LOW] - yv[R_EYE_UP] + yv[L_EYE_LOW] - yv[L_EYE_UP]) / 2)
    ala_to_eye = float(yv[[R_ALA, L_ALA]].mean() - yv[[R_EYE_INNER, L_EYE_INNER]].mean())
    yaw, pitch, roll = head_pose(pts3)
    return {
        "AU25_26_mouth_open": float(yv[LIP_LOW_IN] - yv[LIP_UP_IN]),
        # AU12 pulls the corners up and out: elevation plus mouth width (happy vs neutral FER2013
        # val faces, no baseline: AUROC 0.91, bench/au12_fer_val.py; elevation alone 0.83, from the nose 0.70)
        "AU12_lip_corner_raise": corner_up + mouth_width,
        "AU15_lip_corner_depress": -corner_up,
        "AU1_2_brow_raise": float(eye_y - brow_y),
        # lowered and drawn-together inner brows: minus (height + half the gap)
        "AU4_brow_lower": -(inner_brow_h + 0.5 * inner_brow_gap),
        "AU5_43_eye_aperture": aperture,
        # nose wrinkling pulls the alae up towards the inner eye corners
        "AU9_nose_wrinkle": -ala_to_eye,
        "head_yaw": yaw,
        "head_pitch": pitch,
        "head_roll": roll,
    }
