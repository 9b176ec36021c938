//! Lowering of data-movement ops. Everything that is a strided copy (Transpose,
//! Slice with any steps, Expand, Tile, Concat, Split, DepthToSpace, SpaceToDepth,
//! Reshape/Identity when not aliased) becomes `movement_copy.wgsl` dispatches over
//! 32-bit words, so one kernel serves every dtype; Pad, Gather and Shape have their
//! own templates. Concat and Split take one dispatch per operand / result, so any
//! number of them fits the 8-storage-buffer limit.

mod pad;

use super::elementwise::index::{offsets_code, Affine};
use super::elementwise::WG;
use super::{
    render, Binding, KernelSrc, Lowered, NodeCtx, OperandSet, PlacementSupport, Slot, LINEAR_INDEX,
};
use crate::CodegenError;
use kiln_ir::{DepthToSpaceMode, Op};

/// The kernels computing this node.
pub fn lower(ctx: &NodeCtx<'_>) -> Result<Lowered, CodegenError> {
    let node = ctx.node();
    let copy = |dims: &[usize], src: &Affine, dst: &Affine| {
        copy_kernel(
            ctx,
            node.op.name(),
            Slot::Operand(0),
            Slot::Result(0),
            dims,
            src,
            dst,
        )
    };
    let in_dims = || ctx.operand(0).shape.dims();
    let in_strides = || Affine::contiguous(in_dims()).strides;
    let out_dims = || ctx.result(0).shape.dims();
    let kernels = match &node.op {
        Op::Transpose { perm } => {
            let (d, s) = (in_dims(), in_strides());
            let dims: Vec<usize> = perm.iter().map(|&p| d[p]).collect();
            let src = Affine {
                base: 0,
                strides: perm.iter().map(|&p| s[p]).collect(),
            };
            copy(&dims, &src, &Affine::contiguous(&dims))?
        }
        Op::Slice {
            starts,
            steps,
            lens,
        } => {
            let s = in_strides();
            let base = starts.iter().zip(&s).map(|(&a, &b)| a as i64 * b).sum();
            let strides = steps.iter().zip(&s).map(|(&a, &b)| a * b).collect();
            copy(lens, &Affine { base, strides }, &Affine::contiguous(lens))?
        }
        Op::Expand { .. } => {
            let o = out_dims();
            copy(o, &Affine::broadcast(in_dims(), o), &Affine::contiguous(o))?
        }
        Op::Tile { repeats } => tile(ctx, repeats)?,
        Op::Concat { axis } => concat(ctx, *axis)?,
        Op::Split { axis, .. } => split(ctx, *axis)?,
        Op::DepthToSpace { blocksize, mode } => {
            let [n, c, h, w] = nchw(ctx)?;
            let b = *blocksize;
            let d = c / (b * b).max(1);
            match mode {
                DepthToSpaceMode::Dcr => rearrange(ctx, [n, b, b, d, h, w], [0, 3, 4, 1, 5, 2])?,
                DepthToSpaceMode::Crd => rearrange(ctx, [n, d, b, b, h, w], [0, 1, 4, 2, 5, 3])?,
            }
        }
        Op::SpaceToDepth { blocksize } => {
            let [n, c, h, w] = nchw(ctx)?;
            let b = (*blocksize).max(1);
            rearrange(ctx, [n, c, h / b, b, w / b, b], [0, 3, 5, 1, 2, 4])?
        }
        Op::Reshape { .. } | Op::Identity => {
            let o = out_dims();
            copy(o, &Affine::contiguous(o), &Affine::contiguous(o))?
        }
        Op::Pad { mode, pads } => pad::lower(ctx, *mode, pads)?,
        Op::Gather { axis } => return pad::gather(ctx, *axis),
        Op::Shape { .. } => pad::shape(ctx)?,
        op => return Err(ctx.error(format!("{} is not a data-movement op", op.name()))),
    };
    Ok(Lowered {
        kernels,
        ..Lowered::default()
    })
}

/// One `movement_copy.wgsl` dispatch: for each point of `dims`, `dst[dst(p)] = src[src(p)]`.
/// Empty when `dims` holds no points.
pub(super) fn copy_kernel(
    ctx: &NodeCtx<'_>,
    name: &str,
    from: Slot,
    to: Slot,
    dims: &[usize],
    src: &Affine,
    dst: &Affine,
) -> Result<Vec<KernelSrc>, CodegenError> {
    let n: usize = dims.iter().product();
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut maps: Vec<(&str, &Affine)> = Vec::new();
    let src_off = if src.is_identity(dims) {
        "i"
    } else {
        maps.push(("s", src));
        "s"
    };
    let dst_off = if dst.is_identity(dims) {
        "i"
    } else {
        maps.push(("d", dst));
        "d"
    };
    let offsets = if maps.is_empty() {
        String::new()
    } else {
        offsets_code("i", dims, &maps, "")
    };
    let wg = WG.min(ctx.limits.max_compute_invocations_per_workgroup);
    let wgsl = render(
        kiln_shaders::MOVEMENT_COPY,
        &[
            ("WG", wg.to_string()),
            ("N", n.to_string()),
            ("INDEX", LINEAR_INDEX.to_string()),
            ("OFFSETS", offsets),
            ("DST", dst_off.to_string()),
            ("SRC", src_off.to_string()),
        ],
    )?;
    Ok(vec![KernelSrc::linear(
        name,
        wgsl,
        n,
        wg,
        ctx.limits,
        vec![Binding::read(from), Binding::write(to)],
    )?])
}

