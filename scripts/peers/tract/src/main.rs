//! Scores tract (tract-onnx 0.23.9, CPU) on a list of ONNX backend node tests with kiln's
//! pass rule; see `scripts/peers/README.md`.
//!
//! Usage: `score-tract LIST NODE_DIR` (LIST: one test name a line, `#` comments; NODE_DIR:
//! `$KILN_TEST_DATA/node`). Prints `N of M passed` and each failure with its reason.
//!
//! Each test's model is loaded with `tract_onnx::onnx()`, every input is given its dtype and
//! shape from the test data (not its value: as a runtime is used), then the model is
//! optimised and run once. A test passes when every output has the expected shape and dtype
//! and matches elementwise: floats within `|out - expected| <= 1e-7 + 1e-3 * |expected|`
//! (NaN matches NaN, an infinity only itself), everything else exactly. A load, optimise or
//! run error, or a panic, is a failure.

use prost::Message;
use std::path::Path;
use tract_onnx::pb::TensorProto;
use tract_onnx::prelude::*;

const ATOL: f64 = 1e-7;
const RTOL: f64 = 1e-3;

/// `prefix_0.pb`, `prefix_1.pb`, ... of `dir`, as tract tensors.
fn read_tensors(dir: &Path, prefix: &str) -> Result<Vec<Tensor>, String> {
    let mut tensors = Vec::new();
    loop {
        let path = dir.join(format!("{prefix}_{}.pb", tensors.len()));
        if !path.exists() {
            return Ok(tensors);
        }
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let proto = TensorProto::decode(&*bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        let tensor = tract_onnx::tensor::load_tensor(
            &tract_onnx::data_resolver::MmapDataResolver,
            &proto,
            None,
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
        tensors.push(tensor);
    }
}

/// `Ok` when `got` matches `want` by the pass rule, else why not.
fn compare(got: &Tensor, want: &Tensor) -> Result<(), String> {
    if got.shape() != want.shape() {
        return Err(format!(
            "shape {:?} but expected {:?}",
            got.shape(),
            want.shape()
        ));
    }
    if got.datum_type() != want.datum_type() {
        return Err(format!(
            "dtype {:?} but expected {:?}",
            got.datum_type(),
            want.datum_type()
        ));
    }
    if !want.datum_type().is_float() {
        return if got == want {
            Ok(())
        } else {
            Err("values differ".into())
        };
    }
    let g = got.cast_to::<f64>().map_err(|e| e.to_string())?;
    let w = want.cast_to::<f64>().map_err(|e| e.to_string())?;
    let (g, w) = (
        g.to_plain_array_view::<f64>().map_err(|e| e.to_string())?,
        w.to_plain_array_view::<f64>().map_err(|e| e.to_string())?,
    );
    let bad = g
        .iter()
        .zip(w.iter())
        .filter(|&(&a, &b)| {
            !(a == b
                || (a.is_nan() && b.is_nan())
                || (b.is_finite() && (a - b).abs() <= ATOL + RTOL * b.abs()))
        })
        .count();
    if bad == 0 {
        Ok(())
    } else {
        Err(format!("{bad} of {} elements differ", w.len()))
    }
}

/// Runs one test folder; `Err` says why it fails.
fn run_test(folder: &Path) -> Result<(), String> {
    let data = folder.join("test_data_set_0");
    let inputs = read_tensors(&data, "input")?;
    let expected = read_tensors(&data, "output")?;
    let mut model = tract_onnx::onnx()
        .model_for_path(folder.join("model.onnx"))
        .map_err(|e| format!("load: {e}"))?;
    for (i, t) in inputs.iter().enumerate() {
        model
            .set_input_fact(i, InferenceFact::dt_shape(t.datum_type(), t.shape()))
            .map_err(|e| format!("input {i}: {e}"))?;
    }
    let plan = model
        .into_optimized()
        .and_then(|m| m.into_runnable())
        .map_err(|e| format!("optimise: {e}"))?;
    let outputs = plan
        .run(inputs.into_iter().map(|t| t.into()).collect())
        .map_err(|e| format!("run: {e}"))?;
    if outputs.len() != expected.len() {
        return Err(format!(
            "{} outputs but expected {}",
            outputs.len(),
            expected.len()
        ));
    }
    for (i, (got, want)) in outputs.iter().zip(&expected).enumerate() {
        compare(got, want).map_err(|e| format!("output {i}: {e}"))?;
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, list, node_dir] = &args[..] else {
        eprintln!("usage: score-tract LIST NODE_DIR");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(list).unwrap_or_else(|e| panic!("{list}: {e}"));
    let tests: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    std::panic::set_hook(Box::new(|_| {})); // a panic is reported as the test's failure
    let mut failures = Vec::new();
    for test in &tests {
        let folder = Path::new(node_dir).join(test);
        let result =
            std::panic::catch_unwind(|| run_test(&folder)).unwrap_or_else(|_| Err("panic".into()));
        if let Err(why) = result {
            failures.push((test, why));
        }
    }
    println!(
        "tract 0.23.9 (CPU) on {list}: {} of {} passed",
        tests.len() - failures.len(),
        tests.len()
    );
    for (test, why) in failures {
        println!("  FAIL {test}: {}", why.lines().next().unwrap_or(""));
    }
}
