//! Lowering of N-d convolution (grouped, depthwise, strided, dilated, padded, with
//! optional bias) as an implicit GEMM: per group, `y[m, (n, p)] = Σ_k w[m, k] ·
//! col[k, (n, p)]` where `col` gathers input taps on the fly. Wide products use
//! the tiled engine; thin ones (depthwise) the direct one-output-per-invocation engine.

use super::epilogue::Tail;
use super::epilogue::{Epilogue, EpilogueInput};
use super::matmul::dot4;
use super::matmul::engine::{self, GemmShape, GemmSource};
use super::packed::WeightRead;
use super::placement::{OperandSet, PlacementSupport};
use super::{
    binding_decls, binding_decls_from, check_binding_sizes, Binding, Lowered, NodeCtx, Slot,
};
use crate::plan::Access;
use crate::CodegenError;
use kiln_ir::{ConvAttrs, DType, Op, PoolAttrs, TensorType};

/// The input (operand 0) is read at `X_BASE` (the operand's element base) through
/// [`x_channel`] (a folded channel shuffle), decoded where it is narrow, with or
/// without a max-pool prologue; a narrow result is stored a word at a time; the
/// result is stored at `Y_BASE` (the result's element base) by the `store` of
/// [`common_source`].
pub(crate) const PLACEMENT: PlacementSupport = PlacementSupport {
    base_reads: OperandSet::first(1),
    shuffled_reads: OperandSet::first(1),
    packed_reads: OperandSet::first(2).from_on(1),
    narrow_reads: OperandSet::first(1),
    base_write: true,
    narrow_write: true,
    ..PlacementSupport::NONE
};

/// The conv result's `store4` when it is stored narrow ([`super::narrow::store4`]),
/// `acc` the engine's and `value` the stored expression with its WGSL type; an error
/// where the result's words straddle two images (`P` not a multiple of the elements
/// per word).
fn narrow_store(
    ctx: &NodeCtx<'_>,
    g: &ConvGeometry,
    acc: engine::Acc,
    value: (&str, &str),
) -> Result<String, CodegenError> {
    super::narrow::store4(
        ctx.result(0).dtype,
        g.p(),
        acc.result_type(),
        "y",
        "    let row = z * MG + m;\n",
        "((col / P) * MT + row) * P + col % P",
        value,
    )
}

/// The kernels computing a `Conv` node (bias, when present, added in the epilogue),
/// or a `Fused` node anchored on one.
pub fn lower(ctx: &NodeCtx<'_>, attrs: &ConvAttrs) -> Result<Lowered, CodegenError> {
    lower_with(ctx, attrs, fused_epilogue(ctx)?)
}

/// The epilogue program of a `Fused` node anchored on a convolution (identity for a
/// plain one), reusing the `x`, `w` and `bias` bindings for operands it reads again.
pub(super) fn fused_epilogue(ctx: &NodeCtx<'_>) -> Result<Epilogue, CodegenError> {
    let names = ["x", "w", "bias"];
    let bound: Vec<(usize, String)> = (0..ctx.arity().min(3))
        .map(|i| (i, names[i].to_string()))
        .collect();
    Epilogue::identity().then(&Tail::of(ctx, &bound)?)
}

/// Shapes of a convolution-like node, checked: `x`, `w`, `y` dims and group sizes.
pub(super) struct ConvGeometry {
    pub n: usize,
    pub c: usize,
    /// Output channels in total.
    pub m: usize,
    pub cg: usize,
    pub mg: usize,
    pub group: usize,
    pub in_sp: Vec<usize>,
    pub k_sp: Vec<usize>,
    pub out_sp: Vec<usize>,
}

impl ConvGeometry {
    pub fn kk(&self) -> usize {
        self.k_sp.iter().product()
    }

    pub fn p(&self) -> usize {
        self.out_sp.iter().product()
    }

    pub fn pin(&self) -> usize {
        self.in_sp.iter().product()
    }
}

