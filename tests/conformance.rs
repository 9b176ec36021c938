//! ONNX conformance: runs the ONNX backend node tests listed in `conformance/`
//! (node-core; node-quant: every Q/DQ dtype and the integer ops; node-all: the whole
//! node suite an inference compiler should run) in four
//! configurations — the CPU reference interpreter and the GPU (a bundle compiled in
//! memory, as `kiln run` does), each at `--opt 0` and `--opt 2` — and compares with the
//! expected outputs. Each configuration has a committed pass-count floor
//! (`conformance/floor-[quant-|all-]<backend>-o<level>.txt`) and a report in
//! `target/conformance-[quant-|all-]<backend>-o<level>.txt`; per backend, `--opt 2` must pass
//! exactly the tests `--opt 0` passes (differential: no rewrite breaks a test).
//!
//! node-core and node-quant also run on the GL backend (`gl`, their own floors and
//! reports).
//!
//! Data: `scripts/setup-test-data.sh` generates the tests from the pinned `onnx` package.
//! `KILN_CONFORMANCE_FILTER=substring` runs a subset (the floors are then not enforced,
//! the differential check is). The GPU tests need an adapter (lavapipe is enough); they
//! are skipped without one unless `KILN_REQUIRE_GPU=1`.

mod common;

use common::{
    catch, compare, compare_ulps, compile_and_run, data_dir, load_case, repo, run_case, Backend,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// ONNX's backend test runner tolerances: `|got - want| <= ATOL + RTOL * |want|`.
const ATOL: f64 = 1e-7;
const RTOL: f64 = 1e-3;

/// An f16 output may also differ from the expected one by this many f16 ulps. ONNX's
/// reference evaluates f16 ops in numpy, rounding to f16 inside an op where kiln
/// rounds each op's f32 result once (its Softmax rounds exp, the row sum and the
/// quotient separately): so an expected f16 value carries up to one more rounding per
/// op than kiln's, and the first op after it (a product or sum of such values) can
/// turn that into a second ulp of its own result. `RTOL` covers 1 to 2 ulps depending
/// on where the value lies in its binade (an ulp is 2^-11 to 2^-10 of it); this
/// makes it 2 everywhere. `test_attention_4d_causal_fp16_expanded` needs it: kiln is
/// nearer the exact result there (3.8e-4 against the reference's 5.0e-4), 2 ulps
/// from the reference.
const F16_ULPS: f64 = 2.0;

/// The optimisation levels every backend is measured at.
const LEVELS: [u8; 2] = [0, 2];

/// The size of a passing test's compiled graph: ops, and fused ops among them; on the
/// GPU, whether its plan has no dispatch at all (everything was computed while compiling).
#[derive(Clone, Copy, Default)]
struct Size {
    ops: usize,
    fused: usize,
    no_dispatch: bool,
}

/// Runs one node test on `backend` at `--opt opt_level`; `Err` holds why it failed.
fn run_test(dir: &Path, backend: &Backend, opt_level: u8) -> Result<Size, String> {
    let case = load_case(dir)?;
    let ran = run_case(&case, backend, opt_level)?;
    let size = Size {
        ops: ran.ops,
        fused: ran.fused,
        no_dispatch: ran.dispatches == Some(0),
    };
    let got = ran.outputs;
    if got.len() != case.outputs.len() {
        return Err(format!(
            "{} outputs but expected {}",
            got.len(),
            case.outputs.len()
        ));
    }
    for (i, ((tensor, wide), want)) in got.iter().zip(&case.outputs).enumerate() {
        compare_ulps(tensor, *wide, want, ATOL, RTOL, F16_ULPS)
            .map_err(|e| format!("output {i}: {e}"))?;
    }
    Ok(size)
}

/// A test that runs longer than this is a failure (`TIMEOUT`); the run goes on.
const TIMEOUT: Duration = Duration::from_secs(120);

/// Runs one test on its own thread, catching panics; a hung test is reported and left
/// behind rather than hanging the whole run.
fn run_with_timeout(dir: PathBuf, backend: &Backend, opt_level: u8) -> Result<Size, String> {
    let (send, receive) = mpsc::channel();
    let backend = backend.clone();
    let spawned = std::thread::Builder::new()
        .name("node-test".into())
        .spawn(move || {
            let _ = send.send(catch(|| run_test(&dir, &backend, opt_level)));
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
    ("gru", "GRU"), ("lstm", "LSTM"), ("rnn", "RNN"), ("simple_rnn", "RNN"), ("top_k", "TopK"),
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

/// The outcome of a list in one configuration: the tests run, the failures as
/// (test, error), how long it took, the summed size of the passing tests' graphs, and
/// the passing tests that ran no GPU dispatch.
struct Report {
    tests: Vec<String>,
    failures: Vec<(String, String)>,
    elapsed: Duration,
    size: Size,
    no_dispatch: Vec<String>,
}

impl Report {
    fn passed(&self) -> usize {
        self.tests.len() - self.failures.len()
    }

    /// The tests that passed.
    fn passing(&self) -> BTreeSet<&str> {
        let failed: BTreeSet<&str> = self.failures.iter().map(|(t, _)| t.as_str()).collect();
        self.tests
            .iter()
            .map(String::as_str)
            .filter(|t| !failed.contains(t))
            .collect()
    }

    /// `title: N tests in T s`, `N passed, N failed`, the size of the passing tests'
    /// graphs (on the GPU, how many of them ran no dispatch), then a table of failures per
    /// op and the failures grouped by op with each error's first line.
    fn render(&self, title: &str, backend: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{title}: {} tests in {:.1} s",
            self.tests.len(),
            self.elapsed.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "{} passed, {} failed",
            self.passed(),
            self.failures.len()
        );
        let _ = writeln!(
            out,
            "the passing tests compiled to {} ops, {} of them fused by the optimizer",
            self.size.ops, self.size.fused
        );
        if backend != "cpu" {
            let _ = writeln!(
                out,
                "{} of the {} passing tests ran no GPU dispatch: each output is an input \
                 passed through (Identity, Reshape, inference Dropout, ...), a value folded \
                 while compiling (Shape, Range, ...) or empty; they test import and folding, \
                 not a GPU kernel",
                self.no_dispatch.len(),
                self.passed()
            );
        }
        let mut by_op: BTreeMap<String, Vec<&(String, String)>> = BTreeMap::new();
        for failure in &self.failures {
            by_op.entry(op_of(&failure.0)).or_default().push(failure);
        }
        if !by_op.is_empty() {
            let row: Vec<String> = by_op
                .iter()
                .map(|(op, f)| format!("{op} {}", f.len()))
                .collect();
            let _ = writeln!(out, "failures per op: {}", row.join(", "));
            let _ = writeln!(out, "failures by op:");
            for (op, failures) in &by_op {
                let _ = writeln!(out, "  {op}: {}", failures.len());
                for (test, error) in failures {
                    let _ = writeln!(out, "    {test}: {}", error.lines().next().unwrap_or(""));
                }
            }
        }
        if backend != "cpu" && !self.no_dispatch.is_empty() {
            let _ = writeln!(out, "passing tests that ran no GPU dispatch:");
            let mut line = String::new();
            for test in &self.no_dispatch {
                if !line.is_empty() && line.len() + test.len() > 96 {
                    let _ = writeln!(out, " {line}");
                    line.clear();
                }
                line.push(' ');
                line.push_str(test);
            }
            let _ = writeln!(out, " {line}");
        }
        out
    }
}

/// The tests of `conformance/<list>` that match the filter.
fn list_tests(list: &str, filter: Option<&str>) -> Vec<String> {
    let path = repo().join("conformance").join(list);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| filter.is_none_or(|f| l.contains(f)))
        .map(str::to_string)
        .collect()
}

/// Runs `tests` on `backend` at `--opt opt_level`.
fn run_list(tests: &[String], node_dir: &Path, backend: &Backend, opt_level: u8) -> Report {
    let verbose = std::env::var_os("KILN_CONFORMANCE_VERBOSE").is_some();
    let start = Instant::now();
    let mut failures = Vec::new();
    let mut size = Size::default();
    let mut no_dispatch = Vec::new();
    for test in tests {
        if verbose {
            eprintln!("{test} ({} --opt {opt_level}) ...", backend.name());
        }
        let dir = node_dir.join(test);
        let result = if dir.is_dir() {
            run_with_timeout(dir, backend, opt_level)
        } else {
            Err(format!("test data {} is missing", dir.display()))
        };
        match result {
            Ok(s) => {
                size.ops += s.ops;
                size.fused += s.fused;
                if s.no_dispatch {
                    no_dispatch.push(test.clone());
                }
            }
            Err(e) => failures.push((test.clone(), e)),
        }
    }
    Report {
        tests: tests.to_vec(),
        failures,
        elapsed: start.elapsed(),
        size,
        no_dispatch,
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

/// The pass-count floor committed in `conformance/floor-<config>.txt`.
fn floor(config: &str) -> usize {
    let path = repo().join(format!("conformance/floor-{config}.txt"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .and_then(|l| l.parse().ok())
        .unwrap_or_else(|| panic!("{}: no floor number", path.display()))
}

/// A report's title: the list, the backend and level, and the filter if any.
fn title(list: &str, backend: &str, opt_level: Option<u8>, filter: &Option<String>) -> String {
    let mut config = backend.to_uppercase();
    if let Some(level) = opt_level {
        config.push_str(&format!(", --opt {level}"));
    }
    match filter {
        Some(f) => format!("{list} ({config}, only tests containing '{f}')"),
        None => format!("{list} ({config})"),
    }
}

/// The differential check of one backend: the tests that pass at one level and not at
/// the other. Empty when every level passes the same tests.
fn differential(backend: &str, reports: &[(u8, Report)]) -> Vec<String> {
    let mut lines = Vec::new();
    let Some(((base_level, base), rest)) = reports.split_first() else {
        return lines;
    };
    let errors = |r: &Report, test: &str| {
        r.failures
            .iter()
            .find(|(t, _)| t == test)
            .map(|(_, e)| e.lines().next().unwrap_or("").to_string())
            .unwrap_or_default()
    };
    for (level, report) in rest {
        let (a, b) = (base.passing(), report.passing());
        for test in a.difference(&b) {
            lines.push(format!(
                "{backend}: {test} passes at --opt {base_level}, fails at --opt {level}: {}",
                errors(report, test)
            ));
        }
        for test in b.difference(&a) {
            lines.push(format!(
                "{backend}: {test} passes at --opt {level}, fails at --opt {base_level}: {}",
                errors(base, test)
            ));
        }
    }
    lines
}

/// A node-test list kiln is measured on: its name, the file of its reports and floors
/// (`conformance-{prefix}{backend}-o{level}.txt`, `conformance/floor-{prefix}...`).
struct Suite {
    list: &'static str,
    prefix: &'static str,
}

const NODE_CORE: Suite = Suite {
    list: "node-core",
    prefix: "",
};

const NODE_QUANT: Suite = Suite {
    list: "node-quant",
    prefix: "quant-",
};

const NODE_ALL: Suite = Suite {
    list: "node-all",
    prefix: "all-",
};

/// Runs `suite` on `backend` at every level: prints and writes each report, then
/// checks each level's floor (without a filter) and that every level passes the same
/// tests. All problems are reported together.
fn node_suite(suite: &Suite, backend: Backend, node_dir: &Path) {
    let filter = std::env::var("KILN_CONFORMANCE_FILTER").ok();
    let tests = list_tests(&format!("{}.txt", suite.list), filter.as_deref());
    let (list, prefix) = (suite.list, suite.prefix);
    let name = backend.name();
    let mut reports = Vec::new();
    let mut problems = Vec::new();
    for level in LEVELS {
        let report = run_list(&tests, node_dir, &backend, level);
        let config = format!("{prefix}{name}-o{level}");
        publish(
            &report.render(&title(list, name, Some(level), &filter), name),
            &format!("conformance-{config}.txt"),
            true,
        );
        if filter.is_none() {
            let floor = floor(&config);
            let passed = report.passed();
            if passed < floor {
                problems.push(format!(
                    "{list} ({config}): {passed} passed, below the floor of {floor} in \
                     conformance/floor-{config}.txt"
                ));
            } else if passed > floor {
                common::show(&format!(
                    "{list} ({config}): {passed} passed, above the floor of {floor}: raise \
                     conformance/floor-{config}.txt"
                ));
            }
        }
        reports.push((level, report));
    }
    let diff = differential(name, &reports);
    let counts: Vec<String> = reports
        .iter()
        .map(|(level, r)| format!("--opt {level}: {} passed", r.passed()))
        .collect();
    let mut text = format!(
        "{list} differential ({}): {}\n",
        name.to_uppercase(),
        counts.join(", ")
    );
    if diff.is_empty() {
        text.push_str("every level passes the same tests\n");
    } else {
        text.push_str(&format!(
            "{} tests pass at one level and not the other:\n",
            diff.len()
        ));
        for line in &diff {
            text.push_str(&format!("  {line}\n"));
        }
        problems.push(format!(
            "{list} ({name}): the levels pass different tests ({counts}):\n  {}",
            diff.join("\n  "),
            counts = counts.join(", ")
        ));
    }
    publish(
        &text,
        &format!("conformance-{prefix}{name}-differential.txt"),
        true,
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn node_core_cpu() {
    let Some(node_dir) = data_dir("node", "node_core_cpu") else {
        return;
    };
    node_suite(&NODE_CORE, Backend::Cpu, &node_dir);
}

#[test]
fn node_core_gpu() {
    let Some(node_dir) = data_dir("node", "node_core_gpu") else {
        return;
    };
    let Some(runtime) = common::gpu("node_core_gpu") else {
        return;
    };
    node_suite(&NODE_CORE, Backend::Gpu(runtime), &node_dir);
}

/// node-core on the GPU through OpenGL (Mesa's llvmpipe over EGL here): the same
/// kernels as on Vulkan, translated by naga to GLSL, whose integer `%` and other
/// corners differ (`floor-gl-*`). A missing GL adapter fails under `KILN_REQUIRE_GPU=1`.
#[test]
fn node_core_gl() {
    let Some(node_dir) = data_dir("node", "node_core_gl") else {
        return;
    };
    let Some(runtime) = common::gpu_on(kiln::BackendApi::Gl, "node_core_gl") else {
        return;
    };
    node_suite(&NODE_CORE, Backend::Gpu(runtime), &node_dir);
}

#[test]
fn node_quant_cpu() {
    let Some(node_dir) = data_dir("node", "node_quant_cpu") else {
        return;
    };
    node_suite(&NODE_QUANT, Backend::Cpu, &node_dir);
}

#[test]
fn node_quant_gpu() {
    let Some(node_dir) = data_dir("node", "node_quant_gpu") else {
        return;
    };
    let Some(runtime) = common::gpu("node_quant_gpu") else {
        return;
    };
    node_suite(&NODE_QUANT, Backend::Gpu(runtime), &node_dir);
}

/// node-quant through OpenGL (`floor-quant-gl-*`): the integer and packed-dot kernels
/// in GLSL.
#[test]
fn node_quant_gl() {
    let Some(node_dir) = data_dir("node", "node_quant_gl") else {
        return;
    };
    let Some(runtime) = common::gpu_on(kiln::BackendApi::Gl, "node_quant_gl") else {
        return;
    };
    node_suite(&NODE_QUANT, Backend::Gpu(runtime), &node_dir);
}

#[test]
fn node_all_cpu() {
    let Some(node_dir) = data_dir("node", "node_all_cpu") else {
        return;
    };
    node_suite(&NODE_ALL, Backend::Cpu, &node_dir);
}

#[test]
fn node_all_gpu() {
    let Some(node_dir) = data_dir("node", "node_all_gpu") else {
        return;
    };
    let Some(runtime) = common::gpu("node_all_gpu") else {
        return;
    };
    node_suite(&NODE_ALL, Backend::Gpu(runtime), &node_dir);
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
    compare(&close, kiln_ir::Wide::No, want, ATOL, RTOL).expect("within tolerance");
    values[7] *= 1.0015;
    let far = kiln::Tensor::from_f32(want.tensor.shape().dims().to_vec(), values).unwrap();
    assert!(compare(&far, kiln_ir::Wide::No, want, ATOL, RTOL).is_err());
}

/// An f16 output passes within `F16_ULPS` f16 ulps of the expected value (where `RTOL`
/// alone allows less) and fails one ulp further; an f32 output gets no such allowance.
#[test]
fn f16_outputs_pass_within_two_ulps() {
    let want = |v: f32| kiln_onnx::NamedTensor {
        name: "y".into(),
        tensor: kiln::Tensor::new(vec![1], kiln::ir::Data::F16(vec![half::f16::from_f32(v)]))
            .unwrap(),
        wide: kiln_ir::Wide::No,
    };
    let f16 =
        |v: f64| kiln::Tensor::new(vec![1], kiln::ir::Data::F16(vec![half::f16::from_f64(v)]));
    // 0.469482421875 lies high in [0.25, 0.5): RTOL allows 4.7e-4, under 2 ulps (4.9e-4).
    let w = 0.469482421875;
    let ulp = common::f16_ulp(w);
    assert_eq!(ulp, 2f64.powi(-12));
    let expected = want(w as f32);
    let two_off = f16(w - 2.0 * ulp).unwrap();
    assert!(compare(&two_off, kiln_ir::Wide::No, &expected, ATOL, RTOL).is_err());
    compare_ulps(&two_off, kiln_ir::Wide::No, &expected, ATOL, RTOL, F16_ULPS)
        .expect("2 ulps pass");
    let three_off = f16(w - 3.0 * ulp).unwrap();
    assert!(compare_ulps(
        &three_off,
        kiln_ir::Wide::No,
        &expected,
        ATOL,
        RTOL,
        F16_ULPS
    )
    .is_err());
    // The same values in f32 are held to RTOL.
    let f32_want = kiln_onnx::NamedTensor {
        name: "y".into(),
        tensor: kiln::Tensor::from_f32(vec![1], vec![w as f32]).unwrap(),
        wide: kiln_ir::Wide::No,
    };
    let f32_off = kiln::Tensor::from_f32(vec![1], vec![(w - 2.0 * ulp) as f32]).unwrap();
    assert!(compare_ulps(&f32_off, kiln_ir::Wide::No, &f32_want, ATOL, RTOL, F16_ULPS).is_err());
}

/// An expected infinity matches only itself: `RTOL * inf` is infinite, so the tolerance
/// alone would let any finite value (say `-f32::MAX` for `-inf`) pass. NaN matches NaN.
#[test]
fn infinities_match_only_themselves() {
    let want = |values: Vec<f32>| kiln_onnx::NamedTensor {
        name: "y".into(),
        tensor: kiln::Tensor::from_f32(vec![values.len()], values).unwrap(),
        wide: kiln_ir::Wide::No,
    };
    let got = |values: Vec<f32>| kiln::Tensor::from_f32(vec![values.len()], values).unwrap();
    let expected = want(vec![f32::NEG_INFINITY, f32::INFINITY, f32::NAN, 1.0]);
    let same = got(vec![f32::NEG_INFINITY, f32::INFINITY, f32::NAN, 1.0005]);
    compare(&same, kiln_ir::Wide::No, &expected, ATOL, RTOL)
        .expect("equal infinities and NaNs match");
    for wrong in [
        got(vec![-f32::MAX, f32::INFINITY, f32::NAN, 1.0]),
        got(vec![f32::NEG_INFINITY, f32::MAX, f32::NAN, 1.0]),
        got(vec![f32::INFINITY, f32::INFINITY, f32::NAN, 1.0]),
        got(vec![f32::NEG_INFINITY, f32::INFINITY, 0.0, 1.0]),
        got(vec![
            f32::NEG_INFINITY,
            f32::INFINITY,
            f32::NAN,
            f32::INFINITY,
        ]),
    ] {
        assert!(compare(&wrong, kiln_ir::Wide::No, &expected, ATOL, RTOL).is_err());
    }
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

/// The differential check names a test that passes at one level and not the other, in
/// both directions, with the failing level's error; equal outcomes give no lines.
#[test]
fn differential_names_the_tests_that_differ() {
    let report = |failures: &[(&str, &str)]| Report {
        tests: ["test_a", "test_b", "test_c"].map(String::from).to_vec(),
        failures: failures
            .iter()
            .map(|(t, e)| (t.to_string(), e.to_string()))
            .collect(),
        elapsed: Duration::ZERO,
        size: Size::default(),
        no_dispatch: Vec::new(),
    };
    let same = [
        (0, report(&[("test_c", "boom")])),
        (2, report(&[("test_c", "boom")])),
    ];
    assert!(differential("cpu", &same).is_empty());
    let differ = [
        (0, report(&[("test_c", "unsupported\nmore")])),
        (2, report(&[("test_a", "output 0: 1 of 4 elements differ")])),
    ];
    assert_eq!(
        differential("gpu", &differ),
        [
            "gpu: test_a passes at --opt 0, fails at --opt 2: output 0: 1 of 4 elements differ",
            "gpu: test_c passes at --opt 2, fails at --opt 0: unsupported",
        ]
    );
}

/// A GPU report counts and names the passing tests that ran no dispatch (the line
/// `scripts/test.sh` summarises); a CPU report has no such line.
#[test]
fn gpu_report_counts_tests_without_dispatches() {
    let report = Report {
        tests: ["test_a", "test_b", "test_c"].map(String::from).to_vec(),
        failures: vec![("test_c".into(), "boom".into())],
        elapsed: Duration::ZERO,
        size: Size::default(),
        no_dispatch: vec!["test_b".into()],
    };
    let gpu = report.render("node-core (GPU, --opt 0)", "gpu");
    assert!(
        gpu.contains("\n1 of the 2 passing tests ran no GPU dispatch: "),
        "{gpu}"
    );
    assert!(
        gpu.ends_with("passing tests that ran no GPU dispatch:\n  test_b\n"),
        "{gpu}"
    );
    let cpu = report.render("node-core (CPU, --opt 0)", "cpu");
    assert!(!cpu.contains("no GPU dispatch"), "{cpu}");
}

/// An f16 op computes in f32 and rounds its result to f16 on the GPU as on the CPU:
/// the expanded f16 attention chain (scaled products, a bias, softmax, a product) gives
/// the reference's bits exactly at both levels. (Kernels that kept f32 results for f16
/// values differed by an f16 ulp in 4 of its 192 outputs.)
#[test]
fn f16_chain_matches_the_reference_bit_for_bit_on_the_gpu() {
    let test = "f16_chain_matches_the_reference_bit_for_bit_on_the_gpu";
    let Some(node_dir) = data_dir("node", test) else {
        return;
    };
    let Some(runtime) = common::gpu(test) else {
        return;
    };
    let case = load_case(&node_dir.join("test_attention_4d_causal_fp16_expanded")).unwrap();
    let cpu = run_case(&case, &Backend::Cpu, 0).unwrap().outputs;
    for level in LEVELS {
        let gpu = run_case(&case, &Backend::Gpu(runtime.clone()), level)
            .unwrap()
            .outputs;
        assert_eq!(gpu[0].0.dtype(), kiln::DType::F16);
        assert_eq!(gpu[0].0, cpu[0].0, "--opt {level}");
    }
}
