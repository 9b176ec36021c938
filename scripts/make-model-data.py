#!/usr/bin/env python3
"""Write the whole-model test data: the nine "light" models of the onnx wheel and random-weight copies.

Usage: python3 make-model-data.py OUT_DIR [MODEL...]   (needs onnx==1.23.2, numpy, onnxruntime)

OUT_DIR/light/<name>/          the shipped model, its shipped output, and the input it was made
                               with: arange(n).reshape(shape) / n as float32.
OUT_DIR/light-random/<name>/   the same model with every weight replaced by seeded random
                               initializers (alexnet, vgg19 and zfnet512 with a smaller input:
                               see SHRINK), a random N(0, 1) input, and onnxruntime's outputs:
                               output_0 is the model's own output; when that is a Softmax, its
                               input (the logits) is added as a second graph output, output_1.
OUT_DIR/cli/                   small models for the CLI's error tests.

Each test folder holds model.onnx and test_data_set_0/{input_0.pb,input_0.npy,output_0.pb}.

The light models build every weight with ConstantOfShape from an initializer holding the shape,
so all weights are one constant (0.02), every channel of a layer is the same, and the shipped
outputs are uniform: eight of the nine are a softmax of 1000 equal logits, 1000 copies of 0.001
whatever the logits' value; densenet121's is 1000 copies of 0.460955. The random
copies exercise the arithmetic: weights are He-scaled (std sqrt(2 / fan_in)) so activations stay
O(1) through ReLU layers, and each BatchNormalization's mean and variance are set to the batch
statistics onnxruntime measures at its input (like a trained network), so no layer blows up.
The layer before the final Softmax is scaled so the logits have std 2: neither saturated nor
uniform. The script fails if any reference output is near-uniform (check_spread). Everything is
seeded; the output files are the same on every run.
"""
import os
import sys

import numpy as np
import onnx
import onnx.helper as oh
import onnx.numpy_helper as nh

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testdata_io import calibrate, probe, run_ort, write_case  # noqa: E402

LIGHT = ["bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50",
         "shufflenet", "squeezenet", "vgg19", "zfnet512"]
# Random-weight copies (the index in this list seeds each one: append, never reorder).
RANDOM = ["densenet121", "inception_v1", "inception_v2", "resnet50", "shufflenet", "squeezenet",
          "bvlc_alexnet", "vgg19", "zfnet512"]
# Input side of the random copies made smaller than the shipped 224: at 224 the first Gemm of these
# three holds 38M (alexnet), 75M (zfnet512) and 103M (vgg19) weights, and vgg19's convolutions
# cost 20 GMAC, too much for CPU test drivers. Each side leaves a 2 x 2 map before the flattening
# Reshape (so the flatten order is tested); alexnet's last MaxPool (end pad 1) still reads its pad,
# as at 224 (its input is 4 x 4, even). The Reshape target and the first Gemm's weight follow the
# smaller feature map; every other layer keeps its shape (model.onnx: 105, 189 and 78 MB).
SHRINK = {"bvlc_alexnet": 83, "vgg19": 64, "zfnet512": 91}
SEED = 20240601


def light_dir():
    return os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")


def real_inputs(graph):
    inits = {i.name for i in graph.initializer}
    return [i for i in graph.input if i.name not in inits]


def input_shape(value_info):
    return [d.dim_value if d.dim_value > 0 else 1 for d in value_info.type.tensor_type.shape.dim]


def shipped(out, name):
    src = os.path.join(light_dir(), f"light_{name}.onnx")
    model = onnx.load(src)
    (inp,) = real_inputs(model.graph)
    shape = input_shape(inp)
    n = int(np.prod(shape))
    x = (np.arange(n, dtype=np.float32).reshape(shape) / np.float32(n)).astype(np.float32)
    expected = nh.to_array(onnx.load_tensor(os.path.join(light_dir(), f"light_{name}_output_0.pb")))
    with open(src, "rb") as f:
        model_bytes = f.read()
    write_case(os.path.join(out, "light", name), model_bytes, [(inp.name, x)],
               [(model.graph.output[0].name, expected)])


