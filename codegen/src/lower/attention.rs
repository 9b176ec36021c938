//! Lowering of `Attention` (`softmax(q · kt · scale + mask) · v`, batch axes
//! broadcast) and of `Fused` nodes anchored on it. When a block of query rows' scores
//! fits in workgroup memory, one `attention.wgsl` kernel computes everything per
//! (batch entry, row block); otherwise three kernels through a scratch score buffer:
//! the scores product with scale and mask in its store, softmax in place, and the
//! product with `v` storing through the epilogue (the unfused chain takes five).

use super::check_binding_sizes;
use super::elementwise::index::{Affine, BindingSet};
use super::elementwise::math;
use super::epilogue::Tail;
use super::matmul::engine::{self, GemmShape, GemmSource};
use super::placement::{OperandSet, PlacementSupport};
use super::program::inline_constant;
use super::reduce::{lanes_per_row, row_grid, row_wg};
use super::{f32_literal, render, KernelSrc, Lowered, NodeCtx, Slot};
use crate::plan::Access;
use crate::CodegenError;
use kiln_ir::DType;
use std::collections::BTreeSet;

/// Invocations per workgroup of the fused kernel, at most.
const FUSED_WG: u32 = 128;

/// The extents of one attention node: `z` batch entries (row-major over `batch`),
/// `s` queries, `t` keys, `d` the q·k depth, `e` the value width.
struct Geometry {
    z: usize,
    s: usize,
    t: usize,
    d: usize,
    e: usize,
    batch: Vec<usize>,
}

fn geometry(ctx: &NodeCtx<'_>) -> Result<Geometry, CodegenError> {
    let n = ctx.arity();
    if n != 3 && n != 4 {
        return Err(ctx.error(format!(
            "expected q, kt, v and an optional mask, got {n} operands"
        )));
    }
    for i in 0..n {
        let ty = ctx.operand(i);
        if !matches!(ty.dtype, DType::F32 | DType::F16) {
            return Err(ctx.error(format!("operand {i} must be f32 or f16, got {}", ty.dtype)));
        }
    }
    let dims = |i: usize| ctx.operand(i).shape.dims();
    for (i, what) in [(0, "q"), (1, "kt"), (2, "v")] {
        if dims(i).len() < 2 {
            return Err(ctx.error(format!("{what} needs rank >= 2, got {:?}", dims(i))));
        }
    }
    let last2 = |d: &[usize]| (d[d.len() - 2], d[d.len() - 1]);
    let ((s, d), (d2, t), (t2, e)) = (last2(dims(0)), last2(dims(1)), last2(dims(2)));
    if d != d2 || t != t2 {
        return Err(ctx.error(format!(
            "q {:?}, kt {:?} and v {:?} do not chain",
            dims(0),
            dims(1),
            dims(2)
        )));
    }
    if t == 0 {
        return Err(ctx.error("attention over zero keys"));
    }
    let out = ctx.anchor_result()?;
    let od = out.shape.dims();
    if od.len() < 2 || last2(od) != (s, e) {
        return Err(ctx.error(format!("result {od:?} does not end in [{s}, {e}]")));
    }
    let batch = od[..od.len() - 2].to_vec();
    Ok(Geometry {
        z: batch.iter().product(),
        s,
        t,
        d,
        e,
        batch,
    })
}

/// `fn NAME(z: u32) -> u32`: the offset of batch entry `z` (row-major over the leading
/// axes of `full`, the batch axes + 2) under `map`.
fn batch_fn(name: &str, full: &[usize], map: &Affine) -> String {
    let nb = full.len() - 2;
    engine::batch_strides_fn(name, &full[..nb], &map.strides[..nb])
}

/// `fn o_at(z, s, e) -> u32`: where result element `[z, s, e]` goes in the result's
/// buffer (row-major, or transposed when the plan builder folded the transpose after
/// this node into it).
fn result_offset(ctx: &NodeCtx<'_>, g: &Geometry) -> String {
    let full = [&g.batch[..], &[g.s, g.e]].concat();
    let nb = g.batch.len();
    let map = match &ctx.result_place.strides {
        Some(strides) => Affine::broadcast_strided(&full, strides, &full),
        None => Affine::contiguous(&full),
    };
    format!(
        "{}fn o_at(z: u32, s: u32, e: u32) -> u32 {{\n    return o_batch(z) + s * {}u + e * {}u;\n}}\n",
        batch_fn("o_batch", &full, &map),
        map.strides[nb],
        map.strides[nb + 1]
    )
}

