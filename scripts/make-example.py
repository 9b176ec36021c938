#!/usr/bin/env python3
"""Write kiln's built-in example model, assets/example.onnx, and its reference output.

Usage: /work/venv/bin/python scripts/make-example.py   (needs onnx, numpy; onnxruntime for the reference)

The model is a tiny image classifier, 8x8 grey image -> 10 class probabilities:
conv(4 filters, 3x3, pad 1) -> relu -> max_pool 2x2 -> flatten via the exporter idiom
Shape -> Gather -> Unsqueeze -> Concat -> Reshape (which kiln folds away) -> Dropout
(inference: identity) -> Gemm -> Softmax. Weights are fixed by a seed (~3 KB).

The input kiln feeds it is deterministic: x[i] = ((i * 37) % 64) / 64 - 0.5 for i in
0..64, row-major. assets/example-expected.npy holds onnxruntime's output for it.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "assets")

rng = np.random.default_rng(20240611)
conv_w = (rng.standard_normal((4, 1, 3, 3)) * 0.5).astype(np.float32)
conv_b = (rng.standard_normal(4) * 0.1).astype(np.float32)
fc_w = (rng.standard_normal((10, 64)) * 0.3).astype(np.float32)
fc_b = (rng.standard_normal(10) * 0.1).astype(np.float32)

inits = [
    numpy_helper.from_array(conv_w, "conv.weight"),
    numpy_helper.from_array(conv_b, "conv.bias"),
    numpy_helper.from_array(fc_w, "fc.weight"),
    numpy_helper.from_array(fc_b, "fc.bias"),
    numpy_helper.from_array(np.array(0, dtype=np.int64), "zero"),
    numpy_helper.from_array(np.array([0], dtype=np.int64), "axes0"),
    numpy_helper.from_array(np.array([-1], dtype=np.int64), "minus_one"),
]
nodes = [
    helper.make_node("Conv", ["image", "conv.weight", "conv.bias"], ["conv"], name="conv",
                     kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    helper.make_node("Relu", ["conv"], ["relu"], name="relu"),
    helper.make_node("MaxPool", ["relu"], ["pool"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
    helper.make_node("Shape", ["pool"], ["pool_shape"], name="shape"),
    helper.make_node("Gather", ["pool_shape", "zero"], ["batch"], name="gather", axis=0),
    helper.make_node("Unsqueeze", ["batch", "axes0"], ["batch1"], name="unsqueeze"),
    helper.make_node("Concat", ["batch1", "minus_one"], ["flat_shape"], name="concat", axis=0),
    helper.make_node("Reshape", ["pool", "flat_shape"], ["flat"], name="flatten"),
    helper.make_node("Dropout", ["flat"], ["dropped"], name="dropout"),
    helper.make_node("Gemm", ["dropped", "fc.weight", "fc.bias"], ["logits"], name="fc", transB=1),
    helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=1),
]
graph = helper.make_graph(
    nodes, "kiln-example",
    [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, 8, 8])],
    [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 10])],
    initializer=inits,
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                          producer_name="kiln scripts/make-example.py")
model.ir_version = 8
onnx.checker.check_model(model, full_check=True)
os.makedirs(ROOT, exist_ok=True)
onnx.save(model, os.path.join(ROOT, "example.onnx"))

x = (((np.arange(64) * 37) % 64) / 64.0 - 0.5).astype(np.float32).reshape(1, 1, 8, 8)
try:
    import onnxruntime as ort
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (probs,) = sess.run(None, {"image": x})
    np.save(os.path.join(ROOT, "example-expected.npy"), probs)
    print("probs:", probs)
except ImportError:
    print("onnxruntime not installed: reference output not written")
print("wrote", os.path.join(ROOT, "example.onnx"), os.path.getsize(os.path.join(ROOT, "example.onnx")), "bytes")
