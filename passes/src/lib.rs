//! kiln's pass manager and canonicalization passes.
//!
//! A [`Pass`] maps a [`Graph`] to a new graph; the [`PassManager`] runs passes by name
//! in order, verifies the IR after each (naming the pass on failure) and can call a
//! hook after each for dumps. Passes record their changes as [`Edits`] and [`rebuild`]
//! a compact graph, so every pass result is dense and in canonical order.
//!
//! [`canonicalize`] is the standard pipeline: `remove-identity`, `fold-shapes`,
//! `fold-constants`, `dce`.

mod dce;
pub mod egraph;
mod error;
mod fold_constants;
mod fold_shapes;
mod manager;
pub mod merge_siblings;
mod rebuild;
mod remove_identity;

#[cfg(test)]
mod tests;

pub use dce::Dce;
pub use error::PassError;
pub use fold_constants::FoldConstants;
pub use fold_shapes::FoldShapes;
pub use manager::{pass_by_name, Pass, PassManager, PASS_NAMES};
pub use merge_siblings::MergeSiblings;
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

/// Runs the standard canonicalization pipeline on `graph`.
pub fn canonicalize(graph: Graph, options: &PassOptions) -> Result<Graph, PassError> {
    PassManager::standard(options).run(graph)
}