/// Checks dtypes (float), ranks, attribute lengths and that every binding fits.
pub(super) fn check_common(
    ctx: &NodeCtx<'_>,
    strides: &[usize],
    pads: &[usize],
    dilations: &[usize],
) -> Result<usize, CodegenError> {
    let integer = matches!(ctx.op(), Op::ConvInteger(_));
    let pooled = ctx.prologue_input()?;
    for i in 0..ctx.arity() {
        let d = match (i, &pooled) {
            (0, Some(p)) => p.dtype,
            _ => ctx.operand(i).dtype,
        };
        let ok = if integer {
            d.is_byte_int()
        } else {
            matches!(d, DType::F32 | DType::F16)
        };
        if !ok {
            let want = if integer { "i8 or u8" } else { "f32 or f16" };
            return Err(ctx.error(format!("operand {i} must be {want}, got {d}")));
        }
    }
    let rank = ctx.operand(0).shape.rank();
    if rank < 3 || ctx.operand(1).shape.rank() != rank || ctx.result(0).shape.rank() != rank {
        return Err(ctx.error("x, w and y need equal rank >= 3"));
    }
    let sp = rank - 2;
    if strides.len() != sp || dilations.len() != sp || pads.len() != 2 * sp {
        return Err(ctx.error(format!("attributes do not fit {sp} spatial axes")));
    }
    if strides.contains(&0) || dilations.contains(&0) {
        return Err(ctx.error("strides and dilations must be positive"));
    }
    check_binding_sizes(ctx)?;
    Ok(sp)
}

/// The geometry of the conv as it computes: over `x`, the operand or, with a prologue,
/// the prologue's result.
fn geometry(
    ctx: &NodeCtx<'_>,
    a: &ConvAttrs,
    x: &TensorType,
) -> Result<ConvGeometry, CodegenError> {
    check_common(ctx, &a.strides, &a.pads, &a.dilations)?;
    let (xs, ws, ys) = (
        x.shape.dims(),
        ctx.operand(1).shape.dims(),
        ctx.result(0).shape.dims(),
    );
    let (n, c, m, g) = (xs[0], xs[1], ws[0], a.group);
    if g == 0 || c % g != 0 || m % g != 0 || ws[1] * g != c || ys[0] != n || ys[1] != m {
        return Err(ctx.error(format!(
            "shapes do not fit group {g}: x {xs:?}, w {ws:?}, y {ys:?}"
        )));
    }
    Ok(ConvGeometry {
        n,
        c,
        m,
        cg: c / g,
        mg: m / g,
        group: g,
        in_sp: xs[2..].to_vec(),
        k_sp: ws[2..].to_vec(),
        out_sp: ys[2..].to_vec(),
    })
}

/// The bias operand (if any) as an epilogue input added per output channel.
pub(super) fn with_bias(
    ctx: &NodeCtx<'_>,
    mut epi: Epilogue,
    channels: usize,
) -> Result<Epilogue, CodegenError> {
    if ctx.arity() > 2 {
        if ctx.operand(2).shape.numel() != channels {
            return Err(ctx.error(format!(
                "bias {} does not have {channels} elements",
                ctx.operand(2)
            )));
        }
        epi.pre.insert(0, "v = v + bias[row];".to_string());
        epi.inputs.insert(
            0,
            EpilogueInput {
                name: "bias".to_string(),
                dtype: DType::F32,
                slot: Slot::Operand(2),
            },
        );
    }
    Ok(epi)
}

/// WGSL helpers shared by conv and conv-transpose: bindings `x`, `w` (read as `w`
/// says: f32 words or packed weights), `y`, the epilogue, and `store` scattering column `col = (n, p)` of channel row `z·MG + m`
/// to `y[Y_BASE + idx]` (`Y_BASE` is the base of [`NodeCtx::result_place`]).
pub(super) fn common_source(
    ctx: &NodeCtx<'_>,
    g: &ConvGeometry,
    epi: &Epilogue,
    w: &WeightRead,
    helpers: &str,
) -> Result<(String, Vec<Binding>, String), CodegenError> {
    // `x` as stored: f32, or what an element-wise prologue converts (a quantized type).
    let x = ctx.binding_dtype(0, ctx.operand(0).dtype);
    let mut decls = binding_decls(&[("x", x, Access::Read)]);
    let mut bindings = vec![Binding::read(Slot::Operand(0))];
    let (w_decls, w_bindings) = w.bindings(1);
    decls.push_str(&w_decls);
    bindings.extend(w_bindings);
    decls.push_str(&binding_decls_from(
        bindings.len(),
        &[("y", ctx.result_binding_dtype(epi.result), Access::ReadWrite)],
    ));
    bindings.push(Binding::write(Slot::Result(0)));
    decls.push_str(&epi.decls(bindings.len()));
    bindings.extend(epi.bindings());
    let mut src = constants(g, ctx.operand_base(0), ctx.result_place.base);
    src.push_str(&epi.function());
    src.push_str(&w.function());
    src.push_str(helpers);
    if ctx.result_place.narrow {
        src.push_str(&narrow_store(
            ctx,
            g,
            engine::Acc::F32,
            ("epilogue(v, row, col, idx)", epi.storage()),
        )?);
    } else {
        src.push_str(
            "fn store(z: u32, m: u32, col: u32, v: f32) {\n    let row = z * MG + m;\n    \
             let idx = ((col / P) * MT + row) * P + col % P;\n    y[Y_BASE + idx] = epilogue(v, row, col, idx);\n}\n",
        );
    }
    Ok((decls, bindings, src))
}

