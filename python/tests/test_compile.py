"""kiln.compile, kiln.load, kiln.Bundle (save, report, inspect), kiln.dump, kiln.bench,
kiln.adapters: the same bytes, figures and text as the CLI."""

import json

import pytest

import kiln
from conftest import EXAMPLE, run_cli


def test_compile_gives_the_cli_s_bundle_byte_for_byte(tmp_path, kiln_bin):
    out = tmp_path / "cli.kiln"
    run_cli(kiln_bin, "compile", EXAMPLE, "-o", out, "--opt", "1")
    bundle = kiln.compile(EXAMPLE, opt=1)
    assert bundle.to_bytes() == out.read_bytes()
    onnx = pytest.importorskip("onnx")
    proto = onnx.load(str(EXAMPLE))
    assert kiln.compile(proto, opt=1).to_bytes() == out.read_bytes()
    assert kiln.compile(EXAMPLE.read_bytes(), opt=1).to_bytes() == out.read_bytes()


def test_save_and_load_round_trip(tmp_path):
    bundle = kiln.compile(EXAMPLE)
    path = tmp_path / "m.kiln"
    bundle.save(path)
    assert path.read_bytes() == bundle.to_bytes()
    back = kiln.load(path)
    assert back.to_bytes() == bundle.to_bytes()
    assert back.report is None
    assert kiln.Bundle.from_bytes(bundle.to_bytes()).to_bytes() == bundle.to_bytes()
    assert "kiln.Bundle" in repr(back)


def test_report_is_the_cli_s_report(tmp_path, kiln_bin):
    out = tmp_path / "r.kiln"
    bundle = kiln.compile(EXAMPLE, quantize="f16")
    _, stdout, _ = run_cli(kiln_bin, "compile", EXAMPLE, "-o", out, "--quantize", "f16", "--json")
    cli = json.loads(stdout)
    report = bundle.report
    for key in ("bytes", "kernels", "dispatches", "weight_bytes", "passes", "quantize"):
        assert report[key] == cli[key], key
    _, text, _ = run_cli(kiln_bin, "compile", EXAMPLE, "-o", out, "--quantize", "f16", "--report")
    # The CLI's first line names the paths; the rest is the report. Times differ.
    strip = lambda t: [l for l in t.splitlines() if "ms" not in l and " s)" not in l]
    assert strip(report["text"]) == strip(text.split("\n", 1)[1])
    assert report["text"].startswith("passes: remove-identity")


def test_inspect_is_the_cli_s_inspect(tmp_path, kiln_bin):
    path = tmp_path / "i.kiln"
    kiln.compile(EXAMPLE).save(path)
    _, stdout, _ = run_cli(kiln_bin, "inspect", path, "--json")
    assert kiln.load(path).inspect() == json.loads(stdout)
    wgsl = kiln.load(path).wgsl()
    assert wgsl and all("@compute" in src for src in wgsl.values())


def test_dump_is_the_cli_s_dump(kiln_bin):
    for after in (None, "dce", "all", "egraph"):
        args = ["--after", after] if after else []
        _, stdout, _ = run_cli(kiln_bin, "dump", EXAMPLE, *args)
        assert kiln.dump(EXAMPLE, after=after) == stdout, after
    _, stdout, _ = run_cli(kiln_bin, "dump", EXAMPLE, "--after", "dce,egraph", "--format", "json", "--opt", "1")
    assert kiln.dump(EXAMPLE, after=["dce", "egraph"], format="json", opt=1) == stdout
    with pytest.raises(kiln.OptionError, match="--after 'fuse': no such pass"):
        kiln.dump(EXAMPLE, after="fuse")
    with pytest.raises(kiln.OptionError, match="format 'svg'"):
        kiln.dump(EXAMPLE, format="svg")


def test_bench_reports_what_the_cli_reports(gpu, tmp_path, kiln_bin):
    path = tmp_path / "b.kiln"
    kiln.compile(EXAMPLE).save(path)
    report = kiln.bench(path, iters=5, warmup=1)
    _, stdout, _ = run_cli(kiln_bin, "bench", path, "--iters", "5", "--warmup", "1", "--json")
    cli = json.loads(stdout)
    assert set(report) == set(cli)
    for key in ("model", "origin", "adapter", "iters", "warmup", "kernel_count", "dispatch_count", "random_inputs", "timing_source"):
        assert report[key] == cli[key], key
    assert report["min_ms"] <= report["median_ms"] <= report["max_ms"]
    assert {k["kernel"] for k in report["kernels"]} == {k["kernel"] for k in cli["kernels"]}
    from conftest import example_input

    given = kiln.bench(EXAMPLE, inputs={"image": example_input()}, iters=2, warmup=0)
    assert given["random_inputs"] == [] and given["origin"] == "compiled in memory"
    assert given["model"] == str(EXAMPLE)


def test_adapters_lists_the_adapter_sessions_pick(gpu):
    found = kiln.adapters()
    assert found[0] == gpu
    assert kiln.Session(EXAMPLE).adapter == found[0]
    assert kiln.Session(EXAMPLE, adapter=found[-1]).adapter == found[-1]


def test_values_specialise_like_kiln_compile_input(gpu, data, tmp_path, kiln_bin):
    """A shape-deciding int64 input given to compile becomes a constant, as with
    `kiln compile --input`: the same bundle, which then takes only the data."""
    from conftest import load_pb

    case = data / "node" / "test_reshape_reduced_dims"
    x, shape = (load_pb(case / "test_data_set_0" / f"input_{i}.pb") for i in (0, 1))
    want = load_pb(case / "test_data_set_0" / "output_0.pb")
    bundle = kiln.compile(case / "model.onnx", values={"shape": shape})
    out = tmp_path / "r.kiln"
    run_cli(kiln_bin, "compile", case / "model.onnx", "-o", out, "--input", f"shape={case / 'test_data_set_0' / 'input_1.pb'}")
    assert bundle.to_bytes() == out.read_bytes()
    sess = kiln.Session(bundle)
    assert [i.name for i in sess.get_inputs()] == ["data"]
    (y,) = sess.run(None, {"data": x})
    assert (y == want).all() and y.shape == want.shape
    with pytest.raises(kiln.OptionError, match="values names 'shp', which is not an input"):
        kiln.compile(case / "model.onnx", values={"shp": shape})
