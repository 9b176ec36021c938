//! Lowering of [`Op::ScatterNd`] (`scatter_nd.wgsl`): one invocation per result element
//! scans every index tuple in order and folds in the update of each that names its row,
//! so duplicate indices combine in the reference's order with no atomics. Index tuples
//! out of range fail the run through a device check ([`Slot::Check`]).

use super::elementwise::expr::wrap;
use super::elementwise::index::{storage, BindingSet};
use super::elementwise::{math, WG};
use super::{render, KernelSrc, Lowered, NodeCtx, Slot, LINEAR_INDEX};
use crate::plan::Access;
use crate::CodegenError;
use kiln_ir::{DType, Op, ScatterReduction};
use std::collections::BTreeSet;

/// The kernel of a `scatter_nd` node.
pub fn lower(ctx: &NodeCtx<'_>) -> Result<Lowered, CodegenError> {
    let Op::ScatterNd { reduction } = *ctx.op() else {
        return Err(ctx.error("not a scatter_nd"));
    };
    let (data, indices) = (ctx.operand(0), ctx.operand(1));
    let dims = data.shape.dims();
    let q = indices.shape.dims();
    let m = q.last().copied().unwrap_or(0);
    if m == 0 || m > dims.len() {
        return Err(ctx.error(format!(
            "indices {} do not index data {}",
            indices.shape, data.shape
        )));
    }
    let n = data.shape.numel();
    if n == 0 {
        return Ok(Lowered::default());
    }
    let dtype = data.dtype;
    let float = dtype.is_float();
    let mut helpers = BTreeSet::new();
    let combine = match reduction {
        ScatterReduction::None => "b".to_string(),
        _ if dtype == DType::Bool || dtype.is_minifloat() => {
            return Err(ctx.error(format!("a scatter reduction needs numbers, got {dtype}")))
        }
        ScatterReduction::Add if float => "acc + b".to_string(),
        ScatterReduction::Mul if float => "acc * b".to_string(),
        ScatterReduction::Add => wrap(dtype, "acc + b"),
        ScatterReduction::Mul => wrap(dtype, "acc * b"),
        ScatterReduction::Max if float => {
            helpers.insert("k_max");
            "k_max(acc, b)".to_string()
        }
        ScatterReduction::Min if float => {
            helpers.insert("k_min");
            "k_min(acc, b)".to_string()
        }
        ScatterReduction::Max => "max(acc, b)".to_string(),
        ScatterReduction::Min => "min(acc, b)".to_string(),
    };
    let extents = dims[..m]
        .iter()
        .map(|&d| i32::try_from(d).map(|d| d.to_string()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ctx.error("an indexed extent does not fit i32"))?
        .join(", ");
    let acc = storage(dtype);
    let mut set = BindingSet::new();
    let inputs = &ctx.node().inputs;
    let src = set.operand(0, inputs, acc);
    let idx = set.operand(1, inputs, "u32");
    let upd = set.operand(2, inputs, acc);
    let dst = set.add(Slot::Result(0), Access::ReadWrite, acc);
    let chk = set.add(Slot::Check(0), Access::ReadWrite, "u32");
    let check =
        format!("                {chk}[0] = 1u;\n                {chk}[1] = bitcast<u32>(raw);\n");
    let wg = WG.min(ctx.limits.max_compute_invocations_per_workgroup);
    let wgsl = render(
        kiln_shaders::SCATTER_ND,
        &[
            ("BINDINGS", set.decls()),
            ("WG", wg.to_string()),
            ("N", n.to_string()),
            ("INNER", dims[m..].iter().product::<usize>().to_string()),
            ("U", (indices.shape.numel() / m).to_string()),
            ("M", m.to_string()),
            ("EXTENTS", extents),
            ("HELPERS", math::helpers(&helpers)?),
            ("INDEX", LINEAR_INDEX.to_string()),
            ("ACC", acc.to_string()),
            ("DATA", src),
            ("INDICES", idx),
            ("UPDATES", upd),
            ("CHECK", check),
            ("COMBINE", combine),
            ("DST", dst),
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
        checks: vec!["a scatter index is out of range (got {value})".to_string()],
        ..Lowered::default()
    })
}
