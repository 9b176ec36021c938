//! Lowering of one IR node to the WGSL kernels that compute it.
//!
//! Each op family lives in its own file and returns [`Lowered`]: kernels whose
//! bindings name the node's operands, results and scratch buffers by [`Slot`]. The
//! plan builder (`build.rs`) turns slots into buffers, dedupes identical
//! kernels and validates every shader with naga.

mod attention;
mod bitcast;
mod common;
mod conv;
mod conv_transpose;
mod elementwise;
mod epilogue;
pub(crate) mod fused;
mod integer;
pub(crate) mod matmul;
mod movement;
pub(crate) mod narrow;
mod norm;
pub(crate) mod packed;
mod placement;
mod pool;
mod program;
mod prologue;
mod quant;
pub(crate) mod range;
mod reduce;
mod resize;
mod scan;
mod scatter;
mod select;
mod sparse;

pub use common::*;
pub(crate) use elementwise::half::uses_f16;
pub use packed::{PackedScale, PackedWeight};
pub use placement::{OperandSet, Placement, PlacementSupport};

use crate::CodegenError;
use kiln_ir::{BinaryOp, DType, Graph, Handle, Node, Op};

/// Lowers `node`; `Op::Reshape` and `Op::Identity` never reach here (the builder
/// aliases their buffers). Refuses, naming the node, operand or result placements its
/// lowering does not honour ([`node_placement_support`]).
pub fn lower_node(ctx: &NodeCtx<'_>) -> Result<Lowered, CodegenError> {
    let support = node_placement_support(ctx.graph, ctx.node, ctx.limits);
    if let Some(reason) = support.refusal(ctx.operand_places, &ctx.result_place) {
        return Err(placement::refuse(ctx, reason));
    }
    lower_family(ctx).map_err(|e| e.about_node(ctx.node, &ctx.node().name))
}

/// What the kernels lowered for `op` honour of a non-default [`Placement`], as each
/// lowering family declares it. A `MatMul`'s strided reads hold only when the product
/// runs as one dispatch over whole bindings: [`node_placement_support`] answers for a
/// node of a graph.
pub fn placement_support(op: &Op) -> PlacementSupport {
    match op {
        Op::Unary(_) | Op::Binary(_) | Op::Where | Op::Cast { .. } => elementwise::PLACEMENT,
        Op::Elementwise { .. }
        | Op::Quantize { block: 0, .. }
        | Op::Dequantize { block: 0, .. } => program::PLACEMENT,
        Op::MatMul => matmul::PLACEMENT,
        Op::Conv(_) => conv::PLACEMENT,
        Op::ConvInteger(_) => integer::PLACEMENT,
        Op::MatMulInteger => integer::MATMUL_PLACEMENT,
        Op::ConvTranspose(_) => conv_transpose::PLACEMENT,
        Op::Attention { .. } => attention::PLACEMENT,
        Op::MaxPool(_) | Op::AveragePool(_) => pool::PLACEMENT,
        Op::Gather { .. } => movement::GATHER_PLACEMENT,
        Op::Fused { anchor, arity, .. } => {
            PlacementSupport::fused(placement_support(anchor), *arity)
        }
        _ => PlacementSupport::NONE,
    }
}

/// [`placement_support`] of `node`'s op, refined by its operand types and the device:
/// exactly what its lowering honours.
pub fn node_placement_support(
    graph: &Graph,
    node: Handle<Node>,
    limits: &Limits,
) -> PlacementSupport {
    let node = &graph.nodes[node];
    let support = placement_support(&node.op);
    match (node.op.anchor(), node.inputs.first(), node.inputs.get(1)) {
        (Op::MatMul, Some(&a), Some(&b)) => {
            matmul::placement(support, &graph.values[a].ty, &graph.values[b].ty, limits)
        }
        _ => support,
    }
}

