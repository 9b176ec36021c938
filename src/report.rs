//! What compiling did, as `kiln compile --json` and `--report` print it (and
//! `kiln.Bundle.report`): the bundle's figures, the pass list, the pruning and
//! quantization reports, the optimizer's phases and the plan's layout decisions.

use crate::{BundleSummary, CompileOptions, QuantizedBundle, Result};
use serde_json::{json, Value};
use std::fmt::Write;

/// The figures of `compiled` (its bundle `bytes` long) as `kiln compile --json` prints
/// them, less the paths: `bytes`, `kernels`, `dispatches`, `weight_bytes`, `passes`,
/// and `prune` / `quantize` when those ran.
pub fn compile_report_json(
    compiled: &QuantizedBundle,
    options: &CompileOptions,
    bytes: usize,
) -> Result<Value> {
    let s = BundleSummary::of(&compiled.bundle);
    let mut v = json!({
        "bytes": bytes,
        "kernels": s.kernels,
        "dispatches": s.dispatches,
        "weight_bytes": s.weight_bytes,
        "passes": crate::pipeline(options)?.names(),
    });
    let reports = &compiled.reports;
    if let Some(p) = &reports.prune {
        v["prune"] = crate::prune_report_json(p);
    }
    if let Some(q) = &reports.quantize {
        let f32_bytes = compiled.f32.as_ref().map(|b| b.to_bytes().len());
        v["quantize"] = crate::quant_report_json(q, f32_bytes, bytes);
    }
    Ok(v)
}

/// What `kiln compile --report` prints after its first line: the pass list, the
/// pruning and quantization reports, the optimizer's report per phase and the plan's
/// dispatches and layout decisions.
pub fn compile_report_text(
    compiled: &QuantizedBundle,
    options: &CompileOptions,
    bytes: usize,
) -> Result<String> {
    let s = BundleSummary::of(&compiled.bundle);
    let reports = &compiled.reports;
    let mut text = String::new();
    let passes = crate::pipeline(options)?.names();
    // Writing to a String cannot fail.
    let _ = writeln!(text, "passes: {}", passes.join(", "));
    if let Some(p) = &reports.prune {
        let _ = write!(text, "{p}");
    }
    if let Some(q) = &reports.quantize {
        let _ = write!(text, "{q}");
        if let Some(f32_bytes) = compiled.f32.as_ref().map(|b| b.to_bytes().len()) {
            let _ = writeln!(
                text,
                "  bundle: {bytes} bytes, {f32_bytes} unquantized ({:.3} of it)",
                bytes as f64 / f32_bytes as f64
            );
        }
    }
    let _ = match &reports.egraph {
        Some(r) => write!(text, "{r}"),
        None => writeln!(text, "egraph optimizer: off at --opt 0"),
    };
    let _ = writeln!(
        text,
        "  plan: {} dispatches per run, {} distinct kernels; layout decisions: {}",
        s.dispatches, s.kernels, s.decisions
    );
    Ok(text)
}
