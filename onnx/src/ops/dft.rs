//! DFT: a matmul of the signal (its transform axis and real/imaginary pair flattened
//! into rows) against an import-time constant matrix of cosines and sines, computed in
//! f64 and stored in f32. The DFT length, axis and direction must be known at import.

use crate::builder::Cx;
use crate::error::ImportError;
use kiln_ir::{DType, Data, Handle, Op, Tensor, Value};
use std::f64::consts::PI;

type Outs = Result<Vec<Handle<Value>>, ImportError>;

/// The most entries a transform matrix may have (it becomes a constant).
const MAX_MATRIX: usize = 1 << 26;

/// Which transform: the sign of the exponent, the scaling, and which bins are read or
/// written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// `y[k] = Σ_n x[n] e^{-2πikn/N}`, all `N` bins (complex result).
    Forward,
    /// The forward transform's first `⌊N/2⌋ + 1` bins (complex result).
    ForwardOnesided,
    /// `x[n] = 1/N Σ_k y[k] e^{2πikn/N}`, all `N` samples (complex result).
    Inverse,
    /// The inverse of a one-sided spectrum of a real signal: the first `⌊N/2⌋ + 1`
    /// bins are read (the rest are their conjugates), `N` real samples are written.
    InverseOnesided,
}

/// ONNX DFT (opset 17: `axis` an attribute defaulting to 1; opset 20: an operand
/// defaulting to -2).
pub(super) fn dft(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let rank = cx.rank(x);
    let axis = if cx.opset >= 20 {
        match cx.opt_static_ints(2, "axis")? {
            Some(v) => match v[..] {
                [a] => a,
                _ => return Err(cx.err("axis must be a scalar")),
            },
            None => -2,
        }
    } else {
        cx.attr_i("axis", 1)?
    };
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if rank < 2 || !(0..r - 1).contains(&a) {
        return Err(cx.err(format!(
            "axis {axis} must be in [-{r}, -2] or [0, {}] for an input of rank {rank}",
            r - 2
        )));
    }
    let axis = a as usize;
    let inverse = cx.attr_i("inverse", 0)? != 0;
    let onesided = match cx.attr_i("onesided", 0)? {
        0 => false,
        1 => true,
        v => return Err(cx.err(format!("onesided must be 0 or 1, got {v}"))),
    };
    let mode = match (inverse, onesided) {
        (false, false) => Mode::Forward,
        (false, true) => Mode::ForwardOnesided,
        (true, false) => Mode::Inverse,
        (true, true) => Mode::InverseOnesided,
    };
    let len = cx.dims(x)[axis];
    let n = match cx.opt_static_ints(1, "dft_length")? {
        Some(v) => match v[..] {
            [n] if n >= 1 => n as usize,
            _ => return Err(cx.err(format!("dft_length must be a positive scalar, got {v:?}"))),
        },
        None if mode == Mode::InverseOnesided => 2 * len.saturating_sub(1),
        None => len,
    };
    if n == 0 {
        return Err(cx.err("the DFT length is 0"));
    }
    Ok(vec![transform(cx, x, axis, n, mode)?])
}

