//! ONNX conformance: runs the ONNX backend node tests listed in `conformance/` through
//! the CPU reference interpreter and compares with the expected outputs.
//!
//! Data: `scripts/setup-test-data.sh` generates the tests from the pinned `onnx` package.
//! `KILN_CONFORMANCE_FILTER=substring` runs a subset (the floor is then not enforced).

mod common;

use common::{catch, compare, compile_and_run, data_dir, load_case, repo};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

/// ONNX's backend test runner tolerances: `|got - want| <= ATOL + RTOL * |want|`.
const ATOL: f64 = 1e-7;
const RTOL: f64 = 1e-3;

/// Runs one node test; `Err` holds why it failed.
fn run_test(dir: &Path) -> Result<(), String> {
    let case = load_case(dir)?;
    let got = compile_and_run(&case)?;
    if got.len() != case.outputs.len() {
        return Err(format!(
            "{} outputs but expected {}",
            got.len(),
            case.outputs.len()
        ));
    }
    for (i, ((tensor, i64), want)) in got.iter().zip(&case.outputs).enumerate() {
        compare(tensor, *i64, want, ATOL, RTOL).map_err(|e| format!("output {i}: {e}"))?;
    }
    Ok(())
}

/// A test that runs longer than this is a failure (`TIMEOUT`); the run goes on.
const TIMEOUT: Duration = Duration::from_secs(120);

/// Runs one test on its own thread, catching panics; a hung test is reported and left
/// behind rather than hanging the whole run.
fn run_with_timeout(dir: PathBuf) -> Result<(), String> {
    let (send, receive) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("node-test".into())
        .spawn(move || {
            let _ = send.send(catch(|| run_test(&dir)));
        });
    if let Err(e) = spawned {
        return Err(format!("cannot start a thread: {e}"));
    }
    receive.recv_timeout(TIMEOUT).unwrap_or_else(|e| match e {
        RecvTimeoutError::Timeout => Err(format!("TIMEOUT: still running after {TIMEOUT:?}")),
        RecvTimeoutError::Disconnected => Err("the test thread died without a result".into()),
    })
}

/// Test-name prefixes (after `test_`) and the ONNX op they test; the longest prefix
/// that ends at `_`, a digit or the name's end wins.
#[rustfmt::skip]
const OPS: &[(&str, &str)] = &[
    ("abs", "Abs"), ("add", "Add"), ("and", "And"), ("argmax", "ArgMax"), ("argmin", "ArgMin"),
    ("averagepool", "AveragePool"), ("basic_conv", "Conv"), ("batchnorm", "BatchNormalization"),
    ("cast", "Cast"), ("ceil", "Ceil"), ("clip", "Clip"), ("concat", "Concat"),
    ("constant", "Constant"), ("constant_pad", "Pad"), ("constantofshape", "ConstantOfShape"),
    ("conv", "Conv"), ("convtranspose", "ConvTranspose"), ("cos", "Cos"),
    ("depthtospace", "DepthToSpace"), ("div", "Div"), ("dropout", "Dropout"), ("edge_pad", "Pad"),
    ("elu", "Elu"), ("equal", "Equal"), ("erf", "Erf"), ("exp", "Exp"), ("expand", "Expand"),
    ("flatten", "Flatten"), ("floor", "Floor"), ("gather", "Gather"), ("gelu", "Gelu"),
    ("gemm", "Gemm"), ("globalaveragepool", "GlobalAveragePool"),
    ("globalmaxpool", "GlobalMaxPool"), ("greater", "Greater"), ("greater_equal", "GreaterOrEqual"),
    ("hardsigmoid", "HardSigmoid"), ("hardswish", "HardSwish"), ("identity", "Identity"),
    ("instancenorm", "InstanceNormalization"), ("layer_normalization", "LayerNormalization"),
    ("leakyrelu", "LeakyRelu"), ("less", "Less"), ("less_equal", "LessOrEqual"), ("log", "Log"),
    ("logsoftmax", "LogSoftmax"), ("lrn", "LRN"), ("matmul", "MatMul"), ("max", "Max"),
    ("maxpool", "MaxPool"), ("mean", "Mean"), ("min", "Min"), ("mish", "Mish"), ("mul", "Mul"),
    ("neg", "Neg"), ("not", "Not"), ("or", "Or"), ("pow", "Pow"), ("prelu", "PRelu"),
    ("range", "Range"), ("reciprocal", "Reciprocal"), ("reduce_l2", "ReduceL2"),
    ("reduce_max", "ReduceMax"), ("reduce_mean", "ReduceMean"), ("reduce_min", "ReduceMin"),
    ("reduce_prod", "ReduceProd"), ("reduce_sum", "ReduceSum"),
    ("reduce_sum_square", "ReduceSumSquare"), ("reflect_pad", "Pad"), ("relu", "Relu"),
    ("reshape", "Reshape"), ("resize", "Resize"), ("round", "Round"), ("selu", "Selu"),
    ("shape", "Shape"), ("sigmoid", "Sigmoid"), ("sign", "Sign"), ("sin", "Sin"),
    ("slice", "Slice"), ("softmax", "Softmax"), ("softplus", "Softplus"),
    ("spacetodepth", "SpaceToDepth"), ("split", "Split"), ("sqrt", "Sqrt"),
    ("squeeze", "Squeeze"), ("sub", "Sub"), ("sum", "Sum"), ("tanh", "Tanh"), ("tile", "Tile"),
    ("training_dropout", "Dropout"), ("transpose", "Transpose"), ("unsqueeze", "Unsqueeze"),
    ("where", "Where"), ("wrap_pad", "Pad"),
    ("convinteger", "ConvInteger"), ("dequantizelinear", "DequantizeLinear"),
    ("dynamicquantizelinear", "DynamicQuantizeLinear"), ("matmulinteger", "MatMulInteger"),
    ("qlinearconv", "QLinearConv"), ("qlinearmatmul", "QLinearMatMul"),
    ("quantizelinear", "QuantizeLinear"),
];

