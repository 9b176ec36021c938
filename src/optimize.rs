//! Optimisation levels: what `--opt 0|1|2` runs after canonicalization (the e-graph
//! optimizer), how the plan is built at each level, and how the optimizer's options
//! are recorded in a bundle's manifest.
//!
//! | level | graph | plan |
//! |-------|-------|------|
//! | 0 | canonicalized only: one kernel per op | [`PlanOptions::default`] |
//! | 1 | + e-graph with the `algebra`, `layout` and `fusion` rule sets | + in-place concat, split views, transposes folded into attention |
//! | 2 (default) | + the `composite` rule set: every rule; then `merge-siblings` | the same as level 1 |

use crate::{CompileOptions, Error, Result};
use kiln_codegen::PlanOptions;
use kiln_ir::Graph;
use kiln_passes::egraph::{self, EgraphOptions, Report};
use kiln_passes::{MergeSiblings, PassManager};
use serde_json::{json, Value};

/// The highest optimisation level (`--opt`).
pub const MAX_OPT_LEVEL: u8 = 2;

/// The level [`CompileOptions::default`] and the CLI use.
pub const DEFAULT_OPT_LEVEL: u8 = 2;

/// Checks an optimisation level is one kiln offers (0, 1 or 2).
pub fn check_opt_level(level: u8) -> Result<()> {
    if level > MAX_OPT_LEVEL {
        return Err(Error::Unsupported(format!(
            "optimisation level {level} does not exist: 0 compiles one kernel per op, \
             1 adds algebra, layout and fusion rewriting, 2 (the default) adds composite ops"
        )));
    }
    Ok(())
}

/// Checks `options` before any work: the level exists and every disabled rule and
/// rule set has a known name (at every level, so a typo is never silently ignored).
pub fn check_options(options: &CompileOptions) -> Result<()> {
    check_opt_level(options.opt_level)?;
    options.egraph.check()?;
    Ok(())
}

/// The e-graph optimizer's options at `options.opt_level` (its `level` field is
/// replaced by the optimisation level).
pub fn egraph_options(options: &CompileOptions) -> EgraphOptions {
    EgraphOptions {
        level: options.opt_level,
        ..options.egraph.clone()
    }
}

/// Runs the e-graph optimizer on a canonicalized graph as `options.opt_level` asks:
/// at level 0 the graph is returned unchanged with no report; at 1 and 2 the result
/// is verified and has the same ports, and the report says what the optimizer did.
pub fn optimize_graph(graph: Graph, options: &CompileOptions) -> Result<(Graph, Option<Report>)> {
    optimize_graph_with_hook(graph, options, &mut |_, _| {})
}

/// Like [`optimize_graph`], calling `hook(stage, graph)` after each stage that runs:
/// `"egraph"` (levels 1 and 2), then `"merge-siblings"` (level 2: sibling
/// convolutions that read one input merged into one, see
/// [`kiln_passes::merge_siblings`]).
pub fn optimize_graph_with_hook(
    graph: Graph,
    options: &CompileOptions,
    hook: &mut dyn FnMut(&str, &Graph),
) -> Result<(Graph, Option<Report>)> {
    check_options(options)?;
    if options.opt_level == 0 {
        return Ok((graph, None));
    }
    let (graph, report) = egraph::optimize(&graph, &egraph_options(options))?;
    hook(egraph::PASS_NAME, &graph);
    if options.opt_level < 2 {
        return Ok((graph, Some(report)));
    }
    let mut manager = PassManager::new();
    manager.add(Box::new(MergeSiblings));
    let graph = manager.run_with_hook(graph, hook)?;
    Ok((graph, Some(report)))
}

/// How the kernel plan is built at `opt_level`: producers write straight into a
/// Concat's result, and a Split's results alias its operand, from level 1 on.
pub fn plan_options(opt_level: u8) -> PlanOptions {
    PlanOptions {
        concat_in_place: opt_level >= 1,
        split_views: opt_level >= 1,
        fold_transposes: opt_level >= 1,
    }
}

/// The optimizer's options as recorded in a manifest (`null` at level 0, where it
/// does not run): bounds, disabled rules and sets (sorted, deduplicated), profile.
pub fn egraph_manifest(options: &CompileOptions) -> Value {
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
    json!({
        "iter_limit": e.iter_limit,
        "node_limit": e.node_limit,
        "time_limit_s": e.time_limit.as_secs_f64(),
        "disabled_rules": sorted(&e.disabled_rules),
        "disabled_sets": sorted(&e.disabled_sets),
        "profile": {
            "name": e.profile.name,
            "bandwidth_gbs": e.profile.bandwidth_gbs,
            "gflops": e.profile.gflops,
            "launch_us": e.profile.launch_us,
            "cpu": e.profile.cpu,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_ir::Op;

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
    fn manifest_records_sorted_names_and_nothing_at_level_zero() {
        let mut options = CompileOptions::default();
        options.egraph.disabled_rules = vec!["silu".into(), "fuse-epilogue".into(), "silu".into()];
        let m = egraph_manifest(&options);
        assert_eq!(m["disabled_rules"], json!(["fuse-epilogue", "silu"]));
        assert_eq!(m["profile"]["name"], "cpu-emulation");
        assert_eq!(m["profile"]["cpu"], true);
        assert_eq!(m["iter_limit"], options.egraph.iter_limit);
        options.opt_level = 0;
        assert_eq!(egraph_manifest(&options), Value::Null);
    }
}
