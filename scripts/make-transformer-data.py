#!/usr/bin/env python3
"""Write the opset-23 transformer block test data: a decoder block built here with onnx.helper
(seeded random weights) from the ops modern transformer exports use, and onnxruntime's outputs.

Usage: python3 make-transformer-data.py OUT_DIR   (needs onnx==1.23.2, numpy, onnxruntime)

OUT_DIR/transformer23/   model.onnx and test_data_set_0/{input,output}_<i>.pb:
    x [1, 7, 64] -> RMSNormalization (learned scale) -> Q, K, V MatMuls (4 query heads,
    2 key/value heads of 16: grouped-query attention) -> Reshape/Transpose to [1, heads, 7, 16]
    -> RotaryEmbedding of Q and K (cos/sin caches of 32 positions, position_ids 5..11: the
    chunk follows 5 cached positions) -> Attention (opset 23, is_causal, past_key and
    past_value [1, 2, 5, 16] as the KV cache; outputs present_key/present_value [1, 2, 12, 16])
    -> Transpose/Reshape -> output MatMul -> residual Add; then RMSNormalization, a SiLU
    feed-forward (MatMul, Sigmoid, Mul, MatMul) and a second residual Add.
    Inputs x, past_key, past_value; outputs y [1, 7, 64], present_key, present_value.
The outputs are onnxruntime's at ORT_DISABLE_ALL (its kernels as written, no fusions).
"""
import os
import sys

import numpy as np
import onnx
import onnx.helper as oh
import onnx.numpy_helper as nh

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testdata_io import run_ort, write_case  # noqa: E402

S, PAST, D, HQ, HKV, DH, FF, POSITIONS = 7, 5, 64, 4, 2, 16, 128, 32


def build(rng):
    def weight(name, *shape, scale=None):
        scale = scale or 1 / np.sqrt(shape[0])
        return nh.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)

    freq = 1.0 / (10000 ** (np.arange(0, DH, 2) / DH))
    angles = np.arange(POSITIONS)[:, None] * freq[None]
    inits = [
        weight("wq", D, HQ * DH), weight("wk", D, HKV * DH), weight("wv", D, HKV * DH),
        weight("wo", HQ * DH, D), weight("w1", D, FF), weight("w2", FF, D),
        nh.from_array((1 + 0.1 * rng.standard_normal(D)).astype(np.float32), "g1"),
        nh.from_array((1 + 0.1 * rng.standard_normal(D)).astype(np.float32), "g2"),
        nh.from_array(np.cos(angles).astype(np.float32), "cos"),
        nh.from_array(np.sin(angles).astype(np.float32), "sin"),
        nh.from_array(np.arange(PAST, PAST + S, dtype=np.int64)[None], "pos"),
        nh.from_array(np.array([1, S, HQ, DH], np.int64), "q_shape"),
        nh.from_array(np.array([1, S, HKV, DH], np.int64), "kv_shape"),
        nh.from_array(np.array([1, S, HQ * DH], np.int64), "y_shape"),
    ]
    nodes = [
        oh.make_node("RMSNormalization", ["x", "g1"], ["n1"], axis=-1, epsilon=1e-5),
        oh.make_node("MatMul", ["n1", "wq"], ["q0"]),
        oh.make_node("MatMul", ["n1", "wk"], ["k0"]),
        oh.make_node("MatMul", ["n1", "wv"], ["v0"]),
        oh.make_node("Reshape", ["q0", "q_shape"], ["q1"]),
        oh.make_node("Reshape", ["k0", "kv_shape"], ["k1"]),
        oh.make_node("Reshape", ["v0", "kv_shape"], ["v1"]),
        oh.make_node("Transpose", ["q1"], ["q2"], perm=[0, 2, 1, 3]),
        oh.make_node("Transpose", ["k1"], ["k2"], perm=[0, 2, 1, 3]),
        oh.make_node("Transpose", ["v1"], ["v"], perm=[0, 2, 1, 3]),
        oh.make_node("RotaryEmbedding", ["q2", "cos", "sin", "pos"], ["q"]),
        oh.make_node("RotaryEmbedding", ["k2", "cos", "sin", "pos"], ["k"]),
        oh.make_node("Attention", ["q", "k", "v", "", "past_key", "past_value"],
                     ["a", "present_key", "present_value"], is_causal=1),
        oh.make_node("Transpose", ["a"], ["a1"], perm=[0, 2, 1, 3]),
        oh.make_node("Reshape", ["a1", "y_shape"], ["a2"]),
        oh.make_node("MatMul", ["a2", "wo"], ["o"]),
        oh.make_node("Add", ["x", "o"], ["h"]),
        oh.make_node("RMSNormalization", ["h", "g2"], ["n2"], axis=-1, epsilon=1e-5),
        oh.make_node("MatMul", ["n2", "w1"], ["f0"]),
        oh.make_node("Sigmoid", ["f0"], ["f1"]),
        oh.make_node("Mul", ["f0", "f1"], ["f2"]),
        oh.make_node("MatMul", ["f2", "w2"], ["f3"]),
        oh.make_node("Add", ["h", "f3"], ["y"]),
    ]
    f32 = onnx.TensorProto.FLOAT
    graph = oh.make_graph(
        nodes, "transformer23",
        [oh.make_tensor_value_info("x", f32, [1, S, D]),
         oh.make_tensor_value_info("past_key", f32, [1, HKV, PAST, DH]),
         oh.make_tensor_value_info("past_value", f32, [1, HKV, PAST, DH])],
        [oh.make_tensor_value_info("y", f32, [1, S, D]),
         oh.make_tensor_value_info("present_key", f32, [1, HKV, PAST + S, DH]),
         oh.make_tensor_value_info("present_value", f32, [1, HKV, PAST + S, DH])],
        inits)
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 23)])
    model.ir_version = 10
    onnx.checker.check_model(model, full_check=True)
    return model


def main(out):
    rng = np.random.default_rng(23)
    model = build(rng)
    feeds = {"x": rng.standard_normal((1, S, D)).astype(np.float32),
             "past_key": rng.standard_normal((1, HKV, PAST, DH)).astype(np.float32),
             "past_value": rng.standard_normal((1, HKV, PAST, DH)).astype(np.float32)}
    outputs = run_ort(model, feeds)
    write_case(os.path.join(out, "transformer23"), model.SerializeToString(), list(feeds.items()),
               list(zip(["y", "present_key", "present_value"], outputs)))


if __name__ == "__main__":
    main(sys.argv[1])