/// The transform of `x` (`[.., len, .., c]`, `c` 1 for real or 2 for complex values)
/// along `axis` with length `n` (the signal is cut to `n` samples or zero-padded to
/// them). The result has `x`'s dtype and shape, with the transformed axis the output
/// length of `mode` and the last axis 2 (1 for [`Mode::InverseOnesided`]). Computed in
/// f32.
pub(super) fn transform(
    cx: &mut Cx,
    x: Handle<Value>,
    axis: usize,
    n: usize,
    mode: Mode,
) -> Result<Handle<Value>, ImportError> {
    let ty = cx.ty(x);
    if !ty.dtype.is_float() {
        return Err(cx.err(format!(
            "the signal must be a float tensor, got {}",
            ty.dtype
        )));
    }
    let dims = cx.dims(x);
    let rank = dims.len();
    let c = dims[rank - 1];
    if c != 1 && c != 2 {
        return Err(cx.err(format!(
            "the last axis holds real (1) or real and imaginary (2) parts, got {c}"
        )));
    }
    let half = n / 2 + 1;
    // Samples read (zero padding adds nothing to the sums) and bins written.
    let (read, write, c_out) = match mode {
        Mode::Forward | Mode::Inverse => (n, n, 2),
        Mode::ForwardOnesided => (n, half, 2),
        Mode::InverseOnesided => (half, n, 1),
    };
    let read = read.min(dims[axis]);
    if read == 0 {
        return Err(cx.err(format!("the signal has no samples along axis {axis}")));
    }
    let rows = read * c;
    let cols = write.saturating_mul(c_out);
    if rows.checked_mul(cols).is_none_or(|e| e > MAX_MATRIX) {
        return Err(cx.err(format!(
            "a DFT of length {n} over {read} samples needs a {rows}×{cols} matrix; kiln \
             builds at most {MAX_MATRIX} entries"
        )));
    }
    let w = matrix(n, read, c, write, mode);
    let w = Tensor::new(vec![rows, cols], Data::F32(w)).map_err(|e| cx.err(e.to_string()))?;
    let w = cx.constant(w);

    let mut v = cx.slice_axis(x, axis, 0, read)?;
    v = cx.cast(v, DType::F32)?;
    // Bring the transform axis next to the complex axis, then flatten both into rows.
    let mut perm: Vec<usize> = (0..rank - 1).filter(|&i| i != axis).collect();
    perm.extend([axis, rank - 1]);
    let moved = perm.iter().enumerate().any(|(i, &p)| i != p);
    if moved {
        v = cx.add(Op::Transpose { perm: perm.clone() }, &[v])?;
    }
    let outer: Vec<usize> = perm[..rank - 2].iter().map(|&i| dims[i]).collect();
    let m: usize = outer.iter().product();
    v = cx.reshape(v, vec![m, rows])?;
    v = cx.add(Op::MatMul, &[v, w])?;
    let mut out = outer;
    out.extend([write, c_out]);
    v = cx.reshape(v, out)?;
    if moved {
        let mut inv = vec![0; rank];
        for (i, &p) in perm.iter().enumerate() {
            inv[p] = i;
        }
        v = cx.add(Op::Transpose { perm: inv }, &[v])?;
    }
    cx.cast(v, ty.dtype)
}