/// The WGSL constants of the geometry the gathers and stores use; `x_base` and `y_base`
/// are the elements before `x` and `y` in their bindings.
fn constants(g: &ConvGeometry, x_base: u32, y_base: u32) -> String {
    format!(
        "const C: u32 = {c}u;\nconst CG: u32 = {cg}u;\nconst MG: u32 = {mg}u;\nconst MT: u32 = {m}u;\n\
         const KK: u32 = {kk}u;\nconst P: u32 = {p}u;\nconst PIN: u32 = {pin}u;\nconst X_BASE: u32 = {x_base}u;\nconst Y_BASE: u32 = {y_base}u;\n",
        c = g.c,
        cg = g.cg,
        mg = g.mg,
        m = g.m,
        kk = g.kk(),
        p = g.p(),
        pin = g.pin(),
    )
}

/// Renders the product with the engine that fits and wraps it as the node's kernel.
pub(super) fn gemm_kernel(
    ctx: &NodeCtx<'_>,
    name: &str,
    g: &ConvGeometry,
    decls: &str,
    helpers: &str,
    bindings: Vec<Binding>,
) -> Result<Lowered, CodegenError> {
    gemm_kernel_with(ctx, name, g, decls, helpers, bindings, engine::Acc::F32)
}

/// The product a convolution of geometry `g` computes: per group, output channels by
/// (batch × output positions), over input channels × taps.
fn gemm_shape(g: &ConvGeometry) -> GemmShape {
    GemmShape {
        z: g.group,
        m: g.mg,
        n: g.n * g.p(),
        k: g.cg * g.kk(),
    }
}

/// [`gemm_kernel`] accumulating in `acc`.
fn gemm_kernel_with(
    ctx: &NodeCtx<'_>,
    name: &str,
    g: &ConvGeometry,
    decls: &str,
    helpers: &str,
    bindings: Vec<Binding>,
    acc: engine::Acc,
) -> Result<Lowered, CodegenError> {
    let kernel = engine::either(
        gemm_shape(g),
        &GemmSource {
            bindings: decls,
            helpers,
            acc,
            words: ctx.result_place.narrow,
            load_b4: false,
            load_a4: false,
        },
        ctx.limits,
    )?;
    Ok(Lowered {
        kernels: vec![kernel.into_src(name, bindings)],
        ..Lowered::default()
    })
}

/// `Conv` with `epi` applied to each output (after the bias).
pub fn lower_with(
    ctx: &NodeCtx<'_>,
    a: &ConvAttrs,
    epi: Epilogue,
) -> Result<Lowered, CodegenError> {
    let pooled = ctx.prologue_input()?;
    let g = geometry(ctx, a, pooled.as_ref().unwrap_or(ctx.operand(0)))?;
    let epi = with_bias(ctx, epi, g.m)?;
    let w = WeightRead::new("w", 1, ctx.operand_packed(1));
    if let Some(Op::Elementwise { program }) = ctx.prologue() {
        // Applied to every input element the gather loads (padding stays 0).
        let x0 = ctx.element(0, "x", "X_BASE");
        let bound = [(0, x0.as_str()), (2, "bias[0]")];
        let function = super::prologue::function(ctx, program, &epi, &bound)?;
        let plain = |e: &str| e.to_string();
        let prologue = |e: &str| format!("k_prologue({e})");
        let gather = gathers(ctx, a, &g, &w, [&plain, &prologue], F32_GATHER);
        let (decls, bindings, helpers) =
            common_source(ctx, &g, &epi, &w, &format!("{function}{gather}"))?;
        return gemm_kernel(ctx, "conv", &g, &decls, &helpers, bindings);
    }
    if let Some(prologue) = ctx.prologue() {
        let Op::MaxPool(pool) = prologue else {
            return Err(ctx.error(format!(
                "the GPU backend cannot run a {} prologue",
                prologue.name()
            )));
        };
        if !pointwise(a, &g) {
            return Err(ctx.error("a prologue needs a 1×1, stride-1, unpadded conv"));
        }
        let channel = x_channel(ctx, "z * CG + k");
        let gather = max_pool_load_b(
            ctx,
            pool,
            &ctx.operand(0).shape.dims()[2..],
            &g.in_sp,
            &channel,
            &w,
        );
        let (decls, bindings, helpers) = common_source(ctx, &g, &epi, &w, &gather)?;
        return gemm_kernel(ctx, "conv", &g, &decls, &helpers, bindings);
    }
    let plain = |e: &str| e.to_string();
    let gather = gathers(ctx, a, &g, &w, [&plain, &plain], F32_GATHER);
    let (decls, bindings, helpers) = common_source(ctx, &g, &epi, &w, &gather)?;
    gemm_kernel(ctx, "conv", &g, &decls, &helpers, bindings)
}

