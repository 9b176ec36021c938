//! The GPU path through the `kiln` binary: `compile` → `inspect --json` → `run`
//! round trip on the built-in example against `--backend cpu`, byte-identical
//! compiles, damaged bundles (flipped byte, truncated, newer format, absent feature),
//! adapter errors, out-of-range gather indices, `bench --json` (load and first-run times
//! too) and the no-argument demo.
//!
//! These tests need a GPU adapter (lavapipe, Mesa's Vulkan on the CPU, is enough) and
//! FAIL without one: a machine that cannot run kernels must not pass them.

mod common;
mod onnx_build;

use kiln::Bundle;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The CLI tests' directory ([`CliDir`]: the example model, its input, an
/// XDG_RUNTIME_DIR for children).
use common::cli::CliDir as Fixture;

impl Fixture {
    /// Compiles the example to `name` at `--opt 0` (one kernel per op).
    fn compile(&self, name: &str) -> PathBuf {
        let stdout = self.ok(&["compile", "example.onnx", "-o", name, "--opt", "0"]);
        assert!(stdout.starts_with(&format!("compiled example.onnx -> {name}: 6 kernels")));
        self.path(name)
    }
}

/// The one `error:` line of a failed command, checking its exit status.
fn error_line(out: &Output, status: i32) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(status), "stderr: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line expected in: {stderr}");
    assert!(
        stderr.trim_end().ends_with(errors[0]),
        "the error line comes last: {stderr}"
    );
    assert!(out.stdout.is_empty() || status == 0);
    errors[0].to_string()
}

fn read_output(dir: &Path) -> Vec<f64> {
    kiln::read_tensor_file(dir.join("output_0.npy"))
        .unwrap()
        .tensor
        .to_f64_vec()
}

#[test]
fn compile_inspect_run_round_trip_matches_the_cpu() {
    let f = Fixture::new();
    f.compile("ex.kiln");

    let json: Value = serde_json::from_str(&f.ok(&["inspect", "ex.kiln", "--json"])).unwrap();
    assert_eq!(json["kernels"], 6);
    assert_eq!(json["dispatches"], 6);
    assert_eq!(json["kernel_list"].as_array().unwrap().len(), 6);
    assert_eq!(json["dispatch_list"].as_array().unwrap().len(), 6);
    let ops: Vec<&str> = json["kernel_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["op"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops,
        ["conv", "relu", "max_pool", "matmul", "add", "softmax"]
    );
    assert_eq!(json["inputs"][0]["name"], "image");
    assert_eq!(json["inputs"][0]["shape"], serde_json::json!([1, 1, 8, 8]));
    assert_eq!(json["outputs"][0]["name"], "probs");
    assert_eq!(json["outputs"][0]["dtype"], "f32");
    // conv.weight 36 + conv.bias 4 + fc.weight 640 + fc.bias 10 floats, word-aligned.
    assert_eq!(json["weight_bytes"], 2760);
    assert_eq!(json["options"]["opt_level"], 0);
    let text = f.ok(&["inspect", "ex.kiln"]);
    assert!(
        text.contains("kernels: 6 distinct, 6 dispatches per run"),
        "{text}"
    );

    let gpu = f.kiln(&["run", "ex.kiln", "-i", "x.npy", "-o", "gpu"]);
    assert!(
        gpu.status.success(),
        "{}",
        String::from_utf8_lossy(&gpu.stderr)
    );
    let stderr = String::from_utf8_lossy(&gpu.stderr);
    assert!(stderr.contains("kiln: using GPU adapter "), "{stderr}");
    f.ok(&["run", "example.onnx", "-i", "x.npy", "-o", "onnx-gpu"]);
    f.ok(&[
        "run",
        "example.onnx",
        "-i",
        "x.npy",
        "--backend",
        "cpu",
        "-o",
        "cpu",
    ]);

    let cpu = read_output(&f.path("cpu"));
    let expected = kiln::npy::read_npy(
        Path::new("example-expected.npy"),
        include_bytes!("../assets/example-expected.npy"),
    )
    .unwrap()
    .tensor
    .to_f64_vec();
    for dir in ["gpu", "onnx-gpu"] {
        let got = read_output(&f.path(dir));
        assert_eq!(got.len(), 10);
        for (i, ((g, c), e)) in got.iter().zip(&cpu).zip(&expected).enumerate() {
            approx::assert_abs_diff_eq!(*g, *c, epsilon = 1e-6);
            approx::assert_abs_diff_eq!(*g, *e, epsilon = 1e-6);
            assert!(*g > 0.0, "{dir}: probability {i} is {g}");
        }
    }
}