/// A gather reads its table (operand 0) from packed weights or narrow words too: an
/// embedding table stays packed on the device ([`super::packed`], [`super::narrow`]).
pub(crate) const GATHER_PLACEMENT: PlacementSupport = PlacementSupport {
    packed_reads: OperandSet::first(1),
    narrow_reads: OperandSet::first(1),
    ..PlacementSupport::NONE
};

/// Tile: the result viewed as `[r0, d0, r1, d1, ...]` (repeat, then operand index per
/// axis) reads the operand at the operand index.
fn tile(ctx: &NodeCtx<'_>, repeats: &[usize]) -> Result<Vec<KernelSrc>, CodegenError> {
    let d = ctx.operand(0).shape.dims();
    if repeats.len() != d.len() {
        return Err(ctx.error(format!("repeats {repeats:?} do not fit rank {}", d.len())));
    }
    let is = Affine::contiguous(d).strides;
    let os = Affine::contiguous(ctx.result(0).shape.dims()).strides;
    let mut dims = Vec::new();
    let (mut src, mut dst) = (Vec::new(), Vec::new());
    for a in 0..d.len() {
        dims.extend([repeats[a], d[a]]);
        src.extend([0, is[a]]);
        dst.extend([d[a] as i64 * os[a], os[a]]);
    }
    let (src, dst) = (
        Affine {
            base: 0,
            strides: src,
        },
        Affine {
            base: 0,
            strides: dst,
        },
    );
    copy_kernel(
        ctx,
        "tile",
        Slot::Operand(0),
        Slot::Result(0),
        &dims,
        &src,
        &dst,
    )
}

/// Concat: operand `k` is copied into the result at its offset along `axis`.
fn concat(ctx: &NodeCtx<'_>, axis: usize) -> Result<Vec<KernelSrc>, CodegenError> {
    let out = ctx.result(0).shape.dims();
    if axis >= out.len() {
        return Err(ctx.error(format!(
            "axis {axis} is out of range for rank {}",
            out.len()
        )));
    }
    let os = Affine::contiguous(out).strides;
    let mut at = 0usize;
    let mut kernels = Vec::new();
    for k in 0..ctx.node().inputs.len() {
        let d = ctx.operand(k).shape.dims();
        let dst = Affine {
            base: at as i64 * os[axis],
            strides: os.clone(),
        };
        kernels.extend(copy_kernel(
            ctx,
            "concat",
            Slot::Operand(k),
            Slot::Result(0),
            d,
            &Affine::contiguous(d),
            &dst,
        )?);
        at += d.get(axis).copied().unwrap_or(0);
    }
    Ok(kernels)
}

/// Split: result `j` copies its range along `axis` of the operand.
fn split(ctx: &NodeCtx<'_>, axis: usize) -> Result<Vec<KernelSrc>, CodegenError> {
    let d = ctx.operand(0).shape.dims();
    if axis >= d.len() {
        return Err(ctx.error(format!("axis {axis} is out of range for rank {}", d.len())));
    }
    let is = Affine::contiguous(d).strides;
    let mut at = 0usize;
    let mut kernels = Vec::new();
    for j in 0..ctx.node().outputs.len() {
        let r = ctx.result(j).shape.dims();
        let src = Affine {
            base: at as i64 * is[axis],
            strides: is.clone(),
        };
        kernels.extend(copy_kernel(
            ctx,
            "split",
            Slot::Operand(0),
            Slot::Result(j),
            r,
            &src,
            &Affine::contiguous(r),
        )?);
        at += r.get(axis).copied().unwrap_or(0);
    }
    Ok(kernels)
}

/// `[n, c, h, w]` of a rank-4 operand.
fn nchw(ctx: &NodeCtx<'_>) -> Result<[usize; 4], CodegenError> {
    let d = ctx.operand(0).shape.dims();
    <[usize; 4]>::try_from(d).map_err(|_| ctx.error(format!("needs an NCHW operand, got {d:?}")))
}

/// The operand viewed as `view`, permuted by `perm`, written in order.
fn rearrange(
    ctx: &NodeCtx<'_>,
    view: [usize; 6],
    perm: [usize; 6],
) -> Result<Vec<KernelSrc>, CodegenError> {
    if view.iter().product::<usize>() != ctx.operand(0).shape.numel() {
        return Err(ctx.error("blocksize does not divide the operand"));
    }
    let s = Affine::contiguous(&view).strides;
    let dims = perm.map(|p| view[p]);
    let src = Affine {
        base: 0,
        strides: perm.iter().map(|&p| s[p]).collect(),
    };
    copy_kernel(
        ctx,
        ctx.node().op.name(),
        Slot::Operand(0),
        Slot::Result(0),
        &dims,
        &src,
        &Affine::contiguous(&dims),
    )
}

#[cfg(test)]
mod tests;
