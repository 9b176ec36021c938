//! Lowering of elementwise ops (Unary, Binary with numpy broadcasting, Where, Cast)
//! to one `elementwise.wgsl` kernel each: one invocation per result element.

pub(super) mod expr;
pub(crate) mod half;
pub(super) mod index;
pub(super) mod math;

use super::placement::{OperandSet, PlacementSupport};
use super::{narrow, render, wgsl_type, KernelSrc, Lowered, NodeCtx, Slot, LINEAR_INDEX};
use crate::plan::Access;
use crate::CodegenError;
use expr::Expr;
use index::{offsets_code, storage, Affine, BindingSet};
use kiln_ir::{DType, Op};

/// Invocations per workgroup of the one-thread-per-element kernels.
pub(super) const WG: u32 = 256;

/// Every operand is read through [`NodeCtx::operand_map`], so through the strides of
/// a transpose folded into the node, and decoded where it is a range word or narrow;
/// the result may be stored narrow ([`kernel`]).
pub(crate) const PLACEMENT: PlacementSupport = PlacementSupport {
    strided_reads: OperandSet::ALL,
    range_reads: OperandSet::ALL,
    narrow_reads: OperandSet::ALL,
    narrow_write: true,
    ..PlacementSupport::NONE
};

/// The kernels computing this node.
pub fn lower(ctx: &NodeCtx<'_>) -> Result<Lowered, CodegenError> {
    let node = ctx.node();
    let out = ctx.result(0);
    let n = out.shape.numel();
    if n == 0 {
        return Ok(Lowered::default());
    }
    let dtypes: Vec<_> = (0..node.inputs.len())
        .map(|i| ctx.operand(i).dtype)
        .collect();
    let want = match &node.op {
        Op::Unary(_) | Op::Cast { .. } => 1,
        Op::Binary(_) => 2,
        _ => 3,
    };
    if dtypes.len() != want {
        return Err(ctx.error(format!("expected {want} operands, got {}", dtypes.len())));
    }
    let xs: Vec<String> = (0..want).map(|i| format!("x{i}")).collect();
    // An f16 op natively: its f32 operands hold f16 values, so converting them is exact.
    let native = if ctx.f16_arithmetic && out.dtype == DType::F16 {
        let h: Vec<String> = xs.iter().map(|x| format!("f16({x})")).collect();
        match &node.op {
            Op::Unary(u) => half::unary(*u, &h[0]),
            Op::Binary(b) => half::binary(*b, &h[0], &h[1]),
            Op::Cast { .. } => half::cast(dtypes[0], &xs[0]),
            _ => None,
        }
    } else {
        None
    };
    let e: Expr = match (&node.op, native) {
        (_, Some(code)) => Ok(Expr {
            code: format!("f32({code})"),
            ..Expr::default()
        }),
        (Op::Unary(u), _) => expr::unary(*u, dtypes[0], &xs[0]),
        (Op::Binary(b), _) => expr::binary(*b, dtypes[0], dtypes[1], &xs[0], &xs[1]),
        // Where moves words: x and y are read as u32 whatever their dtype.
        (Op::Where, _) => Ok(Expr {
            code: format!("select({}, {}, {} != 0u)", xs[2], xs[1], xs[0]),
            ..Expr::default()
        }),
        (Op::Cast { to }, _) => Ok(expr::cast(dtypes[0], *to, &xs[0])),
        (op, _) => Err(format!("{} is not an elementwise op", op.name())),
    }
    .map_err(|reason| ctx.error(reason))?;
    // Where moves words: its operands and result are u32 words whatever their dtype.
    let wide = |dtype| {
        if matches!(node.op, Op::Where) {
            DType::U32
        } else {
            dtype
        }
    };
    let word = |i: usize| wgsl_type(ctx.binding_dtype(i, wide(dtypes[i])));

    let dims = out.shape.dims();
    let mut set = BindingSet::new();
    let names: Vec<String> = (0..want)
        .map(|i| set.operand(i, &node.inputs, word(i)))
        .collect();
    let dst_ty = wgsl_type(ctx.result_binding_dtype(wide(out.dtype)));
    let dst = set.add(Slot::Result(0), Access::ReadWrite, dst_ty);
    let mut maps = Vec::new();
    let mut loads = String::new();
    let mut e = e;
    for i in 0..want {
        let a = ctx.operand_map(i, dims);
        let off = broadcast_offset(i, a, dims, &mut maps);
        let mut load = super::range::read(ctx, i, &names[i], &off, &mut e.helpers);
        let decoded = ctx
            .operand_places
            .get(i)
            .is_some_and(|p| p.range.is_some() || p.narrow);
        if matches!(node.op, Op::Where) && decoded {
            // Where moves words: a decoded element's (or extreme's) bits.
            load = format!("bitcast<u32>({load})");
        }
        loads.push_str(&format!("    let {} = {load};\n", xs[i]));
    }
    kernel(ctx, node.op.name(), set, dst, &maps, &loads, e)
}

