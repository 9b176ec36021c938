//! The e-graph optimizer: fusion, layout, algebra and composite-op rewriting with egg.
//!
//! [`optimize`] turns a graph into an e-graph (`convert`), saturates it with the rule
//! sets as phases (`algebra`+`layout`, then `composite`, then `fusion`), each bounded
//! by iterations, e-nodes and wall time, then extracts the cheapest program under a
//! device cost model (`cost`) and rebuilds a verified graph with the same ports.
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

pub use cost::{graph_cost, kernel_count, DeviceProfile};
pub use lang::{ConstLeaf, InputLeaf, IrOp, Kiln};
pub use report::{PhaseReport, Report};
pub use rules::{RuleInfo, RuleSet};

use crate::{Pass, PassError};
use analysis::EGraph;
use egg::{Rewrite, Runner};
use kiln_ir::Graph;
use std::time::{Duration, Instant};

/// How the optimizer runs.
#[derive(Clone, Debug)]
pub struct EgraphOptions {
    /// Iterations per phase.
    pub iter_limit: usize,
    /// E-nodes in the e-graph, over all phases.
    pub node_limit: usize,
    /// Wall time for saturation, over all phases.
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
            RuleSet::Composite => self.level >= 2,
            _ => self.level >= 1,
        };
        by_level && !self.disabled_sets.iter().any(|s| s == set.name())
    }
}

/// The pass name.
pub const PASS_NAME: &str = "egraph";

/// Every rule: name, set and identity, in phase order.
pub fn list_rules() -> Vec<RuleInfo> {
    rules::list()
}

/// The phases: each is a list of rule sets saturated together.
const PHASES: [&[RuleSet]; 3] = [
    &[RuleSet::Algebra, RuleSet::Layout],
    &[RuleSet::Composite, RuleSet::Algebra, RuleSet::Layout],
    &[RuleSet::Fusion],
];

/// Optimizes `graph`: saturates its e-graph under the bounds of `options` and extracts
/// the cheapest equivalent graph, with the same ports. The report says what happened.
pub fn optimize(graph: &Graph, options: &EgraphOptions) -> Result<(Graph, Report), PassError> {
    options.check()?;
    let fail = |m: String| PassError::failed(PASS_NAME, m);
    let start = Instant::now();
    let mut report = Report {
        profile: options.profile.clone(),
        cost_before: graph_cost(graph, &options.profile),
        kernels_before: kernel_count(graph),
        ..Report::default()
    };
    if options.level == 0 {
        report.cost_after = report.cost_before;
        report.kernels_after = report.kernels_before;
        return Ok((graph.clone(), report));
    }
    let (mut egraph, names) = convert::to_egraph(graph).map_err(fail)?;
    let mut cost = report.cost_before;
    let mut kernels = report.kernels_before;
    for phase in PHASES {
        // A phase runs when its first set is enabled; later sets ride along.
        if !options.set_enabled(phase[0]) {
            continue;
        }
        let rules: Vec<Rewrite<_, _>> = phase
            .iter()
            .filter(|&&s| options.set_enabled(s))
            .flat_map(|&s| {
                rules::build(s, |name| !options.disabled_rules.iter().any(|d| d == name))
            })
            .collect();
        let name = phase
            .iter()
            .filter(|&&s| options.set_enabled(s))
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join("+");
        let phase_start = Instant::now();
        let remaining = options.time_limit.saturating_sub(start.elapsed());
        let runner = Runner::default()
            .with_egraph(egraph)
            .with_iter_limit(options.iter_limit)
            .with_node_limit(options.node_limit)
            .with_time_limit(remaining)
            .run(&rules);
        let mut phase_report = PhaseReport::from_runner(name, &runner);
        egraph = runner.egraph;
        if let Some(conflict) = &egraph.analysis.conflict {
            return Err(fail(format!("phase {}: {conflict}", phase_report.name)));
        }
        let (g, _) = extract_graph(&egraph, graph, &names, &options.profile).map_err(fail)?;
        phase_report.cost_before = cost;
        phase_report.kernels_before = kernels;
        phase_report.cost_after = graph_cost(&g, &options.profile);
        phase_report.kernels_after = kernel_count(&g);
        phase_report.time = phase_start.elapsed();
        cost = phase_report.cost_after;
        kernels = phase_report.kernels_after;
        report.phases.push(phase_report);
    }
    let extract_start = Instant::now();
    let (out, _) = extract_graph(&egraph, graph, &names, &options.profile).map_err(fail)?;
    report.extract_time = extract_start.elapsed();
    kiln_ir::verify::verify(&out).map_err(|source| PassError::Verify {
        pass: PASS_NAME.to_string(),
        source,
    })?;
    report.cost_after = graph_cost(&out, &options.profile);
    report.kernels_after = kernel_count(&out);
    report.total_time = start.elapsed();
    Ok((out, report))
}

fn extract_graph(
    egraph: &EGraph,
    source: &Graph,
    names: &convert::Names,
    profile: &DeviceProfile,
) -> Result<(Graph, f64), String> {
    let roots = egraph.analysis.roots.clone();
    let selection = extract::extract(egraph, &roots, profile)?;
    let graph = convert::to_graph(egraph, &selection, source, names)?;
    Ok((graph, selection.cost))
}

/// The `egraph` pass: [`optimize`] with fixed options, discarding the report.
#[derive(Clone, Debug, Default)]
pub struct EgraphPass {
    pub options: EgraphOptions,
}

impl Pass for EgraphPass {
    fn name(&self) -> &'static str {
        PASS_NAME
    }

    fn run(&self, graph: Graph) -> Result<Graph, PassError> {
        optimize(&graph, &self.options).map(|(g, _)| g)
    }
}