#[test]
fn two_compiles_are_byte_identical() {
    let f = Fixture::new();
    let a = std::fs::read(f.compile("a.kiln")).unwrap();
    let b = std::fs::read(f.compile("b.kiln")).unwrap();
    assert!(a == b, "two compiles of the same model differ");
    let in_process = kiln::compile_bundle(
        &kiln::load_onnx_bytes(kiln::EXAMPLE_ONNX).unwrap(),
        &kiln::CompileOptions {
            opt_level: 0,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(in_process.to_bytes() == a, "the library and the CLI agree");
    let names: Vec<_> = std::fs::read_dir(f.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".kiln") || n.starts_with('.'))
        .collect();
    assert_eq!(names.len(), 2, "no temporary files are left: {names:?}");
}

#[test]
fn damaged_bundles_give_one_clear_error() {
    let f = Fixture::new();
    let good = std::fs::read(f.compile("ex.kiln")).unwrap();

    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x10;
    std::fs::write(f.path("flipped.kiln"), &flipped).unwrap();
    std::fs::write(f.path("truncated.kiln"), &good[..good.len() - 100]).unwrap();
    let mut newer = good.clone();
    let version = kiln::codegen::bundle::FORMAT_VERSION + 1;
    newer[8..12].copy_from_slice(&version.to_le_bytes());
    std::fs::write(f.path("newer.kiln"), &newer).unwrap();

    let newer_msg =
        format!("newer.kiln: bundle format version {version} is newer than this kiln reads");
    let cases = [
        (
            "flipped.kiln",
            "flipped.kiln: bundle is corrupted: checksum mismatch",
        ),
        ("truncated.kiln", "truncated.kiln: bundle is truncated"),
        ("newer.kiln", newer_msg.as_str()),
    ];
    for (name, want) in cases {
        for args in [
            &["run", name, "-i", "x.npy"][..],
            &["inspect", name],
            &["bench", name, "--iters", "1"],
        ] {
            let line = error_line(&f.kiln(args), 1);
            assert!(
                line.starts_with(&format!("error: {want}")),
                "kiln {args:?}: {line}"
            );
        }
    }
}

#[test]
fn a_bundle_needing_an_absent_feature_is_refused_before_running() {
    let f = Fixture::new();
    let mut bundle = Bundle::read(&f.compile("ex.kiln")).unwrap();
    // A Windows-only Vulkan extension: no adapter on Linux (or Metal, or DX12) has it.
    let feature = "VULKAN_EXTERNAL_MEMORY_WIN32";
    bundle
        .manifest
        .plan
        .requirements
        .features
        .push(feature.to_string());
    std::fs::write(f.path("needs.kiln"), bundle.to_bytes()).unwrap();

    let json: Value = serde_json::from_str(&f.ok(&["inspect", "needs.kiln", "--json"])).unwrap();
    assert_eq!(
        json["requirements"]["features"],
        serde_json::json!([feature])
    );
    let line = error_line(
        &f.kiln(&["run", "needs.kiln", "-i", "x.npy", "-o", "out"]),
        1,
    );
    assert!(line.contains("cannot run this plan"), "{line}");
    assert!(line.contains(&format!("feature {feature}")), "{line}");
    assert!(!f.path("out").exists(), "no outputs are written");

    bundle.manifest.plan.requirements.features = vec!["NO_SUCH_FEATURE".to_string()];
    std::fs::write(f.path("unknown.kiln"), bundle.to_bytes()).unwrap();
    let line = error_line(&f.kiln(&["run", "unknown.kiln", "-i", "x.npy"]), 1);
    assert!(
        line.contains("unknown wgpu feature 'NO_SUCH_FEATURE'"),
        "{line}"
    );
}

#[test]
fn adapter_and_backend_errors() {
    let f = Fixture::new();
    f.compile("ex.kiln");
    let line = error_line(
        &f.kiln(&[
            "run",
            "ex.kiln",
            "-i",
            "x.npy",
            "--adapter",
            "no-such-gpu-xyz",
        ]),
        1,
    );
    assert!(
        line.starts_with("error: no adapter name contains 'no-such-gpu-xyz'; available: "),
        "{line}"
    );
    // No Vulkan driver and no other backend: the fix is named, exit status 1.
    let no_gpu = [
        ("WGPU_BACKEND", "vulkan"),
        ("VK_ICD_FILENAMES", "/nonexistent/icd.json"),
        ("VK_DRIVER_FILES", "/nonexistent/icd.json"),
    ];
    let out = f.kiln_env(
        &["run", "ex.kiln", "-i", "x.npy", "--backend", "gpu"],
        &no_gpu,
    );
    let line = error_line(&out, 1);
    assert!(line.starts_with("error: no GPU adapter found"), "{line}");
    assert!(
        line.contains("apt-get install mesa-vulkan-drivers"),
        "{line}"
    );
    // The demo falls back to the CPU reference, saying why in one line.
    let out = f.kiln_env(&[], &no_gpu);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let notes: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("no GPU adapter found"))
        .collect();
    assert_eq!(notes.len(), 1, "{stdout}");
    assert!(notes[0].contains("mesa-vulkan-drivers"), "{stdout}");
    assert!(stdout.contains("top classes: class 9 (0.2348)"), "{stdout}");

    let line = error_line(
        &f.kiln(&["run", "ex.kiln", "-i", "x.npy", "--backend", "cpu"]),
        2,
    );
    assert!(line.contains("a bundle holds GPU kernels"), "{line}");
    let line = error_line(
        &f.kiln(&["compile", "example.onnx", "-o", "o.kiln", "--opt", "3"]),
        2,
    );
    assert!(
        line.contains("optimisation level 3 does not exist"),
        "{line}"
    );
    assert!(!f.path("o.kiln").exists());
    let line = error_line(&f.kiln(&["run", "ex.kiln", "--shape", "image=1x1x8x8"]), 2);
    assert!(line.contains("--shape applies to .onnx models"), "{line}");
}

