"""Bad models, bundles, options and inputs raise the documented kiln.KilnError
subclasses with the CLI's one-line messages, and never crash the interpreter."""

import os
import subprocess
import sys

import numpy as np
import pytest

import kiln
from conftest import EXAMPLE, cli_error, example_input


@pytest.fixture(scope="module")
def sess(gpu):
    return kiln.Session(EXAMPLE)


def test_exceptions_form_one_family():
    for cls in (kiln.BadModelError, kiln.UnsupportedOpError, kiln.BadInputError, kiln.DeviceError, kiln.OptionError):
        assert issubclass(cls, kiln.KilnError)
        assert cls.__module__ == "kiln"
    assert issubclass(kiln.KilnError, Exception)


def test_wrong_dtype(sess):
    with pytest.raises(kiln.BadInputError, match=r"^input 'image' must be float32 but the given array is float64$"):
        sess.run(None, {"image": example_input().astype(np.float64)})
    with pytest.raises(kiln.BadInputError, match="dtype complex64, which kiln does not take"):
        sess.run(None, {"image": example_input().astype(np.complex64)})
    with pytest.raises(kiln.BadInputError, match="must be a numpy array, not list"):
        sess.run(None, {"image": example_input().tolist()})


def test_wrong_shape(sess):
    with pytest.raises(
        kiln.BadInputError,
        match=r"^input 'image' must have shape \[1,1,8,8\] but the given tensor has shape \[1,8,8\]$",
    ):
        sess.run(None, {"image": example_input()[0]})


def test_missing_and_unknown_inputs_and_outputs(sess):
    with pytest.raises(kiln.BadInputError, match=r"^missing input 'image' \(f32\[1,1,8,8\]\): no value was given for it$"):
        sess.run(None, {})
    with pytest.raises(kiln.BadInputError, match=r"^input 'img': the model has no input named 'img' \(inputs: image\)$"):
        sess.run(None, {"img": example_input()})
    with pytest.raises(kiln.BadInputError, match="has no output named 'nope'"):
        sess.run(["nope"], {"image": example_input()})


def test_int64_values_that_do_not_fit_are_refused(gpu, data):
    model = data / "node" / "test_gather_0" / "model.onnx"
    sess = kiln.Session(model)
    data_in, idx = sess.get_inputs()
    feed = {
        data_in.name: np.zeros(data_in.shape, np.float32),
        idx.name: np.full(idx.shape, 1 << 40, np.int64),
    }
    with pytest.raises(kiln.BadInputError, match=r"int64 element 0 \(1099511627776\) does not fit in i32"):
        sess.run(None, feed)
    # In range for int64 and i32, out of range for the data: a device check.
    feed[idx.name] = np.full(idx.shape, 1000, np.int64)
    with pytest.raises(kiln.BadInputError, match="out of range"):
        sess.run(None, feed)