/// A 1×1, stride-1, unpadded convolution: it reads the input position as it is.
fn pointwise(a: &ConvAttrs, g: &ConvGeometry) -> bool {
    let sp = g.in_sp.len();
    (0..sp).all(|ax| {
        g.k_sp[ax] == 1
            && a.strides[ax] == 1
            && a.pads[ax] == 0
            && a.pads[ax + sp] == 0
            && g.in_sp[ax] == g.out_sp[ax]
    })
}

/// The loads' type and the value of the padding for the f32 engines.
const F32_GATHER: (&str, &str) = ("f32", "0.0");

/// The implicit-GEMM operand gathers `load_a` (a weight) and `load_b` (an input
/// element, or `zero` in the padding), both of WGSL type `t`; `read_w` and `read_x`
/// wrap an element read (`w` as `w` reads it, `x` as [`NodeCtx::element`] does) into the value the product
/// multiplies.
fn gathers(
    ctx: &NodeCtx<'_>,
    a: &ConvAttrs,
    g: &ConvGeometry,
    w: &WeightRead,
    [read_w, read_x]: [&dyn Fn(&str) -> String; 2],
    (t, zero): (&str, &str),
) -> String {
    let mut gather = format!(
        "fn load_a(z: u32, m: u32, k: u32) -> {t} {{\n    return {};\n}}\n\
         fn load_b(z: u32, k: u32, col: u32) -> {t} {{\n    var tap = k % KK;\n    var pos = col % P;\n    \
         var off = X_BASE + ((col / P) * C + {}) * PIN;\n",
        read_w(&w.at("(z * MG + m) * (CG * KK) + k")),
        x_channel(ctx, "z * CG + k / KK")
    );
    let pointwise = pointwise(a, g);
    let sp = g.in_sp.len();
    let mut in_stride = 1;
    for ax in (0..sp).rev().filter(|_| !pointwise) {
        let pad = a.pads[ax];
        let lower = if pad > 0 { "c < 0 || " } else { "" };
        gather.push_str(&format!(
            "    {{\n        let kc = tap % {k}u;\n        tap = tap / {k}u;\n        let oc = pos % {o}u;\n        \
             pos = pos / {o}u;\n        let c = i32(oc * {s}u + kc * {d}u) - {pad};\n        \
             if ({lower}c >= {i}) {{\n            return {zero};\n        }}\n        off += u32(c) * {in_stride}u;\n    }}\n",
            k = g.k_sp[ax],
            o = g.out_sp[ax],
            s = a.strides[ax],
            d = a.dilations[ax],
            i = g.in_sp[ax],
        ));
        in_stride *= g.in_sp[ax];
    }
    let x = ctx.element(0, "x", if pointwise { "off + pos" } else { "off" });
    gather.push_str(&format!("    return {};\n}}\n", read_x(&x)));
    gather
}

