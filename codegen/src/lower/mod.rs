//! Lowering of one IR node to the WGSL kernels that compute it.
//!
//! Each op family lives in its own file and returns [`Lowered`]: kernels whose
//! bindings name the node's operands, results and scratch buffers by [`Slot`]. The
//! plan builder ([`crate::build`]) turns slots into buffers, dedupes identical
//! kernels and validates every shader with naga.

mod common;
mod conv;
mod conv_transpose;
mod elementwise;
mod matmul;
mod movement;
mod norm;
mod pool;
mod reduce;
mod resize;

pub use common::*;

use crate::CodegenError;
use kiln_ir::{Graph, Handle, Node, Op};

/// Lowers `node`; `Op::Reshape` and `Op::Identity` never reach here (the builder
/// aliases their buffers).
pub fn lower_node(ctx: &NodeCtx<'_>) -> Result<Lowered, CodegenError> {
    match &ctx.node().op {
        Op::Unary(_) | Op::Binary(_) | Op::Where | Op::Cast { .. } => elementwise::lower(ctx),
        Op::MatMul => matmul::lower(ctx),
        Op::Conv(attrs) => conv::lower(ctx, attrs),
        Op::ConvTranspose(attrs) => conv_transpose::lower(ctx, attrs),
        Op::MaxPool(attrs) | Op::AveragePool(attrs) => pool::lower(ctx, attrs),
        Op::BatchNorm { .. } | Op::LayerNorm { .. } | Op::InstanceNorm { .. } | Op::Lrn { .. } => {
            norm::lower(ctx)
        }
        Op::Reduce { .. } | Op::ArgReduce { .. } | Op::Softmax { .. } | Op::LogSoftmax { .. } => {
            reduce::lower(ctx)
        }
        Op::Resize(attrs) => resize::lower(ctx, attrs),
        Op::Transpose { .. }
        | Op::Concat { .. }
        | Op::Split { .. }
        | Op::Slice { .. }
        | Op::Gather { .. }
        | Op::Expand { .. }
        | Op::Pad { .. }
        | Op::Tile { .. }
        | Op::DepthToSpace { .. }
        | Op::SpaceToDepth { .. }
        | Op::Shape { .. }
        | Op::Reshape { .. }
        | Op::Identity => movement::lower(ctx),
        Op::Elementwise { .. } | Op::Fused { .. } | Op::Attention { .. } => {
            Err(ctx.error("the GPU backend has no kernel for this op yet"))
        }
    }
}

/// The node being lowered, with its graph and the device limits to respect.
pub struct NodeCtx<'a> {
    pub graph: &'a Graph,
    pub node: Handle<Node>,
    pub limits: &'a Limits,
}

impl<'a> NodeCtx<'a> {
    /// The node.
    pub fn node(&self) -> &'a Node {
        &self.graph.nodes[self.node]
    }

    /// Type of operand `i`.
    pub fn operand(&self, i: usize) -> &'a kiln_ir::TensorType {
        &self.graph.values[self.node().inputs[i]].ty
    }

    /// Type of result `i`.
    pub fn result(&self, i: usize) -> &'a kiln_ir::TensorType {
        &self.graph.values[self.node().outputs[i]].ty
    }

    /// An error about this node.
    pub fn error(&self, reason: impl Into<String>) -> CodegenError {
        let node = self.node();
        CodegenError::Node { node: node.name.clone(), op: node.op.name(), reason: reason.into() }
    }
}
