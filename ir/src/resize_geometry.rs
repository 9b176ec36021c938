//! Resize geometry shared by the CPU reference and the GPU lowering: for each output
//! coordinate of one axis, the input indices and weights it blends, computed in f64
//! exactly as ONNX's reference `op_resize.py` does.

use crate::{CoordTransform, NearestMode, ResizeAttrs, ResizeMode};

/// Per output coordinate of one axis: `(index, weight)` taps, or `None` where
/// tf_crop_and_resize maps it outside the input (the extrapolation value).
pub type AxisTaps = Vec<Option<Vec<(usize, f64)>>>;

/// The taps of every output coordinate of an axis resized from `iw` to `ow`.
pub fn axis_taps(
    a: &ResizeAttrs,
    iw: usize,
    ow: usize,
    scale: f64,
    roi: Option<(f64, f64)>,
) -> AxisTaps {
    (0..ow)
        .map(|y| taps_for(a, y, iw, ow, scale, roi))
        .collect()
}

/// The scale as the reference sees it: when the stored f32 scale is exactly what
/// `out / in` rounds to, the sizes were given and the reference uses `out / in` in f64.
pub fn axis_scale(scale: f32, out: usize, input: usize) -> f64 {
    let exact = out as f64 / input as f64;
    if input > 0 && exact as f32 == scale {
        exact
    } else {
        scale as f64
    }
}

/// `math.isclose` with its default relative tolerance.
pub fn is_close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
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