# ---------------------------------------------------------------------------------------------
# Random weights


def consumers(graph):
    uses = {}
    for node in graph.node:
        for i, name in enumerate(node.input):
            uses.setdefault(name, []).append((node, i))
    return uses


def role(name, uses):
    """(op, operand index, node) of the first real consumer, looking through reshaping ops."""
    for node, i in uses.get(name, []):
        if node.op_type in ("Unsqueeze", "Reshape", "Identity", "Flatten") and i == 0:
            found = role(node.output[0], uses)
            if found:
                return found
        else:
            return node.op_type, i, node
    return None


def attr(node, key, default):
    for a in node.attribute:
        if a.name == key:
            return oh.get_attribute_value(a)
    return default


def random_weight(rng, shape, found):
    op, i, node = found if found else ("", -1, None)
    shape = tuple(int(d) for d in shape)
    normal = lambda std: (rng.standard_normal(shape) * std).astype(np.float32)  # noqa: E731
    if op in ("Conv", "ConvTranspose") and i == 1:
        fan_in = int(np.prod(shape[1:]))
        return normal(np.sqrt(2.0 / fan_in))
    if op in ("Gemm", "MatMul") and i == 1:
        fan_in = shape[1] if (op == "Gemm" and attr(node, "transB", 0)) else shape[0]
        return normal(np.sqrt(2.0 / fan_in))
    if op == "BatchNormalization" and i in (1, 4):  # scale; variance (recalibrated later)
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    if op == "Mul":
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    return normal(0.1)  # biases, BatchNorm shift and mean, Add operands


def randomize(model, rng):
    """A copy of `model` whose weights are all seeded random initializers."""
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    uses = consumers(graph)
    new_inits, nodes = [], []
    for node in graph.node:
        if node.op_type == "ConstantOfShape" and node.input[0] in inits:
            shape = nh.to_array(inits[node.input[0]])
            out = node.output[0]
            new_inits.append(nh.from_array(random_weight(rng, shape, role(out, uses)), out))
        else:
            nodes.append(node)
    used = {name for node in nodes for name in node.input}
    for init in graph.initializer:
        if init.name not in used:
            continue  # the shapes ConstantOfShape read
        array = nh.to_array(init)
        if array.dtype == np.float32:
            array = random_weight(rng, array.shape, role(init.name, uses))
        new_inits.append(nh.from_array(array, init.name))
    init_names = {i.name for i in new_inits}
    inputs = [i for i in graph.input if i.name not in init_names and i.name in used]
    new_graph = oh.make_graph(nodes, graph.name, inputs, list(graph.output), new_inits)
    out = oh.make_model(new_graph, opset_imports=list(model.opset_import),
                        producer_name="kiln make-model-data.py")
    out.ir_version = max(model.ir_version, 4)  # initializers need not be graph inputs
    return out


def temper_softmax(model, feeds, target=2.0):
    """Scales the layer feeding each Softmax so its logits have std `target`: a saturated
    (one-hot) or near-uniform softmax would hide most arithmetic errors from the comparison."""
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    for sm in [n for n in graph.node if n.op_type == "Softmax"]:
        layer = producer.get(sm.input[0])
        while layer is not None and layer.op_type in ("Reshape", "Flatten", "Identity"):
            layer = producer.get(layer.input[0])
        if layer is None or layer.op_type not in ("Gemm", "Conv", "MatMul"):
            continue
        (logits,) = run_ort(probe(model, sm.input[0]), feeds)
        factor = target / max(float(logits.std()), 1e-6)
        for name in layer.input[1:]:
            while name not in inits and name in producer and producer[name].op_type == "Reshape":
                name = producer[name].input[0]
            if name in inits:
                scaled = nh.to_array(inits[name]) * np.float32(factor)
                inits[name].CopyFrom(nh.from_array(scaled.astype(np.float32), name))


