//! Lowering of normalizations: LayerNorm (with its optional mean and inv_std_dev
//! results), RmsNorm (uncentered) and InstanceNorm as row normalizations (`norm_rows.wgsl`), BatchNorm
//! (`norm_batch.wgsl`) and Lrn (`norm_lrn.wgsl`) one invocation per element.

use super::elementwise::index::{offset_fn, Affine, BindingSet};
use super::elementwise::WG;
use super::epilogue::Tail;
use super::reduce::{lanes_per_row, row_grid, row_wg};
use super::{f32_literal, render, KernelSrc, Lowered, NodeCtx, Slot, LINEAR_INDEX};
use crate::plan::Access;
use crate::CodegenError;
use kiln_ir::Op;

/// The kernels computing this node.
pub fn lower(ctx: &NodeCtx<'_>) -> Result<Lowered, CodegenError> {
    let x = ctx.operand(0);
    if !x.dtype.is_float() {
        return Err(ctx.error(format!("needs f32 or f16, got {}", x.dtype)));
    }
    let kernel = match *ctx.op() {
        Op::LayerNorm { axis, epsilon } => layer_norm(ctx, axis, epsilon, true)?,
        Op::RmsNorm { axis, epsilon } => layer_norm(ctx, axis, epsilon, false)?,
        Op::InstanceNorm { epsilon } => instance_norm(ctx, epsilon)?,
        Op::BatchNorm { epsilon } => batch_norm(ctx, epsilon)?,
        Op::Lrn {
            size,
            alpha,
            beta,
            bias,
        } => lrn(ctx, size, alpha, beta, bias)?,
        ref op => return Err(ctx.error(format!("{} is not a normalization", op.name()))),
    };
    Ok(Lowered {
        kernels: kernel.into_iter().collect(),
        ..Lowered::default()
    })
}

/// `(n, c, spatial)` of an `N × C × ...` operand.
fn nc_spatial(ctx: &NodeCtx<'_>) -> Result<(usize, usize, usize), CodegenError> {
    let d = ctx.operand(0).shape.dims();
    if d.len() < 2 {
        return Err(ctx.error(format!("needs an N×C×... operand, got {d:?}")));
    }
    Ok((d[0], d[1], d[2..].iter().product()))
}

/// Operand `i` must hold one element per channel.
fn per_channel(ctx: &NodeCtx<'_>, i: usize, what: &str, c: usize) -> Result<(), CodegenError> {
    let n = ctx.operand(i).shape.numel();
    if n != c {
        return Err(ctx.error(format!("{what} has {n} elements, expected {c}")));
    }
    Ok(())
}

/// A `norm_rows.wgsl` kernel: `rows` rows of `count`; `affine` maps the normalized
/// value `v` to the result; `extra` are more WGSL declarations.
#[allow(clippy::too_many_arguments)]
fn rows_kernel(
    ctx: &NodeCtx<'_>,
    set: BindingSet,
    names: [&str; 2],
    rows: usize,
    count: usize,
    epsilon: f32,
    centered: bool,
    affine: String,
    offsets: String,
    stats: String,
) -> Result<Option<KernelSrc>, CodegenError> {
    let wg = row_wg(ctx);
    let tpr = lanes_per_row(count, wg);
    let wgsl = render(
        kiln_shaders::NORM_ROWS,
        &[
            ("BINDINGS", set.decls()),
            ("WG", wg.to_string()),
            ("TPR", tpr.to_string()),
            ("ROWS", rows.to_string()),
            ("COUNT", count.to_string()),
            ("EPS", f32_literal(epsilon)),
            ("CENTERED", centered.to_string()),
            ("OFFSETS", offsets),
            ("X", names[0].to_string()),
            ("Y", names[1].to_string()),
            ("AFFINE", affine),
            ("STATS", stats),
        ],
    )?;
    Ok(Some(KernelSrc {
        name: ctx.op().name().to_string(),
        wgsl,
        entry_point: "main".into(),
        workgroup_size: [wg, 1, 1],
        workgroups: row_grid(ctx, rows, tpr, wg)?,
        bindings: set.bindings,
    }))
}

