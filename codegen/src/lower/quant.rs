//! Lowering of a blocked `Quantize` or `Dequantize` (one scale per block of `block`
//! consecutive indices along an axis) to one element-wise kernel: one invocation per
//! element reads its scale and zero point at the block's index (baked into the code)
//! and converts as the reference does. The other layouts broadcast their scale like any
//! element-wise operand and lower as one-step programs (`program.rs`).

use super::elementwise::expr::{dequantize, quantize};
use super::elementwise::{index::storage, kernel};
use super::{Lowered, NodeCtx, Slot};
use crate::plan::Access;
use crate::CodegenError;
use kiln_ir::quant::QuantLayout;
use kiln_ir::Op;

/// The kernel computing a blocked `Quantize` or `Dequantize` node.
pub fn lower(ctx: &NodeCtx<'_>) -> Result<Lowered, CodegenError> {
    let node = ctx.node();
    let (x, scale, out) = (ctx.operand(0), ctx.operand(1), ctx.result(0));
    if out.shape.numel() == 0 {
        return Ok(Lowered::default());
    }
    let (axis, block) = match node.op {
        Op::Quantize { axis, block, .. } | Op::Dequantize { axis, block } => (axis, block),
        ref op => return Err(ctx.error(format!("{} is not a quantization", op.name()))),
    };
    let layout = QuantLayout::of(&x.shape, &scale.shape, axis, block).map_err(|e| ctx.error(e))?;
    let QuantLayout::Blocked { axis, block } = layout else {
        return Err(ctx.error("only blocked scales take this kernel"));
    };
    let dims = x.shape.dims();
    let inner: usize = dims[axis + 1..].iter().product();
    let d = dims[axis];
    let index = format!(
        "((i / {}u) * {}u + ((i / {inner}u) % {d}u) / {block}u) * {inner}u + i % {inner}u",
        inner * d,
        d.div_ceil(block),
    );
    let mut set = super::elementwise::index::BindingSet::new();
    let names: Vec<String> = (0..3)
        .map(|i| set.operand(i, &node.inputs, storage(ctx.operand(i).dtype)))
        .collect();
    let dst = set.add(Slot::Result(0), Access::ReadWrite, storage(out.dtype));
    let body = format!(
        "    let si = {index};\n    let x = {}[i];\n    let s = {}[si];\n    let z = {}[si];\n",
        names[0], names[1], names[2]
    );
    let operands = [
        ("x", x.dtype),
        ("s", scale.dtype),
        ("z", ctx.operand(2).dtype),
    ];
    let expr = match node.op {
        Op::Quantize { saturate, .. } => {
            quantize(out.dtype, saturate, operands).map_err(|e| ctx.error(e))?
        }
        _ => dequantize(out.dtype, operands),
    };
    kernel(ctx, node.op.name(), set, dst, &[], &body, expr)
}