def expose_logits(model):
    """Adds the input of each Softmax that produces a graph output (the logits) as an extra
    graph output after the model's own, so a runtime's logits can be compared directly: the
    softmax of 1000 classes squashes most logit errors below what a comparison can see."""
    graph = model.graph
    outputs = {o.name for o in graph.output}
    for sm in [n for n in graph.node if n.op_type == "Softmax" and n.output[0] in outputs]:
        if sm.input[0] not in outputs:
            graph.output.append(oh.make_tensor_value_info(sm.input[0], onnx.TensorProto.FLOAT, None))
            outputs.add(sm.input[0])


def shrink(model, side):
    """`model` with a side x side input: the flattening Reshape's target and the weight shape of
    the Gemm after it (both initializers: the target, and the shape ConstantOfShape reads) set to
    the smaller feature map, found by onnx's shape inference."""
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    (inp,) = real_inputs(graph)
    for axis in (2, 3):
        inp.type.tensor_type.shape.dim[axis].dim_value = side
    (reshape,) = [n for n in graph.node if n.op_type == "Reshape"]
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in onnx.shape_inference.infer_shapes(model).graph.value_info}
    features = int(np.prod(shapes[reshape.input[0]][1:]))
    (gemm,) = [n for n in graph.node if n.op_type == "Gemm" and n.input[0] == reshape.output[0]]
    assert attr(gemm, "transB", 0) == 1, "the first Gemm's weight is [out, in]"
    (weight,) = [n for n in graph.node if n.op_type == "ConstantOfShape" and n.output[0] == gemm.input[1]]
    for init, new in ((inits[reshape.input[1]], [1, features]),
                      (inits[weight.input[0]], [int(nh.to_array(inits[weight.input[0]])[0]), features])):
        init.CopyFrom(nh.from_array(np.array(new, dtype=np.int64), init.name))
    return model


def check_spread(name, outputs):
    """Fails unless every reference output varies: a near-uniform output (like the shipped
    light outputs, 1000 copies of one value) would let arithmetic errors pass unseen."""
    for i, y in enumerate(outputs):
        y = y.astype(np.float64)
        std, distinct = float(y.std()), len(np.unique(y))
        if not (std > 0.5 * abs(float(y.mean())) and distinct > y.size // 2):
            raise SystemExit(f"light-random/{name} output {i}: near-uniform (mean {y.mean():.3g}, "
                             f"std {std:.3g}, {distinct} distinct of {y.size})")


def random_copy(out, name):
    rng = np.random.default_rng([SEED, RANDOM.index(name)])
    model = onnx.load(os.path.join(light_dir(), f"light_{name}.onnx"))
    if name in SHRINK:
        model = shrink(model, SHRINK[name])
    model = randomize(model, rng)
    (inp,) = real_inputs(model.graph)
    x = rng.standard_normal(input_shape(inp)).astype(np.float32)
    feeds = {inp.name: x}
    calibrate(model, feeds)
    temper_softmax(model, feeds)
    expose_logits(model)
    outputs = run_ort(model, feeds)
    check_spread(name, outputs)
    print(f"light-random/{name}: output std {outputs[0].std():.3g}, max {outputs[0].max():.3g}, "
          f"logits std {outputs[-1].std():.3g}")
    names = [o.name for o in model.graph.output]
    write_case(os.path.join(out, "light-random", name), model.SerializeToString(),
               [(inp.name, x)], list(zip(names, outputs)))


# ---------------------------------------------------------------------------------------------
# CLI error cases


def cli_models(out):
    folder = os.path.join(out, "cli")
    os.makedirs(folder, exist_ok=True)
    x = oh.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 3])
    y = oh.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2, 3])
    node = oh.make_node("NotARealOp", ["x"], ["y"], name="mystery")
    graph = oh.make_graph([node], "unsupported", [x], [y])
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)])
    model.ir_version = 8
    with open(os.path.join(folder, "unsupported_op.onnx"), "wb") as f:
        f.write(model.SerializeToString())


def main():
    out = sys.argv[1]
    only = sys.argv[2:]
    for name in LIGHT:
        if not only or name in only:
            shipped(out, name)
    for name in RANDOM:
        if not only or name in only:
            random_copy(out, name)
    cli_models(out)


if __name__ == "__main__":
    main()