/// Layer norm over axes `axis..`; scale and bias broadcast to the operand. Without
/// `centered` the mean is taken as 0: RMS norm (no bias, no statistics results).
fn layer_norm(
    ctx: &NodeCtx<'_>,
    axis: usize,
    epsilon: f32,
    centered: bool,
) -> Result<Option<KernelSrc>, CodegenError> {
    let dims = ctx.operand(0).shape.dims();
    if axis > dims.len() {
        return Err(ctx.error(format!(
            "axis {axis} is out of range for rank {}",
            dims.len()
        )));
    }
    let rows: usize = dims[..axis].iter().product();
    let count: usize = dims[axis..].iter().product();
    if rows == 0 {
        return Ok(None);
    }
    let inputs = &ctx.node().inputs;
    let mut set = BindingSet::new();
    let x = set.operand(0, inputs, "f32");
    let scale = set.operand(1, inputs, "f32");
    let bias = (ctx.arity() > 2).then(|| set.operand(2, inputs, "f32"));
    let tail = Tail::of(ctx, &set.operands())?;
    tail.bind(&mut set);
    let y = set.add(Slot::Result(0), Access::ReadWrite, tail.storage());
    let mut offsets = offset_fn(
        "scale_off",
        dims,
        &Affine::broadcast(ctx.operand(1).shape.dims(), dims),
    );
    let mut affine = format!("({x}[i] - mean) * inv * {scale}[scale_off(i)]");
    if let Some(b) = &bias {
        offsets.push_str(&offset_fn(
            "bias_off",
            dims,
            &Affine::broadcast(ctx.operand(2).shape.dims(), dims),
        ));
        affine.push_str(&format!(" + {b}[bias_off(i)]"));
    }
    offsets.push_str(&tail.module_code(&Default::default())?);
    let affine = tail.apply(&affine, "i");
    let mut stats = String::new();
    let results = ctx.node().outputs.len();
    if results > 1 {
        let mean = set.add(Slot::Result(1), Access::ReadWrite, "f32");
        stats.push_str(&format!(
            "        if lane == 0u {{\n            {mean}[row] = mean;\n"
        ));
        if results > 2 {
            let inv = set.add(Slot::Result(2), Access::ReadWrite, "f32");
            stats.push_str(&format!("            {inv}[row] = inv;\n"));
        }
        stats.push_str("        }\n");
    }
    rows_kernel(
        ctx,
        set,
        [&x, &y],
        rows,
        count,
        epsilon,
        centered,
        affine,
        offsets,
        stats,
    )
}

/// Instance norm: statistics per image and channel over the spatial axes.
fn instance_norm(ctx: &NodeCtx<'_>, epsilon: f32) -> Result<Option<KernelSrc>, CodegenError> {
    let (n, c, s) = nc_spatial(ctx)?;
    per_channel(ctx, 1, "scale", c)?;
    per_channel(ctx, 2, "bias", c)?;
    if n * c == 0 {
        return Ok(None);
    }
    let inputs = &ctx.node().inputs;
    let mut set = BindingSet::new();
    let x = set.operand(0, inputs, "f32");
    let scale = set.operand(1, inputs, "f32");
    let bias = set.operand(2, inputs, "f32");
    let tail = Tail::of(ctx, &set.operands())?;
    tail.bind(&mut set);
    let y = set.add(Slot::Result(0), Access::ReadWrite, tail.storage());
    let affine = format!("({x}[i] - mean) * inv * {scale}[row % {c}u] + {bias}[row % {c}u]");
    rows_kernel(
        ctx,
        set,
        [&x, &y],
        n * c,
        s,
        epsilon,
        true,
        tail.apply(&affine, "i"),
        tail.module_code(&Default::default())?,
        String::new(),
    )
}

