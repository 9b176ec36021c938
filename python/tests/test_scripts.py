"""Scripts as users write them: an onnxruntime script switched to kiln by its import
line, the README's ten-line comparison, and the built wheel in a fresh venv."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT

EXAMPLES = ROOT / "python" / "examples"


def test_an_onnxruntime_script_runs_on_kiln_by_its_import_line(gpu, data, tmp_path):
    pytest.importorskip("onnxruntime")
    model = data / "light-random" / "squeezenet" / "model.onnx"
    script = EXAMPLES / "ort_style.py"
    runs = {}
    for flag in ("", "--kiln"):
        out = tmp_path / f"out{flag}.npz"
        p = subprocess.run(
            [sys.executable, str(script), str(model), str(out), *([flag] if flag else [])],
            capture_output=True,
            text=True,
        )
        assert p.returncode == 0, p.stderr
        runs[flag] = (p.stdout, np.load(out))
    (ort_text, ort_out), (kiln_text, kiln_out) = runs[""], runs["--kiln"]
    # The same metadata and the same top-5 classes, printed the same way.
    assert kiln_text == ort_text
    assert len(kiln_out.files) == len(ort_out.files) == 2
    for name in ort_out.files:
        want, got = ort_out[name], kiln_out[name]
        assert got.dtype == want.dtype and got.shape == want.shape
        assert np.linalg.norm(got - want) / np.linalg.norm(want) < 1e-4


def test_the_readme_s_ten_line_script(gpu, data):
    pytest.importorskip("onnxruntime")
    script = (EXAMPLES / "compare_with_onnxruntime.py").read_text()
    assert len(script.strip().splitlines()) <= 10
    assert script in (ROOT / "README.md").read_text(), "the README shows the script as it is"
    model = data / "light-random" / "shufflenet" / "model.onnx"
    p = subprocess.run([sys.executable, "-c", script, str(model)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("relative L2 "), p.stdout


def test_the_wheel_installs_into_a_fresh_venv(gpu, tmp_path):
    """KILN_WHEEL (scripts/test.sh builds it): pip install into a new venv, then the
    ten-line script there, against onnxruntime."""
    wheel = os.environ.get("KILN_WHEEL")
    if not wheel:
        if os.environ.get("KILN_REQUIRE_DATA") == "1":
            pytest.fail("KILN_WHEEL is not set (KILN_REQUIRE_DATA=1: missing is a failure)")
        pytest.skip("KILN_WHEEL names no built wheel")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    import onnxruntime

    pins = [f"onnxruntime=={onnxruntime.__version__}", f"numpy=={np.__version__}"]
    p = subprocess.run(
        [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel, *pins],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stderr
    script = EXAMPLES / "compare_with_onnxruntime.py"
    # Run outside the checkout, so that the installed package is the one imported.
    p = subprocess.run(
        [str(py), str(script), str(ROOT / "assets" / "example.onnx")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr
    assert "relative L2" in p.stdout
    where = subprocess.run(
        [str(py), "-c", "import kiln; print(kiln.__file__)"], capture_output=True, text=True, cwd=tmp_path
    )
    assert str(venv) in where.stdout, where.stdout
