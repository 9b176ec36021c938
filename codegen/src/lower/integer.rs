//! Lowering of the exact integer products `MatMulInteger` and `ConvInteger`: one
//! invocation per output element accumulates `(a - a_zero) · (b - b_zero)` in i32 (which
//! wraps as the reference's i32 result does). This is the plain integer core; packed
//! 8-bit loads with `dot4I8Packed` and the tiled engines are not used yet.

use super::elementwise::expr::Expr;
use super::elementwise::{index::storage, kernel};
use super::{Lowered, NodeCtx, Slot};
use crate::plan::Access;
use crate::CodegenError;
use kiln_ir::{ConvAttrs, Op};

/// The kernel computing a `MatMulInteger` or `ConvInteger` node.
pub fn lower(ctx: &NodeCtx<'_>) -> Result<Lowered, CodegenError> {
    let node = ctx.node();
    if ctx.result(0).shape.numel() == 0 {
        return Ok(Lowered::default());
    }
    if node.inputs.len() != 4 {
        return Err(ctx.error(format!("expected 4 operands, got {}", node.inputs.len())));
    }
    let mut set = super::elementwise::index::BindingSet::new();
    let names: Vec<String> = (0..4)
        .map(|i| set.operand(i, &node.inputs, storage(ctx.operand(i).dtype)))
        .collect();
    let dst = set.add(
        Slot::Result(0),
        Access::ReadWrite,
        storage(kiln_ir::DType::I32),
    );
    let body = match &node.op {
        Op::MatMulInteger => matmul_body(ctx, &names)?,
        Op::ConvInteger(a) => conv_body(ctx, a, &names)?,
        op => return Err(ctx.error(format!("{} is not an integer product", op.name()))),
    };
    let expr = Expr {
        code: "acc".to_string(),
        helpers: Default::default(),
    };
    kernel(ctx, node.op.name(), set, dst, &[], &body, expr)
}

/// Statements adding to `var` the offset of batch entry `z` (row-major over `batch`)
/// in an operand with batch dims `dims` (right-aligned; size-1 dims broadcast) whose
/// batch matrices are `size` elements apart.
fn batch_offset(var: &str, z: &str, batch: &[usize], dims: &[usize], size: usize) -> String {
    let lead = batch.len() - dims.len();
    let mut code = format!("    var {var}_z = {z};\n");
    let mut stride = size;
    for axis in (0..batch.len()).rev() {
        let own = axis.checked_sub(lead).map_or(1, |i| dims[i]);
        code.push_str(&format!(
            "    {{\n        let c = {var}_z % {b}u;\n        {var}_z = {var}_z / {b}u;\n",
            b = batch[axis]
        ));
        if own != 1 {
            code.push_str(&format!("        {var} += c * {stride}u;\n"));
        }
        code.push_str("    }\n");
        stride *= own;
    }
    code
}

