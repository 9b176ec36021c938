#!/usr/bin/env python3
"""Write the quantized-model test data: three small float models, each quantized by onnxruntime's
quantizers, and a MatMulNBits model.

Usage: python3 make-quant-data.py OUT_DIR [CASE...]   (needs onnx==1.23.2, numpy, onnxruntime)

OUT_DIR/quant/<model>-f32/   the float model (opset 17, built here with onnx.helper, seeded
                             random weights), the f32 original of the quantized copies below
OUT_DIR/quant/<model>-qdq/   quantize_static, QuantFormat.QDQ, per-channel QInt8 weights, QUInt8
                             activations: QuantizeLinear/DequantizeLinear pairs around float ops
OUT_DIR/quant/<model>-qop/   quantize_static, QuantFormat.QOperator, same types, per-tensor
                             weights: QLinearConv, QLinearMatMul and the com.microsoft ops
                             QLinearAdd, QLinearMul, QLinearConcat, QLinearGlobalAveragePool,
                             QLinearAveragePool, QLinearSigmoid, QLinearLeakyRelu, QGemm (and,
                             in bert, QLinearSoftmax: onnxruntime quantizes Softmax by default)
OUT_DIR/quant/<model>-dyn/   quantize_dynamic, QInt8 weights: DynamicQuantizeLinear feeding
                             MatMulInteger (bert; the classifiers of cnn and ocr) or ConvInteger
                             (cnn, ocr), then Cast and Mul by the scales
OUT_DIR/quant/matmulnbits/   one com.microsoft MatMulNBits node (4-bit, block 32, with zero points)

The models (OUT_DIR/quant is 12 MB):
  cnn   MobileNet-v2-like (5.0 MB as f32, 19 MFLOP), input 1x3x64x64: Conv+BatchNormalization+
        Clip(0, 6) stem, eight inverted residual blocks (1x1 expand, 3x3 depthwise with
        group = C, 1x1 project, Add when the shape allows), a 1x1 Conv to 1024 channels,
        GlobalAveragePool, Flatten, Gemm to 1000 logits. Like MobileNet-v2 (1280 features, 1000
        classes) the classifier holds most of the weights (1.0M of 1.25M): the bundle-size test
        compares bundles that are mostly weights. BatchNormalization statistics are those of its
        actual input (testdata_io.calibrate), so activations are O(1); quant_pre_process folds
        them into the convolutions.
  ocr   a CRNN without the RNN (0.4 MB, 38 MFLOP), input 1x1x32x128: Conv+Relu+MaxPool twice,
        two branches (Conv+LeakyRelu, Conv+Relu) joined by Concat, a Sigmoid gate (Conv+Sigmoid)
        applied by Mul, AveragePool over the height, a Conv+Relu, AveragePool to height 1,
        Reshape and Transpose to a [32, 128] sequence, a Gemm+Relu and a MatMul+Add to [32, 40]
        per-time-step class logits (quant_pre_process fuses the MatMul+Add into a Gemm).
  bert  a two-layer BERT-style encoder (0.7 MB, 3 MFLOP), int64 input_ids [1, 16]: Gather on
        a [1000, 64] token table, Add of a [1, 16, 64] position table, LayerNormalization; per
        layer: Q/K/V MatMul+Add, Reshape/Transpose to 4 heads of 16, MatMul, Div by 4, Softmax,
        MatMul, Transpose/Reshape back, output MatMul+Add, residual Add, LayerNormalization, FFN
        MatMul+Add to 256, Gelu in its erf form (Div, Erf, Add, Mul, Mul: opset 17 has no Gelu),
        MatMul+Add back to 64, residual Add, LayerNormalization. Output: the last hidden state.
Weights are N(0, 2 / fan_in) (He), each output channel then scaled by U(0.5, 2) so per-channel
quantization has different ranges to find; biases N(0, 0.1^2). In cnn and ocr, each Conv, Gemm
and MatMul is then rescaled in graph order so its output has std 1 on the calibration input
(a data-dependent initialisation), the last one to std 2 (logits neither saturated nor flat);
bert's LayerNormalizations keep its activations O(1); its Q/K/V weights are N(0, 1 / 64) without
the per-channel spread, so its attention scores have std ~1; its embeddings are N(0, 1) (tokens)
and N(0, 0.25) (positions).

Each float model goes through onnxruntime.quantization.shape_inference.quant_pre_process first:
ONNX shape inference and onnxruntime's basic graph optimisations (BatchNormalization folded into
Conv; MatMul+Add into Gemm, with Reshapes to 2-D in bert). Its symbolic shape inference is
skipped (skip_symbolic_shape=True): it needs sympy, which the pinned venv does not hold, and
every shape here is static. With that it works on all three. Calibration (MinMax) reads 8 seeded
random inputs: N(0, 1) images, or token ids uniform in [0, 1000). The test input is drawn from
another seed, so a few of its activations may fall outside the calibrated ranges and saturate,
as in real use.

quantize_dynamic of cnn and ocr writes ConvInteger with int8 weights; onnxruntime 1.32 runs it,
so those cases are kept (ocr's first Gemm stays float: quantize_dynamic leaves Gemm alone, but
turns cnn's into MatMulInteger). A dynamic bert quantizes its twelve weight MatMuls; the two
activation-by-activation MatMuls of each attention stay float. Its embedding table becomes
uint8 (Gather, then DequantizeLinear), as in bert-qop; bert-qdq dequantizes it before the Gather.
QOperator weights are per-tensor (the quantizer's default; per-channel is the QDQ cases' part).

Each case folder holds model.onnx, test_data_set_0/{input_0.pb,input_0.npy,output_0.pb,
output_0.npy} (output_0: onnxruntime's output at its default ORT_ENABLE_ALL, the reference),
and ort_distance.txt: the relative L2 ||a - b|| / ||b|| (float64, all elements of output 0)
between onnxruntime at ORT_DISABLE_ALL (a) and ORT_ENABLE_ALL (b) on that input: how closely
onnxruntime matches itself. With its optimisations on, onnxruntime fuses DequantizeLinear ->
op -> QuantizeLinear into integer kernels (QLinearConv, QLinearSigmoid, QLinearSoftmax, ...), some
of which round differently from the float path: ocr-qdq shows 1.4e-2 and bert-qdq 3.8e-2. In ocr
the first differences are QLinearAveragePool's (3% of its outputs a step apart), in bert
QLinearSoftmax's (7%); later layers compound them, and the Erf of bert's Gelu, steep where its
input's step is coarse, turns one step into as many as 20. cnn-qdq shows none (its QLinearConv and
QLinearAdd round as the float path does, bar exact ties), nor do the QOperator and dynamic cases
(the same kernels run at both levels). Quantizing itself moves the output (relative L2 from the
f32 original's, on the same input) by 2e-2 (ocr) to 1e-1 (cnn).
The tests accept a relative L2 <= max(1e-2, 1.5 x that distance).

bert-qop keeps its Softmax float (op_types_to_quantize leaves it out): onnxruntime's
com.microsoft QLinearSoftmax is its own table-based kernel, and running it at both levels makes
the distance 0 although it rounds 7% of its outputs a step away from the float path (the cause of
bert-qdq's 3.8e-2); kiln lowers QLinearSoftmax through the float path, which the rule cannot
then tell from a bug. The QDQ case measures that difference instead.

Integer kernels: this machine's x86 CPU has AVX512-VNNI/AMX, so onnxruntime's u8s8 products are
exact int32 sums; on x86 CPUs without VNNI its AVX2 kernel (VPMADDUBSW) can saturate pairs of
products at int16, and data written there may carry that error.

matmulnbits: A f32 [1, 5, 96] times a 4-bit weight, K = 96, N = 40, block_size 32 (3 blocks per
row, an odd count, so each row's zero points end in a half-used byte). Layout, from onnxruntime's
ContribOperators.md: B uint8 [N, n_blocks, 16], two 4-bit codes a byte, the lower-k code in the
low nibble; scales f32 [N * n_blocks]; zero_points uint8 [N * ceil(n_blocks / 2)], each row's
block zero points packed two a byte, low nibble first. W[n, k] = (code - zero_point) * scale of
block k // 32; Y = A @ W^T. The script checks onnxruntime's output against that numpy
dequantization (relative error < 1e-5; failing otherwise).

The script fails if any reference output is near-uniform (check_spread). Everything is seeded;
the output files are the same on every run on the same machine.

OUT_DIR/quant/bad/  malformed quantized models for the CLI's error tests, with expected.json
                    naming the phrase each one-line error must contain.
"""
import collections
import json
import logging
import math
import os
import sys
import tempfile
import time

