//! Lowering of `Quantize` and `Dequantize` to one element-wise kernel each: one
//! invocation per element reads its scale and zero point where the layout says (per
//! tensor, per axis, or blocked: the index arithmetic is baked in) and converts
//! exactly as the reference does (f32 division, round half to even, saturation;
//! minifloats through `k_f32_to_minifloat` / `k_minifloat_to_f32`).

use super::elementwise::expr::{cast, from_f32, int_literal, minifloat_args, Expr};
use super::elementwise::{index::storage, kernel};
use super::{Lowered, NodeCtx, Slot};
use crate::plan::Access;
use crate::CodegenError;
use kiln_ir::quant::QuantLayout;
use kiln_ir::{DType, Op};

/// The kernel computing a `Quantize` or `Dequantize` node.
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
    let dims = x.shape.dims();
    let index = match layout {
        QuantLayout::PerTensor => "0u".to_string(),
        QuantLayout::PerAxis { axis } => {
            let inner: usize = dims[axis + 1..].iter().product();
            format!("(i / {inner}u) % {}u", dims[axis])
        }
        QuantLayout::Blocked { axis, block } => {
            let inner: usize = dims[axis + 1..].iter().product();
            let d = dims[axis];
            format!(
                "((i / {}u) * {}u + ((i / {inner}u) % {d}u) / {block}u) * {inner}u + i % {inner}u",
                inner * d,
                d.div_ceil(block),
            )
        }
    };
    let mut set = super::elementwise::index::BindingSet::new();
    let names: Vec<String> = (0..3)
        .map(|i| set.operand(i, &node.inputs, storage(ctx.operand(i).dtype)))
        .collect();
    let dst = set.add(Slot::Result(0), Access::ReadWrite, storage(out.dtype));
    let zero = ctx.operand(2).dtype;
    let body = format!(
        "    let si = {index};\n    let x = {}[i];\n    let s = {}[si];\n    let z = {}[si];\n",
        names[0], names[1], names[2]
    );
    // f32 values of x and z (exact for every quantized type).
    let to_f32 = |dtype: DType, v: &str| cast(dtype, DType::F32, v);
    let expr = match node.op {
        Op::Quantize { saturate, .. } => {
            quantize(zero, saturate, to_f32(zero, "z")).map_err(|e| ctx.error(e))?
        }
        _ => {
            let (xf, zf) = (to_f32(x.dtype, "x"), to_f32(zero, "z"));
            let mut e = from_f32(out.dtype, &format!("(({}) - ({})) * s", xf.code, zf.code));
            e.helpers.extend(xf.helpers.into_iter().chain(zf.helpers));
            e
        }
    };
    kernel(ctx, node.op.name(), set, dst, &[], &body, expr)
}

/// `saturate(round(x / s) + z)` in `dtype` (`z` is the zero point's f32 value).
fn quantize(dtype: DType, saturate: bool, z: Expr) -> Result<Expr, String> {
    let q = "(x / s)";
    let mut e = match (dtype.int_range(), minifloat_args(dtype)) {
        // round() ties to even; the sum is an integer, so the conversion only clamps.
        (Some((lo, hi)), _) if lo < 0 => Expr {
            code: format!(
                "k_f32_to_i32(round({q}) + {}, {}, {})",
                z.code,
                int_literal(dtype, lo),
                int_literal(dtype, hi)
            ),
            helpers: ["k_f32_to_i32"].into(),
        },
        (Some((_, hi)), _) => Expr {
            code: format!(
                "k_f32_to_u32(round({q}) + {}, {})",
                z.code,
                int_literal(dtype, hi)
            ),
            helpers: ["k_f32_to_u32"].into(),
        },
        (None, Some(args)) => Expr {
            code: format!("k_f32_to_minifloat({q} + {}, {args}, {saturate})", z.code),
            helpers: ["k_f32_to_minifloat"].into(),
        },
        (None, None) => return Err(format!("cannot quantize to {dtype}")),
    };
    e.helpers.extend(z.helpers);
    Ok(e)
}
