//! The `kiln` binary as a user meets it: the built-in example, `kiln run` on a real
//! model, and bad input (broken models, unsupported ops, wrong or missing inputs), which
//! must give a non-zero exit, one `error:` line on stderr, no panic and no output files.

mod common;

use kiln::{DType, Tensor};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn kiln(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot start kiln: {e}"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A scratch folder with the built-in example model and a helper to write `.npy` files.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let scratch = Scratch {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        std::fs::write(scratch.path("example.onnx"), kiln::EXAMPLE_ONNX).expect("write model");
        scratch
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn str(&self, name: &str) -> String {
        self.path(name).to_string_lossy().into_owned()
    }

    fn write(&self, name: &str, bytes: &[u8]) -> String {
        std::fs::write(self.path(name), bytes).expect("write file");
        self.str(name)
    }

    fn npy(&self, name: &str, tensor: &Tensor) -> String {
        let mut bytes = Vec::new();
        kiln::npy::write_npy(&mut bytes, tensor, kiln::Wide::No).expect("encode npy");
        self.write(name, &bytes)
    }

    /// The output folder `kiln run` is pointed at; it must stay empty on failure.
    fn out(&self) -> String {
        self.str("out")
    }
}

/// The example model's input name.
fn example_input_name() -> String {
    let model = kiln::load_onnx_bytes(kiln::EXAMPLE_ONNX).expect("example decodes");
    model.inputs()[0].name.clone()
}

