"""Helpers the test-data scripts share (make-model-data.py, make-quant-data.py).

write_case   writes one test folder: model.onnx and test_data_set_0/{input,output}_<i>.{pb,npy}
run_ort      runs a model on onnxruntime's CPU provider (graph optimisations off by default)
probe        a model computing one intermediate tensor of another
calibrate    sets each BatchNormalization's statistics to those of its actual input

Needs onnx, numpy and onnxruntime (the pins of setup-test-data.sh).
"""
import os

import numpy as np
import onnx.helper as oh
import onnx.numpy_helper as nh
import onnxruntime as ort


def write_case(folder, model_bytes, inputs, outputs):
    """inputs/outputs: lists of (name, array)."""
    data = os.path.join(folder, "test_data_set_0")
    os.makedirs(data, exist_ok=True)
    with open(os.path.join(folder, "model.onnx"), "wb") as f:
        f.write(model_bytes)
    for kind, tensors in (("input", inputs), ("output", outputs)):
        for i, (name, array) in enumerate(tensors):
            with open(os.path.join(data, f"{kind}_{i}.pb"), "wb") as f:
                f.write(nh.from_array(array, name).SerializeToString())
            np.save(os.path.join(data, f"{kind}_{i}.npy"), array)


def run_ort(model, feeds, outputs=None, level=ort.GraphOptimizationLevel.ORT_DISABLE_ALL):
    """`model` (a ModelProto or serialized bytes) run on onnxruntime's CPU provider with two
    threads at graph optimisation `level`: the outputs named in `outputs` (None: all)."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = level
    opts.intra_op_num_threads = 2
    opts.log_severity_level = 3
    if not isinstance(model, bytes):
        model = model.SerializeToString()
    sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    return sess.run(outputs, feeds)


def probe(model, name):
    """A model computing only `name`: the nodes it needs, all initializers, and the inputs."""
    producer = {out: node for node in model.graph.node for out in node.output}
    needed, stack = set(), [name]
    while stack:
        node = producer.get(stack.pop())
        if node is not None and id(node) not in needed:
            needed.add(id(node))
            stack.extend(node.input)
    graph = model.graph
    nodes = [n for n in graph.node if id(n) in needed]
    used = {i for n in nodes for i in n.input}
    inits = [i for i in graph.initializer if i.name in used]
    inputs = [i for i in graph.input if i.name in used]
    out = oh.make_graph(nodes, "probe", inputs, [oh.make_empty_tensor_value_info(name)], inits)
    result = oh.make_model(out, opset_imports=list(model.opset_import))
    result.ir_version = model.ir_version
    return result


def calibrate(model, feeds):
    """Sets each BatchNormalization's mean and variance to the statistics of its actual input,
    in graph order (like a trained network), so every normalised activation has mean ~0 and
    variance ~1 and nothing blows up through residual sums. One onnxruntime run per BN."""
    inits = {i.name: i for i in model.graph.initializer}
    for bn in [n for n in model.graph.node if n.op_type == "BatchNormalization"]:
        (x,) = run_ort(probe(model, bn.input[0]), feeds)
        x = x.astype(np.float64)
        axes = tuple(a for a in range(x.ndim) if a != 1)
        mean, var = x.mean(axis=axes), x.var(axis=axes) + 1e-3
        for idx, array in ((3, mean), (4, var)):
            inits[bn.input[idx]].CopyFrom(nh.from_array(array.astype(np.float32), bn.input[idx]))
