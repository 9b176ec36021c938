//! Reductions: Reduce (sum, mean, max, min, prod, l2, sum of squares), ArgMax/ArgMin,
//! Softmax and LogSoftmax. Accumulation is in `f64`.

use super::elementwise::from_f64;
use super::index::{offsets, strides};
use super::{floats, from_floats, tensor};
use crate::{ArgOp, DType, Data, ReduceOp, Tensor, TensorType};

/// Reduces over `axes` (sorted, unique); an empty list reduces nothing (each element
/// is its own group, so `reduce_sum_square` still squares). An empty group yields the
/// identity: 0 for sums, 1 for products, the lowest/highest value of the type for
/// max/min (false/true for bool).
pub(super) fn reduce(
    op: ReduceOp,
    axes: &[usize],
    x: &Tensor,
    out: &TensorType,
) -> Result<Tensor, String> {
    let dims = x.shape().dims();
    if let Some(&a) = axes.iter().find(|&&a| a >= dims.len()) {
        return Err(format!("axis {a} is out of range for rank {}", dims.len()));
    }
    if x.dtype() == DType::Bool && !matches!(op, ReduceOp::Max | ReduceOp::Min) {
        return Err(format!("{} needs numbers, got bool", op.name()));
    }
    // Output position of each input element: kept axes index a shape with reduced axes = 1.
    let kept: Vec<usize> = dims
        .iter()
        .enumerate()
        .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
        .collect();
    let mut ostrides = strides(&kept);
    for &a in axes {
        ostrides[a] = 0;
    }
    let groups: usize = kept.iter().product();
    if groups != out.shape.numel() {
        return Err(format!("result {out} does not match {} groups", groups));
    }
    let count = x.numel().checked_div(groups).unwrap_or(0);
    let init = match (op, x.dtype()) {
        (ReduceOp::Max, DType::Bool) => 0.0,
        (ReduceOp::Min, DType::Bool) => 1.0,
        (ReduceOp::Max, _) => f64::NEG_INFINITY,
        (ReduceOp::Min, _) => f64::INFINITY,
        (ReduceOp::Prod, _) => 1.0,
        _ => 0.0,
    };
    let mut acc = vec![init; groups];
    let xv = x.data().to_f64_vec();
    for (&o, &v) in offsets(dims, &ostrides).iter().zip(&xv) {
        let a = &mut acc[o];
        *a = match op {
            ReduceOp::Sum | ReduceOp::Mean => *a + v,
            ReduceOp::Prod => *a * v,
            ReduceOp::L2 | ReduceOp::SumSquare => *a + v * v,
            ReduceOp::Max if a.is_nan() || v.is_nan() => f64::NAN,
            ReduceOp::Min if a.is_nan() || v.is_nan() => f64::NAN,
            ReduceOp::Max => a.max(v),
            ReduceOp::Min => a.min(v),
        };
    }
    match op {
        ReduceOp::Mean => acc.iter_mut().for_each(|a| *a /= count as f64),
        ReduceOp::L2 => acc.iter_mut().for_each(|a| *a = a.sqrt()),
        _ => {}
    }
    tensor(out, from_f64(out.dtype, acc))
}

/// Softmax (or log-softmax) along `axis`, computed stably around the maximum.
pub(super) fn softmax(
    axis: usize,
    log: bool,
    x: &Tensor,
    out: &TensorType,
) -> Result<Tensor, String> {
    let (outer, n, inner) = super::movement::around(x.shape().dims(), axis)?;
    let xv = floats(x, "x")?;
    let mut y = vec![0.0f32; xv.len()];
    for o in 0..outer {
        for i in 0..inner {
            let at = |k: usize| (o * n + k) * inner + i;
            let max = (0..n)
                .map(|k| xv[at(k)] as f64)
                .fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = (0..n).map(|k| (xv[at(k)] as f64 - max).exp()).sum();
            for k in 0..n {
                let d = xv[at(k)] as f64 - max;
                y[at(k)] = if log { d - sum.ln() } else { d.exp() / sum } as f32;
            }
        }
    }
    from_floats(out, y)
}

/// Index (i32) of the first (or, with `select_last_index`, last) max/min along
/// `axis`. NaN counts as the extreme value, like numpy.
pub(super) fn arg_reduce(
    op: ArgOp,
    axis: usize,
    last: bool,
    x: &Tensor,
    out: &TensorType,
) -> Result<Tensor, String> {
    let (outer, n, inner) = super::movement::around(x.shape().dims(), axis)?;
    if n == 0 {
        return Err("cannot take arg_max/arg_min over an empty axis".into());
    }
    let xv = x.data().to_f64_vec();
    let better = |v: f64, best: f64| {
        if best.is_nan() {
            return last && v.is_nan();
        }
        if v.is_nan() {
            return true;
        }
        let strict = if op == ArgOp::Max { v > best } else { v < best };
        strict || (last && v == best)
    };
    let mut idx = Vec::with_capacity(outer * inner);
    for o in 0..outer {
        for i in 0..inner {
            let at = |k: usize| xv[(o * n + k) * inner + i];
            let mut best = 0;
            for k in 1..n {
                if better(at(k), at(best)) {
                    best = k;
                }
            }
            idx.push(best as i32);
        }
    }
    tensor(out, Data::I32(idx))
}
