//! Reductions along one axis: ArgMax/ArgMin (`reduce_arg.wgsl`, one invocation per
//! result) and Softmax/LogSoftmax (`softmax.wgsl`, lanes of a workgroup per row).

use super::{lanes_per_row, row_grid, row_wg};
use crate::lower::elementwise::index::{offset_fn, storage, Affine, BindingSet};
use crate::lower::elementwise::math::helpers;
use crate::lower::elementwise::WG;
use crate::lower::epilogue::Tail;
use crate::lower::{render, KernelSrc, NodeCtx, Slot, LINEAR_INDEX};
use crate::plan::Access;
use crate::CodegenError;
use kiln_ir::ArgOp;
use std::collections::BTreeSet;

/// Index (i32) of the first, or with `last` the last, max/min along `axis`; NaN counts
/// as the extreme value.
pub(super) fn arg_reduce(
    ctx: &NodeCtx<'_>,
    op: ArgOp,
    axis: usize,
    last: bool,
) -> Result<Vec<KernelSrc>, CodegenError> {
    let (outer, n, inner) = ctx.around(Some(axis))?;
    let rows = outer * inner;
    if rows == 0 {
        return Ok(Vec::new());
    }
    if n == 0 {
        return Err(ctx.error("cannot take arg_max/arg_min over an empty axis"));
    }
    let dtype = ctx.operand(0).dtype;
    let ty = storage(dtype);
    let cmp = if op == ArgOp::Max { ">" } else { "<" };
    let tie = if last { " || v == best" } else { "" };
    let mut used = BTreeSet::new();
    let better = if dtype.is_float() {
        used.insert("k_is_nan");
        format!(
            "    if k_is_nan(best) {{\n        return {last} && k_is_nan(v);\n    }}\n    \
             if k_is_nan(v) {{\n        return true;\n    }}\n    return v {cmp} best{tie};"
        )
    } else {
        format!("    return v {cmp} best{tie};")
    };
    let mut set = BindingSet::new();
    let src = set.operand(0, &ctx.node().inputs, ty);
    let dst = set.add(Slot::Result(0), Access::ReadWrite, "i32");
    let wg = WG.min(ctx.limits.max_compute_invocations_per_workgroup);
    let wgsl = render(
        kiln_shaders::REDUCE_ARG,
        &[
            ("BINDINGS", set.decls()),
            ("WG", wg.to_string()),
            ("ROWS", rows.to_string()),
            ("COUNT", n.to_string()),
            ("INNER", inner.to_string()),
            ("HELPERS", helpers(&used)?),
            ("TYPE", ty.to_string()),
            ("BETTER", better),
            ("INDEX", LINEAR_INDEX.to_string()),
            ("SRC", src),
            ("DST", dst),
        ],
    )?;
    Ok(vec![KernelSrc::linear(
        ctx.node().op.name(),
        wgsl,
        rows,
        wg,
        ctx.limits,
        set.bindings,
    )?])
}

/// Softmax (or, with `log`, log-softmax) along `axis`, stable around the row maximum.
pub(super) fn softmax(
    ctx: &NodeCtx<'_>,
    axis: usize,
    log: bool,
) -> Result<Vec<KernelSrc>, CodegenError> {
    let (outer, n, inner) = ctx.around(Some(axis))?;
    let rows = outer * inner;
    if rows == 0 || n == 0 {
        return Ok(Vec::new());
    }
    if !ctx.operand(0).dtype.is_float() {
        return Err(ctx.error(format!("needs f32 or f16, got {}", ctx.operand(0).dtype)));
    }
    let wg = row_wg(ctx);
    let tpr = lanes_per_row(n, wg);
    let mut set = BindingSet::new();
    let src = set.operand(0, &ctx.node().inputs, "f32");
    let tail = Tail::of(ctx, &set.operands())?;
    tail.bind(&mut set);
    let dst = set.add(Slot::Result(0), Access::ReadWrite, tail.storage());
    let row_map = Affine {
        base: 0,
        strides: vec![(n * inner) as i64, 1],
    };
    let result = if log { "d - log(sum)" } else { "exp(d) / sum" };
    let wgsl = render(
        kiln_shaders::SOFTMAX,
        &[
            ("BINDINGS", set.decls()),
            ("WG", wg.to_string()),
            ("TPR", tpr.to_string()),
            ("ROWS", rows.to_string()),
            ("COUNT", n.to_string()),
            ("STRIDE", inner.to_string()),
            ("HELPERS", tail.module_code(&BTreeSet::from(["k_max"]))?),
            ("ROW_BASE", offset_fn("row_base", &[outer, inner], &row_map)),
            ("SRC", src),
            ("DST", dst),
            ("RESULT", tail.apply(result, "at")),
        ],
    )?;
    Ok(vec![KernelSrc {
        name: ctx.op().name().to_string(),
        wgsl,
        entry_point: "main".into(),
        workgroup_size: [wg, 1, 1],
        workgroups: row_grid(ctx, rows, tpr, wg)?,
        bindings: set.bindings,
    }])
}
