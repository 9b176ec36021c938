//! The compiler's pass list for a set of options, and what `--opt 0|1|2` means for the
//! graph and the plan; how the optimizer's options are recorded in a bundle's manifest.
//!
//! | level | passes ([`pipeline`]) | plan |
//! |-------|-------|------|
//! | 0 | canonicalization only: one kernel per op | [`PlanOptions::default`] |
//! | 1 | + the e-graph phases `egraph-algebra` and `egraph-fusion`, and `merge-min-max` last | + in-place concat, split views, transposes folded into their readers, 8- and 16-bit tensors stored narrow |
//! | 2 (default) | + `egraph-composite` (composite ops) between them, then `merge-siblings`, `egraph-fusion` again (what the first run's single-reader conditions left), then `egraph-sparsity` (sparse kernels for weights with enough zero blocks; it leaves a graph without such weights untouched) | the same as level 1 |

use crate::{CompileOptions, Error, Result};
use kiln_codegen::{Limits, PlanOptions};
use kiln_ir::KernelTarget;
use kiln_passes::egraph::{DeviceProfile, Report};
use kiln_passes::{PassManager, PipelineOptions};
use serde_json::{json, Value};
use std::sync::Arc;

pub use kiln_passes::MAX_OPT_LEVEL;

/// The level [`CompileOptions::default`] and the CLI use.
pub const DEFAULT_OPT_LEVEL: u8 = 2;

/// Checks an optimisation level is one kiln offers (0, 1 or 2).
pub fn check_opt_level(level: u8) -> Result<()> {
    kiln_passes::check_opt_level(level).map_err(Error::Unsupported)
}

/// Checks `options` before any work: the level exists and every disabled rule and
/// rule set has a known name (at every level, so a typo is never silently ignored).
pub fn check_options(options: &CompileOptions) -> Result<()> {
    check_opt_level(options.opt_level)?;
    options.egraph.check()?;
    Ok(())
}

/// The passes a compile with `options` runs after import, in order: the one list that
/// compiling, `kiln dump --after` and `--list-passes` use. Passes ask
/// `options.target` (codegen's [`kiln_codegen::Limits`]) what kernels can do.
pub fn pipeline(options: &CompileOptions) -> Result<PassManager> {
    check_options(options)?;
    let target: Arc<dyn KernelTarget> = Arc::new(options.target.clone());
    let pipeline_options = PipelineOptions {
        opt_level: options.opt_level,
        pass_options: options.pass_options.clone(),
        egraph: options.egraph.clone(),
        quantize: options.quantize.clone(),
        prune: options.prune.clone(),
    };
    Ok(kiln_passes::pipeline(&pipeline_options, &target)?)
}

/// `--quantize` as recorded in a manifest (`None` without it, so that bundles compiled
/// without it keep the bytes they had): mode, budget and how many calibration sets.
pub fn quantize_manifest(options: &CompileOptions) -> Option<Value> {
    let q = options.quantize.as_ref()?;
    Some(json!({
        "mode": q.mode.name(),
        "accuracy_budget": q.budget,
        "calibration_sets": q.samples.len(),
    }))
}

/// `--prune` as recorded in a manifest (`None` without it): mode, budget and how many
/// calibration sets.
pub fn prune_manifest(options: &CompileOptions) -> Option<Value> {
    let p = options.prune.as_ref()?;
    Some(json!({
        "mode": p.mode.to_string(),
        "accuracy_budget": p.budget,
        "calibration_sets": p.samples.len(),
    }))
}

