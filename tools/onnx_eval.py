#!/usr/bin/python3
"""A small ONNX evaluator in numpy, independent of convlab and of PyTorch: runs the ops convlab's
exporter writes (Conv, Relu, LeakyRelu, MaxPool, AveragePool, GlobalAveragePool, Flatten, Gemm,
BatchNormalization, Dropout and Identity in inference, Add, ReduceSum), so that an exported model
can be checked outside convlab. Debian's python3-onnx (1.12) has no reference evaluator.

    from onnx_eval import run
    logits = run("model.onnx", images)       # images: float32 (N, C, H, W)

As a script: /usr/bin/python3 tools/onnx_eval.py MODEL.onnx CIFAR_TEST_BATCH.bin  prints the
accuracy and the confusion matrix (JSON) on a CIFAR-10 binary file, images scaled to [0, 1].
"""
import json
import math
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _pad(x, pads, value):
    t, l, b, r = pads
    return np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)), constant_values=value)


def _windows(x, k, s, out):
    """(N, C, OH, OW, kh, kw) views of x's windows."""
    n, c, h, w = x.shape
    oh, ow = out
    sn, sc, sh, sw = x.strides
    return np.lib.stride_tricks.as_strided(x, (n, c, oh, ow, k[0], k[1]),
                                           (sn, sc, sh * s[0], sw * s[1], sh, sw), writeable=False)


def _out_size(size, k, s, p0, p1, ceil):
    span = size + p0 + p1 - k
    o = (math.ceil(span / s) if ceil else span // s) + 1
    if ceil and (o - 1) * s >= size + p0:  # the last window must start inside the input or left pad
        o -= 1
    return o


def _pool(x, a, op):
    k, s = a["kernel_shape"], a.get("strides", [1, 1])
    pads = a.get("pads", [0, 0, 0, 0])
    ceil = a.get("ceil_mode", 0)
    h, w = x.shape[2:]
    oh = _out_size(h, k[0], s[0], pads[0], pads[2], ceil)
    ow = _out_size(w, k[1], s[1], pads[1], pads[3], ceil)
    # Room for the windows ceil_mode adds past the padding.
    extra_h = max(0, (oh - 1) * s[0] + k[0] - (h + pads[0] + pads[2]))
    extra_w = max(0, (ow - 1) * s[1] + k[1] - (w + pads[1] + pads[3]))
    if op == "MaxPool":
        xp = _pad(x, [pads[0], pads[1], pads[2] + extra_h, pads[3] + extra_w], -np.inf)
        return _windows(xp, k, s, (oh, ow)).max(axis=(4, 5))
    xp = _pad(x, [pads[0], pads[1], pads[2] + extra_h, pads[3] + extra_w], 0.0)
    total = _windows(xp, k, s, (oh, ow)).sum(axis=(4, 5), dtype=np.float64)
    # Divisor: the window clipped to the padded input (count_include_pad) or to the input.
    inside = np.zeros((1, 1) + xp.shape[2:])
    if a.get("count_include_pad", 0):
        inside[:, :, :h + pads[0] + pads[2], :w + pads[1] + pads[3]] = 1
    else:
        inside[:, :, pads[0]:pads[0] + h, pads[1]:pads[1] + w] = 1
    count = _windows(np.ascontiguousarray(inside), k, s, (oh, ow)).sum(axis=(4, 5))
    return (total / count).astype(np.float32)


def _conv(x, w, b, a):
    s = a.get("strides", [1, 1])
    x = _pad(x, a.get("pads", [0, 0, 0, 0]), 0.0)
    o, c, kh, kw = w.shape
    oh = (x.shape[2] - kh) // s[0] + 1
    ow = (x.shape[3] - kw) // s[1] + 1
    win = _windows(np.ascontiguousarray(x), (kh, kw), s, (oh, ow))  # N C OH OW kh kw
    y = np.einsum("ncpqij,ocij->nopq", win.astype(np.float64), w.astype(np.float64))
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y.astype(np.float32)


def run(path, x):
    model = onnx.load(path)
    onnx.checker.check_model(model)
    g = model.graph
    v = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    v[[i.name for i in g.input if i.name not in v][0]] = x.astype(np.float32)
    for n in g.node:
        a, i = _attrs(n), [v[name] if name else None for name in n.input]
        op = n.op_type
        if op == "Conv":
            y = _conv(i[0], i[1], i[2] if len(i) > 2 else None, a)
        elif op == "Relu":
            y = np.where(i[0] > 0, i[0], 0).astype(np.float32)
        elif op == "LeakyRelu":
            y = np.where(i[0] > 0, i[0], i[0] * np.float32(a.get("alpha", 0.01))).astype(np.float32)
        elif op in ("MaxPool", "AveragePool"):
            y = _pool(i[0], a, op)
        elif op == "GlobalAveragePool":
            y = i[0].astype(np.float64).mean(axis=(2, 3), keepdims=True).astype(np.float32)
        elif op == "Flatten":
            y = i[0].reshape(i[0].shape[0], -1)
        elif op == "Gemm":
            w = i[1].T if a.get("transB", 0) else i[1]
            y = i[0].astype(np.float64) @ w.astype(np.float64)
            if len(i) > 2 and i[2] is not None:
                y += i[2]
            y = y.astype(np.float32)
        elif op == "BatchNormalization":
            shape = (1, -1) + (1,) * (i[0].ndim - 2)
            scale, bias, mean, var = (t.astype(np.float64).reshape(shape) for t in i[1:5])
            y = ((i[0] - mean) / np.sqrt(var + a.get("epsilon", 1e-5)) * scale + bias).astype(np.float32)
        elif op in ("Dropout", "Identity"):
            y = i[0]
        elif op == "Add":
            y = i[0] + i[1]
        elif op == "ReduceSum":
            y = i[0].sum(axis=tuple(i[1].tolist()), keepdims=bool(a.get("keepdims", 1)), dtype=np.float32)
        else:
            raise ValueError(f"onnx_eval: op {op} is not one convlab exports")
        v[n.output[0]] = y
    return v[g.output[0].name]


def main():
    model, data = sys.argv[1], sys.argv[2]
    raw = np.fromfile(data, dtype=np.uint8).reshape(-1, 3073)
    labels = raw[:, 0].astype(np.int64)
    images = raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255
    m = [[0] * 10 for _ in range(10)]
    preds = []
    for s in range(0, len(labels), 128):
        pred = run(model, images[s:s + 128]).argmax(1)
        preds += pred.tolist()
        for t, p in zip(labels[s:s + 128], pred):
            m[t][p] += 1
    print(json.dumps({"accuracy": sum(m[k][k] for k in range(10)) / len(labels), "confusion": m,
                      "predictions": preds}))


if __name__ == "__main__":
    sys.exit(main())
