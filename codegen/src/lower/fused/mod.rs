//! Lowering of `Fused` nodes: the anchor's own family lowers the node and stores each
//! result element through the epilogue program ([`super::epilogue::Tail`]); an
//! element-wise anchor and its epilogue compose into one longer program.

use super::{
    attention, conv, conv_transpose, matmul, norm, pool, program, reduce, Lowered, NodeCtx,
};
use crate::CodegenError;
use kiln_ir::Op;

/// The kernels computing a `Fused` node anchored on `anchor`.
pub fn lower(ctx: &NodeCtx<'_>, anchor: &Op) -> Result<Lowered, CodegenError> {
    let Op::Fused {
        arity, epilogue, ..
    } = &ctx.node().op
    else {
        return Err(ctx.error("not a fused node"));
    };
    if *arity > ctx.node().inputs.len() {
        return Err(ctx.error(format!(
            "anchor arity {arity} exceeds the {} operands",
            ctx.node().inputs.len()
        )));
    }
    if ctx.node().outputs.len() != 1 {
        return Err(ctx.error("a fused node has exactly one result"));
    }
    if let Some(p) = ctx.prologue() {
        let elementwise = matches!(p, Op::Elementwise { .. });
        if !(matches!(anchor, Op::Conv(_)) || elementwise && matches!(anchor, Op::MatMul)) {
            return Err(ctx.error(format!(
                "the GPU backend cannot run a {} prologue before {}",
                p.name(),
                anchor.name()
            )));
        }
    }
    if let Some(p) = kiln_ir::Program::of_op(anchor) {
        return program::lower(ctx, &program::compose(&p, *arity, epilogue));
    }
    if !takes_epilogue(anchor) || matches!(anchor, Op::Fused { .. }) {
        return Err(ctx.error(format!(
            "the GPU backend cannot fuse an epilogue into {}",
            anchor.name()
        )));
    }
    match anchor {
        Op::MatMul => matmul::lower(ctx),
        Op::Conv(a) => conv::lower(ctx, a),
        Op::ConvTranspose(a) => conv_transpose::lower(ctx, a),
        Op::Reduce { .. } | Op::Softmax { .. } | Op::LogSoftmax { .. } => reduce::lower(ctx),
        Op::MaxPool(a) | Op::AveragePool(a) => pool::lower(ctx, a),
        Op::BatchNorm { .. }
        | Op::LayerNorm { .. }
        | Op::RmsNorm { .. }
        | Op::InstanceNorm { .. }
        | Op::Lrn { .. } => norm::lower(ctx),
        Op::Attention { scale } => attention::lower(ctx, *scale),
        Op::MatMulInteger => super::integer::lower(ctx),
        Op::SparseMatMul { .. } | Op::SparseConv { .. } => super::sparse::lower(ctx),
        Op::ConvInteger(a) => conv::lower_integer(ctx, a),
        op => Err(ctx.error(format!(
            "the GPU backend cannot fuse an epilogue into {}",
            op.name()
        ))),
    }
}

/// Whether a kernel computing `op` can store each result element through an
/// epilogue: the anchors [`lower`] takes (a fused node takes a longer epilogue).
/// Element-wise ops compose into one program instead (`fuse-elementwise`).
pub fn takes_epilogue(op: &Op) -> bool {
    matches!(
        op,
        Op::MatMul
            | Op::Conv(_)
            | Op::ConvTranspose(_)
            | Op::Reduce { .. }
            | Op::Softmax { .. }
            | Op::LogSoftmax { .. }
            | Op::MaxPool(_)
            | Op::AveragePool(_)
            | Op::BatchNorm { .. }
            | Op::LayerNorm { .. }
            | Op::RmsNorm { .. }
            | Op::InstanceNorm { .. }
            | Op::Lrn { .. }
            | Op::Attention { .. }
            | Op::MatMulInteger
            | Op::ConvInteger(_)
            | Op::SparseMatMul { .. }
            | Op::SparseConv { .. }
            | Op::Fused { .. }
    )
}

/// `lowered`, refused with a clear error when a kernel binds more storage buffers than
/// the device limits allow (fused nodes bind every distinct operand they read).
pub fn checked(
    ctx: &NodeCtx<'_>,
    lowered: Result<Lowered, CodegenError>,
) -> Result<Lowered, CodegenError> {
    let lowered = lowered?;
    let limit = ctx.limits.max_storage_buffers_per_shader_stage as usize;
    if let Some(k) = lowered.kernels.iter().find(|k| k.bindings.len() > limit) {
        return Err(ctx.error(format!(
            "its {} kernel needs {} storage buffers (distinct operands and results), over the \
             device limit of {limit}; fuse fewer operands into this node",
            k.name,
            k.bindings.len()
        )));
    }
    Ok(lowered)
}

#[cfg(test)]
mod tests;