/// `MatMulInteger` with numpy shapes: batch axes broadcast, 1-D operands promoted.
fn matmul_body(ctx: &NodeCtx<'_>, names: &[String]) -> Result<String, CodegenError> {
    let (ad, bd) = (ctx.operand(0).shape.dims(), ctx.operand(1).shape.dims());
    let (m, k) = match ad {
        [k] => (1, *k),
        [.., m, k] => (*m, *k),
        [] => return Err(ctx.error("a must have rank >= 1")),
    };
    let n = match bd {
        [_] => 1,
        [.., n] => *n,
        [] => return Err(ctx.error("b must have rank >= 1")),
    };
    let (ab, bb) = (
        &ad[..ad.len().saturating_sub(2)],
        &bd[..bd.len().saturating_sub(2)],
    );
    let rank = ab.len().max(bb.len());
    let batch: Vec<usize> = (0..rank)
        .map(|i| {
            let dim = |d: &[usize]| (i + d.len()).checked_sub(rank).map_or(1, |j| d[j]);
            dim(ab).max(dim(bb))
        })
        .collect();
    let (za_n, zb_n) = (ctx.operand(2).shape.numel(), ctx.operand(3).shape.numel());
    let mut code = format!(
        "    let n = i % {n}u;\n    let m = (i / {n}u) % {m}u;\n    let z = i / {mn}u;\n    \
         var a_off = 0u;\n    var b_off = 0u;\n",
        mn = m * n
    );
    code.push_str(&batch_offset("a_off", "z", &batch, ab, m * k));
    code.push_str(&batch_offset("b_off", "z", &batch, bb, k * n));
    code.push_str(&format!(
        "    let za = i32({za}[{ia}]);\n    let zb = i32({zb}[{ib}]);\n    var acc = 0i;\n    \
         for (var l = 0u; l < {k}u; l++) {{\n        \
         acc += (i32({a}[a_off + m * {k}u + l]) - za) * (i32({b}[b_off + l * {n}u + n]) - zb);\n    }}\n",
        za = names[2],
        zb = names[3],
        a = names[0],
        b = names[1],
        ia = if za_n == 1 { "0u".to_string() } else { "m".to_string() },
        ib = if zb_n == 1 { "0u".to_string() } else { "n".to_string() },
    ));
    Ok(code)
}

/// `ConvInteger` in N-d with groups, strides, dilations and padding (padding adds 0).
fn conv_body(ctx: &NodeCtx<'_>, a: &ConvAttrs, names: &[String]) -> Result<String, CodegenError> {
    let (xd, wd, yd) = (
        ctx.operand(0).shape.dims(),
        ctx.operand(1).shape.dims(),
        ctx.result(0).shape.dims(),
    );
    let sp = xd.len() - 2;
    let (c, m, g) = (xd[1], wd[0], a.group);
    let (cg, mg) = (c / g, m / g);
    let p: usize = yd[2..].iter().product();
    let pin: usize = xd[2..].iter().product();
    let kk: usize = wd[2..].iter().product();
    let zw_n = ctx.operand(3).shape.numel();
    let mut code = format!(
        "    let pos = i % {p}u;\n    let oc = (i / {p}u) % {m}u;\n    let img = i / {mp}u;\n    \
         let grp = oc / {mg}u;\n    let zx = i32({zx}[0]);\n    let zw = i32({zw}[{iw}]);\n    \
         var acc = 0i;\n    for (var ci = 0u; ci < {cg}u; ci++) {{\n        \
         let x_base = (img * {c}u + grp * {cg}u + ci) * {pin}u;\n        \
         let w_base = (oc * {cg}u + ci) * {kk}u;\n        \
         for (var tap = 0u; tap < {kk}u; tap++) {{\n            \
         var t = tap;\n            var q = pos;\n            var off = 0u;\n            var inside = true;\n",
        mp = m * p,
        zx = names[2],
        zw = names[3],
        iw = if zw_n == 1 { "0u" } else { "oc" },
    );
    let mut in_stride = 1;
    for ax in (0..sp).rev() {
        code.push_str(&format!(
            "            {{\n                let kc = t % {k}u;\n                t = t / {k}u;\n                \
             let o = q % {o}u;\n                q = q / {o}u;\n                \
             let coord = i32(o * {s}u + kc * {d}u) - {pad};\n                \
             inside = inside && coord >= 0 && coord < {i};\n                \
             off += u32(max(coord, 0)) * {in_stride}u;\n            }}\n",
            k = wd[2 + ax],
            o = yd[2 + ax],
            s = a.strides[ax],
            d = a.dilations[ax],
            pad = a.pads[ax],
            i = xd[2 + ax],
        ));
        in_stride *= xd[2 + ax];
    }
    code.push_str(&format!(
        "            if inside {{\n                \
         acc += (i32({x}[x_base + off]) - zx) * (i32({w}[w_base + tap]) - zw);\n            }}\n        \
         }}\n    }}\n",
        x = names[0],
        w = names[1],
    ));
    Ok(code)
}