/// The `read·c × write·c_out` matrix taking row `j·c + p` (sample `j`, real part `p =
/// 0` or imaginary `p = 1`) to column `k·c_out + q`, in f64 rounded to f32.
fn matrix(n: usize, read: usize, c: usize, write: usize, mode: Mode) -> Vec<f32> {
    let c_out = if mode == Mode::InverseOnesided { 1 } else { 2 };
    let mut w = vec![0f32; read * c * write * c_out];
    let cols = write * c_out;
    for j in 0..read {
        for k in 0..write {
            // Reduced modulo n so the angle stays in [0, 2π).
            let theta = 2.0 * PI * ((j * k) % n) as f64 / n as f64;
            let (s, co) = theta.sin_cos();
            // (re, im) of the output for a unit real input and a unit imaginary input.
            let (from_re, from_im) = match mode {
                Mode::Forward | Mode::ForwardOnesided => ((co, -s), (s, co)),
                Mode::Inverse => {
                    let f = 1.0 / n as f64;
                    ((co * f, s * f), (-s * f, co * f))
                }
                Mode::InverseOnesided => {
                    // Bin j stands for itself and (but for 0 and n/2) its conjugate n - j.
                    let twice = j != 0 && 2 * j != n;
                    let f = if twice { 2.0 } else { 1.0 } / n as f64;
                    ((co * f, 0.0), (-s * f, 0.0))
                }
            };
            let row = j * c;
            let col = k * c_out;
            w[row * cols + col] = from_re.0 as f32;
            if c_out == 2 {
                w[row * cols + col + 1] = from_re.1 as f32;
            }
            if c == 2 {
                w[(row + 1) * cols + col] = from_im.0 as f32;
                if c_out == 2 {
                    w[(row + 1) * cols + col + 1] = from_im.1 as f32;
                }
            }
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The transform computed directly from its definition in f64, one sample at a
    /// time (`x` as (re, im) pairs of length `len`).
    fn direct(x: &[(f64, f64)], n: usize, mode: Mode) -> Vec<(f64, f64)> {
        let take = |k: usize| x.get(k).copied().unwrap_or((0.0, 0.0));
        let half = n / 2 + 1;
        let full: Vec<(f64, f64)> = match mode {
            // Rebuild the Hermitian spectrum from the bins read.
            Mode::InverseOnesided => (0..n)
                .map(|k| {
                    if k < half {
                        let (re, im) = take(k);
                        // Bins 0 and n/2 of a real signal's spectrum are real.
                        if k == 0 || 2 * k == n {
                            (re, 0.0)
                        } else {
                            (re, im)
                        }
                    } else {
                        let (re, im) = take(n - k);
                        (re, -im)
                    }
                })
                .collect(),
            _ => (0..n).map(take).collect(),
        };
        let sign = match mode {
            Mode::Forward | Mode::ForwardOnesided => -1.0,
            _ => 1.0,
        };
        let scale = if sign < 0.0 { 1.0 } else { 1.0 / n as f64 };
        let count = if mode == Mode::ForwardOnesided {
            half
        } else {
            n
        };
        (0..count)
            .map(|k| {
                let mut acc = (0.0, 0.0);
                for (j, &(re, im)) in full.iter().enumerate() {
                    let t = sign * 2.0 * PI * (j * k) as f64 / n as f64;
                    acc.0 += re * t.cos() - im * t.sin();
                    acc.1 += re * t.sin() + im * t.cos();
                }
                (acc.0 * scale, acc.1 * scale)
            })
            .collect()
    }

    /// Applies [`matrix`] to one signal.
    fn apply(x: &[(f64, f64)], c: usize, n: usize, mode: Mode) -> Vec<(f64, f64)> {
        let half = n / 2 + 1;
        let (read, write) = match mode {
            Mode::Forward | Mode::Inverse => (n, n),
            Mode::ForwardOnesided => (n, half),
            Mode::InverseOnesided => (half, n),
        };
        let read = read.min(x.len());
        let c_out = if mode == Mode::InverseOnesided { 1 } else { 2 };
        let w = matrix(n, read, c, write, mode);
        let rows: Vec<f64> = x[..read]
            .iter()
            .flat_map(|&(re, im)| if c == 2 { vec![re, im] } else { vec![re] })
            .collect();
        (0..write)
            .map(|k| {
                let col = |q: usize| -> f64 {
                    rows.iter()
                        .enumerate()
                        .map(|(r, v)| v * w[r * write * c_out + k * c_out + q] as f64)
                        .sum()
                };
                (col(0), if c_out == 2 { col(1) } else { 0.0 })
            })
            .collect()
    }

    #[test]
    fn matrices_match_the_definition() {
        let signal = |len: usize, complex: bool| -> Vec<(f64, f64)> {
            (0..len)
                .map(|i| {
                    let re = ((i * 7 + 3) % 11) as f64 - 5.0;
                    let im = if complex {
                        ((i * 5 + 1) % 9) as f64 - 4.0
                    } else {
                        0.0
                    };
                    (re, im)
                })
                .collect()
        };
        for mode in [
            Mode::Forward,
            Mode::ForwardOnesided,
            Mode::Inverse,
            Mode::InverseOnesided,
        ] {
            for (len, n) in [(8, 8), (7, 7), (5, 9), (9, 6), (1, 1), (6, 10), (6, 11)] {
                for c in [1, 2] {
                    let x = signal(len, c == 2);
                    let want = direct(&x, n, mode);
                    let got = apply(&x, c, n, mode);
                    let real_out = mode == Mode::InverseOnesided;
                    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                        let ok = (g.0 - w.0).abs() < 1e-4 && (real_out || (g.1 - w.1).abs() < 1e-4);
                        assert!(ok, "{mode:?} len {len} n {n} c {c} bin {k}: {g:?} vs {w:?}");
                    }
                    assert_eq!(got.len(), want.len(), "{mode:?} len {len} n {n}");
                }
            }
        }
    }
}
