//! Transposed convolution (N-d, grouped): one sgemm per image and group, then col2im.

use super::conv::{add_bias, check_attrs, Window, OUTSIDE};
use super::matmul::{sgemm, Mat};
use super::{floats, from_floats};
use crate::{ConvTransposeAttrs, Tensor, TensorType};

/// `y = conv_transpose(x, w) + bias`; `w` is `C_in × C_out/group × k...` and the
/// result extent comes from `out` (it already includes `output_padding`).
pub(super) fn conv_transpose(
    a: &ConvTransposeAttrs,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    out: &TensorType,
) -> Result<Tensor, String> {
    let (xs, ws, ys) = (x.shape().dims(), w.shape().dims(), out.shape.dims());
    if xs.len() < 3 || ws.len() != xs.len() || ys.len() != xs.len() {
        return Err(format!(
            "conv_transpose needs x, w and y of equal rank >= 3, got {xs:?}, {ws:?}, {ys:?}"
        ));
    }
    let rank = xs.len() - 2;
    check_attrs(rank, &a.strides, &a.pads, &a.dilations)?;
    let (n, c, g) = (xs[0], xs[1], a.group);
    if g == 0 || ws[0] != c || c % g != 0 || ys[0] != n || ys[1] != ws[1] * g {
        return Err(format!(
            "shapes do not fit group {g}: x {xs:?}, w {ws:?}, y {ys:?}"
        ));
    }
    let (cg, mg, m) = (c / g, ws[1], ys[1]);
    let (in_sp, k_sp, out_sp) = (&xs[2..], &ws[2..], &ys[2..]);
    let (pin, kk, p): (usize, usize, usize) = (
        in_sp.iter().product(),
        k_sp.iter().product(),
        out_sp.iter().product(),
    );
    let (xv, wv) = (floats(x, "x")?, floats(w, "w")?);
    // Input position i, kernel tap k scatter to output coordinate i*stride - pad + k*dilation.
    let taps = Window {
        grid: in_sp,
        kernel: k_sp,
        target: out_sp,
        strides: &a.strides,
        pads: &a.pads,
        dilations: &a.dilations,
    }
    .taps();
    let mut y = vec![0.0f32; n * m * p];
    let mut col = vec![0.0f32; mg * kk * pin];
    for ni in 0..n {
        for gi in 0..g {
            let xg = &xv[(ni * c + gi * cg) * pin..(ni * c + (gi + 1) * cg) * pin];
            let wg = &wv[gi * cg * mg * kk..(gi + 1) * cg * mg * kk];
            // col[(co, k), i] = sum_ci w[ci, co, k] * x[ci, i]
            sgemm(
                mg * kk,
                cg,
                pin,
                Mat::transposed(wg, mg * kk),
                Mat::rows(xg, pin),
                &mut col,
            )?;
            let yg = &mut y[(ni * m + gi * mg) * p..(ni * m + (gi + 1) * mg) * p];
            for co in 0..mg {
                let yc = &mut yg[co * p..(co + 1) * p];
                for (kp, offs) in taps.iter().enumerate() {
                    let row = &col[(co * kk + kp) * pin..(co * kk + kp + 1) * pin];
                    for (&v, &o) in row.iter().zip(offs) {
                        if o != OUTSIDE {
                            yc[o] += v;
                        }
                    }
                }
            }
        }
    }
    add_bias(&mut y, bias, m, p)?;
    from_floats(out, y)
}
