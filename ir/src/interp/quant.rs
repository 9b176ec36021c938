//! Quantization: `Quantize`, `Dequantize` (per tensor, per axis, blocked; integer and
//! minifloat types) and the exact integer products `MatMulInteger` and `ConvInteger`.

use super::conv::{Geometry, OUTSIDE};
use super::matmul::Product;
use super::tensor;
use crate::minifloat::Format;
use crate::quant::QuantLayout;
use crate::{ConvAttrs, DType, Data, Tensor, TensorType};
use half::f16;

/// The scale (as f32) and zero point (as f64) of every element of `x`; each
/// broadcasts on its own unless blocked.
fn params(
    x: &Tensor,
    scale: &Tensor,
    zero: &Tensor,
    axis: usize,
    block: usize,
) -> Result<(Vec<f32>, Vec<f64>), String> {
    let at = |t: &Tensor| -> Result<Vec<f64>, String> {
        let layout = QuantLayout::of(x.shape(), t.shape(), axis, block)?;
        let v = t.to_f64_vec();
        Ok(layout
            .scale_indices(x.shape(), t.shape())
            .into_iter()
            .map(|i| v[i])
            .collect())
    };
    Ok((
        at(scale)?.into_iter().map(|s| s as f32).collect(),
        at(zero)?,
    ))
}

/// `saturate(round_half_even(x / scale) + zero)` in `out`'s dtype (see `Op::Quantize`).
pub(super) fn quantize(
    x: &Tensor,
    scale: &Tensor,
    zero: &Tensor,
    (axis, block, saturate): (usize, usize, bool),
    out: &TensorType,
) -> Result<Tensor, String> {
    let (s, z) = params(x, scale, zero, axis, block)?;
    let q = x
        .to_f64_vec()
        .into_iter()
        .zip(&s)
        .map(|(v, &s)| v as f32 / s);
    let data = match (out.dtype.int_range(), Format::of(out.dtype)) {
        (Some((lo, hi)), _) => {
            // Rounded in f32 (exact), offset in f64 (exact), then clamped; NaN gives 0.
            let v = q.zip(&z).map(|(q, &z)| {
                let r = q.round_ties_even() as f64 + z;
                if r.is_nan() {
                    0
                } else {
                    r.clamp(lo as f64, hi as f64) as i64
                }
            });
            Data::from_i64s(out.dtype, v)
        }
        (None, Some(f)) => {
            // A minifloat's zero point is zero (`+ z` keeps -0.0 as ONNX's does).
            let bits = q.zip(&z).map(|(q, &z)| f.encode(q + z as f32, saturate));
            Data::minifloats(out.dtype, bits.collect())
        }
        (None, None) => None,
    }
    .ok_or_else(|| format!("cannot quantize to {}", out.dtype))?;
    tensor(out, data)
}

/// `(x - zero) * scale` in f32, rounded to `out`'s dtype (see `Op::Dequantize`).
pub(super) fn dequantize(
    x: &Tensor,
    scale: &Tensor,
    zero: &Tensor,
    (axis, block): (usize, usize),
    out: &TensorType,
) -> Result<Tensor, String> {
    let (s, z) = params(x, scale, zero, axis, block)?;
    let v: Vec<f32> = x
        .to_f64_vec()
        .into_iter()
        .zip(s.iter().zip(&z))
        .map(|(v, (&s, &z))| (v as f32 - z as f32) * s)
        .collect();
    let data = match out.dtype {
        DType::F32 => Data::F32(v),
        DType::F16 => Data::F16(v.into_iter().map(f16::from_f32).collect()),
        d => return Err(format!("cannot dequantize to {d}")),
    };
    tensor(out, data)
}

/// Integers of `t` as i64.
fn ints(t: &Tensor, what: &str) -> Result<Vec<i64>, String> {
    t.to_i64_vec()
        .ok_or_else(|| format!("{what} must be an integer tensor, got {}", t.dtype()))
}

/// `(a - a_zero) · (b - b_zero)` accumulated exactly, wrapped to i32.
pub(super) fn matmul_integer(
    a: &Tensor,
    b: &Tensor,
    a_zero: &Tensor,
    b_zero: &Tensor,
    out: &TensorType,
) -> Result<Tensor, String> {
    let p = Product::of(a, b, out)?;
    let (m, k, n) = (p.m, p.k, p.n);
    let (av, bv) = (ints(a, "a")?, ints(b, "b")?);
    let (az, bz) = (ints(a_zero, "a_zero")?, ints(b_zero, "b_zero")?);
    let zero = |z: &[i64], i: usize| if z.len() == 1 { z[0] } else { z[i] };
    let mut c = Vec::with_capacity(p.batches.len() * m * n);
    for &(ia, ib) in &p.batches {
        let (am, bm) = (&av[ia * m * k..][..m * k], &bv[ib * k * n..][..k * n]);
        for i in 0..m {
            for j in 0..n {
                let dot: i64 = (0..k)
                    .map(|l| (am[i * k + l] - zero(&az, i)) * (bm[l * n + j] - zero(&bz, j)))
                    .sum();
                c.push(dot);
            }
        }
    }
    tensor(
        out,
        Data::from_i64s(DType::I32, c.into_iter()).expect("i32"),
    )
}

/// `(x - x_zero) * (w - w_zero)` convolved exactly (padding contributes nothing),
/// wrapped to i32.
pub(super) fn conv_integer(
    a: &ConvAttrs,
    [x, w, x_zero, w_zero]: [&Tensor; 4],
    out: &TensorType,
) -> Result<Tensor, String> {
    let geo = Geometry::of(a, x, w, out)?;
    let taps = geo.taps(a);
    let Geometry {
        n,
        c,
        m,
        cg,
        mg,
        pin,
        kk,
        p,
        ..
    } = geo;
    let (xv, wv) = (ints(x, "x")?, ints(w, "w")?);
    let (xz, wz) = (ints(x_zero, "x_zero")?[0], ints(w_zero, "w_zero")?);
    let mut y = vec![0i64; n * m * p];
    for ni in 0..n {
        for mi in 0..m {
            let gi = mi / mg;
            let wzm = if wz.len() == 1 { wz[0] } else { wz[mi] };
            let yrow = &mut y[(ni * m + mi) * p..][..p];
            for ci in 0..cg {
                let xc = &xv[(ni * c + gi * cg + ci) * pin..][..pin];
                for (kp, offs) in taps.iter().enumerate() {
                    let wk = wv[(mi * cg + ci) * kk + kp] - wzm;
                    for (acc, &o) in yrow.iter_mut().zip(offs) {
                        if o != OUTSIDE {
                            *acc += (xc[o] - xz) * wk;
                        }
                    }
                }
            }
        }
    }
    tensor(
        out,
        Data::from_i64s(DType::I32, y.into_iter()).expect("i32"),
    )
}
