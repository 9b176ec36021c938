"""The light models (scripts/setup-test-data.sh) through the package give exactly the
outputs `kiln run` writes for the same bundle, and match the reference outputs."""

import numpy as np
import pytest

import kiln
from conftest import load_pb, run_cli

MODELS = [("light-random", "squeezenet"), ("light-random", "shufflenet"), ("light", "squeezenet"), ("light", "inception_v1")]


@pytest.mark.parametrize("kind, name", MODELS)
def test_outputs_equal_the_cli_s(gpu, data, kiln_bin, tmp_path, kind, name):
    case = data / kind / name
    bundle_path = tmp_path / f"{name}.kiln"
    kiln.compile(case / "model.onnx").save(bundle_path)
    x_path = case / "test_data_set_0" / "input_0.pb"
    x = load_pb(x_path)
    out_dir = tmp_path / "out"
    run_cli(kiln_bin, "run", bundle_path, "-i", x_path, "-o", out_dir)

    sess = kiln.Session(kiln.load(bundle_path))
    outputs = sess.run(None, {sess.get_inputs()[0].name: x})
    assert len(outputs) == len(sess.get_outputs())
    for i, y in enumerate(outputs):
        cli = np.load(out_dir / f"output_{i}.npy")
        assert y.dtype == cli.dtype and y.shape == cli.shape
        np.testing.assert_array_equal(y, cli)
    # And the reference (onnxruntime's for the random copies, the shipped one for the
    # light models): the bounds of tests/models.rs.
    want = load_pb(case / "test_data_set_0" / "output_0.pb")
    if kind == "light-random":
        err = np.linalg.norm(outputs[0] - want) / np.linalg.norm(want)
        assert err < 1e-4, err
    else:
        np.testing.assert_allclose(outputs[0], want, atol=1e-5, rtol=1e-3)