/// `q_batch`, `k_batch`, `v_batch` and the strides of q, kt and v along their last two
/// axes (`Q_S`, `Q_D`, `K_D`, `K_T`, `V_T`, `V_E`).
fn qkv_offsets(ctx: &NodeCtx<'_>, g: &Geometry) -> String {
    let mut code = String::new();
    let nb = g.batch.len();
    for (i, name, rows, cols, (rs, cs)) in [
        (0, "q", g.s, g.d, ("Q_S", "Q_D")),
        (1, "k", g.d, g.t, ("K_D", "K_T")),
        (2, "v", g.t, g.e, ("V_T", "V_E")),
    ] {
        let full = [&g.batch[..], &[rows, cols]].concat();
        let map = ctx.operand_map(i, &full);
        code.push_str(&batch_fn(&format!("{name}_batch"), &full, &map));
        code.push_str(&format!(
            "const {rs}: u32 = {}u;\nconst {cs}: u32 = {}u;\n",
            map.strides[nb],
            map.strides[nb + 1]
        ));
    }
    code
}

/// Offset helpers of q, kt and v, and `fn mask_at(z, s, t) -> f32` (0 without a mask;
/// `mask` is the bound buffer or `None` for an inlined constant `literal`).
fn offsets(ctx: &NodeCtx<'_>, g: &Geometry, mask: Option<MaskSource>) -> String {
    let with = |a: usize, b: usize| {
        let mut f = g.batch.clone();
        f.extend([a, b]);
        f
    };
    let mut code = qkv_offsets(ctx, g);
    code.push_str(&result_offset(ctx, g));
    let body = match mask {
        None => "0.0".to_string(),
        Some(MaskSource::Literal(lit)) => lit,
        Some(MaskSource::Buffer(name)) => {
            let full = with(g.s, g.t);
            let dims = ctx.operand(3).shape.dims();
            let a = Affine::broadcast(dims, &full);
            let nb = g.batch.len();
            code.push_str(&batch_fn("mask_batch", &full, &a));
            format!(
                "{name}[mask_batch(z) + s * {}u + t * {}u]",
                a.strides[nb],
                a.strides[nb + 1]
            )
        }
    };
    code.push_str(&format!(
        "fn mask_at(z: u32, s: u32, t: u32) -> f32 {{\n    return {body};\n}}\n"
    ));
    code
}

/// Where the mask comes from.
enum MaskSource {
    Literal(String),
    Buffer(String),
}

/// Binds the mask operand (if any) into `set`, or inlines it when constant.
fn bind_mask(ctx: &NodeCtx<'_>, set: &mut BindingSet) -> Option<MaskSource> {
    if ctx.arity() < 4 {
        return None;
    }
    Some(match inline_constant(ctx, 3) {
        Some(lit) => MaskSource::Literal(lit),
        None => MaskSource::Buffer(set.operand(3, &ctx.node().inputs, "f32")),
    })
}

/// q, kt and v (operands 0 to 2) are read through [`NodeCtx::operand_map`] (the
/// strides of a folded transpose) and the result is stored through the strides of
/// [`NodeCtx::result_place`] (a transpose of it written directly).
pub(crate) const PLACEMENT: PlacementSupport = PlacementSupport {
    strided_reads: OperandSet::first(3),
    strided_write: true,
    ..PlacementSupport::NONE
};

/// The kernels computing an `Attention` node (or a `Fused` node anchored on one).
pub fn lower(ctx: &NodeCtx<'_>, scale: f32) -> Result<Lowered, CodegenError> {
    let g = geometry(ctx)?;
    check_binding_sizes(ctx)?;
    if g.z * g.s * g.e == 0 {
        return Ok(Lowered::default());
    }
    if let Some(kernel) = fused_kernel(ctx, &g, scale)? {
        return Ok(Lowered {
            kernels: vec![kernel],
            ..Lowered::default()
        });
    }
    three_kernels(ctx, &g, scale)
}