/// Where operand `i`, mapped by `a` onto the result's `dims`, is read: at `i` itself
/// when the map is the identity, else at an offset `o{i}` added to `maps`.
pub(super) fn broadcast_offset(
    i: usize,
    a: Affine,
    dims: &[usize],
    maps: &mut Vec<(String, Affine)>,
) -> String {
    if a.is_identity(dims) {
        return "i".to_string();
    }
    let name = format!("o{i}");
    maps.push((name.clone(), a));
    name
}

/// The one-invocation-per-element kernel named `name` over result 0: the offsets of
/// `maps`, then `body` (operand loads and any program steps), then `expr` (with the
/// math helpers it uses) stored to `dst`; `set` holds the bindings.
pub(super) fn kernel(
    ctx: &NodeCtx<'_>,
    name: &str,
    mut set: BindingSet,
    dst: String,
    maps: &[(String, Affine)],
    body: &str,
    expr: Expr,
) -> Result<Lowered, CodegenError> {
    let out = ctx.result(0);
    // The range of the result folded as it is stored (see `range`).
    let (code, fold) = if super::range::wanted(ctx, out.dtype) {
        set.add(Slot::Range, Access::ReadWrite, "atomic<u32>");
        (super::range::fold(&expr.code), super::range::FOLD)
    } else {
        (expr.code, "")
    };
    let (n, dims) = (out.shape.numel(), out.shape.dims());
    let map_refs: Vec<(&str, &Affine)> = maps.iter().map(|(n, a)| (n.as_str(), a)).collect();
    let offsets = if map_refs.is_empty() {
        String::new()
    } else {
        offsets_code("i", dims, &map_refs, "")
    };
    let wg = WG.min(ctx.limits.max_compute_invocations_per_workgroup);
    let mut helpers = expr.helpers;
    let mut values = vec![
        ("BINDINGS", set.decls()),
        ("WG", wg.to_string()),
        ("N", n.to_string()),
        ("INDEX", LINEAR_INDEX.to_string()),
        ("OFFSETS", format!("{offsets}{body}")),
        ("DST", dst),
    ];
    let per = narrow::per_word(out.dtype).filter(|_| ctx.result_place.narrow);
    let (template, threads) = match per {
        None => {
            values.push(("EXPR", code));
            (kiln_shaders::ELEMENTWISE, n)
        }
        Some(per) => {
            // `Where` computes the word a wide tensor holds; the others its dtype's
            // storage value.
            let ty = if matches!(ctx.node().op, Op::Where) {
                "u32"
            } else {
                storage(out.dtype)
            };
            helpers.extend(narrow::pack_helpers(out.dtype));
            let words = n.div_ceil(per as usize);
            values.extend([
                ("WORDS", words.to_string()),
                ("PER", per.to_string()),
                ("BITS", (32 / per).to_string()),
                ("PACK", narrow::bits(out.dtype, &code, ty)),
            ]);
            (kiln_shaders::ELEMENTWISE_NARROW, words)
        }
    };
    values.push(("HELPERS", format!("{}{fold}", math::helpers(&helpers)?)));
    let wgsl = render(template, &values)?;
    Ok(Lowered {
        kernels: vec![KernelSrc::linear(
            name,
            wgsl,
            threads,
            wg,
            ctx.limits,
            set.bindings,
        )?],
        ..Lowered::default()
    })
}

#[cfg(test)]
pub(super) mod tests;
