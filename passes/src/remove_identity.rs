//! `remove-identity`: readers of an `identity` result read its operand instead.
//!
//! An identity that defines a graph output stays when bypassing it would bind the
//! output port directly to a graph input, a constant or another output's value; port
//! names and order never change.

use crate::rebuild::{rebuild, Edits};
use crate::{Pass, PassError};
use kiln_ir::{Graph, Op, ValueDef};

/// Bypasses and removes `identity` nodes.
pub struct RemoveIdentity;

impl Pass for RemoveIdentity {
    fn name(&self) -> &'static str {
        "remove-identity"
    }

    fn run(&self, graph: Graph) -> Result<Graph, PassError> {
        let mut edits = Edits::new(&graph);
        let mut is_port = vec![false; graph.values.len()];
        for port in &graph.outputs {
            is_port[port.value.index()] = true;
        }
        let mut changed = false;
        for (handle, node) in graph.nodes.iter() {
            let (Op::Identity, [operand], [result]) =
                (&node.op, &node.inputs[..], &node.outputs[..])
            else {
                continue;
            };
            let source = edits.resolve(*operand);
            if is_port[result.index()] {
                let from_node = matches!(graph.values[source].def, ValueDef::Node { .. });
                if !from_node || is_port[source.index()] {
                    continue;
                }
                is_port[source.index()] = true;
            }
            edits.replace_uses(*result, source);
            edits.remove_node(handle);
            changed = true;
        }
        if !changed {
            return Ok(graph);
        }
        rebuild(&graph, &edits).map_err(|e| PassError::failed(self.name(), e))
    }
}
