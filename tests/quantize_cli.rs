//! `--quantize` through the `kiln` binary: `compile --json` and `--report` on a real
//! model (PaddleOCR's text-direction classifier, `real/cls`), the manifest recording the
//! mode, deterministic bundles, `run --compare-f32` on the GPU, and bad quantization
//! options as one error line.

mod common;

use common::cli::CliDir;
use common::data_dir;
use serde_json::Value;

#[test]
fn compile_json_reports_the_quantization_and_the_manifest_records_it() {
    let test = "quantize cli real/cls";
    let Some(root) = data_dir("real", test) else {
        return;
    };
    let cls = root.join("cls");
    let (model, sets) = (cls.join("model.onnx"), cls.display().to_string());
    let dir = CliDir::new();
    let out = dir.path("cls.kiln").display().to_string();
    let args = [
        "compile",
        model.to_str().unwrap(),
        "--shape",
        "x=1x3x48x192",
        "--quantize",
        "w8",
        "--calibration",
        &sets,
        "-o",
        &out,
    ];
    let json: Value = serde_json::from_str(&dir.ok(&[&args[..], &["--json"]].concat())).unwrap();
    let q = &json["quantize"];
    assert_eq!(q["mode"], "w8");
    assert_eq!(q["inputs"], 24, "every calibration set is measured: {q}");
    assert_eq!(q["weights_quantized"], q["weights"]);
    assert!(q["weights"].as_u64().unwrap() > 20, "{q}");
    let (bytes, f32_bytes) = (
        q["bundle_bytes"].as_f64().unwrap(),
        q["f32_bundle_bytes"].as_f64().unwrap(),
    );
    assert!(bytes < 0.5 * f32_bytes, "{bytes} of {f32_bytes} bytes");
    let output = &q["outputs"][0];
    assert_eq!(output["top1_rows"], 24);
    assert!(output["cosine"].as_f64().unwrap() > 0.999, "{output}");
    let layer = &q["layers"][0];
    assert_eq!(layer["form"], "int8 per channel");
    assert!(
        layer["bytes_after"].as_u64() < layer["bytes_before"].as_u64(),
        "{layer}"
    );

    let bundle = kiln::read_bundle(&out).unwrap();
    let recorded = &bundle.manifest.options["quantize"];
    assert_eq!(recorded["mode"], "w8");
    assert_eq!(recorded["calibration_sets"], 24);
    assert!(bundle.manifest.options["passes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p == "quantize"));
    // The same options give the same bytes.
    let first = std::fs::read(&out).unwrap();
    dir.ok(&args);
    assert_eq!(
        std::fs::read(&out).unwrap(),
        first,
        "quantized bundles are deterministic"
    );

    let report = dir.ok(&[&args[..], &["--report"]].concat());
    for want in [
        "quantization w8: ",
        "top-1 agreement 24/24",
        "int8 per channel",
        "unquantized (",
    ] {
        assert!(report.contains(want), "'{want}' missing from:\n{report}");
    }
}

#[test]
fn run_compare_f32_prints_how_far_each_output_moved() {
    let test = "quantize cli compare-f32";
    let Some(root) = data_dir("real", test) else {
        return;
    };
    if common::gpu(test).is_none() {
        return;
    }
    let cls = root.join("cls");
    let (model, input) = (
        cls.join("model.onnx"),
        cls.join("test_data_set_1").join("input_0.pb"),
    );
    let dir = CliDir::new();
    let stdout = dir.ok(&[
        "run",
        model.to_str().unwrap(),
        "-i",
        input.to_str().unwrap(),
        "--quantize",
        "w4",
        "--compare-f32",
    ]);
    assert!(
        stdout.contains("quantized against the f32 model on the GPU"),
        "{stdout}"
    );
    let line = stdout
        .lines()
        .find(|l| l.contains("relative L2"))
        .unwrap_or_else(|| panic!("{stdout}"));
    let rel: f64 = line
        .split("relative L2 ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rel > 0.0, "int4 weights move the output: {line}");
    assert!(line.contains("top-1 agreement"), "{line}");
}

#[test]
fn bad_quantization_options_are_one_error_line() {
    let dir = CliDir::new();
    let err = dir.usage_error(&["compile", "example.onnx", "--quantize", "int3"]);
    assert_eq!(
        err,
        "error: --quantize int3: no quantization mode 'int3' (modes: w8, w4, f16, w8a8)"
    );
    let err = dir.usage_error(&["run", "example.onnx", "-i", "x.npy", "--compare-f32"]);
    assert!(err.contains("give --quantize MODE"), "{err}");
    let err = dir.usage_error(&["compile", "example.onnx", "--accuracy-budget", "0.01"]);
    assert!(err.contains("--quantize"), "{err}");
    let err = dir.usage_error(&[
        "compile",
        "example.onnx",
        "--quantize",
        "w8",
        "--accuracy-budget",
        "0",
    ]);
    assert!(err.contains("expected a relative error above 0"), "{err}");
    let err = dir.usage_error(&[
        "run",
        "example.onnx",
        "--backend",
        "cpu",
        "--quantize",
        "w8",
        "--compare-f32",
    ]);
    assert!(
        err.contains("--compare-f32 applies to --backend gpu"),
        "{err}"
    );
    let out = dir.kiln(&[
        "compile",
        "example.onnx",
        "--quantize",
        "w8",
        "--calibration",
        "no-such-dir",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.lines().count() == 1,
        "{stderr}"
    );
    assert!(
        stderr.contains("no-such-dir") && stderr.contains("cannot read the folder"),
        "{stderr}"
    );
    assert!(
        !dir.path("example.kiln").exists(),
        "nothing is written on an error"
    );
}