/// Lowers `node` with its family's lowering.
fn lower_family(ctx: &NodeCtx<'_>) -> Result<Lowered, CodegenError> {
    match &ctx.node().op {
        // An integer division is a one-step program, which checks its divisor.
        op @ Op::Binary(BinaryOp::Div) if !ctx.operand(1).dtype.is_float() => {
            let divide = kiln_ir::Program::of_op(op).ok_or_else(|| ctx.error("not a program"))?;
            fused::checked(ctx, program::lower(ctx, &divide))
        }
        Op::Unary(_) | Op::Binary(_) | Op::Where | Op::Cast { .. } => elementwise::lower(ctx),
        Op::MatMul => matmul::lower(ctx),
        Op::Conv(attrs) => conv::lower(ctx, attrs),
        Op::ConvTranspose(attrs) => conv_transpose::lower(ctx, attrs),
        Op::MaxPool(attrs) | Op::AveragePool(attrs) => pool::lower(ctx, attrs),
        Op::BatchNorm { .. }
        | Op::LayerNorm { .. }
        | Op::RmsNorm { .. }
        | Op::InstanceNorm { .. }
        | Op::Lrn { .. } => norm::lower(ctx),
        Op::Reduce { .. }
        | Op::MinMax { .. }
        | Op::ArgReduce { .. }
        | Op::Softmax { .. }
        | Op::LogSoftmax { .. } => reduce::lower(ctx),
        Op::Resize(attrs) => resize::lower(ctx, attrs),
        Op::Cumulative { .. } => scan::lower(ctx),
        Op::NonZero | Op::Compress { .. } | Op::NonMaxSuppression { .. } | Op::Unique { .. } => {
            select::lower(ctx)
        }
        Op::BitCast { .. } => bitcast::lower(ctx),
        Op::ScatterNd { .. } => scatter::lower(ctx),
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
        // Scales that broadcast: a one-step program.
        op @ (Op::Quantize { block: 0, .. } | Op::Dequantize { block: 0, .. }) => {
            let step = kiln_ir::Program::of_op(op).ok_or_else(|| ctx.error("not a program"))?;
            program::lower(ctx, &step)
        }
        Op::Quantize { .. } | Op::Dequantize { .. } => quant::lower(ctx),
        Op::MatMulInteger => integer::lower(ctx),
        Op::SparseMatMul { .. } | Op::SparseConv { .. } => sparse::lower(ctx),
        Op::ConvInteger(attrs) => conv::lower_integer(ctx, attrs),
    }
}