#[test]
fn bench_reports_latency_and_kernel_times() {
    let f = Fixture::new();
    f.compile("ex.kiln");
    let stdout = f.ok(&[
        "bench", "ex.kiln", "--iters", "5", "--warmup", "1", "--json",
    ]);
    let json: Value = serde_json::from_str(&stdout).unwrap();
    let (median, min, max) = (
        json["median_ms"].as_f64().unwrap(),
        json["min_ms"].as_f64().unwrap(),
        json["max_ms"].as_f64().unwrap(),
    );
    assert!(0.0 < min && min <= median && median <= max, "{json}");
    assert!(json["load_ms"].as_f64().unwrap() > 0.0, "{json}");
    assert!(json["first_run_ms"].as_f64().unwrap() > 0.0, "{json}");
    assert_eq!(json["iters"], 5);
    assert!(!json["adapter"].as_str().unwrap().is_empty());
    assert_eq!(json["random_inputs"], serde_json::json!(["image"]));
    let kernels = json["kernels"].as_array().unwrap();
    assert_eq!(kernels.len(), 6);
    let dispatches: u64 = kernels
        .iter()
        .map(|k| k["dispatches"].as_u64().unwrap())
        .sum();
    assert_eq!(dispatches, 6);
    assert!(kernels.iter().all(|k| k["ms"].as_f64().unwrap() >= 0.0));
    let text = f.ok(&["bench", "example.onnx", "--iters", "3", "-i", "x.npy"]);
    assert!(
        text.contains("wall time per run (3 runs after 3 warm-up): median "),
        "{text}"
    );
    assert!(text.contains("\nload "), "{text}");
    assert!(text.contains(" ms, first run "), "{text}");
}

