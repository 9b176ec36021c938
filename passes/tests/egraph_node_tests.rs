//! Differential check over the ONNX node tests (ignored by default: the conformance
//! harness runs them at both levels; test data from `kiln_testdata`): every model that imports gives the same
//! outputs on the reference interpreter before and after the optimizer.

mod common;

use kiln_passes::egraph::{optimize, EgraphOptions};
use kiln_passes::{canonicalize, PassOptions};

#[test]
#[ignore = "needs the generated ONNX node tests"]
fn node_tests_keep_their_outputs() {
    let Some(dir) = kiln_testdata::data_dir("node", "node_tests_keep_their_outputs") else {
        return;
    };
    let list = kiln_testdata::conformance_list("node-core.txt").join("\n");
    let (mut checked, mut changed) = (0, 0);
    let mut failures = Vec::new();
    for name in list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let path = dir.join(name).join("model.onnx");
        let Ok(m) = kiln_onnx::Model::load(&path) else {
            continue;
        };
        let Ok(g) = kiln_onnx::import(&m, &Default::default()) else {
            continue;
        };
        let Ok(g) = canonicalize(g, &PassOptions::default()) else {
            continue;
        };
        if g.inputs.iter().any(|p| {
            !matches!(
                g.ty(p.value).dtype,
                kiln_ir::DType::F32 | kiln_ir::DType::I32 | kiln_ir::DType::Bool
            )
        }) {
            continue;
        }
        let inputs = common::random_inputs(&g, 5);
        let Ok(before) = kiln_ir::interp::run(&g, &inputs) else {
            continue;
        };
        let out = match optimize(&g, &EgraphOptions::default()) {
            Ok((out, r)) => {
                if r.kernels_after != r.kernels_before {
                    changed += 1;
                }
                out
            }
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        checked += 1;
        match kiln_ir::interp::run(&out, &inputs) {
            Ok(after) => {
                for (x, y) in before.iter().zip(&after) {
                    let bad = x.ty() != y.ty()
                        || x.to_f64_vec().iter().zip(y.to_f64_vec()).any(|(p, q)| {
                            !((p - q).abs() <= 1e-4 * p.abs().max(1.0)
                                || (p.is_nan() && q.is_nan())
                                || p == &q)
                        });
                    if bad {
                        failures.push(format!("{name}: outputs differ"));
                        break;
                    }
                }
            }
            Err(e) => failures.push(format!("{name}: optimized graph fails: {e}")),
        }
    }
    println!("checked {checked} node tests, {changed} changed by the optimizer");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