/// The op a node test exercises, from its name (`test_reduce_sum_keepdims` → `ReduceSum`).
fn op_of(test: &str) -> String {
    let name = test.strip_prefix("test_").unwrap_or(test);
    OPS.iter()
        .filter(|(prefix, _)| {
            name.strip_prefix(prefix).is_some_and(|rest| {
                rest.is_empty()
                    || rest.starts_with('_')
                    || rest.starts_with(|c: char| c.is_ascii_digit())
            })
        })
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, op)| op.to_string())
        .unwrap_or_else(|| name.split('_').next().unwrap_or(name).to_string())
}

/// The outcome of a list: passed count and failures as (test, error).
struct Report {
    total: usize,
    failures: Vec<(String, String)>,
}

impl Report {
    fn passed(&self) -> usize {
        self.total - self.failures.len()
    }

    /// `N passed, N failed`, then the failures grouped by op with each error's first line.
    fn render(&self, title: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{title}: {} tests", self.total);
        let _ = writeln!(
            out,
            "{} passed, {} failed",
            self.passed(),
            self.failures.len()
        );
        let mut by_op: BTreeMap<String, Vec<&(String, String)>> = BTreeMap::new();
        for failure in &self.failures {
            by_op.entry(op_of(&failure.0)).or_default().push(failure);
        }
        if !by_op.is_empty() {
            let _ = writeln!(out, "failures by op:");
        }
        for (op, failures) in &by_op {
            let _ = writeln!(out, "  {op}: {}", failures.len());
            for (test, error) in failures {
                let _ = writeln!(out, "    {test}: {}", error.lines().next().unwrap_or(""));
            }
        }
        out
    }
}

/// Runs every test of `conformance/<list>` that matches the filter.
fn run_list(list: &str, node_dir: &Path, filter: Option<&str>) -> Report {
    let path = repo().join("conformance").join(list);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let tests: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| filter.is_none_or(|f| l.contains(f)))
        .collect();
    let verbose = std::env::var_os("KILN_CONFORMANCE_VERBOSE").is_some();
    let mut failures = Vec::new();
    for test in &tests {
        if verbose {
            eprintln!("{test} ...");
        }
        let dir = node_dir.join(test);
        let result = if dir.is_dir() {
            run_with_timeout(dir)
        } else {
            Err(format!("test data {} is missing", dir.display()))
        };
        if let Err(e) = result {
            failures.push((test.to_string(), e));
        }
    }
    Report {
        total: tests.len(),
        failures,
    }
}

/// Prints a report and writes it to `target/<file>` (scripts/test.sh prints its summary).
/// The `N passed, N failed` line shows even when the harness captures output; the table
/// too when `table` is set.
fn publish(text: &str, file: &str, table: bool) {
    if table {
        common::show(text);
    } else {
        let summary: Vec<&str> = text.lines().take(2).collect();
        common::show(&summary.join("\n"));
        println!("{text}");
    }
    let out = repo().join("target").join(file);
    let written =
        std::fs::create_dir_all(repo().join("target")).and_then(|()| std::fs::write(&out, text));
    if let Err(e) = written {
        eprintln!("cannot write {}: {e}", out.display());
    }
}