import numpy as np
import onnx
import onnx.helper as oh
import onnx.numpy_helper as nh
import onnxruntime as ort
from onnx import TensorProto
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                      quantize_dynamic, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testdata_io import calibrate, probe, run_ort, write_case  # noqa: E402

# Each model's index in this list seeds it: append, never reorder.
MODELS = ["cnn", "ocr", "bert"]
FORMATS = ["f32", "qdq", "qop", "dyn"]
SEED = 20250110
CALIBRATION_INPUTS = 8
OPSET = 17
ENABLE_ALL = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
DISABLE_ALL = ort.GraphOptimizationLevel.ORT_DISABLE_ALL


# ---------------------------------------------------------------------------------------------
# Building float models


class Builder:
    """A graph under construction: seeded weights, generated names, one output per node."""

    def __init__(self, rng):
        self.rng, self.nodes, self.inits, self.count = rng, [], [], collections.Counter()

    def name(self, prefix):
        self.count[prefix] += 1
        return f"{prefix}_{self.count[prefix]}"

    def const(self, array, prefix="c"):
        name = self.name(prefix)
        self.inits.append(nh.from_array(np.asarray(array), name))
        return name

    def op(self, op_type, inputs, **attrs):
        out = self.name(op_type.lower())
        self.nodes.append(oh.make_node(op_type, list(inputs), [out], name=out, **attrs))
        return out

    def weight(self, shape, fan_in, channel_axis=0):
        """He-scaled N(0, 2 / fan_in), each slice along `channel_axis` scaled by U(0.5, 2)."""
        w = self.rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)
        spread = np.ones(len(shape), dtype=int)
        spread[channel_axis] = shape[channel_axis]
        w *= self.rng.uniform(0.5, 2.0, shape[channel_axis]).reshape(spread)
        return self.const(w.astype(np.float32), "w")

    def bias(self, n):
        return self.const((self.rng.standard_normal(n) * 0.1).astype(np.float32), "b")

    def conv(self, x, cin, cout, k, stride=1, group=1, bias=True):
        w = self.weight((cout, cin // group, k, k), cin // group * k * k)
        inputs = [x, w] + ([self.bias(cout)] if bias else [])
        return self.op("Conv", inputs, kernel_shape=[k, k], strides=[stride, stride],
                       pads=[k // 2] * 4, group=group)

    def bn(self, x, c):
        scale = self.const(self.rng.uniform(0.5, 1.5, c).astype(np.float32), "bn_scale")
        shift = self.const((self.rng.standard_normal(c) * 0.1).astype(np.float32), "bn_shift")
        mean = self.const(np.zeros(c, np.float32), "bn_mean")  # set by calibrate()
        var = self.const(np.ones(c, np.float32), "bn_var")
        return self.op("BatchNormalization", [x, scale, shift, mean, var], epsilon=1e-3)

    def matmul(self, x, k, n, bias=True):
        y = self.op("MatMul", [x, self.weight((k, n), k, channel_axis=1)])
        return self.op("Add", [y, self.bias(n)]) if bias else y

    def model(self, name, inputs, outputs):
        graph = oh.make_graph(self.nodes, name, inputs, outputs, self.inits)
        model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", OPSET)],
                              producer_name="kiln make-quant-data.py")
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


def relu6(b, x):
    return b.op("Clip", [x, b.const(np.float32(0), "zero"), b.const(np.float32(6), "six")])


# The classifier holds most of the weights, as in MobileNet-v2 (1280 features, 1000 classes): a
# bundle is then mostly weights, which the bundle-size test is about (see the module doc).
CNN_FEATURES, CNN_CLASSES = 1024, 1000


def build_cnn(rng):
    b = Builder(rng)
    x = oh.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 64, 64])
    h = relu6(b, b.bn(b.conv("image", 3, 16, 3, stride=2, bias=False), 16))  # 32 x 32
    c = 16
    # (expansion, output channels, stride): inverted residual blocks
    for t, cout, s in [(1, 16, 1), (4, 24, 2), (4, 24, 1), (4, 32, 2), (4, 32, 1), (4, 64, 2),
                       (4, 64, 1), (4, 96, 1)]:
        y = h
        if t != 1:
            y = relu6(b, b.bn(b.conv(y, c, c * t, 1, bias=False), c * t))
        y = relu6(b, b.bn(b.conv(y, c * t, c * t, 3, stride=s, group=c * t, bias=False), c * t))
        y = b.bn(b.conv(y, c * t, cout, 1, bias=False), cout)
        h = b.op("Add", [h, y]) if (s == 1 and cout == c) else y
        c = cout
    h = relu6(b, b.bn(b.conv(h, c, CNN_FEATURES, 1, bias=False), CNN_FEATURES))  # 4 x 4
    h = b.op("Flatten", [b.op("GlobalAveragePool", [h])], axis=1)
    w = b.weight((CNN_CLASSES, CNN_FEATURES), CNN_FEATURES)
    y = b.op("Gemm", [h, w, b.bias(CNN_CLASSES)], transB=1)
    out = oh.make_tensor_value_info(y, TensorProto.FLOAT, [1, CNN_CLASSES])
    return b.model("cnn", [x], [out])


def build_ocr(rng):
    b = Builder(rng)
    x = oh.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, 32, 128])
    pool = dict(kernel_shape=[2, 2], strides=[2, 2])
    h = b.op("MaxPool", [b.op("Relu", [b.conv("image", 1, 16, 3)])], **pool)  # 16 x 64
    h = b.op("MaxPool", [b.op("Relu", [b.conv(h, 16, 32, 3)])], **pool)  # 8 x 32
    left = b.op("LeakyRelu", [b.conv(h, 32, 32, 3)], alpha=0.1)
    right = b.op("Relu", [b.conv(h, 32, 32, 1)])
    h = b.op("Concat", [left, right], axis=1)  # 64 channels
    gate = b.op("Sigmoid", [b.conv(h, 64, 64, 1)])
    h = b.op("Mul", [h, gate])
    h = b.op("AveragePool", [h], kernel_shape=[2, 1], strides=[2, 1])  # 4 x 32
    h = b.op("Relu", [b.conv(h, 64, 128, 3)])
    h = b.op("AveragePool", [h], kernel_shape=[4, 1], strides=[4, 1])  # 1 x 32
    h = b.op("Reshape", [h, b.const(np.array([128, 32], np.int64), "shape")])
    h = b.op("Transpose", [h], perm=[1, 0])  # [T = 32, 128]
    h = b.op("Relu", [b.op("Gemm", [h, b.weight((64, 128), 128), b.bias(64)], transB=1)])
    y = b.matmul(h, 64, 40)
    out = oh.make_tensor_value_info(y, TensorProto.FLOAT, [32, 40])
    return b.model("ocr", [x], [out])


