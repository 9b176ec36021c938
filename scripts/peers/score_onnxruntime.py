#!/usr/bin/env python3
"""Score onnxruntime on a list of ONNX backend node tests, with kiln's pass rule.

Usage: python3 score_onnxruntime.py LIST NODE_DIR [--failures FILE]
       (needs onnx, numpy, onnxruntime: the venv scripts/setup-test-data.sh makes)

LIST      a test list, one name a line, `#` comments (conformance/node-core.txt,
          conformance/node-all.txt, ...)
NODE_DIR  the node tests scripts/setup-test-data.sh writes: $KILN_TEST_DATA/node

A test passes when the model loads and runs on onnxruntime's CPU execution provider (default
session options) and every output has the expected shape and dtype and matches elementwise:
floats within |out - expected| <= 1e-7 + 1e-3 * |expected| (NaN matches NaN, an infinity only
itself), integers and bools exactly. That is tests/conformance.rs's rule (and ONNX's own backend
runner's tolerances). Input i of a test feeds the model's i-th graph input that is not an
initializer, as the ONNX runner does. Prints `N of M passed` and the failures by reason.
"""
import argparse
import os
import sys

import numpy as np
import onnx
import onnx.numpy_helper as nh
import onnxruntime as ort

ATOL = 1e-7
RTOL = 1e-3


def read_list(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]


def read_tensors(data_dir, prefix):
    tensors = []
    while True:
        path = os.path.join(data_dir, f"{prefix}_{len(tensors)}.pb")
        if not os.path.exists(path):
            return tensors
        tensors.append(nh.to_array(onnx.load_tensor(path)))


def compare(got, want):
    """None when `got` matches `want`, else why not."""
    got = np.asarray(got)
    if got.shape != want.shape:
        return f"shape {got.shape} but expected {want.shape}"
    if got.dtype != want.dtype:
        return f"dtype {got.dtype} but expected {want.dtype}"
    if want.dtype.kind in "fc":
        g, w = got.astype(np.float64), want.astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            close = np.abs(g - w) <= ATOL + RTOL * np.abs(w)
            # rtol * inf is inf: without the isfinite, any finite value would match an infinity.
            ok = (g == w) | (np.isnan(g) & np.isnan(w)) | (close & np.isfinite(w))
    else:
        ok = got == want
    bad = int(np.size(ok) - np.count_nonzero(ok))
    return f"{bad} of {ok.size} elements differ" if bad else None


def run_test(folder):
    """None when the test passes, else why it fails (first line only)."""
    model = onnx.load(os.path.join(folder, "model.onnx"))
    data = os.path.join(folder, "test_data_set_0")
    try:
        inputs, expected = read_tensors(data, "input"), read_tensors(data, "output")
    except Exception as e:  # noqa: BLE001 -- not a TensorProto (a sequence, an optional)
        return f"cannot read the test data as tensors: {e}"
    inits = {i.name for i in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in inits]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 4
    try:
        sess = ort.InferenceSession(model.SerializeToString(), opts,
                                    providers=["CPUExecutionProvider"])
        outputs = sess.run(None, dict(zip(names, inputs)))
    except Exception as e:  # noqa: BLE001 -- any load or run error is a failure
        return f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
    if len(outputs) != len(expected):
        return f"{len(outputs)} outputs but expected {len(expected)}"
    for i, (got, want) in enumerate(zip(outputs, expected)):
        why = compare(got, want)
        if why:
            return f"output {i}: {why}"
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("list")
    parser.add_argument("node_dir")
    parser.add_argument("--failures", help="write each failing test and why to this file")
    args = parser.parse_args()
    tests = read_list(args.list)
    failures = []
    for test in tests:
        folder = os.path.join(args.node_dir, test)
        if not os.path.isdir(folder):
            failures.append((test, "test data missing"))
            continue
        why = run_test(folder)
        if why:
            failures.append((test, why))
    passed = len(tests) - len(failures)
    if args.failures:
        with open(args.failures, "w") as f:
            f.writelines(f"{test}: {why}\n" for test, why in failures)
    print(f"onnxruntime {ort.__version__} (CPU) on {os.path.basename(args.list)}: "
          f"{passed} of {len(tests)} passed")
    for test, why in failures:
        print(f"  FAIL {test}: {why[:200]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
