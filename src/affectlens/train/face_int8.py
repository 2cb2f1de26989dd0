"""Static int8 quantization of the face CNN graph, the last step of the face recipe.

The recipe keeps the float graph as ``model.fp32.onnx`` (the master that ensembles and later
re-quantizations start from) and ships ``model.onnx`` in int8 when it loses at most
``MAX_LOSS`` of validation accuracy: about 3x faster on CPU (one 48x48 crop with its mirror,
1 thread: 3.1 ms in float, 0.9 ms in int8). Activations are calibrated on training images
only; the temperature is then fitted on val for the graph that ships.

Usage (re-quantize the installed float graph, e.g. after changing the calibration)::

    python -m affectlens.train face --data DIR --requantize
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

#: largest validation-accuracy loss accepted for the int8 graph (else the float one ships)
MAX_LOSS = 0.005
#: training images per class used to calibrate activation ranges
CALIBRATION_PER_CLASS = 60


def calibration_images(x: np.ndarray, y: np.ndarray, per_class: int = CALIBRATION_PER_CLASS,
                       seed: int = 0) -> np.ndarray:
    """A class-balanced random sample of training images (``N x 48 x 48`` uint8)."""
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.permutation(np.flatnonzero(y == k))[:per_class] for k in np.unique(y)])
    return x[np.sort(idx)]


def quantize_graph(fp32: Path, out: Path, calib: np.ndarray, batch: int = 32) -> None:
    """Write ``out``: ``fp32`` with int8 weights (per channel) and uint8 activations (QDQ),
    activation ranges calibrated on ``calib`` crops."""
    import tempfile

    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"image": calib[i:i + batch, None].astype(np.float32)}
                               for i in range(0, len(calib), batch)])

        def get_next(self):
            return next(self.items, None)

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32), str(pre))
        quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)


def graph_logits(path: Path, x: np.ndarray, batch: int = 512) -> np.ndarray:
    """Logits of the graph at ``path`` for ``N x 48 x 48`` crops."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(None, {"image": x[i:i + batch, None].astype(np.float32)})[0]
                           for i in range(0, len(x), batch)])


def ship(out: Path, calib: np.ndarray, x_val: np.ndarray, y_val: np.ndarray) -> dict:
    """Quantize ``out/model.fp32.onnx`` into ``out/model.onnx`` (or copy the float graph when
    int8 loses more than ``MAX_LOSS`` accuracy on val); return what was shipped and why."""
    fp32, shipped = out / "model.fp32.onnx", out / "model.onnx"
    acc_fp32 = float((graph_logits(fp32, x_val).argmax(1) == y_val).mean())
    quantize_graph(fp32, shipped, calib)
    acc_int8 = float((graph_logits(shipped, x_val).argmax(1) == y_val).mean())
    precision = "int8"
    if acc_fp32 - acc_int8 > MAX_LOSS:
        shutil.copyfile(fp32, shipped)
        precision = "float32"
    return {"precision": precision, "val_accuracy_fp32": acc_fp32, "val_accuracy_int8": acc_int8,
            "calibration": f"{len(calib)} FER2013 train images ({CALIBRATION_PER_CLASS} per class, seed 0)",
            "max_loss": MAX_LOSS}
