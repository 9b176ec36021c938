"""Writes models whose matmul weights are mostly zero, for kiln's sparse kernels.

Each model is x[rows, k] -> MatMul(W1) -> Add(b1) -> Relu -> MatMul(W2) -> y, with W1,
W2 (k x k) random normal and zero in one of two patterns:
  block90-<k>: 90% of the 4x4 blocks zero (block-sparse, as pruned in blocks)
  unstructured90-<k>: 90% of the weights zero, scattered
and conv-block90-<k/4>: x[1, k/4, 28, 28] -> 1x1 Conv(+bias) -> Relu -> 1x1 Conv, its
weights 90% zero in 4x4 blocks (of the k/4 x k/4 matrix); conv3x3-block90-<k/8>: the same
with 3x3 convolutions (padding 1) on k/8 channels, 90% of the 4x4 blocks of each
(C*9 x C) weight matrix zero.
Usage: make-sparse-models.py OUT_DIR [k rows]   (default 2048 64; seeded)
"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def weights(rng, k, pattern):
    w = rng.standard_normal((k, k)).astype(np.float32) / np.sqrt(k / 10)
    if pattern == "block90":
        keep = rng.random((k // 4, k // 4)) < 0.1
        w *= np.kron(keep, np.ones((4, 4), dtype=bool))
    else:
        w *= rng.random((k, k)) < 0.1
    return w.astype(np.float32)


def model(k, rows, pattern, seed):
    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array(weights(rng, k, pattern), "W1"),
        numpy_helper.from_array(rng.standard_normal(k).astype(np.float32), "b1"),
        numpy_helper.from_array(weights(rng, k, pattern), "W2"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "W1"], ["h"]),
        helper.make_node("Add", ["h", "b1"], ["hb"]),
        helper.make_node("Relu", ["hb"], ["r"]),
        helper.make_node("MatMul", ["r", "W2"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        f"{pattern}-{k}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, k])],
        inits,
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def conv_weights(rng, c, kernel):
    """[c, c, kernel, kernel] weights whose (c*kernel^2 x c) matrix B = W^T is 90%
    zero in 4x4 blocks."""
    k = c * kernel * kernel
    b = rng.standard_normal((k, c)).astype(np.float32) / np.sqrt(k / 10)
    keep = rng.random((k // 4, c // 4)) < 0.1
    b *= np.kron(keep, np.ones((4, 4), dtype=bool))
    return b.T.reshape(c, c, kernel, kernel).astype(np.float32).copy()


def conv_model(c, seed, kernel=1):
    rng = np.random.default_rng(seed)
    w1 = conv_weights(rng, c, kernel)
    w2 = conv_weights(rng, c, kernel)
    pads = [kernel // 2] * 4
    inits = [
        numpy_helper.from_array(w1, "W1"),
        numpy_helper.from_array(rng.standard_normal(c).astype(np.float32), "b1"),
        numpy_helper.from_array(w2, "W2"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "W1", "b1"], ["h"], pads=pads),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Conv", ["r", "W2"], ["y"], pads=pads),
    ]
    name = "conv" if kernel == 1 else f"conv{kernel}x{kernel}"
    graph = helper.make_graph(
        nodes,
        f"{name}-block90-{c}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, 28, 28])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c, 28, 28])],
        inits,
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def main():
    out = sys.argv[1]
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 2048
    rows = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    os.makedirs(out, exist_ok=True)
    for seed, pattern in enumerate(["block90", "unstructured90"]):
        path = os.path.join(out, f"{pattern}-{k}.onnx")
        onnx.save(model(k, rows, pattern, seed), path)
        print(path)
    path = os.path.join(out, f"conv-block90-{k // 4}.onnx")
    onnx.save(conv_model(k // 4, 2), path)
    print(path)
    path = os.path.join(out, f"conv3x3-block90-{k // 8}.onnx")
    onnx.save(conv_model(k // 8, 3, kernel=3), path)
    print(path)


if __name__ == "__main__":
    main()
