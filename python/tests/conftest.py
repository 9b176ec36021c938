"""Fixtures of the kiln package's tests: the repository's example model, the test data
of scripts/setup-test-data.sh, the kiln CLI to compare with, and the GPU adapter.

Like the Rust tests, a missing adapter skips the GPU tests unless KILN_REQUIRE_GPU=1,
and missing test data (or CLI binary) skips the tests that need it unless
KILN_REQUIRE_DATA=1; then either is a failure, never a silent skip.
"""

import os
import pathlib
import subprocess

import numpy as np
import pytest

import kiln

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "assets" / "example.onnx"
EXAMPLE_EXPECTED = ROOT / "assets" / "example-expected.npy"


def _required(var):
    return os.environ.get(var) == "1"


def _missing(what, var):
    if _required(var):
        pytest.fail(f"{what} ({var}=1: missing is a failure)")
    pytest.skip(what)


@pytest.fixture(scope="session")
def gpu():
    """The adapter kiln picks; skips (or fails under KILN_REQUIRE_GPU=1) without one."""
    found = kiln.adapters()
    if not found:
        _missing("no GPU adapter (install mesa-vulkan-drivers for lavapipe)", "KILN_REQUIRE_GPU")
    return found[0]


@pytest.fixture(scope="session")
def data():
    """The test-data folder (KILN_TEST_DATA, default <repo>/target/onnx-tests)."""
    path = pathlib.Path(os.environ.get("KILN_TEST_DATA", ROOT / "target" / "onnx-tests"))
    if not (path / "light-random").is_dir():
        _missing(f"no test data at {path}: run scripts/setup-test-data.sh", "KILN_REQUIRE_DATA")
    return path


@pytest.fixture(scope="session")
def kiln_bin():
    """The kiln CLI (KILN_BIN, else target/release/kiln under CARGO_TARGET_DIR)."""
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    path = pathlib.Path(os.environ.get("KILN_BIN", target / "release" / "kiln"))
    if not path.is_file():
        _missing(f"no kiln binary at {path}: cargo build --release", "KILN_REQUIRE_DATA")
    return str(path)


def run_cli(kiln_bin, *args, check=True):
    """Runs the kiln CLI; returns (exit status, stdout, stderr)."""
    p = subprocess.run([kiln_bin, *map(str, args)], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"kiln {' '.join(map(str, args))} failed: {p.stderr}")
    return p.returncode, p.stdout, p.stderr


def cli_error(kiln_bin, *args):
    """The CLI's one-line error message (after `error: `) for a failing command."""
    status, _, stderr = run_cli(kiln_bin, *args, check=False)
    assert status != 0, f"kiln {args} succeeded"
    lines = [l for l in stderr.splitlines() if l.startswith("error: ")]
    assert len(lines) == 1, stderr
    return lines[0][len("error: "):]


def load_pb(path):
    """A TensorProto file as a numpy array (onnx's reader)."""
    from onnx import numpy_helper, load_tensor

    return numpy_helper.to_array(load_tensor(str(path)))


def example_input():
    """The built-in example's input (`kiln::example_input`)."""
    return (((np.arange(64) * 37) % 64) / 64.0 - 0.5).astype(np.float32).reshape(1, 1, 8, 8)