/// The node being lowered, with its graph, the device limits to respect and where its
/// operands and result 0 sit in their bindings.
pub struct NodeCtx<'a> {
    pub graph: &'a Graph,
    pub node: Handle<Node>,
    pub limits: &'a Limits,
    /// Per operand (missing entries are the default placement).
    pub operand_places: &'a [Placement],
    /// Of result 0.
    pub result_place: Placement,
    /// Integer products of 8-bit operands run on the packed engine
    /// ([`crate::PlanOptions::packed_dot`]).
    pub packed_dot: bool,
    /// f16 element-wise steps compute in f16 where they can
    /// ([`crate::PlanOptions::f16_arithmetic`]).
    pub f16_arithmetic: bool,
    /// Fold the range of result 0 as it is stored, where the lowering can (see
    /// [`range`]): a `min_max` of it reads that instead of the tensor.
    pub fold_range: bool,
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

    /// `(outer, extent, inner)` of operand 0 around `axis`, or `(1, numel, 1)` (its
    /// elements flattened) for `None`.
    pub fn around(&self, axis: Option<usize>) -> Result<(usize, usize, usize), CodegenError> {
        let d = self.operand(0).shape.dims();
        match axis {
            None => Ok((1, d.iter().product(), 1)),
            Some(a) if a >= d.len() => {
                Err(self.error(format!("axis {a} is out of range for rank {}", d.len())))
            }
            Some(a) => Ok((d[..a].iter().product(), d[a], d[a + 1..].iter().product())),
        }
    }

    /// A node whose operands and result sit row-major at the start of their bindings.
    pub fn new(graph: &'a Graph, node: Handle<Node>, limits: &'a Limits) -> Self {
        NodeCtx {
            graph,
            node,
            limits,
            operand_places: &[],
            result_place: Placement::default(),
            packed_dot: false,
            f16_arithmetic: false,
            fold_range: false,
        }
    }

    /// The elements before operand `i`'s first element in its binding.
    pub fn operand_base(&self, i: usize) -> u32 {
        self.operand_places.get(i).map_or(0, |p| p.base)
    }

    /// The element strides of operand `i` when it is read through a folded transpose.
    pub fn operand_strides(&self, i: usize) -> Option<&'a [usize]> {
        self.operand_places
            .get(i)
            .and_then(|p| p.strides.as_deref())
    }

    /// How operand `i` is stored when the plan keeps it packed.
    pub fn operand_packed(&self, i: usize) -> Option<&'a PackedWeight> {
        self.operand_places.get(i).and_then(|p| p.packed.as_ref())
    }

    /// True when operand `i` is stored narrow ([`narrow`]).
    pub fn operand_narrow(&self, i: usize) -> bool {
        self.operand_places.get(i).is_some_and(|p| p.narrow)
    }

    /// The WGSL expression reading element `off` of operand `i` bound as `buf`: decoded
    /// from its word when the operand is narrow, else `buf[off]`.
    pub fn element(&self, i: usize, buf: &str, off: &str) -> String {
        if self.operand_narrow(i) {
            narrow::read(self.operand(i).dtype, buf, off)
        } else {
            format!("{buf}[{off}]")
        }
    }

    /// The dtype operand `i`'s binding is declared with: the word type of a narrow
    /// operand ([`narrow::word_dtype`]), else `wide`.
    pub fn binding_dtype(&self, i: usize, wide: DType) -> DType {
        if self.operand_narrow(i) {
            narrow::word_dtype(self.operand(i).dtype)
        } else {
            wide
        }
    }

    /// The dtype result 0's binding is declared with: `u32` words when it is stored
    /// narrow, else `wide`.
    pub fn result_binding_dtype(&self, wide: DType) -> DType {
        if self.result_place.narrow {
            DType::U32
        } else {
            wide
        }
    }

    /// The channel shuffle operand `i` is read through, if any (see
    /// [`Placement::shuffle`]).
    pub fn operand_shuffle(&self, i: usize) -> Option<(usize, usize)> {
        self.operand_places.get(i).and_then(|p| p.shuffle)
    }

    /// Where each element of operand `i` broadcast to `full` lives in its binding:
    /// row-major, or through the strides of a transpose folded into this node.
    pub fn operand_map(&self, i: usize, full: &[usize]) -> elementwise::index::Affine {
        let dims = self.operand(i).shape.dims();
        match self.operand_strides(i) {
            Some(strides) => elementwise::index::Affine::broadcast_strided(dims, strides, full),
            None => elementwise::index::Affine::broadcast(dims, full),
        }
    }

    /// Type of result `i`.
    pub fn result(&self, i: usize) -> &'a kiln_ir::TensorType {
        &self.graph.values[self.node().outputs[i]].ty
    }

    /// The op computing the node's first result before any epilogue: the anchor of a
    /// `Fused` node, the node's own op otherwise.
    pub fn op(&self) -> &'a Op {
        self.node().op.anchor()
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
        let extra: Vec<_> = (self.arity()..self.node().inputs.len())
            .map(|i| self.operand(i))
            .collect();
        kiln_ir::infer::prologue_type(prologue, self.op(), &[self.operand(0)], &extra)
            .map(Some)
            .map_err(|e| self.error(format!("prologue {}: {e}", prologue.name())))
    }

    /// An error about this node.
    pub fn error(&self, reason: impl Into<String>) -> CodegenError {
        let node = self.node();
        CodegenError::Node {
            node: self.node,
            name: node.name.clone(),
            op: node.op.name(),
            reason: reason.into(),
        }
    }

    /// A [`CodegenError::TooLarge`] about this node.
    pub fn too_large(&self, reason: impl Into<String>) -> CodegenError {
        CodegenError::TooLarge {
            node: Some(self.node),
            name: self.node().name.clone(),
            reason: reason.into(),
        }
    }
}

/// Errors when an operand or result is larger than one binding may be.
pub fn check_binding_sizes(ctx: &NodeCtx<'_>) -> Result<(), CodegenError> {
    let node = ctx.node();
    let limit = ctx.limits.max_storage_buffer_binding_size;
    let tys = (0..node.inputs.len())
        .map(|i| ctx.operand(i))
        .chain((0..node.outputs.len()).map(|i| ctx.result(i)));
    for ty in tys {
        let bytes = (ty.shape.numel() * 4) as u64;
        if bytes > limit {
            return Err(ctx.too_large(format!(
                "{ty} takes {bytes} bytes, over the {limit} byte binding limit"
            )));
        }
    }
    Ok(())
}