VOCAB, SEQ, HIDDEN, HEADS, FFN, LAYERS = 1000, 16, 64, 4, 256, 2


def build_bert(rng):
    b = Builder(rng)
    ids = oh.make_tensor_value_info("input_ids", TensorProto.INT64, [1, SEQ])
    head = HIDDEN // HEADS

    def layer_norm(x):
        scale = b.const(rng.uniform(0.8, 1.2, HIDDEN).astype(np.float32), "ln_scale")
        shift = b.const((rng.standard_normal(HIDDEN) * 0.1).astype(np.float32), "ln_shift")
        return b.op("LayerNormalization", [x, scale, shift], axis=-1, epsilon=1e-5)

    def projection(x):  # weights N(0, 1 / HIDDEN): q . k / sqrt(head) has std ~1
        w = (rng.standard_normal((HIDDEN, HIDDEN)) / math.sqrt(HIDDEN)).astype(np.float32)
        y = b.op("MatMul", [x, b.const(w, "w")])
        return b.op("Add", [y, b.bias(HIDDEN)])

    table = b.const(rng.standard_normal((VOCAB, HIDDEN)).astype(np.float32), "token_embedding")
    positions = b.const(rng.standard_normal((1, SEQ, HIDDEN)).astype(np.float32) * 0.5,
                        "position_embedding")
    h = layer_norm(b.op("Add", [b.op("Gather", [table, "input_ids"], axis=0), positions]))
    heads_shape = b.const(np.array([1, SEQ, HEADS, head], np.int64), "heads_shape")
    hidden_shape = b.const(np.array([1, SEQ, HIDDEN], np.int64), "hidden_shape")
    sqrt_head = b.const(np.float32(math.sqrt(head)), "sqrt_head")
    for _ in range(LAYERS):
        q, k, v = (b.op("Reshape", [projection(h), heads_shape]) for _ in range(3))
        q = b.op("Transpose", [q], perm=[0, 2, 1, 3])  # [1, heads, seq, head]
        k = b.op("Transpose", [k], perm=[0, 2, 3, 1])  # [1, heads, head, seq]
        v = b.op("Transpose", [v], perm=[0, 2, 1, 3])
        scores = b.op("Div", [b.op("MatMul", [q, k]), sqrt_head])
        ctx = b.op("MatMul", [b.op("Softmax", [scores], axis=-1), v])
        ctx = b.op("Reshape", [b.op("Transpose", [ctx], perm=[0, 2, 1, 3]), hidden_shape])
        h = layer_norm(b.op("Add", [h, b.matmul(ctx, HIDDEN, HIDDEN)]))
        f = b.matmul(h, HIDDEN, FFN)
        erf = b.op("Erf", [b.op("Div", [f, b.const(np.float32(math.sqrt(2)), "sqrt2")])])
        gelu = b.op("Mul", [b.op("Mul", [f, b.op("Add", [erf, b.const(np.float32(1), "one")])]),
                            b.const(np.float32(0.5), "half")])
        h = layer_norm(b.op("Add", [h, b.matmul(gelu, FFN, HIDDEN)]))
    out = oh.make_tensor_value_info(h, TensorProto.FLOAT, [1, SEQ, HIDDEN])
    return b.model("bert", [ids], [out])


