//! `dce`: drops nodes and constants whose results reach no graph output, and trailing
//! results nothing reads (such as max-pool indices). Graph inputs always stay.

use crate::rebuild::{rebuild, Edits};
use crate::{Pass, PassError};
use kiln_ir::Graph;

/// Dead-code elimination.
pub struct Dce;

impl Pass for Dce {
    fn name(&self) -> &'static str {
        "dce"
    }

    fn run(&self, graph: Graph) -> Result<Graph, PassError> {
        let mut live = vec![false; graph.values.len()];
        for port in &graph.outputs {
            live[port.value.index()] = true;
        }
        let mut edits = Edits::new(&graph);
        let handles: Vec<_> = graph.nodes.handles().collect();
        for &handle in handles.iter().rev() {
            let node = &graph.nodes[handle];
            match node.outputs.iter().rposition(|v| live[v.index()]) {
                None => edits.remove_node(handle),
                Some(last) => {
                    if last + 1 < node.outputs.len() {
                        edits.keep_outputs(handle, last + 1);
                    }
                    for &v in &node.inputs {
                        live[v.index()] = true;
                    }
                }
            }
        }
        // Rebuilding also drops the constants no kept node reads.
        rebuild(&graph, &edits).map_err(|e| PassError::failed(self.name(), e))
    }
}
