//! Convolution (N-d, grouped, NCHW): im2col per image and group, then one sgemm.

use super::index::strides;
use super::matmul::{sgemm, Mat};
use super::{floats, from_floats};
use crate::{ConvAttrs, Tensor, TensorType};

/// Marks a kernel tap that falls into padding.
pub(super) const OUTSIDE: usize = usize::MAX;

/// Geometry of a sliding window: for grid position `g` and kernel position `k` on
/// spatial axis `a`, the target coordinate is `g * stride - pad + k * dilation`.
pub(super) struct Window<'a> {
    pub grid: &'a [usize],
    pub kernel: &'a [usize],
    pub target: &'a [usize],
    pub strides: &'a [usize],
    pub pads: &'a [usize],
    pub dilations: &'a [usize],
}

impl Window<'_> {
    /// For each kernel position (row-major), for each grid position (row-major), the
    /// row-major offset of the target element it touches, or [`OUTSIDE`].
    pub fn taps(&self) -> Vec<Vec<usize>> {
        let rank = self.grid.len();
        let tstrides = strides(self.target);
        let kernel_count: usize = self.kernel.iter().product();
        let grid_count: usize = self.grid.iter().product();
        let mut kidx = vec![0usize; rank];
        let mut all = Vec::with_capacity(kernel_count);
        for _ in 0..kernel_count {
            // Per axis: the target offset contributed by each grid coordinate.
            let per_axis: Vec<Vec<usize>> = (0..rank)
                .map(|a| {
                    (0..self.grid[a])
                        .map(|g| {
                            let t = (g * self.strides[a] + kidx[a] * self.dilations[a]) as i64
                                - self.pads[a] as i64;
                            if t < 0 || t >= self.target[a] as i64 {
                                OUTSIDE
                            } else {
                                t as usize * tstrides[a]
                            }
                        })
                        .collect()
                })
                .collect();
            let mut offs = Vec::with_capacity(grid_count);
            let mut gidx = vec![0usize; rank];
            for _ in 0..grid_count {
                let mut off = 0;
                for a in 0..rank {
                    let o = per_axis[a][gidx[a]];
                    if o == OUTSIDE {
                        off = OUTSIDE;
                        break;
                    }
                    off += o;
                }
                offs.push(off);
                advance(&mut gidx, self.grid);
            }
            all.push(offs);
            advance(&mut kidx, self.kernel);
        }
        all
    }
}

/// Steps a row-major multi-index; wraps to all zeros after the last index.
pub(super) fn advance(idx: &mut [usize], dims: &[usize]) {
    for a in (0..idx.len()).rev() {
        idx[a] += 1;
        if idx[a] < dims[a] {
            return;
        }
        idx[a] = 0;
    }
}

/// Checks that the per-axis attribute lists fit a spatial rank.
pub(super) fn check_attrs(
    rank: usize,
    strides: &[usize],
    pads: &[usize],
    dilations: &[usize],
) -> Result<(), String> {
    if strides.len() != rank || dilations.len() != rank || pads.len() != 2 * rank {
        return Err(format!(
            "attributes do not fit {rank} spatial axes: strides {strides:?}, pads {pads:?}, dilations {dilations:?}"
        ));
    }
    if strides.contains(&0) || dilations.contains(&0) {
        return Err("strides and dilations must be positive".into());
    }
    Ok(())
}

/// Adds `bias[c]` to every element of channel `c` of an `N × C × spatial` buffer.
pub(super) fn add_bias(
    y: &mut [f32],
    bias: Option<&Tensor>,
    channels: usize,
    spatial: usize,
) -> Result<(), String> {
    let Some(b) = bias else { return Ok(()) };
    let b = floats(b, "bias")?;
    if b.len() != channels {
        return Err(format!(
            "bias has {} elements, expected {channels}",
            b.len()
        ));
    }
    for (i, chunk) in y.chunks_mut(spatial.max(1)).enumerate() {
        let v = b[i % channels];
        chunk.iter_mut().for_each(|e| *e += v);
    }
    Ok(())
}

