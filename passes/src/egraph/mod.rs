//! The e-graph optimizer: fusion, layout, algebra and composite-op rewriting with egg.
//!
//! The optimizer runs as passes, one per phase ([`PHASES`]: `egraph-algebra` saturates
//! the `algebra`+`layout` sets, `egraph-composite` adds `composite`, `egraph-fusion`
//! runs `fusion`). The first phase turns the graph into an e-graph (`convert`); each
//! phase saturates it, bounded by iterations, e-nodes and wall time, extracts the
//! cheapest program under a device cost model (`cost`) and rebuilds a verified graph
//! with the same ports. A phase that directly follows another continues from its
//! e-graph (kept in the [`PassContext`]), so phases see every alternative found
//! before them. [`optimize`] runs every enabled phase on its own.
//!
//! Extraction is DAG-aware and greedy (see `extract` for the algorithm): a value
//! used twice is counted once, and a fused kernel that would recompute an anchor
//! another consumer needs loses to the unfused pair. It is a heuristic, not optimal.
//!
//! Rules are data in topic files under `rules/` (policy: `README.md` next to this
//! file); [`list_rules`] lists them with their set and identity.

mod analysis;
mod convert;
mod cost;
mod extract;
mod lang;
mod report;
mod rules;

pub use cost::{flops, graph_cost, integer_products, kernel_count, DeviceProfile, SPARSE_SHARE};
pub use lang::{ConstLeaf, InputLeaf, IrOp, Kiln};
pub use report::{PhaseReport, Report};
pub use rules::sparse::Product;
pub use rules::{RuleInfo, RuleSet, QDQ_AS_INTEGER};

use crate::{Pass, PassContext, PassError, PassManager};
use analysis::EGraph;
use egg::{Rewrite, Runner};
use kiln_ir::{Graph, KernelTarget};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the optimizer runs.
#[derive(Clone, Debug)]
pub struct EgraphOptions {
    /// Iterations per phase.
    pub iter_limit: usize,
    /// E-nodes in the e-graph, over all phases.
    pub node_limit: usize,
    /// Wall time for saturation, over all phases. Unlike the other bounds it makes
    /// the result depend on the machine's speed: when it stops a phase, the report
    /// says so ([`Report::time_limited`]) and the bundle manifest records it.
    pub time_limit: Duration,
    /// Rules switched off by name.
    pub disabled_rules: Vec<String>,
    /// Rule sets switched off by name (`algebra`, `layout`, `composite`, `fusion`).
    pub disabled_sets: Vec<String>,
    /// 0: no rewriting; 1: algebra, layout and fusion; 2: everything.
    pub level: u8,
    /// The device the cost model prices kernels for.
    pub profile: DeviceProfile,
}

impl Default for EgraphOptions {
    fn default() -> Self {
        EgraphOptions {
            iter_limit: 32,
            node_limit: 200_000,
            time_limit: Duration::from_secs(4),
            disabled_rules: Vec::new(),
            disabled_sets: Vec::new(),
            level: 2,
            profile: DeviceProfile::default(),
        }
    }
}

