//! Lowering of reductions: Reduce (every kind, any axes, keepdims) as a row reduction
//! (`reduce.wgsl`: one row per result element, lanes of a workgroup sharing a row; a
//! few long rows split into chunks reduced in parallel, then combined by a second pass);
//! ArgReduce, Softmax and LogSoftmax live in `reduce_axis.rs`.

mod axis;

use super::elementwise::expr::{from_f32, saturate};
use super::elementwise::index::{offset_fn, storage, Affine, BindingSet};
use super::epilogue::Tail;
use super::{grid_1d, render, KernelSrc, Lowered, NodeCtx, Slot};
use crate::plan::Access;
use crate::CodegenError;
use kiln_ir::{DType, Op, ReduceOp};
use std::collections::BTreeSet;

/// Invocations per workgroup of the row kernels (reductions, softmax, row norms).
pub(super) const ROW_WG: u32 = 256;

/// Elements each lane of a Reduce row folds before the tree, at least (rows shorter
/// than a workgroup then share one, and the tree has fewer levels: on CPU drivers every
/// level is a barrier that switches between all the workgroup's lanes).
const REDUCE_PER_LANE: usize = 16;

/// The kernels computing this node.
pub fn lower(ctx: &NodeCtx<'_>) -> Result<Lowered, CodegenError> {
    let kernels = match ctx.op() {
        Op::Reduce { op, axes, .. } => return reduce(ctx, *op, axes),
        Op::ArgReduce {
            op,
            axis,
            select_last_index,
            ..
        } => axis::arg_reduce(ctx, *op, *axis, *select_last_index)?,
        Op::Softmax { axis } => axis::softmax(ctx, *axis, false)?,
        Op::LogSoftmax { axis } => axis::softmax(ctx, *axis, true)?,
        op => return Err(ctx.error(format!("{} is not a reduction", op.name()))),
    };
    Ok(Lowered {
        kernels,
        ..Lowered::default()
    })
}

/// Lanes sharing one row of `count` elements: a power of two, at most the workgroup.
pub(super) fn lanes_per_row(count: usize, wg: u32) -> u32 {
    (count.max(1).next_power_of_two() as u32).min(wg)
}

/// The dispatch of `rows` rows with `tpr` lanes each in workgroups of `wg` invocations.
pub(super) fn row_grid(
    ctx: &NodeCtx<'_>,
    rows: usize,
    tpr: u32,
    wg: u32,
) -> Result<[u32; 3], CodegenError> {
    let groups = rows.div_ceil((wg / tpr) as usize);
    grid_1d(groups * wg as usize, wg, ctx.limits)
}

/// The row workgroup size under the device limits (a power of two).
pub(super) fn row_wg(ctx: &NodeCtx<'_>) -> u32 {
    let m = ROW_WG
        .min(ctx.limits.max_compute_invocations_per_workgroup)
        .max(1);
    1 << (31 - m.leading_zeros())
}

/// WGSL of the identity of `op` on `dtype` (what an empty reduction gives).
fn identity(op: ReduceOp, dtype: DType) -> String {
    use super::elementwise::expr::int_literal;
    let float = dtype.is_float();
    match (op, dtype.int_range()) {
        (ReduceOp::Max, _) if float => "bitcast<f32>(0xff800000u)".into(),
        (ReduceOp::Min, _) if float => "bitcast<f32>(0x7f800000u)".into(),
        (ReduceOp::Prod, _) if float => "1.0".into(),
        (_, _) if float => "0.0".into(),
        (ReduceOp::Max, Some((lo, _))) => int_literal(dtype, lo),
        (ReduceOp::Min, Some((_, hi))) => int_literal(dtype, hi),
        (ReduceOp::Prod, Some(_)) => int_literal(dtype, 1),
        (_, Some(_)) => int_literal(dtype, 0),
        // bool
        (ReduceOp::Min | ReduceOp::Prod, None) => "1u".into(),
        (_, None) => "0u".into(),
    }
}