/// The extents of a convolution of `x` by `w` into `out`, checked: images, channels
/// (in, out, per group), spatial dims and their element counts.
pub(super) struct Geometry<'a> {
    pub n: usize,
    pub c: usize,
    pub m: usize,
    pub g: usize,
    pub cg: usize,
    pub mg: usize,
    pub in_sp: &'a [usize],
    pub k_sp: &'a [usize],
    pub out_sp: &'a [usize],
    /// Elements per input channel, per kernel, per output channel.
    pub pin: usize,
    pub kk: usize,
    pub p: usize,
}

impl<'a> Geometry<'a> {
    pub fn of(
        a: &ConvAttrs,
        x: &'a Tensor,
        w: &'a Tensor,
        out: &'a TensorType,
    ) -> Result<Geometry<'a>, String> {
        let (xs, ws, ys) = (x.shape().dims(), w.shape().dims(), out.shape.dims());
        if xs.len() < 3 || ws.len() != xs.len() || ys.len() != xs.len() {
            return Err(format!(
                "conv needs x, w and y of equal rank >= 3, got {xs:?}, {ws:?}, {ys:?}"
            ));
        }
        check_attrs(xs.len() - 2, &a.strides, &a.pads, &a.dilations)?;
        let (n, c, m, g) = (xs[0], xs[1], ws[0], a.group);
        if g == 0 || c % g != 0 || m % g != 0 || ws[1] * g != c || ys[0] != n || ys[1] != m {
            return Err(format!(
                "shapes do not fit group {g}: x {xs:?}, w {ws:?}, y {ys:?}"
            ));
        }
        let (in_sp, k_sp, out_sp) = (&xs[2..], &ws[2..], &ys[2..]);
        Ok(Geometry {
            n,
            c,
            m,
            g,
            cg: c / g,
            mg: m / g,
            in_sp,
            k_sp,
            out_sp,
            pin: in_sp.iter().product(),
            kk: k_sp.iter().product(),
            p: out_sp.iter().product(),
        })
    }

    /// Per kernel position, the input offset each output position reads (or
    /// [`OUTSIDE`], in the padding).
    pub fn taps(&self, a: &ConvAttrs) -> Vec<Vec<usize>> {
        Window {
            grid: self.out_sp,
            kernel: self.k_sp,
            target: self.in_sp,
            strides: &a.strides,
            pads: &a.pads,
            dilations: &a.dilations,
        }
        .taps()
    }
}

/// `y = conv(x, w) + bias`.
pub(super) fn conv(
    a: &ConvAttrs,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    out: &TensorType,
) -> Result<Tensor, String> {
    let geo = Geometry::of(a, x, w, out)?;
    let Geometry {
        n,
        c,
        m,
        g,
        cg,
        mg,
        pin,
        kk,
        p,
        ..
    } = geo;
    let (xv, wv) = (floats(x, "x")?, floats(w, "w")?);
    let pointwise =
        kk == 1 && a.strides.iter().all(|&s| s == 1) && a.pads.iter().all(|&q| q == 0) && pin == p;
    let taps = if pointwise { Vec::new() } else { geo.taps(a) };
    let mut y = vec![0.0f32; n * m * p];
    let mut col = vec![0.0f32; if pointwise { 0 } else { cg * kk * p }];
    for ni in 0..n {
        for gi in 0..g {
            let xg = &xv[(ni * c + gi * cg) * pin..(ni * c + (gi + 1) * cg) * pin];
            if !pointwise {
                for ci in 0..cg {
                    let xc = &xg[ci * pin..(ci + 1) * pin];
                    for (kp, offs) in taps.iter().enumerate() {
                        let row = &mut col[(ci * kk + kp) * p..(ci * kk + kp + 1) * p];
                        for (dst, &o) in row.iter_mut().zip(offs) {
                            *dst = if o == OUTSIDE { 0.0 } else { xc[o] };
                        }
                    }
                }
            }
            let cols = if pointwise { xg } else { &col[..] };
            let wg = &wv[gi * mg * cg * kk..(gi + 1) * mg * cg * kk];
            let yg = &mut y[(ni * m + gi * mg) * p..(ni * m + (gi + 1) * mg) * p];
            sgemm(
                mg,
                cg * kk,
                p,
                Mat::rows(wg, cg * kk),
                Mat::rows(cols, p),
                yg,
            )?;
        }
    }
    add_bias(&mut y, bias, m, p)?;
    from_floats(out, y)
}
