//! Lowering of N-d transposed convolution (groups, strides, dilations, pads,
//! output_padding, optional bias) as an implicit GEMM in gather form: output
//! position `o` takes input `i = (o + pad - k·dilation) / stride` when that divides
//! exactly and lies inside the input, so no atomics or col2im pass are needed.

use super::conv::{
    check_common, common_source, fused_epilogue, gemm_kernel, with_bias, ConvGeometry,
};
use super::epilogue::Epilogue;
use super::placement::PlacementSupport;
use super::{Lowered, NodeCtx};
use crate::CodegenError;
use kiln_ir::ConvTransposeAttrs;

/// The result is stored at `Y_BASE` (its element base) by the convolutions' shared
/// `store` ([`common_source`]); operands are read row-major from their bindings' start.
pub(crate) const PLACEMENT: PlacementSupport = PlacementSupport {
    base_write: true,
    ..PlacementSupport::NONE
};

/// The kernels computing a `ConvTranspose` node (bias added in the epilogue), or a
/// `Fused` node anchored on one.
pub fn lower(ctx: &NodeCtx<'_>, attrs: &ConvTransposeAttrs) -> Result<Lowered, CodegenError> {
    lower_with(ctx, attrs, fused_epilogue(ctx)?)
}

fn geometry(ctx: &NodeCtx<'_>, a: &ConvTransposeAttrs) -> Result<ConvGeometry, CodegenError> {
    check_common(ctx, &a.strides, &a.pads, &a.dilations)?;
    let (xs, ws, ys) = (
        ctx.operand(0).shape.dims(),
        ctx.operand(1).shape.dims(),
        ctx.result(0).shape.dims(),
    );
    let (n, c, g) = (xs[0], xs[1], a.group);
    if g == 0 || ws[0] != c || c % g != 0 || ys[0] != n || ys[1] != ws[1] * g {
        return Err(ctx.error(format!(
            "shapes do not fit group {g}: x {xs:?}, w {ws:?}, y {ys:?}"
        )));
    }
    Ok(ConvGeometry {
        n,
        c,
        m: ys[1],
        cg: c / g,
        mg: ws[1],
        group: g,
        in_sp: xs[2..].to_vec(),
        k_sp: ws[2..].to_vec(),
        out_sp: ys[2..].to_vec(),
    })
}

/// `ConvTranspose` with `epi` applied to each output (after the bias).
pub fn lower_with(
    ctx: &NodeCtx<'_>,
    a: &ConvTransposeAttrs,
    epi: Epilogue,
) -> Result<Lowered, CodegenError> {
    let g = geometry(ctx, a)?;
    let epi = with_bias(ctx, epi, g.m)?;
    let sp = g.in_sp.len();
    // w is C_in × C_out/group × k...: row m of group z, tap (ci, t) is w[(z·CG + ci)·MG + m, t].
    let mut gather = String::from(
        "fn load_a(z: u32, m: u32, k: u32) -> f32 {\n    return w[((z * CG + k / KK) * MG + m) * KK + k % KK];\n}\n\
         fn load_b(z: u32, k: u32, col: u32) -> f32 {\n    var tap = k % KK;\n    var pos = col % P;\n    \
         var off = ((col / P) * C + z * CG + k / KK) * PIN;\n",
    );
    let mut in_stride = 1;
    for ax in (0..sp).rev() {
        let s = a.strides[ax];
        let divides = if s > 1 {
            format!("        if (c % {s} != 0) {{\n            return 0.0;\n        }}\n")
        } else {
            String::new()
        };
        gather.push_str(&format!(
            "    {{\n        let kc = tap % {k}u;\n        tap = tap / {k}u;\n        let oc = pos % {o}u;\n        \
             pos = pos / {o}u;\n        let c = i32(oc + {pad}u) - i32(kc * {d}u);\n        \
             if (c < 0) {{\n            return 0.0;\n        }}\n{divides}        let i = c / {s};\n        \
             if (i >= {i}) {{\n            return 0.0;\n        }}\n        off += u32(i) * {in_stride}u;\n    }}\n",
            k = g.k_sp[ax],
            o = g.out_sp[ax],
            pad = a.pads[ax],
            d = a.dilations[ax],
            i = g.in_sp[ax],
        ));
        in_stride *= g.in_sp[ax];
    }
    gather.push_str("    return x[off];\n}\n");
    let w = super::packed::WeightRead::new("w", 1, None);
    let (decls, bindings, helpers) = common_source(ctx, &g, &epi, &w, &gather)?;
    gemm_kernel(ctx, "conv_transpose", &g, &decls, &helpers, bindings)
}
