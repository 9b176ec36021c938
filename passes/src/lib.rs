//! kiln's passes: canonicalization, the e-graph optimizer, `merge-siblings`, and the
//! one list they run in ([`pipeline`]).
//!
//! A [`Pass`] maps a [`Graph`] to a new graph; the [`PassManager`] runs a list of
//! passes in order, verifies the IR after each (naming the pass on failure) and can
//! call a hook after each for dumps. Passes record their changes as [`Edits`] and
//! [`rebuild`] a compact graph, so every pass result is dense and in canonical order.
//! What a pass must know of the kernels the graph becomes it asks a
//! [`kiln_ir::KernelTarget`] (codegen implements it).
//!
//! [`canonicalize`] runs the canonicalization passes alone: `remove-identity`,
//! `fold-shapes`, `fold-constants`, `dce`.

pub mod budget;
mod copy;
mod dce;
pub mod egraph;
mod error;
mod fold_constants;
mod fold_shapes;
mod manager;
pub mod measure;
pub mod merge_min_max;
pub mod merge_siblings;
mod pipeline;
pub mod prune;
pub mod quantize;
mod rebuild;
mod remove_identity;

#[cfg(test)]
mod tests;

pub use dce::Dce;
pub use error::PassError;
pub use fold_constants::FoldConstants;
pub use fold_shapes::FoldShapes;
pub use manager::{Pass, PassContext, PassManager, Reports};
pub use merge_min_max::MergeMinMax;
pub use merge_siblings::MergeSiblings;
pub use pipeline::{canonical_passes, check_opt_level, pipeline, PipelineOptions, MAX_OPT_LEVEL};
pub use rebuild::{rebuild, Edits};
pub use remove_identity::RemoveIdentity;

use kiln_ir::Graph;

/// Settings shared by the passes.
#[derive(Clone, Debug)]
pub struct PassOptions {
    /// `fold-constants` leaves a node alone when a dense operand or result would have
    /// more elements than this (splat results are not limited).
    pub fold_max_elements: usize,
}

impl Default for PassOptions {
    fn default() -> Self {
        PassOptions {
            fold_max_elements: 16 << 20,
        }
    }
}

/// How reports and errors name node `h` of `graph`: its name, or its op and handle
/// (`matmul n3`) when it has none.
pub(crate) fn node_label(graph: &Graph, h: kiln_ir::Handle<kiln_ir::Node>) -> String {
    match graph.nodes.get(h) {
        Some(n) if !n.name.is_empty() => n.name.clone(),
        Some(n) => format!("{} n{}", n.op.name(), h.index()),
        None => format!("n{}", h.index()),
    }
}

/// Runs the canonicalization passes on `graph`.
pub fn canonicalize(graph: Graph, options: &PassOptions) -> Result<Graph, PassError> {
    PassManager::from_iter(canonical_passes(options)).run(graph)
}