/// The pass-count floor committed in `conformance/floor-cpu.txt`.
fn floor() -> usize {
    let path = repo().join("conformance/floor-cpu.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .and_then(|l| l.parse().ok())
        .unwrap_or_else(|| panic!("{}: no floor number", path.display()))
}

/// A report's title: the list, the backend, and the filter if any.
fn title(list: &str, filter: &Option<String>) -> String {
    match filter {
        Some(f) => format!("{list} (CPU, only tests containing '{f}')"),
        None => format!("{list} (CPU)"),
    }
}

#[test]
fn node_core_cpu() {
    let Some(node_dir) = data_dir("node", "node_core_cpu") else {
        return;
    };
    let filter = std::env::var("KILN_CONFORMANCE_FILTER").ok();
    let report = run_list("node-core.txt", &node_dir, filter.as_deref());
    publish(
        &report.render(&title("node-core", &filter)),
        "conformance-cpu.txt",
        true,
    );
    if filter.is_none() {
        let floor = floor();
        assert!(
            report.passed() >= floor,
            "node-core: {} passed, below the floor of {floor} in conformance/floor-cpu.txt",
            report.passed()
        );
        if report.passed() > floor {
            common::show(&format!(
                "node-core: {} passed, above the floor of {floor}: raise conformance/floor-cpu.txt",
                report.passed()
            ));
        }
    }
}

#[test]
fn node_quant_cpu() {
    let Some(node_dir) = data_dir("node", "node_quant_cpu") else {
        return;
    };
    let filter = std::env::var("KILN_CONFORMANCE_FILTER").ok();
    let report = run_list("node-quant.txt", &node_dir, filter.as_deref());
    // Counted and printed only: quantized ops are not part of the foundation.
    let text = report.render(&title("node-quant", &filter));
    publish(&text, "conformance-quant-cpu.txt", false);
}

#[test]
fn op_names_from_test_names() {
    assert_eq!(
        op_of("test_reduce_sum_square_keepdims_random_expanded"),
        "ReduceSumSquare"
    );
    assert_eq!(op_of("test_reduce_sum_keepdims_example"), "ReduceSum");
    assert_eq!(op_of("test_logsoftmax_axis_0"), "LogSoftmax");
    assert_eq!(op_of("test_log"), "Log");
    assert_eq!(op_of("test_and2d"), "And");
    assert_eq!(op_of("test_sign"), "Sign");
    assert_eq!(op_of("test_less_equal_bcast_expanded"), "LessOrEqual");
    assert_eq!(op_of("test_constant_pad_axes"), "Pad");
    assert_eq!(op_of("test_maxpool_2d_pads"), "MaxPool");
    assert_eq!(op_of("test_unknownop_x"), "unknownop");
}

/// The harness itself: a test's outputs checked against another test's expected
/// outputs must fail, and against its own must pass.
#[test]
fn harness_rejects_wrong_outputs() {
    let Some(node_dir) = data_dir("node", "harness_rejects_wrong_outputs") else {
        return;
    };
    let add = load_case(&node_dir.join("test_add")).expect("test_add");
    let sub = load_case(&node_dir.join("test_sub")).expect("test_sub");
    let got = compile_and_run(&add).expect("test_add runs");
    assert_eq!(got.len(), 1);
    compare(&got[0].0, got[0].1, &add.outputs[0], ATOL, RTOL).expect("test_add matches itself");
    assert!(compare(&got[0].0, got[0].1, &sub.outputs[0], ATOL, RTOL).is_err());
    // One element off by 2e-3 relative fails; off by 5e-4 relative passes.
    let want = &add.outputs[0];
    let mut values = common::f32s(&want.tensor);
    values[7] *= 1.0005;
    let close =
        kiln::Tensor::from_f32(want.tensor.shape().dims().to_vec(), values.clone()).unwrap();
    compare(&close, false, want, ATOL, RTOL).expect("within tolerance");
    values[7] *= 1.0015;
    let far = kiln::Tensor::from_f32(want.tensor.shape().dims().to_vec(), values).unwrap();
    assert!(compare(&far, false, want, ATOL, RTOL).is_err());
}

#[test]
fn panics_become_failures() {
    let result: Result<(), String> = catch(|| panic!("boom {}", 42));
    let error = result.expect_err("a panic is a failure");
    assert!(
        error.starts_with("PANIC: boom 42 at tests/conformance.rs:"),
        "{error}"
    );
}
