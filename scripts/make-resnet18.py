#!/usr/bin/env python3
"""Write a ResNet-18-shaped ONNX model with seeded random weights (for channel pruning).

Usage: $KILN_VENV/bin/python scripts/make-resnet18.py OUT.onnx   (needs onnx, numpy)

Input `image` 1x3x224x224 -> conv1 7x7/2 (64) -> BN -> ReLU -> maxpool 3x3/2 -> four
stages of two BasicBlocks (64, 128, 256, 512 channels; the first block of stages 2-4
strides by 2 and its shortcut is a 1x1/2 conv + BN) -> GlobalAveragePool -> Flatten ->
Gemm 512 -> 1000 (`logits`). Convs have no bias, as torchvision's; every BatchNorm has
random gamma, beta, mean and var (not the identity), so folding and ranking see real
scales. Weights are He-initialised from a fixed seed: the file is the same every run.
Opset 17, about 47 MB.
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(20261206)
inits = []
nodes = []


def const(name, array):
    inits.append(numpy_helper.from_array(array.astype(np.float32), name))
    return name


def conv_bn(x, name, cin, cout, k, stride, relu):
    """conv (no bias) -> BatchNorm -> optional ReLU; returns the output name."""
    fan_in = cin * k * k
    w = rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / fan_in)
    nodes.append(
        helper.make_node(
            "Conv",
            [x, const(f"{name}.weight", w)],
            [f"{name}.out"],
            name=name,
            kernel_shape=[k, k],
            strides=[stride, stride],
            pads=[k // 2] * 4,
        )
    )
    bn = f"{name}.bn"
    nodes.append(
        helper.make_node(
            "BatchNormalization",
            [
                f"{name}.out",
                const(f"{bn}.gamma", rng.uniform(0.2, 1.5, cout)),
                const(f"{bn}.beta", rng.standard_normal(cout) * 0.1),
                const(f"{bn}.mean", rng.standard_normal(cout) * 0.1),
                const(f"{bn}.var", rng.uniform(0.5, 2.0, cout)),
            ],
            [f"{bn}.out"],
            name=bn,
            epsilon=1e-5,
        )
    )
    if not relu:
        return f"{bn}.out"
    nodes.append(helper.make_node("Relu", [f"{bn}.out"], [f"{name}.relu"], name=f"{name}.relu"))
    return f"{name}.relu"


def basic_block(x, name, cin, cout, stride):
    h = conv_bn(x, f"{name}.conv1", cin, cout, 3, stride, relu=True)
    h = conv_bn(h, f"{name}.conv2", cout, cout, 3, 1, relu=False)
    shortcut = x
    if stride != 1 or cin != cout:
        shortcut = conv_bn(x, f"{name}.downsample", cin, cout, 1, stride, relu=False)
    nodes.append(helper.make_node("Add", [h, shortcut], [f"{name}.add"], name=f"{name}.add"))
    nodes.append(helper.make_node("Relu", [f"{name}.add"], [f"{name}.out"], name=f"{name}.relu"))
    return f"{name}.out"


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make-resnet18.py OUT.onnx")
    x = conv_bn("image", "conv1", 3, 64, 7, 2, relu=True)
    nodes.append(
        helper.make_node(
            "MaxPool", [x], ["maxpool"], name="maxpool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]
        )
    )
    x, cin = "maxpool", 64
    for stage, cout in enumerate([64, 128, 256, 512], start=1):
        for block in range(2):
            stride = 2 if stage > 1 and block == 0 else 1
            x = basic_block(x, f"layer{stage}.{block}", cin, cout, stride)
            cin = cout
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pool"], name="avgpool"))
    nodes.append(helper.make_node("Flatten", ["pool"], ["flat"], name="flatten", axis=1))
    fc_w = rng.standard_normal((1000, 512)) * np.sqrt(1.0 / 512)
    nodes.append(
        helper.make_node(
            "Gemm",
            ["flat", const("fc.weight", fc_w), const("fc.bias", rng.standard_normal(1000) * 0.01)],
            ["logits"],
            name="fc",
            transB=1,
        )
    )
    graph = helper.make_graph(
        nodes,
        "resnet18",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1000])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="kiln")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, sys.argv[1])


if __name__ == "__main__":
    main()
