"""Recipe: ``python -m affectlens.train face_quality --data DIR``.

Measures the tables of :mod:`affectlens.face.quality` on FER2013 val with the installed face
model: accuracy by crop sharpness (val images blurred with σ 0–3 px and downscaled to 25–100 %),
accuracy by |head yaw| (face mesh on the val images upscaled to 192 px), each as relative
accuracy above the least-sharp bin's accuracy (≈ chance). Then checks the aggregation on
synthetic tracks: each val image as a track of 5 frames with random blur/downscale, scored by
the plain mean and by the quality-weighted mean of the frame probabilities. Prints JSON; the
tables in ``face/quality.py`` are copied from it by hand.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..config import data_root
from ..face import quality
from ..face.classifier import ExpressionCNN
from .face import load_split

BLUR = (0.0, 0.6, 1.0, 1.5, 2.0, 3.0)
DOWN = (0.75, 0.5, 0.35, 0.25)


def degrade(x: np.ndarray, blur: float = 0.0, down: float = 1.0) -> np.ndarray:
    """``N x 48 x 48`` crops blurred (Gaussian σ px) and/or down- then up-scaled."""
    import cv2

    out = x
    if blur > 0:
        out = np.stack([cv2.GaussianBlur(i, (0, 0), blur) for i in out])
    if down < 1:
        s = max(2, int(round(48 * down)))
        out = np.stack([cv2.resize(cv2.resize(i, (s, s), interpolation=cv2.INTER_AREA), (48, 48),
                                   interpolation=cv2.INTER_LINEAR) for i in out])
    return out


def sharpness_table(cnn: ExpressionCNN, x: np.ndarray, y: np.ndarray, bins: int = 10) -> dict:
    rows = []
    for kw in [{"blur": b} for b in BLUR] + [{"down": d} for d in DOWN]:
        d = degrade(x, **kw)
        rows.append(np.stack([quality.sharpness(d), cnn.probs(d).argmax(1) == y], 1))
    r = np.concatenate(rows)
    edges = np.quantile(r[:, 0], np.linspace(0, 1, bins + 1))
    idx = np.clip(np.searchsorted(edges, r[:, 0], side="right") - 1, 0, bins - 1)
    centre = [float(np.median(r[idx == b, 0])) for b in range(bins)]
    acc = [float(r[idx == b, 1].mean()) for b in range(bins)]
    return {"sharpness": centre, "accuracy": acc}


def yaw_table(cnn: ExpressionCNN, x: np.ndarray, y: np.ndarray) -> dict:
    import cv2
    import mediapipe as mp

    from ..face.geometry import head_pose

    ok = cnn.probs(x).argmax(1) == y
    mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, min_detection_confidence=0.3)
    yaw = np.full(len(x), np.nan)
    for i, img in enumerate(x):
        rgb = cv2.cvtColor(cv2.resize(img, (192, 192), interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2RGB)
        res = mesh.process(rgb)
        if res.multi_face_landmarks:
            pts = np.array([(p.x * 192, p.y * 192, p.z * 192) for p in res.multi_face_landmarks[0].landmark])
            yaw[i] = abs(head_pose(pts)[0])
    mesh.close()
    out = {"yaw": [], "accuracy": [], "n": []}
    for a, b in ((0, 10), (10, 20), (20, 30), (30, 45), (45, 90)):
        m = (yaw >= a) & (yaw < b)
        out["yaw"].append(float(np.median(yaw[m])))
        out["accuracy"].append(float(ok[m].mean()))
        out["n"].append(int(m.sum()))
    out["mesh_found"] = float(np.isfinite(yaw).mean())
    return out


def synthetic_tracks(cnn: ExpressionCNN, x: np.ndarray, y: np.ndarray, frames: int = 5, seed: int = 0) -> dict:
    """Accuracy and NLL of the plain vs quality-weighted mean over random-degraded frames."""
    rng = np.random.default_rng(seed)
    probs, weights = [], []
    for _ in range(frames):
        blur = rng.choice(BLUR, size=len(x))
        down = rng.choice((1.0, *DOWN), size=len(x))
        d = np.concatenate([degrade(x[i:i + 1], b, s) for i, (b, s) in enumerate(zip(blur, down))])
        probs.append(cnn.probs(d))
        weights.append(quality.frame_weights(d))
    p, w = np.stack(probs, 1), np.stack(weights, 1)
    out = {}
    for name, agg in (("mean", p.mean(1)), ("quality_weighted", (p * w[..., None]).sum(1) / w.sum(1, keepdims=True))):
        out[name] = {"accuracy": float((agg.argmax(1) == y).mean()),
                     "nll": float(-np.log(agg[np.arange(len(y)), y] + 1e-12).mean())}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m affectlens.train face_quality", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--run-dir", default="runs/face", help="where the FER2013 arrays are cached")
    ap.add_argument("--no-yaw", action="store_true", help="skip the face-mesh pass")
    args = ap.parse_args(argv)
    x, y = load_split(data_root(args.data), "val", Path(args.run_dir))
    cnn = ExpressionCNN()
    out = {"sharpness": sharpness_table(cnn, x, y)}
    if not args.no_yaw:
        out["yaw"] = yaw_table(cnn, x, y)
    chance = out["sharpness"]["accuracy"][0]  # the least sharp bin: about the majority-class rate
    for key, monotone in (("sharpness", np.maximum.accumulate), ("yaw", np.minimum.accumulate)):
        if key in out:  # relative accuracy above chance, monotone (sharper / more frontal is no worse)
            acc = np.asarray(out[key]["accuracy"])
            rel = np.clip((acc - chance) / (acc.max() - chance), 0, 1)
            out[key]["relative"] = [round(float(v), 2) for v in monotone(rel)]
    out["synthetic_tracks_5_frames"] = synthetic_tracks(cnn, x, y)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