impl EgraphOptions {
    /// Checks rule and set names; the error lists the known ones.
    pub fn check(&self) -> Result<(), PassError> {
        let all = list_rules();
        for name in &self.disabled_rules {
            if !all.iter().any(|r| r.name == name) {
                let known: Vec<&str> = all.iter().map(|r| r.name).collect();
                return Err(PassError::failed(
                    PASS_NAME,
                    format!("unknown rule '{name}' (known rules: {})", known.join(", ")),
                ));
            }
        }
        for name in &self.disabled_sets {
            if RuleSet::from_name(name).is_none() {
                let known: Vec<&str> = RuleSet::ALL.iter().map(|s| s.name()).collect();
                return Err(PassError::failed(
                    PASS_NAME,
                    format!(
                        "unknown rule set '{name}' (known sets: {})",
                        known.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    fn set_enabled(&self, set: RuleSet) -> bool {
        let by_level = match set {
            RuleSet::Composite | RuleSet::Sparsity => self.level >= 2,
            _ => self.level >= 1,
        };
        by_level && !self.disabled_sets.iter().any(|s| s == set.name())
    }
}

/// The optimizer's name in errors and in `kiln dump --after egraph` (the IR after its
/// last phase).
pub const PASS_NAME: &str = "egraph";

/// Every rule: name, set and identity, in phase order.
pub fn list_rules() -> Vec<RuleInfo> {
    rules::list()
}

/// One phase of the optimizer: rule sets saturated together, run as one pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phase {
    /// The pass name.
    pub name: &'static str,
    /// The rule sets; the phase runs when its first set is enabled, and the later
    /// ones (when enabled) ride along.
    pub sets: &'static [RuleSet],
}

/// The phases, in order.
pub const PHASES: [Phase; 4] = [
    Phase {
        name: "egraph-algebra",
        sets: &[RuleSet::Algebra, RuleSet::Layout],
    },
    Phase {
        name: "egraph-composite",
        sets: &[RuleSet::Composite, RuleSet::Algebra, RuleSet::Layout],
    },
    Phase {
        name: FUSION_PHASE,
        sets: &[RuleSet::Fusion],
    },
    Phase {
        name: SPARSITY_PHASE,
        sets: &[RuleSet::Sparsity],
    },
];

/// The fusion phase; the pipeline runs it again after `merge-siblings` and after a
/// quantize pass that adds element-wise steps.
pub const FUSION_PHASE: &str = "egraph-fusion";

/// The phase that offers sparse kernels for constant weights with enough zeros; the
/// pipeline runs it after `merge-siblings` and pruning, on the final weights.
pub const SPARSITY_PHASE: &str = "egraph-sparsity";

/// The passes of the phases `options` enables, in order (none at level 0).
pub fn phase_passes(options: &EgraphOptions, target: &Arc<dyn KernelTarget>) -> Vec<Box<dyn Pass>> {
    PHASES
        .iter()
        .filter(|phase| options.set_enabled(phase.sets[0]))
        .map(|&phase| {
            Box::new(EgraphPhase {
                phase,
                options: options.clone(),
                target: target.clone(),
            }) as Box<dyn Pass>
        })
        .collect()
}

/// Optimizes `graph` with every phase `options` enables, as passes of their own
/// pipeline: the cheapest equivalent graph, with the same ports, and what happened.
pub fn optimize(
    graph: &Graph,
    options: &EgraphOptions,
    target: &Arc<dyn KernelTarget>,
) -> Result<(Graph, Report), PassError> {
    options.check()?;
    let manager: PassManager = phase_passes(options, target).into_iter().collect();
    let (out, report) = manager.run_with_hook(graph.clone(), &mut |_, _| {})?;
    let report = report.unwrap_or_else(|| {
        let cost = graph_cost(graph, &options.profile, &**target);
        let kernels = kernel_count(graph);
        Report::start(
            options.profile.clone(),
            cost,
            kernels,
            integer_products(graph),
        )
    });
    Ok((out, report))
}

/// An e-graph carried from one phase to the next: the graph it was built from (whose
/// ports and names extraction restores), and when saturation started.
pub(crate) struct Session {
    egraph: EGraph,
    names: convert::Names,
    source: Graph,
    start: Instant,
}

/// One phase of the optimizer as a pass.
pub struct EgraphPhase {
    phase: Phase,
    options: EgraphOptions,
    target: Arc<dyn KernelTarget>,
}

impl Pass for EgraphPhase {
    fn name(&self) -> &'static str {
        self.phase.name
    }

    fn run(&self, graph: Graph) -> Result<Graph, PassError> {
        self.run_in(graph, &mut PassContext::default())
    }

    fn run_in(&self, graph: Graph, ctx: &mut PassContext) -> Result<Graph, PassError> {
        let fail = |m: String| PassError::failed(self.phase.name, m);
        let options = &self.options;
        // Without a sparse-enough weight the sparsity phase has nothing to offer: the
        // graph stays exactly as it is (no re-extraction).
        if self.phase.name == SPARSITY_PHASE && !rules::sparse::any_candidate(&graph) {
            return Ok(graph);
        }
        let session = match ctx.egraph.take() {
            Some((after, session)) if after == ctx.passes_run => session,
            _ => {
                let (egraph, names) =
                    convert::to_egraph(&graph, self.target.clone()).map_err(fail)?;
                Session {
                    egraph,
                    names,
                    source: graph.clone(),
                    start: Instant::now(),
                }
            }
        };
        let report = ctx.report.get_or_insert_with(|| {
            let cost = graph_cost(&graph, &options.profile, &*self.target);
            let products = integer_products(&graph);
            Report::start(
                options.profile.clone(),
                cost,
                kernel_count(&graph),
                products,
            )
        });
        let enabled: Vec<RuleSet> = self
            .phase
            .sets
            .iter()
            .copied()
            .filter(|&s| options.set_enabled(s))
            .collect();
        let rules: Vec<Rewrite<_, _>> = enabled
            .iter()
            .flat_map(|&s| {
                rules::build(s, |name| {
                    let offered = name != rules::QDQ_AS_INTEGER || options.profile.integer_faster();
                    offered && !options.disabled_rules.iter().any(|d| d == name)
                })
            })
            .collect();
        let sets = enabled
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join("+");
        let phase_start = Instant::now();
        let remaining = options.time_limit.saturating_sub(session.start.elapsed());
        // The runner's own e-graph is replaced by the session's at once.
        let placeholder = analysis::KilnAnalysis::new(self.target.clone(), Vec::new());
        let runner = Runner::new(placeholder)
            .with_egraph(session.egraph)
            .with_iter_limit(options.iter_limit)
            .with_node_limit(options.node_limit)
            .with_time_limit(remaining)
            .run(&rules);
        let mut phase_report = PhaseReport::from_runner(self.phase.name, sets, &runner);
        let egraph = runner.egraph;
        if let Some(conflict) = &egraph.analysis.conflict {
            return Err(fail(format!("rule sets {}: {conflict}", phase_report.sets)));
        }
        let extract_start = Instant::now();
        let out = extract_graph(&egraph, &session.source, &session.names, &options.profile)
            .map_err(fail)?;
        report.extract_time = extract_start.elapsed();
        phase_report.cost_before = report.cost_after;
        phase_report.kernels_before = report.kernels_after;
        phase_report.cost_after = graph_cost(&out, &options.profile, &*self.target);
        phase_report.kernels_after = kernel_count(&out);
        phase_report.time = phase_start.elapsed();
        report.cost_after = phase_report.cost_after;
        report.kernels_after = phase_report.kernels_after;
        report.integer_products_after = integer_products(&out);
        report.total_time += phase_report.time;
        report.phases.push(phase_report);
        ctx.egraph = Some((ctx.passes_run + 1, Session { egraph, ..session }));
        Ok(out)
    }
}

fn extract_graph(
    egraph: &EGraph,
    source: &Graph,
    names: &convert::Names,
    profile: &DeviceProfile,
) -> Result<Graph, String> {
    let roots = egraph.analysis.roots.clone();
    let selection = extract::extract(egraph, &roots, profile)?;
    convert::to_graph(egraph, &selection, source, names)
}
