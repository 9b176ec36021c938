//! Max and average pooling (N-d) with pads, strides, dilations and ceil mode.

use super::conv::{check_attrs, Window, OUTSIDE};
use super::elementwise::from_f64;
use super::index::strides;
use super::tensor;
use crate::{Data, PoolAttrs, Tensor, TensorType};

/// Pool geometry shared by both kinds: `(n·c, input spatial, output spatial, taps)`.
struct Geometry<'a> {
    planes: usize,
    in_sp: &'a [usize],
    out_sp: &'a [usize],
    taps: Vec<Vec<usize>>,
}

fn geometry<'a>(
    a: &'a PoolAttrs,
    x: &'a Tensor,
    out: &'a TensorType,
) -> Result<Geometry<'a>, String> {
    let (xs, ys) = (x.shape().dims(), out.shape.dims());
    if xs.len() < 3 || ys.len() != xs.len() || xs[..2] != ys[..2] {
        return Err(format!(
            "pooling needs N×C×spatial input and result, got {xs:?} and {ys:?}"
        ));
    }
    let rank = xs.len() - 2;
    check_attrs(rank, &a.strides, &a.pads, &a.dilations)?;
    if a.kernel.len() != rank {
        return Err(format!(
            "kernel {:?} does not fit {rank} spatial axes",
            a.kernel
        ));
    }
    let (in_sp, out_sp) = (&xs[2..], &ys[2..]);
    let taps = Window {
        grid: out_sp,
        kernel: &a.kernel,
        target: in_sp,
        strides: &a.strides,
        pads: &a.pads,
        dilations: &a.dilations,
    }
    .taps();
    Ok(Geometry {
        planes: xs[0] * xs[1],
        in_sp,
        out_sp,
        taps,
    })
}

/// Max pooling; with two result types also the i32 indices of the maxima, flattened
/// over the whole input (`((n·C + c) · spatial + s)` where `s` is row-major, or
/// column-major over the spatial axes with `storage_order = 1`). The first maximum
/// in row-major window order wins; a window entirely in padding yields -inf.
pub(super) fn max_pool(
    a: &PoolAttrs,
    x: &Tensor,
    outs: &[TensorType],
) -> Result<Vec<Tensor>, String> {
    let out = &outs[0];
    let geo = geometry(a, x, out)?;
    let xv = x.data().to_f64_vec();
    let (pin, p): (usize, usize) = (geo.in_sp.iter().product(), geo.out_sp.iter().product());
    let mut y = vec![f64::NEG_INFINITY; geo.planes * p];
    let mut idx = vec![0i64; geo.planes * p];
    for plane in 0..geo.planes {
        let xp = &xv[plane * pin..(plane + 1) * pin];
        for o in 0..p {
            let mut best: Option<(f64, usize)> = None;
            for offs in &geo.taps {
                let off = offs[o];
                if off != OUTSIDE && best.is_none_or(|(b, _)| xp[off] > b) {
                    best = Some((xp[off], off));
                }
            }
            if let Some((v, off)) = best {
                y[plane * p + o] = v;
                idx[plane * p + o] =
                    (plane * pin + spatial_index(off, geo.in_sp, a.storage_order)) as i64;
            }
        }
    }
    let mut results = vec![tensor(out, from_f64(out.dtype, y))?];
    if let Some(ity) = outs.get(1) {
        let data = Data::I32(idx.into_iter().map(|i| i as i32).collect());
        results.push(tensor(ity, data)?);
    }
    Ok(results)
}

/// A row-major spatial offset, re-linearised column-major when `storage_order` is 1.
fn spatial_index(off: usize, dims: &[usize], storage_order: usize) -> usize {
    if storage_order != 1 {
        return off;
    }
    let rs = strides(dims);
    let (mut cm, mut scale) = (0, 1);
    for a in 0..dims.len() {
        cm += (off / rs[a]) % dims[a] * scale;
        scale *= dims[a];
    }
    cm
}

/// Average pooling. The divisor counts the taps inside the input, or with
/// `count_include_pad` those inside the explicitly padded input (never the extra
/// region that `ceil_mode` adds at the end).
pub(super) fn average_pool(a: &PoolAttrs, x: &Tensor, out: &TensorType) -> Result<Tensor, String> {
    if !x.dtype().is_float() {
        return Err(format!("average_pool needs floats, got {}", x.dtype()));
    }
    let geo = geometry(a, x, out)?;
    let xv = x.data().to_f64_vec();
    let (pin, p): (usize, usize) = (geo.in_sp.iter().product(), geo.out_sp.iter().product());
    let padded_counts = if a.count_include_pad {
        padded_counts(a, geo.in_sp, geo.out_sp)
    } else {
        Vec::new()
    };
    let mut y = vec![0.0f64; geo.planes * p];
    for plane in 0..geo.planes {
        let xp = &xv[plane * pin..(plane + 1) * pin];
        for o in 0..p {
            let (mut sum, mut count) = (0.0, 0usize);
            for offs in &geo.taps {
                if offs[o] != OUTSIDE {
                    sum += xp[offs[o]];
                    count += 1;
                }
            }
            if a.count_include_pad {
                count = padded_counts[o];
            }
            y[plane * p + o] = if count == 0 {
                f64::NAN
            } else {
                sum / count as f64
            };
        }
    }
    tensor(out, from_f64(out.dtype, y))
}

/// For each output position, how many taps land in `[-pad_begin, in + pad_end)`.
fn padded_counts(a: &PoolAttrs, in_sp: &[usize], out_sp: &[usize]) -> Vec<usize> {
    let rank = in_sp.len();
    let per_axis: Vec<Vec<usize>> = (0..rank)
        .map(|ax| {
            let hi = (in_sp[ax] + a.pads[ax] + a.pads[rank + ax]) as i64;
            (0..out_sp[ax])
                .map(|o| {
                    (0..a.kernel[ax])
                        .filter(|&k| {
                            let t = (o * a.strides[ax] + k * a.dilations[ax]) as i64;
                            t < hi
                        })
                        .count()
                })
                .collect()
        })
        .collect();
    let total: usize = out_sp.iter().product();
    let mut idx = vec![0usize; rank];
    let mut counts = Vec::with_capacity(total);
    for _ in 0..total {
        counts.push((0..rank).map(|ax| per_axis[ax][idx[ax]]).product());
        super::conv::advance(&mut idx, out_sp);
    }
    counts
}
