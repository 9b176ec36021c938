//! Lowering of `bitcast` (`bitcast.wgsl`): one invocation per element, the operand's
//! word reduced to the source type's bits and widened as the result type stores them.

use super::elementwise::WG;
use super::{render, Binding, KernelSrc, Lowered, NodeCtx, Slot, LINEAR_INDEX};
use crate::CodegenError;
use kiln_ir::{DType, Op};

/// The kernel of a `bitcast` node.
pub fn lower(ctx: &NodeCtx<'_>) -> Result<Lowered, CodegenError> {
    let Op::BitCast { to } = *ctx.op() else {
        return Err(ctx.error("not a bitcast"));
    };
    let from = ctx.operand(0).dtype;
    let n = ctx.operand(0).shape.numel();
    if n == 0 {
        return Ok(Lowered::default());
    }
    let to_bits = match from {
        DType::F32 | DType::I32 | DType::U32 => "w".to_string(),
        DType::F16 => "pack2x16float(vec2<f32>(bitcast<f32>(w), 0.0)) & 0xFFFFu".to_string(),
        DType::I16 | DType::U16 => "w & 0xFFFFu".to_string(),
        DType::I8 | DType::U8 | DType::Bool => "w & 0xFFu".to_string(),
        d => return Err(ctx.error(format!("cannot bitcast {d}"))),
    };
    let from_bits = match to {
        DType::F32 | DType::I32 | DType::U32 | DType::U16 | DType::U8 => "b".to_string(),
        DType::F16 => "bitcast<u32>(unpack2x16float(b).x)".to_string(),
        DType::I16 => "bitcast<u32>(bitcast<i32>(b << 16u) >> 16u)".to_string(),
        DType::I8 => "bitcast<u32>(bitcast<i32>(b << 24u) >> 24u)".to_string(),
        d => return Err(ctx.error(format!("cannot bitcast to {d}"))),
    };
    let wg = WG.min(ctx.limits.max_compute_invocations_per_workgroup);
    let wgsl = render(
        kiln_shaders::BITCAST,
        &[
            ("WG", wg.to_string()),
            ("N", n.to_string()),
            ("INDEX", LINEAR_INDEX.to_string()),
            ("TO_BITS", to_bits),
            ("FROM_BITS", from_bits),
        ],
    )?;
    let bindings = vec![
        Binding::read(Slot::Operand(0)),
        Binding::write(Slot::Result(0)),
    ];
    Ok(Lowered {
        kernels: vec![KernelSrc::linear(
            "bitcast", wgsl, n, wg, ctx.limits, bindings,
        )?],
        ..Lowered::default()
    })
}