def rescale_layers(model, feeds, last_std=2.0):
    """Scales each Conv, Gemm and MatMul with an initializer weight, in graph order, so its
    output (before any bias Add) has std 1 on `feeds`, the last one std `last_std`."""
    inits = {i.name: i for i in model.graph.initializer}
    layers = [n for n in model.graph.node
              if n.op_type in ("Conv", "Gemm", "MatMul") and n.input[1] in inits]
    for i, layer in enumerate(layers):
        (y,) = run_ort(probe(model, layer.output[0]), feeds)
        factor = (last_std if i + 1 == len(layers) else 1.0) / max(float(y.std()), 1e-6)
        for name in layer.input[1:]:
            scaled = nh.to_array(inits[name]) * np.float32(factor)
            inits[name].CopyFrom(nh.from_array(scaled.astype(np.float32), name))


def random_input(rng, value_info):
    shape = [d.dim_value for d in value_info.type.tensor_type.shape.dim]
    if value_info.type.tensor_type.elem_type == TensorProto.INT64:
        return rng.integers(0, VOCAB, shape, dtype=np.int64)
    return rng.standard_normal(shape).astype(np.float32)


BUILD = {"cnn": build_cnn, "ocr": build_ocr, "bert": build_bert}


def float_model(name):
    """The float model, its calibration feeds and its test feeds."""
    rng = np.random.default_rng([SEED, MODELS.index(name)])
    model = BUILD[name](rng)
    (inp,) = model.graph.input
    calibration = [{inp.name: random_input(rng, inp)} for _ in range(CALIBRATION_INPUTS)]
    test = {inp.name: random_input(np.random.default_rng([SEED, MODELS.index(name), 1]), inp)}
    if name == "cnn":
        calibrate(model, calibration[0])
    if name in ("cnn", "ocr"):
        rescale_layers(model, calibration[0])
    return model, calibration, test