/// Rows per workgroup and lanes per row of the fused kernel, when a row block's
/// scores fit in workgroup memory.
fn fused_shape(ctx: &NodeCtx<'_>, g: &Geometry) -> Option<(usize, usize)> {
    let cap = FUSED_WG
        .min(ctx.limits.max_compute_invocations_per_workgroup)
        .max(1);
    let cap = 1usize << (31 - cap.leading_zeros());
    let tpr = g.t.max(g.e).next_power_of_two().min(cap);
    let mut rows = (cap / tpr).min(g.s.next_power_of_two()).max(1);
    let mem = ctx.limits.max_compute_workgroup_storage_size as usize;
    let bytes = |rows: usize| (rows * g.t + rows * tpr) * 4;
    while rows > 1 && bytes(rows) > mem {
        rows /= 2;
    }
    (bytes(rows) <= mem).then_some((rows, tpr))
}

/// The one-kernel form, or `None` when a row's scores do not fit in workgroup memory.
fn fused_kernel(
    ctx: &NodeCtx<'_>,
    g: &Geometry,
    scale: f32,
) -> Result<Option<KernelSrc>, CodegenError> {
    let Some((rows, tpr)) = fused_shape(ctx, g) else {
        return Ok(None);
    };
    let inputs = &ctx.node().inputs;
    let mut set = BindingSet::new();
    let q = set.operand(0, inputs, "f32");
    let k = set.operand(1, inputs, "f32");
    let v = set.operand(2, inputs, "f32");
    let mask = bind_mask(ctx, &mut set);
    let tail = Tail::of(ctx, &set.operands())?;
    tail.bind(&mut set);
    let out = set.add(Slot::Result(0), Access::ReadWrite, tail.storage());
    let wg = (rows * tpr) as u32;
    let blocks = g.s.div_ceil(rows);
    let wgsl = render(
        kiln_shaders::ATTENTION,
        &[
            ("BINDINGS", set.decls()),
            ("WG", wg.to_string()),
            ("TPR", tpr.to_string()),
            ("Z", g.z.to_string()),
            ("S", g.s.to_string()),
            ("T", g.t.to_string()),
            ("D", g.d.to_string()),
            ("E", g.e.to_string()),
            ("BLOCKS", blocks.to_string()),
            ("SCALE", f32_literal(scale)),
            ("R_T", (rows * g.t).to_string()),
            ("HELPERS", tail.module_code(&BTreeSet::from(["k_max"]))?),
            ("OFFSETS", offsets(ctx, g, mask)),
            ("Q", q),
            ("K", k),
            ("V", v),
            ("OUT", out),
            ("MASK", "mask_at(z, s, t)".to_string()),
            ("STORE", tail.apply("value", "idx")),
        ],
    )?;
    Ok(Some(KernelSrc::linear(
        "attention",
        wgsl,
        g.z * blocks * wg as usize,
        wg,
        ctx.limits,
        set.bindings,
    )?))
}

/// Constants the three-kernel form's helpers use (named apart from the engine's own).
fn consts(g: &Geometry, scale: f32) -> String {
    format!(
        "const A_S: u32 = {}u;\nconst A_T: u32 = {}u;\nconst A_D: u32 = {}u;\nconst A_E: u32 = {}u;\n\
         const A_SCALE: f32 = {};\n",
        g.s,
        g.t,
        g.d,
        g.e,
        f32_literal(scale)
    )
}

