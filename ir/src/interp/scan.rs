//! Cumulative sums and products along one axis ([`crate::Op::Cumulative`]): floats
//! accumulate in f32 in scan order and round once to the result type, integers wrap.

use super::elementwise::ints;
use super::{floats, from_floats, tensor};
use crate::{CumOp, Tensor, TensorType};

/// The running `op` of `x` along `axis`; `[exclusive, reverse]` as in the op.
pub(super) fn cumulative(
    op: CumOp,
    axis: usize,
    [exclusive, reverse]: [bool; 2],
    x: &Tensor,
    out: &TensorType,
) -> Result<Tensor, String> {
    let dims = x.shape().dims();
    if axis >= dims.len() {
        return Err(format!(
            "axis {axis} is out of range for rank {}",
            dims.len()
        ));
    }
    let (n, inner) = (dims[axis], dims[axis + 1..].iter().product::<usize>());
    // The flat positions of one line of the axis, in scan order.
    let line = |start: usize| {
        (0..n).map(move |k| {
            let k = if reverse { n - 1 - k } else { k };
            start + k * inner
        })
    };
    let starts = (0..x.shape().numel()).filter(|&i| i / inner % n.max(1) == 0);
    if x.dtype().is_float() {
        let v = floats(x, "operand")?;
        let mut y = vec![0.0f32; v.len()];
        for s in starts {
            let mut acc = if op == CumOp::Sum { 0.0f32 } else { 1.0 };
            for i in line(s) {
                let before = acc;
                acc = if op == CumOp::Sum {
                    acc + v[i]
                } else {
                    acc * v[i]
                };
                y[i] = if exclusive { before } else { acc };
            }
        }
        return from_floats(out, y);
    }
    let v = x
        .data()
        .to_i64_vec()
        .filter(|_| x.dtype().is_int())
        .ok_or_else(|| format!("{} needs numbers, got {}", out.dtype, x.dtype()))?;
    let mut y = vec![0i64; v.len()];
    for s in starts {
        let mut acc = i64::from(op == CumOp::Prod);
        for i in line(s) {
            let before = acc;
            acc = if op == CumOp::Sum {
                acc.wrapping_add(v[i])
            } else {
                acc.wrapping_mul(v[i])
            };
            y[i] = if exclusive { before } else { acc };
        }
    }
    tensor(out, ints(out.dtype, y.into_iter())?)
}