# ---------------------------------------------------------------------------------------------
# Quantizing


class Feeds(CalibrationDataReader):
    def __init__(self, feeds):
        self.feeds = iter(feeds)

    def get_next(self):
        return next(self.feeds, None)


def quantize(model, fmt, calibration, tmp):
    """`model` quantized in format `fmt` (see the module doc), as serialized bytes."""
    src, pre, dst = (os.path.join(tmp, f) for f in ("float.onnx", "pre.onnx", f"{fmt}.onnx"))
    onnx.save(model, src)
    quant_pre_process(src, pre, skip_symbolic_shape=True)
    logging.getLogger().setLevel(logging.ERROR)  # per-channel axis notes on LayerNorm scales
    if fmt == "dyn":
        quantize_dynamic(pre, dst, weight_type=QuantType.QInt8)
    else:
        quant_format = QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator
        # QOperator: Softmax stays float (no QLinearSoftmax; see the module doc).
        kinds = sorted({n.op_type for n in onnx.load(pre).graph.node} - {"Softmax"})
        quantize_static(pre, dst, Feeds(calibration), quant_format=quant_format,
                        per_channel=fmt == "qdq", activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8,
                        op_types_to_quantize=None if fmt == "qdq" else kinds)
    with open(dst, "rb") as f:
        return f.read()