/// Reduce over `axes`: rows are the kept positions, elements the reduced ones.
fn reduce(ctx: &NodeCtx<'_>, op: ReduceOp, axes: &[usize]) -> Result<Lowered, CodegenError> {
    let x = ctx.operand(0);
    let dims = x.shape.dims();
    if let Some(a) = axes.iter().find(|&&a| a >= dims.len()) {
        return Err(ctx.error(format!("axis {a} is out of range for rank {}", dims.len())));
    }
    let dtype = x.dtype;
    if dtype == DType::Bool && !matches!(op, ReduceOp::Max | ReduceOp::Min) {
        return Err(ctx.error(format!("{} needs numbers, got bool", op.name())));
    }
    let strides = Affine::contiguous(dims).strides;
    let (mut kept, mut kept_s, mut red, mut red_s) = (vec![], vec![], vec![], vec![]);
    for (a, &d) in dims.iter().enumerate() {
        if axes.contains(&a) {
            red.push(d);
            red_s.push(strides[a]);
        } else {
            kept.push(d);
            kept_s.push(strides[a]);
        }
    }
    let rows: usize = kept.iter().product();
    let count: usize = red.iter().product();
    if rows == 0 {
        return Ok(Lowered::default());
    }
    let float = dtype.is_float();
    let acc = storage(dtype);
    let mut used: BTreeSet<&'static str> = BTreeSet::new();
    let combine = match op {
        ReduceOp::Max if float => {
            used.insert("k_max");
            "k_max(a, b)"
        }
        ReduceOp::Min if float => {
            used.insert("k_min");
            "k_min(a, b)"
        }
        ReduceOp::Max => "max(a, b)",
        ReduceOp::Min => "min(a, b)",
        ReduceOp::Prod => "a * b",
        _ => "a + b",
    };
    let load = match op {
        ReduceOp::L2 | ReduceOp::SumSquare => "x * x",
        _ => "x",
    };
    let finish = match op {
        ReduceOp::Mean if count == 0 => {
            if float {
                "bitcast<f32>(0x7fc00000u)".to_string()
            } else {
                identity(op, dtype)
            }
        }
        ReduceOp::Mean if float => format!("r / {}.0", count),
        ReduceOp::Mean => {
            let n = if acc == "u32" {
                format!("{count}u")
            } else {
                format!("{count}")
            };
            saturate(dtype, &format!("r / {n}"))
        }
        ReduceOp::L2 if float => "sqrt(r)".to_string(),
        ReduceOp::L2 => {
            let e = from_f32(dtype, "sqrt(f32(r))");
            used.extend(e.helpers);
            e.code
        }
        _ if float => "r".to_string(),
        _ => saturate(dtype, "r"),
    };
    let wg = row_wg(ctx);
    let rows_map = Affine {
        base: 0,
        strides: kept_s,
    };
    let elem_map = Affine {
        base: 0,
        strides: red_s,
    };
    let row_base = offset_fn("row_base", &kept, &rows_map);
    let elem_off = offset_fn("elem_off", &red, &elem_map);
    let kind = RowReduce {
        acc,
        combine,
        init: identity(op, dtype),
        used,
    };
    let chunks = chunks(ctx, rows, count, wg);
    if chunks == 1 {
        let tpr = lanes_per_row(count.div_ceil(REDUCE_PER_LANE), wg);
        let mut set = BindingSet::new();
        let src = set.operand(0, &ctx.node().inputs, acc);
        let tail = Tail::of(ctx, &set.operands())?;
        tail.bind(&mut set);
        let dst = set.add(Slot::Result(0), Access::ReadWrite, tail.storage());
        let pass = Pass {
            rows,
            count,
            chunks: 1,
            tpr,
            row_base,
            elem_off,
            load,
            src,
            dst,
        };
        return Ok(Lowered {
            kernels: vec![kind.kernel(ctx, op.name(), &pass, set, &tail, &finish)?],
            ..Lowered::default()
        });
    }
    // Few long rows: chunks of each row reduce in parallel into partial results (the
    // scratch buffer), which a second pass combines and finishes.
    let chunk = count.div_ceil(chunks);
    let mut set = BindingSet::new();
    let src = set.operand(0, &ctx.node().inputs, acc);
    let dst = set.add(Slot::Scratch(0), Access::ReadWrite, acc);
    let first = Pass {
        rows,
        count,
        chunks,
        tpr: lanes_per_row(chunk.div_ceil(REDUCE_PER_LANE), wg),
        row_base,
        elem_off,
        load,
        src,
        dst,
    };
    // Partial results stay as accumulated (an f16 sum is rounded once, at the end).
    let raw = Tail::identity(DType::F32);
    let partials = kind.kernel(
        ctx,
        &format!("{}_partial", op.name()),
        &first,
        set,
        &raw,
        "r",
    )?;
    let mut set = BindingSet::new();
    let src = set.add(Slot::Scratch(0), Access::Read, acc);
    let tail = Tail::of(ctx, &set.operands())?;
    tail.bind(&mut set);
    let dst = set.add(Slot::Result(0), Access::ReadWrite, tail.storage());
    let second = Pass {
        rows,
        count: chunks,
        chunks: 1,
        tpr: lanes_per_row(chunks, wg),
        row_base: format!("fn row_base(i: u32) -> u32 {{\n    return i * {chunks}u;\n}}\n"),
        elem_off: "fn elem_off(i: u32) -> u32 {\n    return i;\n}\n".to_string(),
        load: "x",
        src,
        dst,
    };
    let combined = kind.kernel(ctx, op.name(), &second, set, &tail, &finish)?;
    Ok(Lowered {
        kernels: vec![partials, combined],
        scratch_bytes: vec![(rows * chunks * 4) as u64],
        ..Lowered::default()
    })
}

