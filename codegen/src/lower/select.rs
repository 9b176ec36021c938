//! Lowering of the data-dependent selections (`select.wgsl`, `select_gather.wgsl`,
//! `select_nms.wgsl`): NonZero in one single-workgroup kernel that finds the non-zero
//! positions in order and writes their coordinates; Compress in that kernel finding the
//! kept positions of the condition (into a scratch list), then one invocation per result
//! element gathering the kept slices; NonMaxSuppression in one workgroup that ranks each
//! class's boxes and keeps them greedily; Unique in one workgroup that finds first
//! occurrences, places and counts (`select_unique.wgsl`). Both store the count the runtime cuts the result to ([`kiln_ir::Extent`]);
//! past it the result is zero.

use super::elementwise::WG;
use super::{render, Binding, KernelSrc, Lowered, NodeCtx, Slot, LINEAR_INDEX};
use crate::CodegenError;
use kiln_ir::{DType, Op};

/// Lanes of the single-workgroup selection pass.
const SELECT_WG: u32 = 256;

/// The kernels of a `non_zero` or `compress` node.
pub fn lower(ctx: &NodeCtx<'_>) -> Result<Lowered, CodegenError> {
    match *ctx.op() {
        Op::NonZero => non_zero(ctx),
        Op::Compress { axis } => compress(ctx, axis),
        Op::Unique { axis, sorted } => unique(ctx, axis, sorted),
        Op::NonMaxSuppression {
            center_point_box,
            max_per_class,
            score_threshold,
        } => non_max_suppression(ctx, center_point_box, max_per_class, score_threshold),
        _ => Err(ctx.error("not a selection")),
    }
}