/// Batch norm with given statistics: one invocation per element.
fn batch_norm(ctx: &NodeCtx<'_>, epsilon: f32) -> Result<Option<KernelSrc>, CodegenError> {
    let (n, c, s) = nc_spatial(ctx)?;
    for (i, what) in [(1, "scale"), (2, "bias"), (3, "mean"), (4, "var")] {
        if ctx.arity() <= i {
            return Err(ctx.error(format!("missing operand {what}")));
        }
        per_channel(ctx, i, what, c)?;
    }
    let total = n * c * s;
    if total == 0 {
        return Ok(None);
    }
    let inputs = &ctx.node().inputs;
    let mut set = BindingSet::new();
    let names: Vec<String> = (0..5).map(|i| set.operand(i, inputs, "f32")).collect();
    let tail = Tail::of(ctx, &set.operands())?;
    tail.bind(&mut set);
    let y = set.add(Slot::Result(0), Access::ReadWrite, tail.storage());
    let wg = WG.min(ctx.limits.max_compute_invocations_per_workgroup);
    let wgsl = render(
        kiln_shaders::NORM_BATCH,
        &[
            ("BINDINGS", set.decls()),
            ("WG", wg.to_string()),
            ("N", total.to_string()),
            ("C", c.to_string()),
            ("S", s.to_string()),
            ("EPS", f32_literal(epsilon)),
            ("INDEX", LINEAR_INDEX.to_string()),
            ("VAR", names[4].clone()),
            ("Y", y),
            ("X", names[0].clone()),
            ("MEAN", names[3].clone()),
            ("SCALE", names[1].clone()),
            ("BIAS", names[2].clone()),
            ("HELPERS", tail.module_code(&Default::default())?),
            ("STORE", tail.apply("v", "i")),
        ],
    )?;
    Ok(Some(elementwise_kernel(ctx, wgsl, total, wg, set)?))
}

/// Local response normalization across channels.
fn lrn(
    ctx: &NodeCtx<'_>,
    size: usize,
    alpha: f32,
    beta: f32,
    bias: f32,
) -> Result<Option<KernelSrc>, CodegenError> {
    let (n, c, s) = nc_spatial(ctx)?;
    if size == 0 {
        return Err(ctx.error("size must be positive"));
    }
    let total = n * c * s;
    if total == 0 {
        return Ok(None);
    }
    let mut set = BindingSet::new();
    let x = set.operand(0, &ctx.node().inputs, "f32");
    let tail = Tail::of(ctx, &set.operands())?;
    tail.bind(&mut set);
    let y = set.add(Slot::Result(0), Access::ReadWrite, tail.storage());
    let wg = WG.min(ctx.limits.max_compute_invocations_per_workgroup);
    let wgsl = render(
        kiln_shaders::NORM_LRN,
        &[
            ("BINDINGS", set.decls()),
            ("WG", wg.to_string()),
            ("N", total.to_string()),
            ("C", c.to_string()),
            ("S", s.to_string()),
            ("LO", ((size - 1) / 2).to_string()),
            ("HI", (size / 2).to_string()),
            ("BIAS", f32_literal(bias)),
            (
                "ALPHA_OVER_SIZE",
                f32_literal((alpha as f64 / size as f64) as f32),
            ),
            ("BETA", f32_literal(beta)),
            ("INDEX", LINEAR_INDEX.to_string()),
            ("X", x),
            ("Y", y),
            ("HELPERS", tail.module_code(&Default::default())?),
            ("STORE", tail.apply("v", "i")),
        ],
    )?;
    Ok(Some(elementwise_kernel(ctx, wgsl, total, wg, set)?))
}

/// A one-invocation-per-element kernel over `n` elements.
fn elementwise_kernel(
    ctx: &NodeCtx<'_>,
    wgsl: String,
    n: usize,
    wg: u32,
    set: BindingSet,
) -> Result<KernelSrc, CodegenError> {
    KernelSrc::linear(ctx.op().name(), wgsl, n, wg, ctx.limits, set.bindings)
}

#[cfg(test)]
mod tests;
