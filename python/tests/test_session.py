"""kiln.Session: onnxruntime's InferenceSession shape (get_inputs, get_outputs, run),
outputs in the declared dtypes, the CPU reference backend, the GIL released."""

import threading
import time

import numpy as np
import pytest

import kiln
from conftest import EXAMPLE, EXAMPLE_EXPECTED, example_input, load_pb


def test_example_runs_and_matches_onnxruntime(gpu):
    sess = kiln.Session(str(EXAMPLE))
    assert sess.adapter == gpu
    (inp,) = sess.get_inputs()
    assert (inp.name, inp.shape, inp.type, inp.dtype) == ("image", [1, 1, 8, 8], "tensor(float)", "float32")
    (out,) = sess.get_outputs()
    assert out.type == "tensor(float)" and out.shape == [1, 10]
    (y,) = sess.run(None, {"image": example_input()})
    assert y.dtype == np.float32 and y.shape == (1, 10)
    np.testing.assert_allclose(y, np.load(EXAMPLE_EXPECTED), atol=1e-6)
    # The session runs again, and accepts any path-like and a bundle.
    (y2,) = kiln.Session(EXAMPLE).run([out.name], {"image": example_input()})
    np.testing.assert_array_equal(y, y2)
    (y3,) = kiln.Session(sess.bundle).run(None, {"image": example_input()})
    np.testing.assert_array_equal(y, y3)


def test_output_names_pick_and_order_outputs(gpu, data):
    model = data / "light-random" / "squeezenet" / "model.onnx"
    sess = kiln.Session(model)
    names = [o.name for o in sess.get_outputs()]
    assert len(names) == 2
    x = np.load(data / "light-random" / "squeezenet" / "test_data_set_0" / "input_0.npy")
    feed = {sess.get_inputs()[0].name: x}
    both = sess.run(None, feed)
    swapped = sess.run(names[::-1], feed)
    np.testing.assert_array_equal(both[0], swapped[1])
    np.testing.assert_array_equal(both[1], swapped[0])
    (one,) = sess.run([names[1]], feed)
    np.testing.assert_array_equal(one, both[1])


def node_case(data, name):
    case = data / "node" / name
    inputs = sorted((case / "test_data_set_0").glob("input_*.pb"))
    outputs = sorted((case / "test_data_set_0").glob("output_*.pb"))
    return case / "model.onnx", [load_pb(p) for p in inputs], [load_pb(p) for p in outputs]


@pytest.mark.parametrize(
    "case, in_dtypes, out_dtype",
    [
        ("test_gather_0", ["float32", "int64"], "float32"),  # int64 input, narrowed
        ("test_argmax_default_axis_example", ["float32"], "int64"),  # int64 output, widened
        ("test_add_uint64", ["uint64", "uint64"], "uint64"),
        ("test_cast_FLOAT_to_DOUBLE", ["float32"], "float64"),
    ],
)
@pytest.mark.parametrize("backend", ["gpu", "cpu"])
def test_wide_dtypes_cross_as_declared(request, data, case, in_dtypes, out_dtype, backend):
    if backend == "gpu":
        request.getfixturevalue("gpu")
    model, inputs, expected = node_case(data, case)
    sess = kiln.Session(model, backend=backend)
    assert [i.dtype for i in sess.get_inputs()] == in_dtypes
    assert [x.dtype.name for x in inputs] == in_dtypes
    assert sess.get_outputs()[0].dtype == out_dtype
    feed = {i.name: x for i, x in zip(sess.get_inputs(), inputs)}
    (y,) = sess.run(None, feed)
    assert y.dtype == expected[0].dtype == np.dtype(out_dtype)
    assert y.shape == expected[0].shape
    np.testing.assert_allclose(y, expected[0], rtol=1e-6)


def test_cpu_backend_matches_gpu(gpu):
    x = example_input()
    (cpu,) = kiln.Session(EXAMPLE, backend="cpu").run(None, {"image": x})
    (dev,) = kiln.Session(EXAMPLE).run(None, {"image": x})
    np.testing.assert_allclose(cpu, dev, atol=1e-6)
    assert kiln.Session(EXAMPLE, backend="cpu").adapter is None


def test_noncontiguous_and_fortran_inputs_are_read_by_value(gpu):
    sess = kiln.Session(EXAMPLE)
    x = example_input()
    (want,) = sess.run(None, {"image": x})
    strided = np.zeros((1, 1, 8, 16), np.float32)
    strided[..., ::2] = x
    (got,) = sess.run(None, {"image": strided[..., ::2]})
    np.testing.assert_array_equal(got, want)
    (got,) = sess.run(None, {"image": np.asfortranarray(x)})
    np.testing.assert_array_equal(got, want)


def test_run_releases_the_gil(gpu, data):
    """While a run is on the device, other Python threads keep running."""
    sess = kiln.Session(data / "light-random" / "squeezenet" / "model.onnx")
    name = sess.get_inputs()[0].name
    x = np.load(data / "light-random" / "squeezenet" / "test_data_set_0" / "input_0.npy")
    sess.run(None, {name: x})
    t = threading.Thread(target=lambda: [sess.run(None, {name: x}) for _ in range(3)])
    ticks = 0
    start = time.perf_counter()
    t.start()
    while t.is_alive():
        ticks += 1
    elapsed = time.perf_counter() - start
    # Holding the GIL for a whole run (~0.1 s on lavapipe), the loop would stall for it;
    # released, it spins throughout. Well over 1000 ticks per run either way on a quiet
    # machine, but held it gets only the gaps between Python bytecodes of the thread.
    assert ticks > 20000 * elapsed, (ticks, elapsed)


def test_sessions_run_from_several_threads(gpu):
    sess = kiln.Session(EXAMPLE)
    (want,) = sess.run(None, {"image": example_input()})
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(sess.run(None, {"image": example_input()})[0]))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    for r in results:
        np.testing.assert_array_equal(r, want)