def op_types(model_bytes):
    model = onnx.load_from_string(model_bytes)
    return collections.Counter((f"{n.domain}." if n.domain else "") + n.op_type
                               for n in model.graph.node)


def flops(model):
    """Multiply-adds x 2 of the Conv, Gemm and MatMul nodes (onnx shape inference)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(inferred.graph.value_info) + list(inferred.graph.output)
              + list(inferred.graph.input)}
    shapes.update({i.name: list(i.dims) for i in model.graph.initializer})
    total = 0
    for n in model.graph.node:
        if n.op_type == "Conv":
            total += 2 * math.prod(shapes[n.output[0]]) * math.prod(shapes[n.input[1]][1:])
        elif n.op_type in ("Gemm", "MatMul"):
            a = shapes[n.input[0]]
            total += 2 * math.prod(shapes[n.output[0]]) * a[-1]
    return total


def relative_l2(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), np.finfo(np.float64).tiny))


def check_spread(case, y):
    """Fails unless the reference output varies: a near-uniform output would let arithmetic
    errors pass unseen. A quantized model's output takes at most 256 values, hence the
    distinct-value floor of min(32, size / 4) rather than half the elements."""
    y = y.astype(np.float64)
    std, distinct = float(y.std()), len(np.unique(y))
    if not (std > 0.3 * float(np.abs(y).mean()) and distinct >= min(32, y.size // 4)):
        raise SystemExit(f"quant/{case}: near-uniform output (mean {y.mean():.3g}, "
                         f"std {std:.3g}, {distinct} distinct of {y.size})")


def write_quant_case(out, case, model_bytes, feeds):
    """Runs `model_bytes` at both optimisation levels and writes the case folder."""
    (optimized,) = run_ort(model_bytes, feeds, level=ENABLE_ALL)[:1]
    (plain,) = run_ort(model_bytes, feeds, level=DISABLE_ALL)[:1]
    check_spread(case, optimized)
    distance = relative_l2(plain, optimized)
    model = onnx.load_from_string(model_bytes)
    folder = os.path.join(out, "quant", case)
    write_case(folder, model_bytes, list(feeds.items()),
               [(model.graph.output[0].name, optimized)])
    with open(os.path.join(folder, "ort_distance.txt"), "w") as f:
        f.write(f"{distance:.6e}\n")
    ops = ", ".join(f"{k} {v}" for k, v in sorted(op_types(model_bytes).items()))
    print(f"quant/{case}: {len(model_bytes) / 1e3:.0f} kB, ort distance {distance:.2e}, "
          f"output std {optimized.std():.3g}; {ops}")


def quant_cases(out, name, only):
    model, calibration, test = float_model(name)
    print(f"quant/{name}: {flops(model) / 1e6:.1f} MFLOP")
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in FORMATS:
            case = f"{name}-{fmt}"
            if only and case not in only and name not in only:
                continue
            model_bytes = (model.SerializeToString() if fmt == "f32"
                           else quantize(model, fmt, calibration, tmp))
            write_quant_case(out, case, model_bytes, test)


# ---------------------------------------------------------------------------------------------
# MatMulNBits

NBITS_M, NBITS_K, NBITS_N, NBITS_BLOCK = 5, 96, 40, 32


def pack_nibbles(codes):
    """uint8 codes < 16 along the last axis (even length) packed two a byte, low nibble first."""
    return (codes[..., 0::2] | (codes[..., 1::2] << 4)).astype(np.uint8)


def matmulnbits(out):
    rng = np.random.default_rng([SEED, 100])
    k, n, block = NBITS_K, NBITS_N, NBITS_BLOCK
    n_blocks = -(-k // block)
    w = rng.standard_normal((n, n_blocks, block)) * math.sqrt(2.0 / k)
    lo, hi = np.minimum(w.min(axis=2), 0), np.maximum(w.max(axis=2), 0)
    scales = ((hi - lo) / 15).astype(np.float32)  # [n, n_blocks]
    zero_points = np.clip(np.round(-lo / scales), 0, 15).astype(np.uint8)
    codes = np.clip(np.round(w / scales[..., None]) + zero_points[..., None], 0, 15)
    codes = codes.astype(np.uint8)
    b_packed = pack_nibbles(codes)  # [n, n_blocks, block / 2]
    zp_rows = np.zeros((n, 2 * -(-n_blocks // 2)), np.uint8)  # each row padded to whole bytes
    zp_rows[:, :n_blocks] = zero_points
    zp_packed = pack_nibbles(zp_rows).reshape(-1)  # [n * ceil(n_blocks / 2)]

    a = rng.standard_normal((1, NBITS_M, k)).astype(np.float32)
    node = oh.make_node("MatMulNBits", ["A", "B", "scales", "zero_points"], ["Y"],
                        domain="com.microsoft", K=k, N=n, bits=4, block_size=block)
    graph = oh.make_graph(
        [node], "matmulnbits",
        [oh.make_tensor_value_info("A", TensorProto.FLOAT, [1, NBITS_M, k])],
        [oh.make_tensor_value_info("Y", TensorProto.FLOAT, [1, NBITS_M, n])],
        [nh.from_array(b_packed, "B"), nh.from_array(scales.reshape(-1), "scales"),
         nh.from_array(zp_packed, "zero_points")])
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", OPSET),
                                                oh.make_opsetid("com.microsoft", 1)],
                          producer_name="kiln make-quant-data.py")
    model.ir_version = 8
    model_bytes = model.SerializeToString()

    dequantized = ((codes.astype(np.float64) - zero_points[..., None]) * scales[..., None])
    want = a.astype(np.float64) @ dequantized.reshape(n, k).T
    (got,) = run_ort(model_bytes, {"A": a}, level=ENABLE_ALL)
    err = relative_l2(got, want)
    if not err < 1e-5:
        raise SystemExit(f"quant/matmulnbits: onnxruntime differs from the numpy "
                         f"dequantization by {err:.2e} (the packing is wrong)")
    write_quant_case(out, "matmulnbits", model_bytes, {"A": a})
    print(f"quant/matmulnbits: onnxruntime vs numpy dequantization {err:.2e}")


def bad_models(out):
    """OUT_DIR/quant/bad/: malformed quantized models for the CLI's error tests, and
    expected.json mapping each file to a phrase its one-line error must contain."""
    folder = os.path.join(out, "quant", "bad")
    os.makedirs(folder, exist_ok=True)
    T = onnx.TensorProto
    x = oh.make_tensor_value_info("x", T.FLOAT, [2, 5])
    y8 = oh.make_tensor_value_info("y", T.UINT8, [2, 5])
    yf = oh.make_tensor_value_info("y", T.FLOAT, [2, 5])
    a = oh.make_tensor_value_info("a", T.FLOAT, [1, 64])
    yn = oh.make_tensor_value_info("y", T.FLOAT, [1, 8])
    ones = lambda shape: nh.from_array(np.ones(shape, np.float32), "s")
    cases = {
        "scale_wrong_length": ([oh.make_node("QuantizeLinear", ["x", "s"], ["y"], axis=1)],
                               [x], [y8], [ones([3])], "per-axis scale"),
        "negative_block": ([oh.make_node("QuantizeLinear", ["x", "s"], ["y"], axis=1, block_size=-2)],
                           [x], [y8], [ones([2, 3])], "block_size"),
        "zero_point_dtype": ([oh.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], output_dtype=T.INT8)],
                             [x], [y8], [ones([1]), nh.from_array(np.zeros(1, np.uint8), "z")],
                             "output_dtype"),
        "dequantize_float": ([oh.make_node("DequantizeLinear", ["x", "s"], ["y"])],
                             [x], [yf], [ones([1])], "cannot dequantize"),
        "nbits_wrong_size": ([oh.make_node("MatMulNBits", ["a", "B", "s"], ["y"], domain="com.microsoft",
                                           K=64, N=8, bits=4, block_size=32)],
                             [a], [yn], [nh.from_array(np.zeros((8, 2, 7), np.uint8), "B"), ones([16])],
                             "B holds"),
        "nbits_3_bits": ([oh.make_node("MatMulNBits", ["a", "B", "s"], ["y"], domain="com.microsoft",
                                       K=64, N=8, bits=3, block_size=32)],
                         [a], [yn], [nh.from_array(np.zeros((8, 2, 12), np.uint8), "B"), ones([16])],
                         "3-bit"),
        "unknown_microsoft_op": ([oh.make_node("FusedConv", ["x"], ["y"], domain="com.microsoft")],
                                 [x], [yf], [], "com.microsoft.FusedConv"),
        "matmul_integer_float": ([oh.make_node("MatMulInteger", ["x", "x"], ["y"])],
                                 [x], [oh.make_tensor_value_info("y", T.INT32, [2, 2])], [], "i8 or u8"),
    }
    expected = {}
    for name, (nodes, inputs, outputs, inits, phrase) in cases.items():
        graph = oh.make_graph(nodes, name, inputs, outputs, inits)
        model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 21),
                                                    oh.make_opsetid("com.microsoft", 1)])
        model.ir_version = 10
        with open(os.path.join(folder, f"{name}.onnx"), "wb") as f:
            f.write(model.SerializeToString())
        expected[f"{name}.onnx"] = phrase
    with open(os.path.join(folder, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)


def main():
    out, only = sys.argv[1], sys.argv[2:]
    start = time.time()
    for name in MODELS:
        if not only or any(c == name or c.startswith(f"{name}-") for c in only):
            quant_cases(out, name, only)
    if not only or "matmulnbits" in only:
        matmulnbits(out)
    if not only or "bad" in only:
        bad_models(out)
    print(f"quant: {time.time() - start:.1f} s")


if __name__ == "__main__":
    main()