def test_corrupted_bundles(gpu, tmp_path, kiln_bin):
    good = kiln.compile(EXAMPLE).to_bytes()
    flipped = bytearray(good)
    flipped[len(flipped) // 2] ^= 0x40
    truncated = good[: len(good) - 7]
    for name, data in [("flipped.kiln", bytes(flipped)), ("truncated.kiln", truncated), ("empty.kiln", b"")]:
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(kiln.BadModelError) as load_err:
            kiln.load(path)
        assert str(load_err.value) == cli_error(kiln_bin, "inspect", path)
        with pytest.raises(kiln.BadModelError):
            kiln.Session(path)
        with pytest.raises(kiln.BadModelError):
            kiln.Bundle.from_bytes(data)


def test_bad_models(gpu, tmp_path, kiln_bin, data):
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x08\x07\x12\x00not a model at all")
    with pytest.raises(kiln.BadModelError) as err:
        kiln.compile(garbage)
    assert str(err.value) == cli_error(kiln_bin, "compile", garbage, "-o", tmp_path / "g.kiln")
    with pytest.raises(kiln.BadModelError):
        kiln.Session(b"\x08\x07\x12\x00not a model at all")
    with pytest.raises(kiln.BadModelError, match="cannot read"):
        kiln.compile(tmp_path / "absent.onnx")
    unsupported = data / "cli" / "unsupported_op.onnx"
    with pytest.raises(kiln.UnsupportedOpError) as err:
        kiln.compile(unsupported)
    assert str(err.value) == cli_error(kiln_bin, "compile", unsupported, "-o", tmp_path / "u.kiln")
    with pytest.raises(TypeError, match="model must be a path, bytes"):
        kiln.compile(42)


def test_bad_options_say_what_the_cli_says(gpu, tmp_path, kiln_bin):
    out = tmp_path / "o.kiln"
    cases = [
        (dict(opt=3), ["--opt", "3"]),
        (dict(disable_rules=["fuse-everything"]), ["--disable-rule", "fuse-everything"]),
        (dict(profile="tpu"), ["--profile", "tpu"]),
        (dict(quantize="w9"), ["--quantize", "w9"]),
        (dict(accuracy_budget=0.1), ["--accuracy-budget", "0.1"]),
        (dict(shapes={"data": [1, 3]}), ["--shape", "data=1x3"]),
    ]
    for kwargs, flags in cases:
        with pytest.raises(kiln.OptionError) as err:
            kiln.compile(EXAMPLE, **kwargs)
        assert str(err.value) == cli_error(kiln_bin, "compile", EXAMPLE, "-o", out, *flags), kwargs
    with pytest.raises(TypeError, match="unexpected keyword argument 'optimize'"):
        kiln.compile(EXAMPLE, optimize=2)
    bundle = kiln.compile(EXAMPLE)
    with pytest.raises(kiln.OptionError, match="apply to .onnx models"):
        kiln.Session(bundle, opt=1)
    with pytest.raises(kiln.OptionError, match="cannot run <bytes>: a bundle holds GPU kernels"):
        kiln.Session(bundle.to_bytes(), backend="cpu")
    with pytest.raises(kiln.OptionError, match="backend 'tpu'"):
        kiln.Session(EXAMPLE, backend="tpu")
    with pytest.raises(kiln.OptionError, match="iters must be at least 1"):
        kiln.bench(bundle, iters=0)


def test_no_such_adapter_is_a_device_error(gpu, kiln_bin, tmp_path):
    with pytest.raises(kiln.DeviceError) as err:
        kiln.Session(EXAMPLE, adapter="no-such-gpu-anywhere")
    assert str(err.value) == cli_error(kiln_bin, "run", EXAMPLE, "--adapter", "no-such-gpu-anywhere")


def test_bad_input_never_crashes_the_interpreter(gpu):
    """A fresh interpreter survives every bad call above (a panic or abort would not)."""
    script = f"""
import numpy as np, kiln
s = kiln.Session({str(EXAMPLE)!r})
bad = [dict(image=np.zeros((0,), np.float32)), dict(image=np.float32(1.0)), dict(image=None),
       {{1: np.zeros((1, 1, 8, 8), np.float32)}}, dict(image=np.zeros((1, 1, 8, 8), np.bool_))]
n = 0
for feed in bad:
    try:
        s.run(None, feed)
    except kiln.KilnError:
        n += 1
for data in [b"", b"KILNBNDL", b"KILNBNDL" + bytes(200)]:
    try:
        kiln.Bundle.from_bytes(data)
    except kiln.BadModelError:
        n += 1
print(n)
"""
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "8", p.stdout + p.stderr


def test_an_unknown_graphics_api_in_wgpu_backend_is_a_device_error():
    """`WGPU_BACKEND` is read strictly, as `kiln run` reads it: a name wgpu would
    ignore is a DeviceError with the CLI's message, not a silently wider search."""
    script = """
import kiln
try:
    kiln.adapters()
except kiln.DeviceError as e:
    print(e)
"""
    env = dict(os.environ, WGPU_BACKEND="vulkan,opengl3")
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == (
        "WGPU_BACKEND: unknown backend API 'opengl3' (expected one of vulkan, gl, metal, dx12)"
    ), p.stdout + p.stderr