#[test]
fn the_demo_runs_the_example_on_the_gpu() {
    let f = Fixture::new();
    let stdout = f.ok(&[]);
    assert!(
        stdout.contains("5. ran the bundle on the GPU adapter "),
        "{stdout}"
    );
    assert!(stdout.contains("(agrees)"), "{stdout}");
    let gpu_part = &stdout[stdout.find("5. ran the bundle").unwrap()..];
    assert!(
        gpu_part.contains("top classes: class 9 (0.2348), class 0 (0.1641)"),
        "{stdout}"
    );
}

#[test]
fn bench_calibrates_a_device_profile_that_compile_reads() {
    let f = Fixture::new();
    let stdout = f.ok(&["bench", "--calibrate", "--json"]);
    let json: Value = serde_json::from_str(&stdout).unwrap();
    for key in [
        "bandwidth_gbs",
        "gflops",
        "int_gops",
        "dot4_gops",
        "launch_us",
    ] {
        let v = json[key].as_f64().unwrap();
        assert!(v.is_finite() && v > 0.0, "{key}: {json}");
    }
    // The sparse kernels' rates per stored weight, one per format.
    let sparse = json["sparse_gops"].as_array().unwrap();
    assert_eq!(sparse.len(), 3, "{json}");
    for v in sparse {
        let v = v.as_f64().unwrap();
        assert!(v.is_finite() && v > 0.0, "{json}");
    }
    let adapter = json["name"].as_str().unwrap().to_string();
    assert!(!adapter.is_empty());
    std::fs::write(f.path("device.json"), &stdout).unwrap();
    let report = f.ok(&[
        "compile",
        "example.onnx",
        "-o",
        "ex.kiln",
        "--profile",
        "device.json",
        "--report",
    ]);
    assert!(
        report.contains(&format!("cost model {adapter}")),
        "{report}"
    );
    let text = f.ok(&["bench", "--calibrate"]);
    assert!(text.contains("GFLOP/s"), "{text}");
    std::fs::write(f.path("bad.json"), "{\"name\": 1}").unwrap();
    let line = error_line(
        &f.kiln(&["compile", "example.onnx", "--profile", "bad.json"]),
        1,
    );
    assert!(line.contains("not a device profile"), "{line}");
}

#[test]
fn out_of_range_gather_indices_are_one_error_line() {
    // An embedding lookup: a 5-row table gathered at int64 ids given at run time.
    let f = Fixture::new();
    let mut b = onnx_build::OnnxBuilder::new("embed");
    let ids = b.input("ids", kiln_onnx::proto::data_type::INT64, &[3]);
    let table = b.f32s(&[5, 4], onnx_build::random(20, 1.0, 3));
    let rows = b.node(
        "Gather",
        &[&table, &ids],
        &[("axis", onnx_build::Attr::Int(0))],
    );
    b.output(&rows, kiln_onnx::proto::data_type::FLOAT, &[3, 4]);
    std::fs::write(f.path("embed.onnx"), b.encode(17)).unwrap();
    for (name, ids) in [("good.npy", vec![4, -5, 0]), ("bad.npy", vec![1, 7, 2])] {
        let t = kiln::Tensor::new([3usize].as_slice(), kiln::ir::Data::I32(ids)).unwrap();
        let mut file = std::fs::File::create(f.path(name)).unwrap();
        kiln::npy::write_npy(&mut file, &t, kiln::Wide::I64).unwrap();
    }
    f.ok(&["compile", "embed.onnx", "-o", "embed.kiln"]);
    f.ok(&["run", "embed.kiln", "-i", "ids=good.npy"]);
    let line = error_line(&f.kiln(&["run", "embed.kiln", "-i", "ids=bad.npy"]), 1);
    assert!(
        line.contains("an index is out of range [-5, 5) (got 7)"),
        "{line}"
    );
}

