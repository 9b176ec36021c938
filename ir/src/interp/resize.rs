//! Resize in every mode (nearest, linear, cubic, antialiased linear/cubic) and
//! coordinate transform, following ONNX's reference `op_resize.py`: separable, one
//! axis at a time, in `f64`.

use super::elementwise::from_f64;
use super::tensor;
use crate::resize_geometry::{axis_scale, axis_taps, is_close};
use crate::{CoordTransform, ResizeAttrs, Tensor, TensorType};

/// Resizes `x` to `attrs.sizes`. Integer results round half to even and saturate.
pub(super) fn resize(a: &ResizeAttrs, x: &Tensor, out: &TensorType) -> Result<Tensor, String> {
    let rank = x.shape().rank();
    if a.sizes.len() != rank || a.scales.len() != rank || out.shape.dims() != a.sizes.as_slice() {
        return Err(format!(
            "sizes {:?} / scales {:?} do not fit {} → {}",
            a.sizes,
            a.scales,
            x.ty(),
            out
        ));
    }
    let roi = match a.roi.len() {
        0 => None,
        n if n == 2 * rank => Some(&a.roi),
        n => return Err(format!("roi has {n} entries, expected {}", 2 * rank)),
    };
    if a.coord == CoordTransform::TfCropAndResize && roi.is_none() {
        return Err("tf_crop_and_resize needs a roi".into());
    }
    let mut dims = x.shape().dims().to_vec();
    let mut data = x.data().to_f64_vec();
    for axis in 0..rank {
        let scale = axis_scale(a.scales[axis], a.sizes[axis], dims[axis]);
        let axis_roi = roi.map(|r| (r[axis] as f64, r[axis + rank] as f64));
        let identity = is_close(scale, 1.0)
            && a.sizes[axis] == dims[axis]
            && axis_roi.is_none_or(|(lo, hi)| is_close(lo, 0.0) && is_close(hi, 1.0));
        if identity {
            continue;
        }
        if dims[axis] == 0 && a.sizes[axis] > 0 {
            return Err(format!("cannot resize empty axis {axis}"));
        }
        data = resize_axis(a, &data, &dims, axis, scale, axis_roi);
        dims[axis] = a.sizes[axis];
    }
    if out.dtype.is_int() {
        data.iter_mut().for_each(|v| *v = v.round_ties_even());
    }
    tensor(out, from_f64(out.dtype, data))
}

/// Resamples one axis of a row-major buffer of shape `dims` to `a.sizes[axis]`.
fn resize_axis(
    a: &ResizeAttrs,
    data: &[f64],
    dims: &[usize],
    axis: usize,
    scale: f64,
    roi: Option<(f64, f64)>,
) -> Vec<f64> {
    let (outer, iw, inner): (usize, usize, usize) = (
        dims[..axis].iter().product(),
        dims[axis],
        dims[axis + 1..].iter().product(),
    );
    let ow = a.sizes[axis];
    // Per output coordinate: neighbour indices and weights, or None when extrapolated.
    let taps = axis_taps(a, iw, ow, scale, roi);
    let mut res = vec![0.0; outer * ow * inner];
    for o in 0..outer {
        for (y, t) in taps.iter().enumerate() {
            let dst = &mut res[(o * ow + y) * inner..(o * ow + y + 1) * inner];
            match t {
                None => dst.fill(a.extrapolation_value as f64),
                Some(t) => {
                    for (i, d) in dst.iter_mut().enumerate() {
                        *d = t
                            .iter()
                            .map(|&(j, c)| c * data[(o * iw + j) * inner + i])
                            .sum();
                    }
                }
            }
        }
    }
    res
}
