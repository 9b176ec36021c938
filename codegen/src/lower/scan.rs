//! Lowering of [`Op::Cumulative`] (`scan.wgsl`): one invocation per result element
//! combines the elements of its axis line before it, in the reference's scan order, in
//! the storage type (f32 for floats; wrapping 32-bit integers, wrapped to the result's
//! width at the store).

use super::elementwise::expr::{int_literal, wrap};
use super::elementwise::index::{storage, BindingSet};
use super::elementwise::WG;
use super::{render, KernelSrc, Lowered, NodeCtx, Slot, LINEAR_INDEX};
use crate::plan::Access;
use crate::CodegenError;
use kiln_ir::{CumOp, DType, Op};

/// The kernel of a `cum_sum` / `cum_prod` node.
pub fn lower(ctx: &NodeCtx<'_>) -> Result<Lowered, CodegenError> {
    let Op::Cumulative {
        op,
        axis,
        exclusive,
        reverse,
    } = *ctx.op()
    else {
        return Err(ctx.error("not a cumulative op"));
    };
    let x = ctx.operand(0);
    let dims = x.shape.dims();
    if axis >= dims.len() {
        return Err(ctx.error(format!(
            "axis {axis} is out of range for rank {}",
            dims.len()
        )));
    }
    let dtype = x.dtype;
    if !dtype.is_numeric() || dtype.is_minifloat() {
        return Err(ctx.error(format!("{} needs numbers, got {dtype}", op_name(op))));
    }
    let n = x.shape.numel();
    if n == 0 {
        return Ok(Lowered::default());
    }
    let acc = storage(dtype);
    let init = match (dtype.is_float(), op) {
        (true, CumOp::Sum) => "0.0".to_string(),
        (true, CumOp::Prod) => "1.0".to_string(),
        (false, CumOp::Sum) => int_literal(dtype, 0),
        (false, CumOp::Prod) => int_literal(dtype, 1),
    };
    let combine = match op {
        CumOp::Sum => "acc + b",
        CumOp::Prod => "acc * b",
    };
    // An f16 scan sums in f32 and rounds each result, as the reference does.
    let finish = if dtype == DType::F16 {
        "k_round_f16(acc)".to_string()
    } else if dtype.is_float() {
        "acc".to_string()
    } else {
        wrap(dtype, "acc")
    };
    let mut set = BindingSet::new();
    let src = set.operand(0, &ctx.node().inputs, acc);
    let dst = set.add(Slot::Result(0), Access::ReadWrite, acc);
    let wg = WG.min(ctx.limits.max_compute_invocations_per_workgroup);
    let mut bindings = set.decls();
    if dtype == DType::F16 {
        bindings.push_str(&super::elementwise::math::helpers(
            &std::collections::BTreeSet::from(["k_round_f16"]),
        )?);
    }
    let wgsl = render(
        kiln_shaders::SCAN,
        &[
            ("BINDINGS", bindings),
            ("WG", wg.to_string()),
            ("N", n.to_string()),
            ("EXTENT", dims[axis].to_string()),
            (
                "INNER",
                dims[axis + 1..].iter().product::<usize>().to_string(),
            ),
            ("REVERSE", reverse.to_string()),
            ("EXCLUSIVE", exclusive.to_string()),
            ("INDEX", LINEAR_INDEX.to_string()),
            ("ACC", acc.to_string()),
            ("INIT", init),
            ("SRC", src),
            ("COMBINE", combine.to_string()),
            ("DST", dst),
            ("FINISH", finish),
        ],
    )?;
    Ok(Lowered {
        kernels: vec![KernelSrc::linear(
            ctx.op().name(),
            wgsl,
            n,
            wg,
            ctx.limits,
            set.bindings,
        )?],
        ..Lowered::default()
    })
}

fn op_name(op: CumOp) -> &'static str {
    match op {
        CumOp::Sum => "cum_sum",
        CumOp::Prod => "cum_prod",
    }
}