#[test]
fn a_profile_with_f16_arithmetic_computes_f16_steps_in_f16() {
    // relu(x·y + x) on f16 inputs in ±[0.01, 1): the product is within an ulp of 2^-11
    // of the reference's, the sum (below 2) within one of 2^-10 more.
    let f = Fixture::new();
    let half = kiln_onnx::proto::data_type::FLOAT16;
    let mut b = onnx_build::OnnxBuilder::new("half");
    let x = b.input("x", half, &[3, 7]);
    let y = b.input("y", half, &[7]);
    let p = b.node("Mul", &[&x, &y], &[]);
    let s = b.node("Add", &[&p, &x], &[]);
    let r = b.node("Relu", &[&s], &[]);
    b.output(&r, half, &[3, 7]);
    std::fs::write(f.path("half.onnx"), b.encode(17)).unwrap();
    for (name, dims, seed) in [("hx.npy", [3usize, 7].as_slice(), 1), ("hy.npy", &[7], 2)] {
        let t = kiln::random_tensor(kiln_ir::DType::F16, dims, seed);
        let mut file = std::fs::File::create(f.path(name)).unwrap();
        kiln::npy::write_npy(&mut file, &t, kiln::Wide::No).unwrap();
    }

    let calibrated: Value =
        serde_json::from_str(&f.ok(&["bench", "--calibrate", "--json"])).unwrap();
    // Only an adapter with SHADER_F16 measures the speed-up (lavapipe on Vulkan, not GL).
    let has_f16 = calibrated.get("f16_speedup").is_some();
    let mut profile = calibrated;
    profile["f16_speedup"] = serde_json::json!(2.0);
    std::fs::write(f.path("device.json"), profile.to_string()).unwrap();
    f.ok(&["compile", "half.onnx", "-o", "f32.kiln"]);
    f.ok(&[
        "compile",
        "half.onnx",
        "-o",
        "f16.kiln",
        "--profile",
        "device.json",
    ]);
    let features = |bundle: &str| -> Value {
        let json: Value = serde_json::from_str(&f.ok(&["inspect", bundle, "--json"])).unwrap();
        json["requirements"]["features"].clone()
    };
    assert_eq!(features("f32.kiln"), serde_json::json!([]));
    assert_eq!(features("f16.kiln"), serde_json::json!(["SHADER_F16"]));

    let run = |bundle: &str, out: &str| {
        f.kiln(&["run", bundle, "-i", "x=hx.npy", "-i", "y=hy.npy", "-o", out])
    };
    if has_f16 {
        assert!(run("f16.kiln", "gpu").status.success());
        f.ok(&[
            "run",
            "half.onnx",
            "--backend",
            "cpu",
            "-i",
            "x=hx.npy",
            "-i",
            "y=hy.npy",
            "-o",
            "cpu",
        ]);
        let (gpu, cpu) = (read_output(&f.path("gpu")), read_output(&f.path("cpu")));
        for (g, c) in gpu.iter().zip(&cpu) {
            assert!(
                (g - c).abs() <= 1.0 / 2048.0 + 1.0 / 1024.0,
                "{g} against {c}"
            );
        }
    } else {
        let line = error_line(&run("f16.kiln", "gpu"), 1);
        assert!(line.contains("SHADER_F16"), "{line}");
    }
}
