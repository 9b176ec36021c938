//! `fold-shapes`: `shape` of a statically shaped operand becomes an i32 constant.
//!
//! Shapes are static in the IR, so every `shape` node folds; the chains that read
//! it (gather, concat, unsqueeze, ... feeding a reshape) then fold in `fold-constants`.

use crate::rebuild::{rebuild, Edits};
use crate::{Pass, PassError};
use kiln_ir::{Graph, Op, Tensor};

/// Replaces every `shape` node by the constant dims of its operand.
pub struct FoldShapes;

impl Pass for FoldShapes {
    fn name(&self) -> &'static str {
        "fold-shapes"
    }

    fn run(&self, graph: Graph) -> Result<Graph, PassError> {
        let mut edits = Edits::new(&graph);
        let mut changed = false;
        for (handle, node) in graph.nodes.iter() {
            let Op::Shape { start, end } = node.op else {
                continue;
            };
            let (Some(&operand), Some(&result)) = (node.inputs.first(), node.outputs.first())
            else {
                continue;
            };
            let dims = graph.ty(operand).shape.dims();
            let Some(dims) = dims.get(start..end) else {
                continue;
            };
            let Ok(dims) = dims
                .iter()
                .map(|&d| i32::try_from(d))
                .collect::<Result<Vec<_>, _>>()
            else {
                continue;
            };
            let tensor = Tensor::from_i32(vec![dims.len()], dims)
                .map_err(|e| PassError::failed(self.name(), e.to_string()))?;
            if tensor.ty() != *graph.ty(result) {
                continue;
            }
            edits.make_constant(result, tensor);
            edits.remove_node(handle);
            changed = true;
        }
        if !changed {
            return Ok(graph);
        }
        rebuild(&graph, &edits).map_err(|e| PassError::failed(self.name(), e))
    }
}
