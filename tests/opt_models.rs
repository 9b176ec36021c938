//! Whole models through the optimizer: the random-weight copies of resnet50,
//! densenet121 and inception_v1 compiled at `--opt 0` and `--opt 2` (bundles in
//! memory). The `--opt 2` bundle has at most 40% of the `--opt 0` dispatches (issue 4's
//! goal), and both run on the GPU within 1e-4 relative L2 of onnxruntime's outputs.
//!
//! Needs the test data (`scripts/setup-test-data.sh`; missing data fails under
//! `KILN_REQUIRE_DATA=1`, else the test prints a skip note) and a GPU adapter for the
//! runs (`KILN_REQUIRE_GPU=1` makes a missing one a failure).

mod common;

use common::{catch, data_dir, gpu, load_case, relative_l2, run_options, show, Case};
use kiln::Bundle;
use std::collections::BTreeMap;
use std::path::Path;

/// Largest `--opt 2` / `--opt 0` dispatch ratio (issue 4's done-criterion).
const MAX_DISPATCH_RATIO: f64 = 0.40;
/// Largest relative L2 error against onnxruntime.
const MAX_REL_L2: f64 = 1e-4;

/// The case's model compiled at `opt_level` to a bundle, specialised on its inputs.
fn bundle(case: &Case, opt_level: u8) -> Result<Bundle, String> {
    let model = kiln::load_onnx(&case.model).map_err(|e| e.to_string())?;
    let options = run_options(&model, &case.inputs, opt_level);
    let (bundle, report) = kiln::compile_bundle_with_report(&model, &options)
        .map_err(|e| format!("--opt {opt_level}: {e}"))?;
    if let Some(report) = report {
        let stops: Vec<String> = report
            .phases
            .iter()
            .map(|p| format!("{} {}", p.name, p.stop_reason))
            .collect();
        show(&format!(
            "{}: --opt {opt_level} optimizer: {:.0} ms, stopped: {}",
            case.name,
            report.total_time.as_secs_f64() * 1e3,
            stops.join("; ")
        ));
    }
    Ok(bundle)
}

/// Dispatches per kernel op (`conv: 57, concat: 20, ...`), most first.
fn dispatch_ops(bundle: &Bundle) -> String {
    let plan = &bundle.manifest.plan;
    let mut by_op: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &plan.dispatches {
        *by_op.entry(plan.kernels[d.kernel].op.as_str()).or_default() += 1;
    }
    let mut ops: Vec<(&str, usize)> = by_op.into_iter().collect();
    ops.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let ops: Vec<String> = ops.iter().map(|(op, n)| format!("{op}: {n}")).collect();
    ops.join(", ")
}

/// Runs `bundle` on the GPU and compares every output with onnxruntime's.
fn check_outputs(
    case: &Case,
    bundle: &Bundle,
    runtime: &kiln::Runtime,
    opt_level: u8,
) -> Result<(), String> {
    let model = kiln::load_onnx(&case.model).map_err(|e| e.to_string())?;
    let values = run_options(&model, &case.inputs, opt_level).values;
    let inputs =
        kiln::bind_plan_inputs(&bundle.manifest.plan, &values).map_err(|e| e.to_string())?;
    let outputs = kiln::run_gpu(runtime, bundle, &inputs).map_err(|e| e.to_string())?;
    if outputs.len() != case.outputs.len() {
        return Err(format!(
            "--opt {opt_level}: {} outputs but expected {}",
            outputs.len(),
            case.outputs.len()
        ));
    }
    for (i, (got, want)) in outputs.iter().zip(&case.outputs).enumerate() {
        if got.shape() != want.tensor.shape() {
            return Err(format!(
                "--opt {opt_level} output {i}: shape {} but expected {}",
                got.shape(),
                want.tensor.shape()
            ));
        }
        let err = relative_l2(got, &want.tensor);
        show(&format!(
            "{}: GPU --opt {opt_level} output {i}: relative L2 error {err:.2e}",
            case.name
        ));
        if err.is_nan() || err > MAX_REL_L2 {
            return Err(format!(
                "GPU --opt {opt_level} output {i}: relative L2 error {err:.2e} > {MAX_REL_L2:e}"
            ));
        }
    }
    Ok(())
}

fn check_model(dir: &Path) -> Result<(), String> {
    let case = load_case(dir)?;
    let (b0, b2) = (bundle(&case, 0)?, bundle(&case, 2)?);
    let (d0, d2) = (
        b0.manifest.plan.dispatches.len(),
        b2.manifest.plan.dispatches.len(),
    );
    let ratio = d2 as f64 / d0 as f64;
    show(&format!(
        "{}: {d0} dispatches at --opt 0, {d2} at --opt 2: {:.1}% (at most {:.0}% wanted)\n  \
         --opt 0: {}\n  --opt 2: {}",
        case.name,
        100.0 * ratio,
        100.0 * MAX_DISPATCH_RATIO,
        dispatch_ops(&b0),
        dispatch_ops(&b2),
    ));
    let mut failures = Vec::new();
    if let Some(runtime) = gpu(&case.name) {
        for (level, b) in [(0, &b0), (2, &b2)] {
            if let Err(e) = check_outputs(&case, b, &runtime, level) {
                failures.push(e);
            }
        }
    }
    if ratio > MAX_DISPATCH_RATIO {
        failures.push(format!(
            "--opt 2 has {d2} dispatches, {:.1}% of the {d0} at --opt 0 (at most {:.0}% \
             wanted); left: {}",
            100.0 * ratio,
            100.0 * MAX_DISPATCH_RATIO,
            dispatch_ops(&b2)
        ));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

fn check(model: &str) {
    let Some(dir) = data_dir("light-random", model) else {
        return;
    };
    let dir = dir.join(model);
    if let Err(e) = catch(|| check_model(&dir)) {
        panic!("{model}: {e}");
    }
}

#[test]
fn resnet50() {
    check("resnet50");
}

#[test]
fn densenet121() {
    check("densenet121");
}

#[test]
fn inception_v1() {
    check("inception_v1");
}