/// `ConvInteger`: the implicit-GEMM engine accumulating `(x - x_zero) · (w - w_zero)`
/// in i32 (padding adds nothing); a `Fused` node's epilogue (a requantization) applies
/// to each i32 result before it is stored.
pub fn lower_integer(ctx: &NodeCtx<'_>, a: &ConvAttrs) -> Result<Lowered, CodegenError> {
    let g = geometry(ctx, a, ctx.operand(0))?;
    let w = WeightRead::new("w", 1, None).narrow(ctx.operand_narrow(1), ctx.operand(1).dtype);
    let packed = super::integer::packed_sums(ctx, gemm_shape(&g), [1, 0]);
    let (gather, acc) = if let Some(sums) = packed {
        // Signed bytes; the padding is x's zero point, which adds nothing to the product.
        let (xt, wt) = (ctx.operand(0).dtype, ctx.operand(1).dtype);
        let xz = super::integer::zero_byte(ctx, 2, "xz", "0u");
        let wz = super::integer::zero_byte(ctx, 3, "wz", "z * MG + m");
        let read_w = |e: &str| dot4::signed_byte(wt, e);
        let read_x = |e: &str| dot4::signed_byte(xt, e);
        let zeros = format!(
            "fn zero_a(z: u32, m: u32) -> i32 {{\n    return {wz};\n}}\n\
             fn zero_b(z: u32, n: u32) -> i32 {{\n    return {xz};\n}}\n"
        );
        let gather = gathers(ctx, a, &g, &w, [&read_w, &read_x], ("i32", &xz));
        (format!("{zeros}{gather}"), engine::Acc::Dot4(sums))
    } else {
        let wz = super::integer::zero_point(ctx, 3, "wz", "z * MG + m");
        let xz = super::integer::zero_point(ctx, 2, "xz", "0u");
        // Exact small integers in f32 (the engine accumulates them exactly, see
        // `Acc::I32`).
        let read_w = |e: &str| format!("f32(i32({e}) - {wz})");
        let read_x = |e: &str| format!("f32(i32({e}) - {xz})");
        let gather = gathers(ctx, a, &g, &w, [&read_w, &read_x], F32_GATHER);
        (gather, engine::Acc::I32)
    };
    let (tail, decls, bindings) = super::integer::bindings(ctx, ["x", "w", "xz", "wz"])?;
    let store = if ctx.result_place.narrow {
        narrow_store(ctx, &g, acc, (&tail.apply("v", "idx"), tail.storage()))?
    } else {
        format!(
            "fn store(z: u32, m: u32, col: u32, v: i32) {{\n    let row = z * MG + m;\n    \
             let idx = ((col / P) * MT + row) * P + col % P;\n    y[idx] = {};\n}}\n",
            tail.apply("v", "idx"),
        )
    };
    let helpers = format!(
        "{}{}{gather}{store}",
        tail.module_code(&Default::default())?,
        constants(&g, 0, 0),
    );
    let lowered = gemm_kernel_with(ctx, "conv_integer", &g, &decls, &helpers, bindings, acc)?;
    Ok(Lowered {
        packed_dot: packed.is_some(),
        ..lowered
    })
}

/// `load_a`, and the `load_b` of a 1×1 conv whose input is `max_pool(x)`: element `k`
/// (the input channel) of column `col` is the maximum of `x`'s window at that pooled
/// position, computed where it is loaded ([`super::pool::max_window`]). `x_sp` and
/// `out_sp` are the pre- and post-pool spatial dims (the latter already reflecting
/// `ceil_mode`); `channel` is the input channel's expression.
fn max_pool_load_b(
    ctx: &NodeCtx<'_>,
    pool: &PoolAttrs,
    x_sp: &[usize],
    out_sp: &[usize],
    channel: &str,
    w: &WeightRead,
) -> String {
    let pin: usize = x_sp.iter().product();
    format!(
        "fn load_a(z: u32, m: u32, k: u32) -> f32 {{\n    return {};\n}}\n\
         fn load_b(z: u32, k: u32, col: u32) -> f32 {{\n    let pos = col % P;\n    \
         let base = X_BASE + ((col / P) * C + {channel}) * {pin}u;\n{}    return v;\n}}\n",
        w.at("(z * MG + m) * CG + k"),
        super::pool::max_window(pool, x_sp, out_sp, &ctx.element(0, "x", "off"))
    )
}

/// The WGSL channel of the input binding holding input channel `c` (an expression):
/// `c` itself, or through a folded channel shuffle ([`NodeCtx::operand_shuffle`]).
fn x_channel(ctx: &NodeCtx<'_>, c: &str) -> String {
    match ctx.operand_shuffle(0) {
        Some((groups, per)) => format!("(({c}) % {groups}u) * {per}u + ({c}) / {groups}u"),
        None => c.to_string(),
    }
}
