//! The [`Pass`] trait and the [`PassManager`] that runs a list of passes in order,
//! verifying the graph after each, with a [`PassContext`] the passes share.

use crate::egraph::{Report, Session};
use crate::prune::PruneReport;
use crate::quantize::QuantReport;
use crate::PassError;
use kiln_ir::Graph;

/// A graph-to-graph transformation with a kebab-case name.
pub trait Pass {
    /// The pass's name as `kiln dump --after` and `--list-passes` write it.
    fn name(&self) -> &'static str;

    /// Transforms `graph`. The result must verify; the manager checks it.
    fn run(&self, graph: Graph) -> Result<Graph, PassError>;

    /// Like [`Pass::run`], with the state the passes of one pipeline share (the
    /// e-graph optimizer's phases keep their e-graph and report there). Passes that
    /// need no shared state keep this default.
    fn run_in(&self, graph: Graph, ctx: &mut PassContext) -> Result<Graph, PassError> {
        let _ = ctx;
        self.run(graph)
    }
}

/// State shared by the passes of one pipeline run.
#[derive(Default)]
pub struct PassContext {
    /// Passes that have run so far.
    pub(crate) passes_run: usize,
    /// The e-graph of the last e-graph phase, with the count of passes run when it
    /// was extracted: the next phase continues from it when no pass ran in between.
    pub(crate) egraph: Option<(usize, Session)>,
    /// What the e-graph phases did (`None` when none ran).
    pub report: Option<Report>,
    /// What the `quantize` pass did (`None` when it did not run).
    pub quantize: Option<QuantReport>,
    /// What the `prune` or `prune-channels` pass did (`None` when neither ran).
    pub prune: Option<PruneReport>,
}

/// What the passes of one pipeline run reported.
#[derive(Debug, Default)]
pub struct Reports {
    /// The e-graph optimizer's (`None` when none of its phases ran).
    pub egraph: Option<Report>,
    /// The `quantize` pass's (`None` without `--quantize`).
    pub quantize: Option<QuantReport>,
    /// The pruning pass's (`None` without `--prune`).
    pub prune: Option<PruneReport>,
}

/// Runs passes in order. After each pass it verifies the graph (an invalid graph is
/// an error naming the pass) and then calls the hook, if any, with the pass name.
#[derive(Default)]
pub struct PassManager {
    passes: Vec<Box<dyn Pass>>,
}

impl PassManager {
    /// An empty pipeline.
    pub fn new() -> Self {
        PassManager::default()
    }

    /// Appends `pass` to the pipeline.
    pub fn add(&mut self, pass: Box<dyn Pass>) -> &mut Self {
        self.passes.push(pass);
        self
    }

    /// The pass names, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.passes.iter().map(|p| p.name()).collect()
    }

    /// Drops every pass after the one called `name`; `false` (and no change) when no
    /// pass has that name.
    pub fn truncate_after(&mut self, name: &str) -> bool {
        match self.passes.iter().position(|p| p.name() == name) {
            Some(i) => {
                self.passes.truncate(i + 1);
                true
            }
            None => false,
        }
    }

    /// Runs every pass on `graph`, verifying after each.
    pub fn run(&self, graph: Graph) -> Result<Graph, PassError> {
        self.run_with_hook(graph, &mut |_, _| {}).map(|(g, _)| g)
    }

    /// Like [`PassManager::run`], calling `hook(pass_name, graph)` after each pass
    /// has run and verified (for dumps and statistics); also returns the e-graph
    /// optimizer's report when one of its phases ran.
    pub fn run_with_hook(
        &self,
        graph: Graph,
        hook: &mut dyn FnMut(&str, &Graph),
    ) -> Result<(Graph, Option<Report>), PassError> {
        self.run_with_reports(graph, hook)
            .map(|(graph, reports)| (graph, reports.egraph))
    }

    /// Like [`PassManager::run_with_hook`], returning every pass's report.
    pub fn run_with_reports(
        &self,
        mut graph: Graph,
        hook: &mut dyn FnMut(&str, &Graph),
    ) -> Result<(Graph, Reports), PassError> {
        let mut ctx = PassContext::default();
        for pass in &self.passes {
            graph = pass.run_in(graph, &mut ctx)?;
            ctx.passes_run += 1;
            kiln_ir::verify::verify(&graph).map_err(|source| PassError::Verify {
                pass: pass.name().to_string(),
                source,
            })?;
            hook(pass.name(), &graph);
        }
        let reports = Reports {
            egraph: ctx.report,
            quantize: ctx.quantize,
            prune: ctx.prune,
        };
        Ok((graph, reports))
    }
}

impl Extend<Box<dyn Pass>> for PassManager {
    /// Appends the passes, in order.
    fn extend<I: IntoIterator<Item = Box<dyn Pass>>>(&mut self, passes: I) {
        self.passes.extend(passes);
    }
}

impl FromIterator<Box<dyn Pass>> for PassManager {
    /// A pipeline of the passes, in order.
    fn from_iter<I: IntoIterator<Item = Box<dyn Pass>>>(passes: I) -> Self {
        PassManager {
            passes: passes.into_iter().collect(),
        }
    }
}
