//! The [`Pass`] trait and the [`PassManager`] that runs named passes in order,
//! verifying the graph after each.

use crate::{Dce, FoldConstants, FoldShapes, PassError, PassOptions, RemoveIdentity};
use kiln_ir::Graph;

/// A graph-to-graph transformation with a kebab-case name.
pub trait Pass {
    /// The pass's name as written in pipelines and `kiln dump --after`.
    fn name(&self) -> &'static str;
    /// Transforms `graph`. The result must verify; the manager checks it.
    fn run(&self, graph: Graph) -> Result<Graph, PassError>;
}

/// Every pass [`pass_by_name`] knows, in the order of the standard pipeline.
pub const PASS_NAMES: [&str; 4] = ["remove-identity", "fold-shapes", "fold-constants", "dce"];

/// The pass called `name`, configured by `options`; `None` for an unknown name.
pub fn pass_by_name(name: &str, options: &PassOptions) -> Option<Box<dyn Pass>> {
    Some(match name {
        "remove-identity" => Box::new(RemoveIdentity),
        "fold-shapes" => Box::new(FoldShapes),
        "fold-constants" => Box::new(FoldConstants {
            max_elements: options.fold_max_elements,
        }),
        "dce" => Box::new(Dce),
        crate::egraph::PASS_NAME => Box::new(crate::egraph::EgraphPass::default()),
        crate::merge_siblings::PASS_NAME => Box::new(crate::MergeSiblings),
        _ => return None,
    })
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

    /// The standard canonicalization pipeline ([`PASS_NAMES`] in order).
    pub fn standard(options: &PassOptions) -> Self {
        let mut manager = PassManager::new();
        for name in PASS_NAMES {
            if let Some(pass) = pass_by_name(name, options) {
                manager.add(pass);
            }
        }
        manager
    }

    /// A pipeline of the named passes, in the given order.
    pub fn from_names<S: AsRef<str>>(
        names: &[S],
        options: &PassOptions,
    ) -> Result<Self, PassError> {
        let mut manager = PassManager::new();
        for name in names {
            let name = name.as_ref();
            let pass = pass_by_name(name, options).ok_or_else(|| PassError::UnknownPass {
                name: name.to_string(),
                known: PASS_NAMES.join(", "),
            })?;
            manager.add(pass);
        }
        Ok(manager)
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

    /// Runs every pass on `graph`, verifying after each.
    pub fn run(&self, graph: Graph) -> Result<Graph, PassError> {
        self.run_with_hook(graph, &mut |_, _| {})
    }

    /// Like [`PassManager::run`], calling `hook(pass_name, graph)` after each pass
    /// has run and verified (for dumps and statistics).
    pub fn run_with_hook(
        &self,
        mut graph: Graph,
        hook: &mut dyn FnMut(&str, &Graph),
    ) -> Result<Graph, PassError> {
        for pass in &self.passes {
            graph = pass.run(graph)?;
            kiln_ir::verify::verify(&graph).map_err(|source| PassError::Verify {
                pass: pass.name().to_string(),
                source,
            })?;
            hook(pass.name(), &graph);
        }
        Ok(graph)
    }
}