/// Runs `kiln args...` and checks it fails cleanly: status != 0, exactly one stderr line
/// starting with `error:`, no panic, nothing written to `out_dir`. Returns that line.
fn fails_cleanly(args: &[&str], out_dir: &Path) -> String {
    let out = kiln(args);
    let err = stderr(&out);
    assert!(
        !out.status.success(),
        "kiln {args:?} succeeded; stderr: {err}"
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "kiln {args:?}: stderr is not one line:\n{err}"
    );
    assert!(
        lines[0].starts_with("error: "),
        "kiln {args:?}: stderr does not start with 'error: ': {err}"
    );
    for bad in [
        "panicked",
        "internal error",
        "RUST_BACKTRACE",
        "stack backtrace",
    ] {
        assert!(
            !err.contains(bad),
            "kiln {args:?}: stderr shows a panic: {err}"
        );
    }
    let written: Vec<_> = std::fs::read_dir(out_dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(
        written.is_empty(),
        "kiln {args:?} failed but wrote {written:?}"
    );
    println!("kiln {}: {}", args.first().unwrap_or(&""), lines[0]);
    lines[0].to_string()
}

/// `kiln run MODEL -o OUT [inputs...]` must fail cleanly; returns the error line.
fn run_fails(s: &Scratch, model: &str, inputs: &[String]) -> String {
    let out = s.out();
    let mut args = vec!["run", model, "--backend", "cpu", "--output-dir", &out];
    for input in inputs {
        args.extend(["--input", input.as_str()]);
    }
    fails_cleanly(&args, &s.path("out"))
}

fn image(dtype: DType, dims: &[usize]) -> Tensor {
    let n: usize = dims.iter().product();
    match dtype {
        DType::F32 => Tensor::from_f32(
            dims.to_vec(),
            (0..n).map(|i| i as f32 / n as f32 - 0.5).collect(),
        ),
        _ => Tensor::from_i32(dims.to_vec(), (0..n).map(|i| i as i32 % 7 - 3).collect()),
    }
    .expect("tensor")
}

#[test]
fn no_arguments_runs_the_built_in_example() {
    let out = kiln(&[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "kiln failed: {}", stderr(&out));
    assert!(
        text.contains("built-in example"),
        "unexpected output:\n{text}"
    );
    assert!(text.contains("// after import"), "no IR dump in:\n{text}");
    assert!(text.contains("top classes"), "no result in:\n{text}");
}

#[test]
fn truncated_model() {
    let s = Scratch::new();
    let model = s.write(
        "truncated.onnx",
        &kiln::EXAMPLE_ONNX[..kiln::EXAMPLE_ONNX.len() / 2],
    );
    let line = run_fails(&s, &model, &[]);
    assert!(
        line.contains("truncated.onnx"),
        "the error does not name the file: {line}"
    );
}

#[test]
fn random_bytes_model() {
    let s = Scratch::new();
    // A fixed xorshift stream: not a protobuf ONNX model.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let model = s.write("random.onnx", &bytes);
    run_fails(&s, &model, &[]);
    fails_cleanly(&["dump", &model], &s.path("out"));
}

#[test]
fn empty_and_missing_model_files() {
    let s = Scratch::new();
    let model = s.write("empty.onnx", b"");
    run_fails(&s, &model, &[]);
    run_fails(&s, &s.str("does-not-exist.onnx"), &[]);
}

#[test]
fn unsupported_op() {
    let s = Scratch::new();
    // Rename the example's one `Relu` to `Rely` (same length, so the protobuf stays valid).
    let bytes = kiln::EXAMPLE_ONNX;
    let at = bytes
        .windows(4)
        .position(|w| w == b"Relu")
        .expect("the example has a Relu node");
    let mut edited = bytes.to_vec();
    edited[at..at + 4].copy_from_slice(b"Rely");
    let model = s.write("unsupported.onnx", &edited);
    let x = s.npy("x.npy", &image(DType::F32, &[1, 1, 8, 8]));
    let line = run_fails(&s, &model, &[x]);
    assert!(
        line.contains("Rely"),
        "the error does not name the op: {line}"
    );
    let line = fails_cleanly(&["dump", &model], &s.path("out"));
    assert!(
        line.contains("Rely"),
        "the error does not name the op: {line}"
    );
}

#[test]
fn unsupported_op_from_python() {
    let Some(dir) = common::data_dir("cli", "unsupported_op_from_python") else {
        return;
    };
    let s = Scratch::new();
    let model = dir
        .join("unsupported_op.onnx")
        .to_string_lossy()
        .into_owned();
    let x = s.npy("x.npy", &image(DType::F32, &[2, 3]));
    let line = run_fails(&s, &model, &[x]);
    assert!(
        line.contains("NotARealOp"),
        "the error does not name the op: {line}"
    );
}

#[test]
fn malformed_quantized_models_fail_with_one_line() {
    // quant/bad/ (scripts/make-quant-data.py): a per-axis scale of the wrong length, a
    // negative block size, a zero point of another dtype than output_dtype, dequantizing
    // a float, MatMulNBits with a short B or 3-bit weights, an unknown com.microsoft op,
    // MatMulInteger of floats. Each names what is wrong in one line; nothing is written.
    let Some(dir) = common::data_dir("quant", "malformed_quantized_models") else {
        return;
    };
    let dir = dir.join("bad");
    let text = std::fs::read_to_string(dir.join("expected.json")).expect("expected.json");
    let expected: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&text).expect("expected.json maps files to phrases");
    assert!(expected.len() >= 8, "{expected:?}");
    let s = Scratch::new();
    for (file, phrase) in &expected {
        let model = dir.join(file).to_string_lossy().into_owned();
        let out = s.path("bad.kiln");
        let line = fails_cleanly(
            &["compile", &model, "-o", &s.str("bad.kiln")],
            &s.path("none"),
        );
        assert!(line.contains(phrase), "{file}: `{phrase}` not in: {line}");
        assert!(!out.exists(), "{file}: a bundle was written");
    }
}

#[test]
fn wrong_input_shape() {
    let s = Scratch::new();
    let x = s.npy("x.npy", &image(DType::F32, &[1, 1, 4, 4]));
    let line = run_fails(&s, &s.str("example.onnx"), &[x]);
    let named = line.contains(&example_input_name());
    assert!(
        named && (line.contains("shape") || line.contains("dims")),
        "the error does not explain the shape: {line}"
    );
}

#[test]
fn wrong_input_dtype() {
    let s = Scratch::new();
    let x = s.npy("x.npy", &image(DType::I32, &[1, 1, 8, 8]));
    let line = run_fails(&s, &s.str("example.onnx"), &[x]);
    assert!(
        line.contains("i32") || line.contains("int32"),
        "the error does not name the dtype: {line}"
    );
}

#[test]
fn missing_input() {
    let s = Scratch::new();
    let line = run_fails(&s, &s.str("example.onnx"), &[]);
    assert!(
        line.contains(&example_input_name()),
        "the error does not name the input: {line}"
    );
}

#[test]
fn unknown_input_name() {
    let s = Scratch::new();
    let x = s.npy("x.npy", &image(DType::F32, &[1, 1, 8, 8]));
    run_fails(&s, &s.str("example.onnx"), &[format!("no_such_input={x}")]);
}

#[test]
fn unreadable_npy() {
    let s = Scratch::new();
    let x = s.write("x.npy", b"\x93NUMPY this is not really an npy file");
    let line = run_fails(&s, &s.str("example.onnx"), &[x]);
    assert!(
        line.contains("x.npy"),
        "the error does not name the file: {line}"
    );
    let missing = s.str("missing.npy");
    run_fails(&s, &s.str("example.onnx"), &[missing]);
}

#[test]
fn run_writes_outputs() {
    let s = Scratch::new();
    let x = s.npy("x.npy", &kiln::example_input());
    let name = example_input_name();
    let out = kiln(&[
        "run",
        &s.str("example.onnx"),
        "--input",
        &format!("{name}={x}"),
        "-o",
        &s.out(),
    ]);
    assert!(out.status.success(), "kiln run failed: {}", stderr(&out));
    let got = kiln::read_tensor_file(s.path("out/output_0.npy")).expect("output_0.npy");
    let want = kiln::read_tensor_file(common::repo().join("assets/example-expected.npy"))
        .expect("expected");
    let want = kiln_onnx::NamedTensor {
        name: String::new(),
        tensor: want.tensor,
        wide: want.wide,
    };
    common::compare(&got.tensor, got.wide, &want, 1e-6, 1e-5).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn run_light_model_matches_shipped_output() {
    let Some(dir) = common::data_dir("light", "run_light_model_matches_shipped_output") else {
        return;
    };
    let case = dir.join("squeezenet");
    let s = Scratch::new();
    let model = case.join("model.onnx").to_string_lossy().into_owned();
    let input = case
        .join("test_data_set_0/input_0.npy")
        .to_string_lossy()
        .into_owned();
    let out = kiln(&[
        "run",
        &model,
        "--backend",
        "cpu",
        "--input",
        &input,
        "--output-dir",
        &s.out(),
    ]);
    assert!(out.status.success(), "kiln run failed: {}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().count(),
        1,
        "expected a one-line summary per output:\n{stdout}"
    );
    let got = kiln::read_tensor_file(s.path("out/output_0.npy")).expect("output_0.npy");
    let want = common::read_pbs(&case.join("test_data_set_0"), "output").expect("output_0.pb");
    common::compare(&got.tensor, got.wide, &want[0], 1e-5, 1e-3).unwrap_or_else(|e| panic!("{e}"));
}
