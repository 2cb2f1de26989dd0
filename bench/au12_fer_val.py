"""Check of the AU12 (lip-corner raise) proxy on FER2013 val: AUROC of the cue, with no
per-person baseline, for happy against neutral faces (and on the open-mouth 40 %).

    python bench/au12_fer_val.py [--data ../shared/data]   # ~1 min; prints one JSON object

Each 48x48 face is upscaled to 192 px and meshed (MediaPipe, static mode); faces the mesh
misses are left out. ``from_nose`` is the earlier proxy (corners' height below the nose).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import cv2
import numpy as np
from sklearn.metrics import roc_auc_score

from affectlens.face import geometry as G
from affectlens.face.tracker import landmarks_px
from affectlens.train.face import data_root, load_split

HAPPY, NEUTRAL = 1, 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=None)
    args = ap.parse_args()
    import mediapipe as mp

    with tempfile.TemporaryDirectory() as tmp:
        x, y = load_split(data_root(args.data), "val", Path(tmp))
    keep = np.isin(y, (HAPPY, NEUTRAL))
    mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, min_detection_confidence=0.3)
    rows = []
    for img, label in zip(x[keep], y[keep]):
        rgb = cv2.cvtColor(cv2.resize(img, (192, 192), interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2RGB)
        found = mesh.process(rgb).multi_face_landmarks
        if not found:
            continue
        pts = landmarks_px(found[0], 192, 192)
        m = G.measure(pts)
        right, left = G.eye_centers(pts)
        yv = (pts[:, 1] - (right + left)[1] / 2) / np.hypot(*(left - right))
        from_nose = yv[G.SUBNASALE] - yv[[G.MOUTH_R, G.MOUTH_L]].mean()
        rows.append((label == HAPPY, m["AU12_lip_corner_raise"], from_nose, m["AU25_26_mouth_open"]))
    r = np.array(rows, dtype=float)
    is_open = r[:, 3] > np.percentile(r[:, 3], 60)
    out = {"faces": int(len(r)), "happy": int(r[:, 0].sum()), "of": int(keep.sum())}
    for name, col in (("au12", 1), ("from_nose", 2)):
        out[f"auroc_{name}"] = round(roc_auc_score(r[:, 0], r[:, col]), 3)
        out[f"auroc_{name}_open_mouth"] = round(roc_auc_score(r[is_open, 0], r[is_open, col]), 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
