//! The GL backend through the `kiln` binary: choosing the graphics API
//! (`--backend-api`, `WGPU_BACKEND`, the option winning; bad names as one error line),
//! the adapter line naming it, the same outputs as on Vulkan, and the requirement check
//! against GL's own limits (a plan needing more than GL offers is refused before any
//! work, the same plan running on Vulkan where it offers more).
//!
//! These tests need both a Vulkan and a GL adapter (Mesa's lavapipe and llvmpipe are
//! enough: `mesa-vulkan-drivers`, `libegl1 libegl-mesa0 libgl1-mesa-dri`) and FAIL
//! without them.

mod common;

use common::cli::CliDir;
use std::process::Output;

/// The adapter line `kiln run` prints on stderr.
fn adapter_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    stderr
        .lines()
        .find(|l| l.starts_with("kiln: using GPU adapter "))
        .unwrap_or_else(|| panic!("no adapter line in: {stderr}"))
        .to_string()
}

/// The one line a failed command prints, with its exit status checked.
fn error_line(out: &Output, status: i32) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(status), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(out.stdout.is_empty());
    lines[0].to_string()
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn output(dir: &CliDir, sub: &str) -> Vec<f64> {
    kiln::read_tensor_file(dir.path(sub).join("output_0.npy"))
        .unwrap()
        .tensor
        .to_f64_vec()
}

#[test]
fn backend_api_picks_gl_and_the_flag_wins_over_the_environment() {
    let f = CliDir::new();
    let run = |out: &str| {
        vec![
            "run".to_string(),
            "example.onnx".into(),
            "-i".into(),
            "x.npy".into(),
            "-o".into(),
            out.into(),
        ]
    };

    let mut gl = run("gl");
    gl.extend(["--backend-api".into(), "gl".into()]);
    let line = adapter_line(&f.kiln(&args(&gl)));
    assert!(line.contains(" [Gl, "), "{line}");

    let line = adapter_line(&f.kiln_env(&args(&run("env-gl")), &[("WGPU_BACKEND", "gl")]));
    assert!(line.contains(" [Gl, "), "{line}");

    let mut vk = run("vk");
    vk.extend(["--backend-api".into(), "VULKAN".into()]);
    let line = adapter_line(&f.kiln_env(&args(&vk), &[("WGPU_BACKEND", "gl")]));
    assert!(line.contains(" [Vulkan, "), "the option wins: {line}");

    let mut cpu = run("cpu");
    cpu.extend(["--backend".into(), "cpu".into()]);
    f.ok(&args(&cpu));
    let (gl, vk, cpu) = (output(&f, "gl"), output(&f, "vk"), output(&f, "cpu"));
    assert_eq!(gl, output(&f, "env-gl"));
    for (i, ((g, v), c)) in gl.iter().zip(&vk).zip(&cpu).enumerate() {
        assert!((g - c).abs() <= 1e-6, "element {i}: GL {g}, CPU {c}");
        assert!((g - v).abs() <= 1e-6, "element {i}: GL {g}, Vulkan {v}");
    }
}

#[test]
fn bad_backend_api_names_are_one_error_line() {
    let f = CliDir::new();
    let line = f.usage_error(&[
        "run",
        "example.onnx",
        "-i",
        "x.npy",
        "--backend-api",
        "webgl",
    ]);
    assert!(
        line.contains("unknown backend API 'webgl' (expected one of vulkan, gl, metal, dx12)"),
        "{line}"
    );
    let out = f.kiln_env(
        &["bench", "example.onnx", "--iters", "1"],
        &[("WGPU_BACKEND", "vulkan,opengl3")],
    );
    assert_eq!(
        error_line(&out, 1),
        "error: WGPU_BACKEND: unknown backend API 'opengl3' (expected one of vulkan, gl, \
         metal, dx12)"
    );
    let line = f.usage_error(&[
        "run",
        "example.onnx",
        "-i",
        "x.npy",
        "--backend",
        "cpu",
        "--backend-api",
        "gl",
    ]);
    assert_eq!(line, "error: --backend-api applies to --backend gpu");
}

/// The plan's storage-buffer requirement set just above what GL offers: refused on GL
/// before anything runs (the error quotes GL's real limit, no output is written), and
/// run on Vulkan where the adapter offers that many.
#[test]
fn requirements_are_checked_against_the_gl_adapters_own_limits() {
    let gl = kiln::gpu_runtime_on(None, &[kiln::BackendApi::Gl]).expect("a GL adapter");
    let vk = kiln::gpu_runtime_on(None, &[kiln::BackendApi::Vulkan]).expect("a Vulkan adapter");
    let offered = gl.limits().max_storage_buffers_per_shader_stage;
    let need = offered + 1;
    let f = CliDir::new();
    f.ok(&["compile", "example.onnx", "-o", "ex.kiln"]);
    let mut bundle = kiln::read_bundle(f.path("ex.kiln")).unwrap();
    bundle
        .manifest
        .plan
        .requirements
        .max_storage_buffers_per_shader_stage = need;
    std::fs::write(f.path("needs.kiln"), bundle.to_bytes()).unwrap();

    let out = f.kiln(&[
        "run",
        "needs.kiln",
        "-i",
        "x.npy",
        "-o",
        "out",
        "--backend-api",
        "gl",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let line = stderr.lines().last().unwrap_or_default();
    assert!(
        line.starts_with("error: adapter '") && line.contains("[Gl, "),
        "{line}"
    );
    assert!(
        line.ends_with(&format!(
            "cannot run this plan: the plan needs max_storage_buffers_per_shader_stage >= \
             {need} (the adapter offers {offered})"
        )),
        "{line}"
    );
    assert!(!f.path("out").exists(), "nothing ran, no outputs written");

    if vk.limits().max_storage_buffers_per_shader_stage >= need {
        f.ok(&[
            "run",
            "needs.kiln",
            "-i",
            "x.npy",
            "-o",
            "out",
            "--backend-api",
            "vulkan",
        ]);
        assert_eq!(output(&f, "out").len(), 10);
    }
}