/// The pruning report as `kiln compile --json` writes it: mode, budget, inputs, totals,
/// per output the comparison with the unpruned model, per layer (or channel group) its
/// sparsity, format, FLOPs, bytes and error, and the weights it could not prune.
pub fn prune_report_json(report: &kiln_passes::prune::PruneReport) -> Value {
    let (flops_before, flops_after, bytes_before, bytes_after) = report.totals();
    json!({
        "mode": report.mode.to_string(),
        "accuracy_budget": report.budget,
        "inputs": report.samples,
        "random_inputs": report.random_inputs,
        "unmeasured": report.unmeasured,
        "pruned": report.pruned(),
        "candidates": report.layers.len(),
        "flops_before": flops_before,
        "flops_after": flops_after,
        "weight_bytes_before": bytes_before,
        "weight_bytes_after": bytes_after,
        "whole_model": report.model.is_some(),
        "outputs": outputs_json(&report.outputs, report.unmeasured.is_some()),
        "layers": report.layers.iter().map(|l| json!({
            "node": l.node,
            "op": l.op,
            "dims": l.dims,
            "sparsity": l.sparsity,
            "format": l.format,
            "flops_before": l.flops_before,
            "flops_after": l.flops_after,
            "bytes_before": l.bytes_before,
            "bytes_after": l.bytes_after,
            "error_alone": l.error,
            "kept_because": l.kept_because,
        })).collect::<Vec<_>>(),
        "skipped": report.skipped.iter().map(|s| json!({
            "node": s.node, "op": s.op, "dims": s.dims, "why": s.why,
        })).collect::<Vec<_>>(),
    })
}

/// Each output compared with the unapproximated model's, as JSON (none when the errors
/// could not be measured: `unmeasured` says why). A figure that is not finite is `null`.
fn outputs_json(outputs: &[kiln_passes::quantize::OutputError], unmeasured: bool) -> Vec<Value> {
    if unmeasured {
        return Vec::new();
    }
    outputs
        .iter()
        .map(|o| {
            json!({
                "name": o.name,
                "relative_l2": o.rel_l2,
                "max_abs": o.max_abs,
                "cosine": o.cosine,
                "top1_agree": o.top1.map(|t| t.0),
                "top1_rows": o.top1.map(|t| t.1),
                "not_finite": o.not_finite,
                "mismatched": o.mismatched,
            })
        })
        .collect()
}

/// The quantization report as `kiln compile --json` writes it: mode, budget, inputs,
/// per output the comparison with the f32 model, per layer the form, error and bytes,
/// and the bundle's bytes against the unquantized bundle's.
pub fn quant_report_json(
    report: &kiln_passes::quantize::QuantReport,
    f32_bundle_bytes: Option<usize>,
    bundle_bytes: usize,
) -> Value {
    let (before, after) = report.weight_bytes();
    json!({
        "mode": report.mode.name(),
        "accuracy_budget": report.budget,
        "inputs": report.samples,
        "random_inputs": report.random_inputs,
        "unmeasured": report.unmeasured,
        "weights_quantized": report.quantized(),
        "weights": report.layers.len(),
        "weight_bytes_before": before,
        "weight_bytes_after": after,
        "bundle_bytes": bundle_bytes,
        "f32_bundle_bytes": f32_bundle_bytes,
        "outputs": outputs_json(&report.outputs, report.unmeasured.is_some()),
        "layers": report.layers.iter().map(|l| json!({
            "node": l.node,
            "op": l.op,
            "dims": l.dims,
            "form": l.form,
            "error_alone": l.error,
            "bytes_before": l.bytes_before,
            "bytes_after": l.bytes_after,
            "kept_because": l.kept_because,
        })).collect::<Vec<_>>(),
    })
}

/// How the kernel plan is built at `opt_level` for a device with `limits`: producers
/// write straight into a Concat's result, a Split's results alias its operand and
/// transposes are folded into their readers, from level 1 on; quantized and f16
/// weights stay packed on the device, decoded where matmuls and convs load them, from
/// level 1 on except on a CPU driver. There the decode's integer arithmetic costs more
/// than reading f32 words saves (lavapipe: cnn-qdq 1.34×, ocr-qdq 1.09× the latency of
/// widened weights), while a GPU's weight reads are bound by memory bandwidth. Integer
/// products of 8-bit operands run on the packed `dot4I8Packed` engine from level 1 on
/// where `profile` rates it faster than exact f32 arithmetic (the GPU presets, or a
/// calibrated device that measured it so; the same rate prices them in the e-graph).
/// Intermediate 8- and 16-bit tensors are stored narrow, several to a word, from level
/// 1 on; f16 element-wise steps compute in f16 from level 1 on where `profile` says
/// the device does that faster ([`DeviceProfile::f16_arithmetic`]).
pub fn plan_options(opt_level: u8, limits: &Limits, profile: &DeviceProfile) -> PlanOptions {
    PlanOptions {
        concat_in_place: opt_level >= 1,
        split_views: opt_level >= 1,
        fold_transposes: opt_level >= 1,
        packed_weights: opt_level >= 1 && !limits.cpu_driver,
        packed_dot: opt_level >= 1 && profile.packed_dot(),
        narrow: opt_level >= 1,
        f16_arithmetic: opt_level >= 1 && profile.f16_arithmetic,
    }
}

