//! Graphviz DOT output of a graph.

use crate::Graph;

/// The graph as a DOT digraph.
pub fn to_dot(graph: &Graph) -> String {
    let _ = graph;
    String::new()
}
