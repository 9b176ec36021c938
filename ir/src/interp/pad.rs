//! Pad in every mode (constant, reflect, edge, wrap), with negative pads cropping.

use super::conv::OUTSIDE;
use super::index::{strides, Elem};
use super::movement::separable;
use super::tensor;
use crate::{dispatch_data, DType, Data, PadMode, Tensor, TensorType};

/// Pads `x` by `pads = [begin_0.., end_0..]`. A negative amount first crops that
/// side; the positive amounts then pad the cropped operand by `mode` (reflect
/// mirrors without repeating the edge, like numpy). Constant mode fills with the
/// scalar `value` operand, or zero.
pub(super) fn pad(
    mode: PadMode,
    pads: &[i64],
    x: &Tensor,
    value: Option<&Tensor>,
    out: &TensorType,
) -> Result<Tensor, String> {
    let dims = x.shape().dims();
    let rank = dims.len();
    if pads.len() != 2 * rank {
        return Err(format!("pads {pads:?} do not fit rank {rank}"));
    }
    let s = strides(dims);
    let mut odims = Vec::with_capacity(rank);
    let mut table = Vec::with_capacity(rank);
    for a in 0..rank {
        let (pb, pe) = (pads[a], pads[rank + a]);
        let (c0, c1) = ((-pb).max(0), (-pe).max(0));
        let kept = dims[a] as i64 - c0 - c1;
        if kept < 0 {
            return Err(format!("pads {pads:?} crop more than axis {a} holds"));
        }
        let len = kept + pb.max(0) + pe.max(0);
        if kept == 0 && len > 0 && mode != PadMode::Constant {
            return Err(format!("cannot pad an empty axis {a} in {mode:?} mode"));
        }
        let col: Vec<usize> = (0..len)
            .map(|o| {
                let j = o - pb.max(0);
                let j = match mode {
                    _ if (0..kept).contains(&j) => j,
                    PadMode::Constant => return OUTSIDE,
                    PadMode::Edge => j.clamp(0, kept - 1),
                    PadMode::Wrap => j.rem_euclid(kept),
                    PadMode::Reflect if kept == 1 => 0,
                    PadMode::Reflect => {
                        let period = 2 * (kept - 1);
                        let r = j.rem_euclid(period);
                        if r >= kept {
                            period - r
                        } else {
                            r
                        }
                    }
                };
                (j + c0) as usize * s[a]
            })
            .collect();
        odims.push(len as usize);
        table.push(col);
    }
    // A result element is OUTSIDE (the fill value) when it is on any axis.
    let offs: Vec<usize> = if table.iter().any(|c| c.contains(&OUTSIDE)) {
        let mut idx = vec![0usize; rank];
        (0..odims.iter().product::<usize>())
            .map(|_| {
                let o = (0..rank).try_fold(0usize, |acc, a| {
                    (table[a][idx[a]] != OUTSIDE).then(|| acc + table[a][idx[a]])
                });
                super::conv::advance(&mut idx, &odims);
                o.unwrap_or(OUTSIDE)
            })
            .collect()
    } else {
        separable(&odims, &table)
    };
    let fill_value = match value {
        Some(v) if v.numel() != 1 => {
            return Err(format!("pad value must be a scalar, got {}", v.ty()))
        }
        Some(v) if v.dtype() != x.dtype() => {
            return Err(format!(
                "pad value is {}, operand is {}",
                v.dtype(),
                x.dtype()
            ))
        }
        Some(v) => Some(v.data().into_owned()),
        None => None,
    };
    fn fill<T: Elem>(x: &[T], dtype: DType, offs: &[usize], value: Option<&Data>) -> Data {
        let v = value
            .and_then(|d| T::slice(d))
            .map_or(T::default(), |s| s[0]);
        T::wrap(
            offs.iter()
                .map(|&o| if o == OUTSIDE { v } else { x[o] })
                .collect(),
            dtype,
        )
    }
    let xd = x.data();
    tensor(
        out,
        dispatch_data!(&*xd, v => fill(v, x.dtype(), &offs, fill_value.as_ref())),
    )
}