/// Scores into scratch, softmax in place, then the product with `v` through the epilogue.
fn three_kernels(ctx: &NodeCtx<'_>, g: &Geometry, scale: f32) -> Result<Lowered, CodegenError> {
    let scores = (g.z * g.s * g.t * 4) as u64;
    if scores > ctx.limits.max_storage_buffer_binding_size {
        return Err(ctx.too_large(format!(
            "the {}×{}×{} attention scores take {scores} bytes, over the binding limit",
            g.z, g.s, g.t
        )));
    }
    let inputs = &ctx.node().inputs;

    // 1. scores = q · kt · scale + mask.
    let mut set = BindingSet::new();
    let q = set.operand(0, inputs, "f32");
    let k = set.operand(1, inputs, "f32");
    let mask = bind_mask(ctx, &mut set);
    let tmp = set.add(Slot::Scratch(0), Access::ReadWrite, "f32");
    let helpers = format!(
        "{}{}fn load_a(z: u32, m: u32, k: u32) -> f32 {{\n    return {q}[q_batch(z) + m * Q_S + k * Q_D];\n}}\n\
         fn load_b(z: u32, k: u32, n: u32) -> f32 {{\n    return {k}[k_batch(z) + k * K_D + n * K_T];\n}}\n\
         fn store(z: u32, m: u32, n: u32, v: f32) {{\n    \
         {tmp}[(z * A_S + m) * A_T + n] = v * A_SCALE + mask_at(z, m, n);\n}}\n",
        consts(g, scale),
        offsets(ctx, g, mask)
    );
    let shape = GemmShape {
        z: g.z,
        m: g.s,
        n: g.t,
        k: g.d,
    };
    let first = gemm(ctx, "attention_scores", shape, &set, &helpers)?;

    // 2. softmax along each score row, in place.
    let wg = row_wg(ctx);
    let tpr = lanes_per_row(g.t, wg);
    let rows = g.z * g.s;
    let mut set2 = BindingSet::new();
    let tmp2 = set2.add(Slot::Scratch(0), Access::ReadWrite, "f32");
    let wgsl = render(
        kiln_shaders::SOFTMAX,
        &[
            ("BINDINGS", set2.decls()),
            ("WG", wg.to_string()),
            ("TPR", tpr.to_string()),
            ("ROWS", rows.to_string()),
            ("COUNT", g.t.to_string()),
            ("STRIDE", "1".to_string()),
            ("HELPERS", math::helpers(&BTreeSet::from(["k_max"]))?),
            (
                "ROW_BASE",
                format!(
                    "fn row_base(i: u32) -> u32 {{\n    return i * {}u;\n}}\n",
                    g.t
                ),
            ),
            ("SRC", tmp2.clone()),
            ("DST", tmp2),
            ("RESULT", "exp(d) / sum".to_string()),
        ],
    )?;
    let second = KernelSrc {
        name: "attention_softmax".to_string(),
        wgsl,
        entry_point: "main".into(),
        workgroup_size: [wg, 1, 1],
        workgroups: row_grid(ctx, rows, tpr, wg)?,
        bindings: set2.bindings,
    };

    // 3. out = probabilities · v, through the epilogue.
    let mut set3 = BindingSet::new();
    let probs = set3.add(Slot::Scratch(0), Access::Read, "f32");
    let v = set3.operand(2, inputs, "f32");
    let tail = Tail::of(ctx, &set3.operands())?;
    tail.bind(&mut set3);
    let out = set3.add(Slot::Result(0), Access::ReadWrite, tail.storage());
    let helpers = format!(
        "{}{}{}fn load_a(z: u32, m: u32, k: u32) -> f32 {{\n    return {probs}[(z * A_S + m) * A_T + k];\n}}\n\
         fn load_b(z: u32, k: u32, n: u32) -> f32 {{\n    return {v}[v_batch(z) + k * V_T + n * V_E];\n}}\n\
         fn store(z: u32, m: u32, n: u32, value: f32) {{\n    let idx = (z * A_S + m) * A_E + n;\n    \
         {out}[o_at(z, m, n)] = {};\n}}\n",
        consts(g, scale),
        tail.module_code(&BTreeSet::new())?,
        qkv_offsets(ctx, g) + &result_offset(ctx, g),
        tail.apply("value", "idx"),
    );
    let shape = GemmShape {
        z: g.z,
        m: g.s,
        n: g.e,
        k: g.t,
    };
    let third = gemm(ctx, "attention_values", shape, &set3, &helpers)?;
    Ok(Lowered {
        kernels: vec![first, second, third],
        scratch_bytes: vec![scores.max(4)],
        ..Lowered::default()
    })
}

/// A product kernel over `set`'s bindings with `helpers` supplying the gathers and store.
fn gemm(
    ctx: &NodeCtx<'_>,
    name: &str,
    shape: GemmShape,
    set: &BindingSet,
    helpers: &str,
) -> Result<KernelSrc, CodegenError> {
    let kernel = engine::either(
        shape,
        &GemmSource {
            bindings: &set.decls(),
            helpers,
            acc: engine::Acc::F32,
            words: false,
            load_b4: false,
            load_a4: false,
        },
        ctx.limits,
    )?;
    Ok(kernel.into_src(name, set.bindings.clone()))
}
