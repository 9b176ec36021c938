//! Resize in every mode (nearest, linear, cubic, antialiased linear/cubic) and
//! coordinate transform, following ONNX's reference `op_resize.py`: separable, one
//! axis at a time, in `f64`.

use super::elementwise::from_f64;
use super::tensor;
use crate::{CoordTransform, NearestMode, ResizeAttrs, ResizeMode, Tensor, TensorType};

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

/// The scale as the reference sees it: when the stored f32 scale is exactly what
/// `out / in` rounds to, the sizes were given and the reference uses `out / in` in f64.
fn axis_scale(scale: f32, out: usize, input: usize) -> f64 {
    let exact = out as f64 / input as f64;
    if input > 0 && exact as f32 == scale {
        exact
    } else {
        scale as f64
    }
}

/// `math.isclose` with its default relative tolerance.
fn is_close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
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
    let taps: Vec<Option<Vec<(usize, f64)>>> = (0..ow)
        .map(|y| taps_for(a, y, iw, ow, scale, roi))
        .collect();
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

/// The input coordinate output coordinate `y` maps to, and whether it lies outside
/// the input (tf_crop_and_resize only).
fn source_coord(
    a: &ResizeAttrs,
    y: f64,
    iw: usize,
    ow: usize,
    scale: f64,
    roi: Option<(f64, f64)>,
) -> (f64, bool) {
    let iw_f = iw as f64;
    let out_w = scale * iw_f;
    match a.coord {
        CoordTransform::AlignCorners => (
            if out_w == 1.0 {
                0.0
            } else {
                y * (iw_f - 1.0) / (out_w - 1.0)
            },
            false,
        ),
        CoordTransform::Asymmetric => (y / scale, false),
        CoordTransform::TfCropAndResize => {
            let (lo, hi) = roi.unwrap_or((0.0, 1.0));
            let x = if out_w == 1.0 {
                (hi - lo) * (iw_f - 1.0) / 2.0
            } else {
                y * (hi - lo) * (iw_f - 1.0) / (out_w - 1.0)
            };
            let x = x + lo * (iw_f - 1.0);
            (x, x < 0.0 || x > iw_f - 1.0)
        }
        CoordTransform::PytorchHalfPixel => (
            if out_w == 1.0 {
                -0.5
            } else {
                (y + 0.5) / scale - 0.5
            },
            false,
        ),
        CoordTransform::HalfPixel => ((y + 0.5) / scale - 0.5, false),
        CoordTransform::HalfPixelSymmetric => {
            let adjustment = ow as f64 / out_w;
            let center = iw_f / 2.0;
            let offset = center * (1.0 - adjustment);
            (offset + (y + 0.5) / scale - 0.5, false)
        }
    }
}

/// Neighbour indices (clamped into the input) and weights for output coordinate `y`.
fn taps_for(
    a: &ResizeAttrs,
    y: usize,
    iw: usize,
    ow: usize,
    scale: f64,
    roi: Option<(f64, f64)>,
) -> Option<Vec<(usize, f64)>> {
    let (x, outside) = source_coord(a, y as f64, iw, ow, scale, roi);
    if outside {
        return None;
    }
    // ratio is in (0, 1]: an integral coordinate prefers the pixel on its left.
    let ratio = if x == x.floor() { 1.0 } else { x - x.floor() };
    let mut coeffs = coefficients(a, ratio, scale);
    let n = coeffs.len() as i64;
    let pad = (n + 1) / 2;
    let xp = x + pad as f64;
    let p = xp.floor();
    let frac = xp - p;
    let offset = if n % 2 == 0 {
        if frac == 0.0 {
            -(n / 2)
        } else {
            -(n / 2) + 1
        }
    } else {
        let base = -((n - 1) / 2);
        if frac <= 0.5 {
            base
        } else {
            base + 1
        }
    };
    let start = p as i64 + offset - pad;
    let idx: Vec<i64> = (0..n).map(|i| start + i).collect();
    if a.exclude_outside {
        for (c, &j) in coeffs.iter_mut().zip(&idx) {
            if j < 0 || j >= iw as i64 {
                *c = 0.0;
            }
        }
        let sum: f64 = coeffs.iter().sum();
        let sum = if sum == 0.0 { 1.0 } else { sum };
        coeffs.iter_mut().for_each(|c| *c /= sum);
    }
    Some(
        idx.into_iter()
            .map(|j| j.clamp(0, iw as i64 - 1) as usize)
            .zip(coeffs)
            .collect(),
    )
}

/// Interpolation weights for the neighbours of a coordinate with fractional part `ratio`.
fn coefficients(a: &ResizeAttrs, ratio: f64, scale: f64) -> Vec<f64> {
    match a.mode {
        ResizeMode::Nearest => {
            let take_right = if ratio == 1.0 {
                true
            } else {
                match a.nearest {
                    NearestMode::RoundPreferFloor => ratio > 0.5,
                    NearestMode::RoundPreferCeil => ratio >= 0.5,
                    NearestMode::Floor => false,
                    NearestMode::Ceil => true,
                }
            };
            if take_right {
                vec![0.0, 1.0]
            } else {
                vec![1.0, 0.0]
            }
        }
        ResizeMode::Linear if a.antialias => {
            let s = scale.min(1.0);
            let start = (-1.0 / s).floor() as i64 + 1;
            let footprint = 2 - 2 * start;
            let c: Vec<f64> = (start..start + footprint)
                .map(|i| (1.0 - ((i as f64 - ratio) * s).abs()).clamp(0.0, 1.0))
                .collect();
            normalized(c)
        }
        ResizeMode::Linear => vec![1.0 - ratio, ratio],
        ResizeMode::Cubic if a.antialias => {
            let s = scale.min(1.0);
            let a_ = a.cubic_coeff_a as f64;
            let start = (-2.0 / s).floor() as i64 + 1;
            let end = 2 - start;
            normalized(
                (start..end)
                    .map(|i| cubic_kernel(s * (i as f64 - ratio), a_))
                    .collect(),
            )
        }
        ResizeMode::Cubic => {
            let k = a.cubic_coeff_a as f64;
            let r = ratio;
            vec![
                ((k * (r + 1.0) - 5.0 * k) * (r + 1.0) + 8.0 * k) * (r + 1.0) - 4.0 * k,
                ((k + 2.0) * r - (k + 3.0)) * r * r + 1.0,
                ((k + 2.0) * (1.0 - r) - (k + 3.0)) * (1.0 - r) * (1.0 - r) + 1.0,
                ((k * ((1.0 - r) + 1.0) - 5.0 * k) * ((1.0 - r) + 1.0) + 8.0 * k)
                    * ((1.0 - r) + 1.0)
                    - 4.0 * k,
            ]
        }
    }
}

/// The cubic convolution kernel with parameter `a`.
fn cubic_kernel(x: f64, a: f64) -> f64 {
    let x = x.abs();
    let (x2, x3) = (x * x, x * x * x);
    if x <= 1.0 {
        (a + 2.0) * x3 - (a + 3.0) * x2 + 1.0
    } else if x < 2.0 {
        a * x3 - 5.0 * a * x2 + 8.0 * a * x - 4.0 * a
    } else {
        0.0
    }
}

fn normalized(c: Vec<f64>) -> Vec<f64> {
    let sum: f64 = c.iter().sum();
    c.into_iter().map(|v| v / sum).collect()
}
