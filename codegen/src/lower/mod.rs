//! Lowering of one IR node to the WGSL kernels that compute it.
//!
//! Each op family lives in its own file and returns [`Lowered`]: kernels whose
//! bindings name the node's operands, results and scratch buffers by [`Slot`]. The
//! plan builder ([`crate::build`]) turns slots into buffers, dedupes identical
//! kernels and validates every shader with naga.

mod attention;
mod common;
mod conv;
mod conv_transpose;
mod elementwise;
mod epilogue;
mod fused;
mod matmul;
mod movement;
mod norm;
mod pool;
mod program;
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
        Op::Elementwise { program } => fused::checked(ctx, program::lower(ctx, program)),
        Op::Fused { anchor, .. } => fused::checked(ctx, fused::lower(ctx, anchor)),
        Op::Attention { scale } => fused::checked(ctx, attention::lower(ctx, *scale)),
    }
}

/// The node being lowered, with its graph and the device limits to respect.
pub struct NodeCtx<'a> {
    pub graph: &'a Graph,
    pub node: Handle<Node>,
    pub limits: &'a Limits,
    /// Elements before result 0's first element in its binding: non-zero only when the
    /// plan builder places the result in an unaligned slice of a larger buffer (an
    /// in-place concat operand), and only for ops whose kernels honour it
    /// (`build::writes_at_base`).
    pub result_base: u32,
    /// Per operand, the elements before its first element in its binding: non-zero only
    /// for an unaligned Split view read by an op whose kernels honour it
    /// (`build::reads_at_base`).
    pub operand_base: &'a [u32],
    /// Per operand, the element strides of its axes in its buffer when the plan builder
    /// folded a transpose into this node (the operand is then the transpose's input,
    /// read through permuted strides); empty or `None` for row-major operands. Only
    /// ops whose lowering honours it get one (`build::reads_strided`).
    pub operand_strides: &'a [Option<Vec<usize>>],
    /// The element strides of result 0's axes in its buffer when the plan builder folded
    /// the transpose that reads it into this node (the node then writes the transposed
    /// tensor); `None` for a row-major result. Only for ops whose lowering honours it
    /// (`build::writes_strided`).
    pub result_strides: Option<Vec<usize>>,
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

    /// The elements before operand `i`'s first element in its binding (0 unless the
    /// plan builder bound it as an unaligned slice).
    pub fn operand_base(&self, i: usize) -> u32 {
        self.operand_base.get(i).copied().unwrap_or(0)
    }

    /// The element strides of operand `i` when it is read through a folded transpose.
    pub fn operand_strides(&self, i: usize) -> Option<&'a [usize]> {
        self.operand_strides.get(i).and_then(|s| s.as_deref())
    }

    /// Type of result `i`.
    pub fn result(&self, i: usize) -> &'a kiln_ir::TensorType {
        &self.graph.values[self.node().outputs[i]].ty
    }

    /// The op computing the node's first result before any epilogue: the anchor of a
    /// `Fused` node, the node's own op otherwise.
    pub fn op(&self) -> &'a Op {
        match &self.node().op {
            Op::Fused { anchor, .. } => anchor,
            op => op,
        }
    }

    /// How many operands [`NodeCtx::op`] reads: a `Fused` node's anchor arity, all
    /// operands otherwise (the rest of a `Fused` node's operands feed its epilogue).
    pub fn arity(&self) -> usize {
        match &self.node().op {
            Op::Fused { arity, .. } => (*arity).min(self.node().inputs.len()),
            _ => self.node().inputs.len(),
        }
    }

    /// Type of [`NodeCtx::op`]'s first result: the node's own result type unless an
    /// epilogue changes it.
    pub fn anchor_result(&self) -> Result<kiln_ir::TensorType, CodegenError> {
        if !matches!(self.node().op, Op::Fused { .. }) {
            return Ok(self.result(0).clone());
        }
        let mut inputs: Vec<&kiln_ir::TensorType> =
            (0..self.arity()).map(|i| self.operand(i)).collect();
        let pooled = self.prologue_input()?;
        if let Some(pooled) = &pooled {
            inputs[0] = pooled;
        }
        let mut types = kiln_ir::infer::infer(self.op(), &inputs)
            .map_err(|e| self.error(format!("anchor {}: {e}", self.op().name())))?;
        if types.is_empty() {
            return Err(self.error("the anchor has no result"));
        }
        Ok(types.swap_remove(0))
    }

    /// The prologue of a `Fused` node, when it has one.
    pub fn prologue(&self) -> Option<&'a Op> {
        match &self.node().op {
            Op::Fused { prologue, .. } => prologue.as_deref(),
            _ => None,
        }
    }

    /// The type [`NodeCtx::op`] reads as its operand 0 when a prologue computes it
    /// from operand 0 (`None` without a prologue).
    pub fn prologue_input(&self) -> Result<Option<kiln_ir::TensorType>, CodegenError> {
        let Some(prologue) = self.prologue() else {
            return Ok(None);
        };
        if self.arity() == 0 {
            return Err(self.error("a prologue needs an anchor operand"));
        }
        kiln_ir::infer::prologue_type(prologue, self.op(), &[self.operand(0)])
            .map(Some)
            .map_err(|e| self.error(format!("prologue {}: {e}", prologue.name())))
    }

    /// An error about this node.
    pub fn error(&self, reason: impl Into<String>) -> CodegenError {
        let node = self.node();
        CodegenError::Node {
            node: node.name.clone(),
            op: node.op.name(),
            reason: reason.into(),
        }
    }
}