/// WGSL that is true when the operand word `w` of `dtype` is not zero.
fn non_zero_test(ctx: &NodeCtx<'_>, dtype: DType) -> Result<&'static str, CodegenError> {
    match dtype {
        // By the bits: only ±0 is zero (a NaN is not, and comparing one with 0.0 is
        // what fast-math drivers get wrong).
        DType::F32 | DType::F16 => Ok("(w & 0x7fffffffu) != 0u"),
        d if d.is_int() || d == DType::Bool => Ok("w != 0u"),
        d => Err(ctx.error(format!("non_zero of {d} is not supported on the GPU"))),
    }
}

/// The selection pass over `n` positions with `bindings` declared after the operand.
fn select_pass(
    ctx: &NodeCtx<'_>,
    n: usize,
    keep: &str,
    (write, pad): (String, String),
    bindings: &str,
) -> Result<String, CodegenError> {
    let wg = SELECT_WG.min(ctx.limits.max_compute_invocations_per_workgroup);
    render(
        kiln_shaders::SELECT,
        &[
            ("BINDINGS", bindings.to_string()),
            ("WG", wg.to_string()),
            ("N", n.to_string()),
            ("KEEP", keep.to_string()),
            ("WRITE", write),
            ("PAD", pad),
        ],
    )
}

/// One workgroup (the selection is sequential in its prefix sum).
fn single_workgroup(name: &str, wgsl: String, wg: u32, bindings: Vec<Binding>) -> KernelSrc {
    KernelSrc {
        name: name.to_string(),
        wgsl,
        entry_point: "main".into(),
        workgroup_size: [wg, 1, 1],
        workgroups: [1, 1, 1],
        bindings,
    }
}

fn non_zero(ctx: &NodeCtx<'_>) -> Result<Lowered, CodegenError> {
    let x = ctx.operand(0);
    let dims = x.shape.dims();
    let n = x.shape.numel();
    if dims.is_empty() || n == 0 {
        return Err(ctx.error(format!(
            "non_zero of {} is not supported on the GPU (a scalar or empty operand)",
            x.shape
        )));
    }
    let keep = non_zero_test(ctx, x.dtype)?;
    // Coordinates of position p, last axis first: row d of the result, column j.
    let mut write = String::from("var rest = p;\n");
    for (d, dim) in dims.iter().enumerate().rev() {
        write.push_str(&format!(
            "            dst[{}u + j] = rest % {dim}u;\n            rest = rest / {dim}u;\n",
            d * n
        ));
    }
    let pad: String = (0..dims.len())
        .map(|d| format!("dst[{}u + k] = 0u;\n        ", d * n))
        .collect();
    let bindings = "@group(0) @binding(1) var<storage, read_write> dst: array<u32>;\n\
                    @group(0) @binding(2) var<storage, read_write> count: array<u32>;";
    let wgsl = select_pass(ctx, n, keep, (write, pad), bindings)?;
    let wg = SELECT_WG.min(ctx.limits.max_compute_invocations_per_workgroup);
    Ok(Lowered {
        kernels: vec![single_workgroup(
            "non_zero",
            wgsl,
            wg,
            vec![
                Binding::read(Slot::Operand(0)),
                Binding::write(Slot::Result(0)),
                Binding::write(Slot::Result(1)),
            ],
        )],
        ..Lowered::default()
    })
}

fn compress(ctx: &NodeCtx<'_>, axis: Option<usize>) -> Result<Lowered, CodegenError> {
    let y = &ctx.graph.values[ctx.node().outputs[0]].ty;
    let (outer, len, inner) = ctx.around(axis)?;
    let bound = y.shape.dims()[axis.unwrap_or(0)];
    if bound == 0 || y.shape.numel() == 0 {
        return Err(ctx.error("compress to an empty result is not supported on the GPU"));
    }
    let bindings = "@group(0) @binding(1) var<storage, read_write> sel: array<u32>;\n\
                    @group(0) @binding(2) var<storage, read_write> count: array<u32>;";
    let pass1 = select_pass(
        ctx,
        bound,
        "w != 0u",
        ("sel[j] = p;".into(), "sel[k] = 0u;".into()),
        bindings,
    )?;
    let wg = WG.min(ctx.limits.max_compute_invocations_per_workgroup);
    let n = y.shape.numel();
    let pass2 = render(
        kiln_shaders::SELECT_GATHER,
        &[
            ("WG", wg.to_string()),
            ("N", n.to_string()),
            ("BOUND", bound.to_string()),
            ("LEN", len.to_string()),
            ("INNER", inner.to_string()),
            ("INDEX", LINEAR_INDEX.to_string()),
        ],
    )?;
    debug_assert_eq!(outer * bound * inner, n);
    let select_wg = SELECT_WG.min(ctx.limits.max_compute_invocations_per_workgroup);
    Ok(Lowered {
        kernels: vec![
            single_workgroup(
                "compress_select",
                pass1,
                select_wg,
                vec![
                    Binding::read(Slot::Operand(1)),
                    Binding::write(Slot::Scratch(0)),
                    Binding::write(Slot::Result(1)),
                ],
            ),
            KernelSrc::linear(
                "compress",
                pass2,
                n,
                wg,
                ctx.limits,
                vec![
                    Binding::read(Slot::Operand(0)),
                    Binding::read(Slot::Scratch(0)),
                    Binding::read(Slot::Result(1)),
                    Binding::write(Slot::Result(0)),
                ],
            )?,
        ],
        scratch_bytes: vec![(bound * 4) as u64],
        ..Lowered::default()
    })
}

fn non_max_suppression(
    ctx: &NodeCtx<'_>,
    center_point_box: bool,
    max_per_class: usize,
    score_threshold: bool,
) -> Result<Lowered, CodegenError> {
    let boxes = ctx.operand(0).shape.dims();
    let classes = ctx.operand(1).shape.dims()[1];
    let (batches, n) = (boxes[0], boxes[1]);
    let k = max_per_class.min(n);
    if batches * classes * k == 0 {
        return Err(
            ctx.error("non_max_suppression that can keep no box is not supported on the GPU")
        );
    }
    let wg = SELECT_WG.min(ctx.limits.max_compute_invocations_per_workgroup);
    let wgsl = render(
        kiln_shaders::SELECT_NMS,
        &[
            ("WG", wg.to_string()),
            ("BATCHES", batches.to_string()),
            ("CLASSES", classes.to_string()),
            ("N", n.to_string()),
            ("K", k.to_string()),
            ("CENTER", center_point_box.to_string()),
            ("USE_SCORE", score_threshold.to_string()),
        ],
    )?;
    let bindings = vec![
        Binding::read(Slot::Operand(0)),
        Binding::read(Slot::Operand(1)),
        Binding::read(Slot::Operand(2)),
        Binding::read(Slot::Operand(3)),
        Binding::write(Slot::Scratch(0)),
        Binding::write(Slot::Scratch(1)),
        Binding::write(Slot::Result(0)),
        Binding::write(Slot::Result(1)),
    ];
    Ok(Lowered {
        kernels: vec![single_workgroup("non_max_suppression", wgsl, wg, bindings)],
        scratch_bytes: vec![(n * 4) as u64, (k * 4) as u64],
        ..Lowered::default()
    })
}

fn unique(ctx: &NodeCtx<'_>, axis: Option<usize>, sorted: bool) -> Result<Lowered, CodegenError> {
    let x = ctx.operand(0);
    let (outer, len, inner) = ctx.around(axis)?;
    if len == 0 || outer * inner == 0 {
        return Err(ctx.error("unique of an empty operand is not supported on the GPU"));
    }
    if x.dtype.is_minifloat() {
        return Err(ctx.error(format!("unique of {} is not supported on the GPU", x.dtype)));
    }
    let wg = SELECT_WG.min(ctx.limits.max_compute_invocations_per_workgroup);
    let wgsl = render(
        kiln_shaders::SELECT_UNIQUE,
        &[
            ("T", super::wgsl_type(x.dtype).to_string()),
            ("WG", wg.to_string()),
            ("OUTER", outer.to_string()),
            ("LEN", len.to_string()),
            ("INNER", inner.to_string()),
            ("SORTED", sorted.to_string()),
        ],
    )?;
    let mut bindings = vec![
        Binding::read(Slot::Operand(0)),
        Binding::write(Slot::Scratch(0)),
        Binding::write(Slot::Scratch(1)),
    ];
    bindings.extend((0..5).map(|r| Binding::write(Slot::Result(r))));
    Ok(Lowered {
        kernels: vec![single_workgroup("unique", wgsl, wg, bindings)],
        scratch_bytes: vec![(len * 4) as u64, (len * 4) as u64],
        ..Lowered::default()
    })
}
