//! Lowering of reductions: Reduce (every kind, any axes, keepdims) and MinMax as a row reduction
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
        Op::MinMax { axes, .. } => return min_max(ctx, axes),
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

/// The rows of a reduction over `axes`: one per kept position (a result element), each
/// of `count` reduced elements, located by the WGSL `row_base` and `elem_off`.
struct Rows {
    rows: usize,
    count: usize,
    row_base: String,
    elem_off: String,
}

impl Rows {
    /// The rows of `ctx`'s operand 0 reduced over `axes`.
    fn of(ctx: &NodeCtx<'_>, axes: &[usize]) -> Result<Rows, CodegenError> {
        let dims = ctx.operand(0).shape.dims();
        if let Some(a) = axes.iter().find(|&&a| a >= dims.len()) {
            return Err(ctx.error(format!("axis {a} is out of range for rank {}", dims.len())));
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
        let map = |strides| Affine { base: 0, strides };
        Ok(Rows {
            rows: kept.iter().product(),
            count: red.iter().product(),
            row_base: offset_fn("row_base", &kept, &map(kept_s)),
            elem_off: offset_fn("elem_off", &red, &map(red_s)),
        })
    }
}

/// How a row's result is stored: binds the kernel's results (after its operands) and
/// gives the WGSL statements writing row `row`'s combined value `r`, with the tail
/// (a `Fused` node's epilogue) they apply.
type Store<'s> = &'s dyn Fn(&mut BindingSet) -> Result<(String, Tail), CodegenError>;

/// The kernels reducing `rows` (loaded as `load` of `x`) with `kind`, then storing each
/// row's result with `store`. Few long rows on a GPU split: chunks of each row reduce
/// in parallel into partial results (the scratch buffer), which a second pass combines.
fn row_kernels(
    ctx: &NodeCtx<'_>,
    name: &str,
    rows: Rows,
    kind: &RowReduce,
    load: &'static str,
    store: Store<'_>,
) -> Result<Lowered, CodegenError> {
    let wg = row_wg(ctx);
    let Rows {
        rows,
        count,
        row_base,
        elem_off,
    } = rows;
    let chunks = chunks(ctx, rows, count, wg);
    let mut set = BindingSet::new();
    let src = set.operand(0, &ctx.node().inputs, kind.elem);
    if chunks == 1 {
        let (store, tail) = store(&mut set)?;
        let pass = Pass {
            rows,
            count,
            chunks: 1,
            tpr: lanes_per_row(count.div_ceil(REDUCE_PER_LANE), wg),
            row_base,
            elem_off,
            load,
            src,
            store,
        };
        return Ok(Lowered {
            kernels: vec![kind.kernel(ctx, name, &pass, set, &tail)?],
            ..Lowered::default()
        });
    }
    // Partial results stay as accumulated (an f16 sum is rounded once, at the end).
    let chunk = count.div_ceil(chunks);
    let dst = set.add(Slot::Scratch(0), Access::ReadWrite, kind.acc);
    let first = Pass {
        rows,
        count,
        chunks,
        tpr: lanes_per_row(chunk.div_ceil(REDUCE_PER_LANE), wg),
        row_base,
        elem_off,
        load,
        src,
        store: format!("{dst}[row] = r;"),
    };
    let raw = Tail::identity(DType::F32);
    let partials = kind.kernel(ctx, &format!("{name}_partial"), &first, set, &raw)?;
    let mut set = BindingSet::new();
    let src = set.add(Slot::Scratch(0), Access::Read, kind.acc);
    let (store, tail) = store(&mut set)?;
    let second = Pass {
        rows,
        count: chunks,
        chunks: 1,
        tpr: lanes_per_row(chunks, wg),
        row_base: format!("fn row_base(i: u32) -> u32 {{\n    return i * {chunks}u;\n}}\n"),
        elem_off: "fn elem_off(i: u32) -> u32 {\n    return i;\n}\n".to_string(),
        load: "x",
        src,
        store,
    };
    let combined = kind.kernel(ctx, name, &second, set, &tail)?;
    Ok(Lowered {
        kernels: vec![partials, combined],
        scratch_bytes: vec![(rows * chunks * kind.acc_bytes) as u64],
        ..Lowered::default()
    })
}

/// Reduce over `axes`: rows are the kept positions, elements the reduced ones.
fn reduce(ctx: &NodeCtx<'_>, op: ReduceOp, axes: &[usize]) -> Result<Lowered, CodegenError> {
    let dtype = ctx.operand(0).dtype;
    if dtype == DType::Bool && !matches!(op, ReduceOp::Max | ReduceOp::Min) {
        return Err(ctx.error(format!("{} needs numbers, got bool", op.name())));
    }
    let rows = Rows::of(ctx, axes)?;
    if rows.rows == 0 {
        return Ok(Lowered::default());
    }
    let count = rows.count;
    let float = dtype.is_float();
    let acc = storage(dtype);
    let mut used: BTreeSet<&'static str> = BTreeSet::new();
    let combine = match op {
        ReduceOp::Max | ReduceOp::Min => format!("{}(a, b)", extreme(op, float, &mut used)),
        ReduceOp::Prod => "a * b".to_string(),
        _ => "a + b".to_string(),
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
    let kind = RowReduce {
        elem: acc,
        acc,
        acc_bytes: 4,
        combine,
        init: identity(op, dtype),
        used,
    };
    let store = |set: &mut BindingSet| {
        let tail = Tail::of(ctx, &set.operands())?;
        tail.bind(set);
        let dst = set.add(Slot::Result(0), Access::ReadWrite, tail.storage());
        Ok((
            format!("{dst}[row] = {};", tail.apply(&finish, "row")),
            tail,
        ))
    };
    row_kernels(ctx, op.name(), rows, &kind, load, &store)
}

/// `MinMax` over `axes`: one row reduction carrying both extremes (`vec2`: min, max),
/// so the operand is read once for the two results.
fn min_max(ctx: &NodeCtx<'_>, axes: &[usize]) -> Result<Lowered, CodegenError> {
    let dtype = ctx.operand(0).dtype;
    if ctx.node().outputs.len() != 2 {
        return Err(ctx.error("min_max needs its two results"));
    }
    let rows = Rows::of(ctx, axes)?;
    if rows.rows == 0 {
        return Ok(Lowered::default());
    }
    let scalar = storage(dtype);
    let acc = match scalar {
        "f32" => "vec2<f32>",
        "i32" => "vec2<i32>",
        "u32" => "vec2<u32>",
        s => return Err(ctx.error(format!("min_max cannot reduce {dtype} (stored as {s})"))),
    };
    let mut used = BTreeSet::new();
    let float = dtype.is_float();
    let [min, max] = [(ReduceOp::Min, "x"), (ReduceOp::Max, "y")]
        .map(|(op, c)| format!("{}(a.{c}, b.{c})", extreme(op, float, &mut used)));
    let kind = RowReduce {
        elem: scalar,
        acc,
        acc_bytes: 8,
        combine: format!("{acc}({min}, {max})"),
        init: format!(
            "{acc}({}, {})",
            identity(ReduceOp::Min, dtype),
            identity(ReduceOp::Max, dtype)
        ),
        used,
    };
    let store = |set: &mut BindingSet| {
        let lo = set.add(Slot::Result(0), Access::ReadWrite, scalar);
        let hi = set.add(Slot::Result(1), Access::ReadWrite, scalar);
        let store = format!("{lo}[row] = r.x;\n        {hi}[row] = r.y;");
        Ok((store, Tail::identity(DType::F32)))
    };
    let load = "vec2(x, x)";
    row_kernels(ctx, "min_max", rows, &kind, load, &store)
}

/// The function combining two values in a min or max reduction (a NaN-keeping helper
/// for floats, noted in `used`).
fn extreme(op: ReduceOp, float: bool, used: &mut BTreeSet<&'static str>) -> &'static str {
    let f = match (op, float) {
        (ReduceOp::Max, true) => "k_max",
        (ReduceOp::Min, true) => "k_min",
        (ReduceOp::Max, false) => return "max",
        _ => return "min",
    };
    used.insert(f);
    f
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
    /// The operand's WGSL storage type.
    elem: &'static str,
    acc: &'static str,
    /// Bytes of one accumulator in the scratch buffer of a split reduction.
    acc_bytes: usize,
    combine: String,
    init: String,
    used: BTreeSet<&'static str>,
}

/// One pass of a row reduction over `rows` rows of `count` elements (each split into
/// `chunks`), `tpr` lanes a row; the source element of row `r`, element `k` is at
/// `row_base(r) + elem_off(k)`, loaded as `load` of `x`; `store` writes row `row`'s
/// result `r`.
struct Pass {
    rows: usize,
    count: usize,
    chunks: usize,
    tpr: u32,
    row_base: String,
    elem_off: String,
    load: &'static str,
    src: String,
    store: String,
}

impl RowReduce {
    /// The `reduce.wgsl` kernel of `pass`, whose store applies `tail`.
    fn kernel(
        &self,
        ctx: &NodeCtx<'_>,
        name: &str,
        pass: &Pass,
        set: BindingSet,
        tail: &Tail,
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
                ("COMBINE", self.combine.clone()),
                ("INIT", self.init.clone()),
                ("SRC", pass.src.clone()),
                ("LOAD", pass.load.to_string()),
                ("STORE", pass.store.clone()),
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