/// How many chunks to split each of `rows` rows of `count` elements into: 1 (one pass)
/// unless the rows alone leave most of a GPU idle, then enough chunks of at least
/// [`MIN_CHUNK`] elements for about [`PARALLEL_GROUPS`] workgroups. A CPU driver runs
/// one workgroup per core and gains less from the split than its second dispatch costs
/// (lavapipe, 2 cores: the dynamically quantized CNN and OCR models 1.14× and 1.12×
/// slower split, measured interleaved), so it keeps one pass.
fn chunks(ctx: &NodeCtx<'_>, rows: usize, count: usize, wg: u32) -> usize {
    if ctx.limits.cpu_driver {
        return 1;
    }
    let tpr = lanes_per_row(count.div_ceil(REDUCE_PER_LANE), wg) as usize;
    let groups = rows.div_ceil(wg as usize / tpr);
    if groups * 2 > PARALLEL_GROUPS {
        return 1;
    }
    (PARALLEL_GROUPS / groups).min(count / MIN_CHUNK).max(1)
}

/// Workgroups a reduction should spread over to keep a GPU busy.
const PARALLEL_GROUPS: usize = 128;

/// The fewest elements worth a chunk of their own (below it, the second pass and the
/// extra dispatch cost more than the parallelism saves).
const MIN_CHUNK: usize = 4096;

/// What a row reduction combines: the accumulator type, the combining expression of
/// `a` and `b`, its identity and the helpers the expressions use.
struct RowReduce {
    acc: &'static str,
    combine: &'static str,
    init: String,
    used: BTreeSet<&'static str>,
}

/// One pass of a row reduction over `rows` rows of `count` elements (each split into
/// `chunks`), `tpr` lanes a row; the source element of row `r`, element `k` is at
/// `row_base(r) + elem_off(k)`, loaded as `load` of `x`.
struct Pass {
    rows: usize,
    count: usize,
    chunks: usize,
    tpr: u32,
    row_base: String,
    elem_off: String,
    load: &'static str,
    src: String,
    dst: String,
}

impl RowReduce {
    /// The `reduce.wgsl` kernel of `pass`, storing `finish` of each row's result `r`
    /// through `tail`.
    fn kernel(
        &self,
        ctx: &NodeCtx<'_>,
        name: &str,
        pass: &Pass,
        set: BindingSet,
        tail: &Tail,
        finish: &str,
    ) -> Result<KernelSrc, CodegenError> {
        let wg = row_wg(ctx);
        let wgsl = render(
            kiln_shaders::REDUCE,
            &[
                ("BINDINGS", set.decls()),
                ("WG", wg.to_string()),
                ("TPR", pass.tpr.to_string()),
                ("ROWS", pass.rows.to_string()),
                ("COUNT", pass.count.to_string()),
                ("CHUNKS", pass.chunks.to_string()),
                ("CHUNK", pass.count.div_ceil(pass.chunks).to_string()),
                ("ACC", self.acc.to_string()),
                ("HELPERS", tail.module_code(&self.used)?),
                ("ROW_BASE", pass.row_base.clone()),
                ("ELEM_OFF", pass.elem_off.clone()),
                ("COMBINE", self.combine.to_string()),
                ("INIT", self.init.clone()),
                ("SRC", pass.src.clone()),
                ("LOAD", pass.load.to_string()),
                ("DST", pass.dst.clone()),
                ("FINISH", tail.apply(finish, "row")),
            ],
        )?;
        Ok(KernelSrc {
            name: name.to_string(),
            wgsl,
            entry_point: "main".into(),
            workgroup_size: [wg, 1, 1],
            workgroups: row_grid(ctx, pass.rows * pass.chunks, pass.tpr, wg)?,
            bindings: set.bindings,
        })
    }
}

#[cfg(test)]
mod tests;
