//! AffineGrid: the sampling grid of an affine transform, one product of the constant
//! normalized base grid with each batch entry's transposed `theta`.

use crate::builder::{Cx, MAX_ELEMENTS};
use crate::error::ImportError;
use kiln_ir::{DType, Data, Handle, Op, Tensor, Value};

type Outs = Result<Vec<Handle<Value>>, ImportError>;

/// The normalized coordinates of `n` samples along an axis of [-1, 1], as ONNX's
/// reference computes them (`arange` in f64): the extremes themselves with
/// `align_corners`, else the centres of `n` equal cells.
fn coords(n: usize, align_corners: bool) -> Vec<f64> {
    if align_corners {
        if n == 1 {
            return vec![-1.0];
        }
        let step = 2.0 / (n - 1) as f64;
        (0..n).map(|i| -1.0 + i as f64 * step).collect()
    } else {
        let step = 2.0 / n as f64;
        (0..n).map(|i| (-1.0 + step / 2.0) + i as f64 * step).collect()
    }
}

/// AffineGrid → `[1, spatial, r+1]` base points `(x, y[, z], 1)` (x along the last
/// axis) times `theta` transposed (`[N, r+1, r]`), viewed as `[N, spatial..., r]`.
pub(super) fn affine_grid(cx: &mut Cx) -> Outs {
    let theta = cx.input(0)?;
    let size = cx.static_ints(1, "size")?;
    let align = cx.attr_i("align_corners", 0)? != 0;
    let ty = cx.ty(theta);
    let r = size.len().saturating_sub(2);
    if !(r == 2 || r == 3) || size.iter().any(|&d| d <= 0 || d as usize > MAX_ELEMENTS) {
        return Err(cx.err(format!(
            "size {size:?} must be positive [N, C, H, W] or [N, C, D, H, W]"
        )));
    }
    let n = size[0] as usize;
    if ty.shape.dims() != [n, r, r + 1] || !matches!(ty.dtype, DType::F32 | DType::F16) {
        return Err(cx.err(format!(
            "theta must be f32 or f16 [{n}, {r}, {}], got {ty}",
            r + 1
        )));
    }
    let spatial: Vec<usize> = size[2..].iter().map(|&d| d as usize).collect();
    let points: usize = spatial.iter().product();
    if points.saturating_mul(r + 1) > MAX_ELEMENTS {
        return Err(cx.err(format!("a grid of {spatial:?} is too large")));
    }
    // Coordinates per spatial axis; x runs along the last axis.
    let axes: Vec<Vec<f64>> = spatial.iter().map(|&d| coords(d, align)).collect();
    let mut base = Vec::with_capacity(points * (r + 1));
    for p in 0..points {
        let mut rest = p;
        let mut at = vec![0; r];
        for a in (0..r).rev() {
            at[a] = rest % spatial[a];
            rest /= spatial[a];
        }
        // (x, y[, z]): the last spatial axis first.
        for a in (0..r).rev() {
            base.push(axes[a][at[a]]);
        }
        base.push(1.0);
    }
    let data = match ty.dtype {
        DType::F16 => Data::F16(base.into_iter().map(half::f16::from_f64).collect()),
        _ => Data::F32(base.into_iter().map(|v| v as f32).collect()),
    };
    let base = Tensor::new(vec![1, points, r + 1], data).map_err(|e| cx.err(e.to_string()))?;
    let base = cx.constant(base);
    let t = cx.add(
        Op::Transpose {
            perm: vec![0, 2, 1],
        },
        &[theta],
    )?;
    let grid = cx.add(Op::MatMul, &[base, t])?;
    let mut dims = vec![n];
    dims.extend(&spatial);
    dims.push(r);
    Ok(vec![cx.reshape(grid, dims)?])
}