/// The optimizer's options as recorded in a manifest (`null` at level 0, where it
/// does not run): bounds, disabled rules and sets (sorted, deduplicated), profile,
/// and the phases the wall-time bound stopped (whose result depends on the machine's
/// speed; empty when the iteration and node bounds decided, as they should).
pub fn egraph_manifest(options: &CompileOptions, report: Option<&Report>) -> Value {
    if options.opt_level == 0 {
        return Value::Null;
    }
    let e = &options.egraph;
    let sorted = |names: &[String]| {
        let mut v = names.to_vec();
        v.sort();
        v.dedup();
        v
    };
    let time_limited = report.map(|r| r.time_limited()).unwrap_or_default();
    let mut manifest = json!({
        "iter_limit": e.iter_limit,
        "node_limit": e.node_limit,
        "time_limit_s": e.time_limit.as_secs_f64(),
        "time_limited_phases": time_limited,
        "disabled_rules": sorted(&e.disabled_rules),
        "disabled_sets": sorted(&e.disabled_sets),
        "profile": {
            "name": e.profile.name,
            "bandwidth_gbs": e.profile.bandwidth_gbs,
            "gflops": e.profile.gflops,
            "launch_us": e.profile.launch_us,
            "int_gops": e.profile.int_gops,
            "dot4_gops": e.profile.dot4_gops,
        },
    });
    if e.profile.f16_arithmetic {
        // Only where set: manifests of profiles without it keep their bytes.
        manifest["profile"]["f16_arithmetic"] = json!(true);
    }
    manifest
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_ir::{Graph, Op};

    fn example_graph(opt_level: u8) -> (Graph, Option<Report>) {
        let model = crate::load_onnx_bytes(crate::EXAMPLE_ONNX).unwrap();
        let options = CompileOptions {
            opt_level,
            ..Default::default()
        };
        crate::compile_onnx_with_report(&model, &options, &mut |_, _| {}).unwrap()
    }

    fn fused(graph: &Graph) -> usize {
        graph
            .nodes
            .iter()
            .filter(|(_, n)| matches!(n.op, Op::Fused { .. } | Op::Elementwise { .. }))
            .count()
    }

    #[test]
    fn levels_decide_what_runs() {
        let (g0, r0) = example_graph(0);
        assert!(r0.is_none(), "level 0 does not run the optimizer");
        assert_eq!(fused(&g0), 0);
        for level in [1, 2] {
            let (g, r) = example_graph(level);
            let r = r.expect("levels 1 and 2 report");
            assert!(
                fused(&g) > 0,
                "level {level} fuses:\n{}",
                kiln_ir::print::print(&g)
            );
            assert!(r.kernels_after < r.kernels_before, "level {level}: {r}");
            assert!(!r.phases.is_empty());
        }
        let err = check_opt_level(3).unwrap_err().to_string();
        assert!(
            err.starts_with("optimisation level 3 does not exist"),
            "{err}"
        );
    }

    #[test]
    fn unknown_rule_names_fail_at_every_level() {
        for level in [0, 2] {
            let mut options = CompileOptions {
                opt_level: level,
                ..Default::default()
            };
            options.egraph.disabled_rules.push("no-such-rule".into());
            let err = check_options(&options).unwrap_err().to_string();
            assert!(err.contains("unknown rule 'no-such-rule'"), "{err}");
        }
    }

    #[test]
    fn f16_arithmetic_follows_the_profile_from_level_one() {
        let limits = Limits::default();
        let mut profile = DeviceProfile::cpu_emulation();
        assert!(!plan_options(2, &limits, &profile).f16_arithmetic);
        let mut options = CompileOptions::default();
        assert!(egraph_manifest(&options, None)["profile"]
            .get("f16_arithmetic")
            .is_none());
        profile.f16_arithmetic = true;
        assert!(plan_options(1, &limits, &profile).f16_arithmetic);
        assert!(!plan_options(0, &limits, &profile).f16_arithmetic);
        options.egraph.profile = profile;
        assert_eq!(
            egraph_manifest(&options, None)["profile"]["f16_arithmetic"],
            json!(true)
        );
    }

    #[test]
    fn manifest_records_sorted_names_and_nothing_at_level_zero() {
        let mut options = CompileOptions::default();
        options.egraph.disabled_rules = vec!["silu".into(), "fuse-epilogue".into(), "silu".into()];
        let m = egraph_manifest(&options, None);
        assert_eq!(m["disabled_rules"], json!(["fuse-epilogue", "silu"]));
        assert_eq!(m["profile"]["name"], "cpu-emulation");
        assert_eq!(m["iter_limit"], options.egraph.iter_limit);
        assert_eq!(m["time_limited_phases"], json!([]));
        options.opt_level = 0;
        assert_eq!(egraph_manifest(&options, None), Value::Null);
    }

    #[test]
    fn the_pass_list_follows_the_level() {
        let names = |opt_level| {
            let options = CompileOptions {
                opt_level,
                ..Default::default()
            };
            pipeline(&options).unwrap().names()
        };
        let canonical = ["remove-identity", "fold-shapes", "fold-constants", "dce"];
        assert_eq!(names(0), canonical);
        let one: Vec<&str> = canonical
            .iter()
            .copied()
            .chain(["egraph-algebra", "egraph-fusion", "merge-min-max"])
            .collect();
        assert_eq!(names(1), one);
        let two: Vec<&str> = canonical
            .iter()
            .copied()
            .chain(["egraph-algebra", "egraph-composite", "egraph-fusion"])
            .chain(["merge-siblings", "egraph-fusion", "egraph-sparsity"])
            .chain(["merge-min-max"])
            .collect();
        assert_eq!(names(2), two);
        let mut options = CompileOptions::default();
        options.egraph.disabled_sets.push("fusion".into());
        let without_fusion = pipeline(&options).unwrap().names();
        assert!(
            !without_fusion.contains(&"egraph-fusion"),
            "{without_fusion:?}"
        );
        // --quantize runs after the optimizer, merge-min-max last; w8a8 fuses its
        // activations' quantization after it (on lavapipe's profile, whose integer
        // products are not faster, without a second algebra phase).
        for (mode, tail) in [
            (
                kiln_passes::quantize::QuantMode::W8,
                vec![
                    "merge-siblings",
                    "egraph-fusion",
                    "egraph-sparsity",
                    "quantize",
                    "merge-min-max",
                ],
            ),
            (
                kiln_passes::quantize::QuantMode::W8A8,
                vec![
                    "merge-siblings",
                    "egraph-fusion",
                    "egraph-sparsity",
                    "quantize",
                    "egraph-fusion",
                    "merge-min-max",
                ],
            ),
        ] {
            let options = CompileOptions {
                quantize: Some(kiln_passes::quantize::QuantizeOptions {
                    mode,
                    budget: None,
                    samples: Vec::new(),
                }),
                ..Default::default()
            };
            let names = pipeline(&options).unwrap().names();
            assert_eq!(
                names[names.len() - tail.len()..],
                tail[..],
                "{mode}: {names:?}"
            );
        }
    }

    #[test]
    fn a_time_limited_phase_is_in_the_report_and_the_manifest() {
        let model = crate::load_onnx_bytes(crate::EXAMPLE_ONNX).unwrap();
        let mut options = CompileOptions::default();
        options.egraph.time_limit = std::time::Duration::ZERO;
        let (_, report) =
            crate::compile_onnx_with_report(&model, &options, &mut |_, _| {}).unwrap();
        let report = report.expect("level 2 reports");
        assert!(!report.time_limited().is_empty(), "{report}");
        assert!(
            report.to_string().contains("note: the time limit stopped"),
            "{report}"
        );
        let m = egraph_manifest(&options, Some(&report));
        assert_eq!(
            m["time_limited_phases"],
            json!(report.time_limited()),
            "the manifest names the phases the wall-time bound stopped"
        );
    }
}
