//! How the scale and zero point of `Quantize`/`Dequantize` map onto the elements of
//! `x`: broadcast to `x` like any element-wise operand (one for all, or one per index
//! of some axes: ONNX's per-axis scales are reshaped to broadcast at import), or one
//! per block of `block` consecutive indices along an axis (blocked). Shared by shape
//! inference, the interpreter and the kernels. Also the uint8 scale of a range, which
//! dynamic quantization computes at run time.

use crate::{BinaryOp, DType, Shape, Step};

/// The first steps of an element-wise program of a range's minimum (input 0) and maximum
/// (input 1) that quantizes it to uint8, as ONNX's DynamicQuantizeLinear does: the range
/// widened to hold 0, divided into 255 steps. Step 2 is the constant 0, step 3 the
/// widened minimum, step 6 the constant 255 and step 7 the scale
/// `(max(hi, 0) - min(lo, 0)) / 255`.
pub fn u8_scale_steps() -> Vec<Step> {
    let f32_const = |value: f64| Step::Const {
        dtype: DType::F32,
        value,
    };
    vec![
        Step::Input(0),
        Step::Input(1),
        f32_const(0.0),
        Step::Binary(BinaryOp::Min, 0, 2),
        Step::Binary(BinaryOp::Max, 1, 2),
        Step::Binary(BinaryOp::Sub, 4, 3),
        f32_const(255.0),
        Step::Binary(BinaryOp::Div, 5, 6),
    ]
}

/// Which scale element applies to each element of `x`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QuantLayout {
    /// The scale broadcasts to `x` (numpy rules).
    Broadcast,
    /// The scale tensor has `x`'s shape with `ceil(dims[axis] / block)` on `axis`.
    Blocked { axis: usize, block: usize },
}

impl QuantLayout {
    /// The layout a scale of shape `scale` gives `x`, with the op's `axis` and `block`
    /// (0: not blocked, and `axis` is then 0); `Err` says why the shapes do not fit.
    pub fn of(x: &Shape, scale: &Shape, axis: usize, block: usize) -> Result<QuantLayout, String> {
        let (xd, sd) = (x.dims(), scale.dims());
        if block == 0 {
            let fits = sd.len() <= xd.len()
                && sd
                    .iter()
                    .rev()
                    .zip(xd.iter().rev())
                    .all(|(&s, &d)| s == d || s == 1);
            if axis != 0 || !fits {
                return Err(format!(
                    "a scale {scale} must broadcast to x {x} (axis {axis} must be 0 unless blocked)"
                ));
            }
            return Ok(QuantLayout::Broadcast);
        }
        if axis >= xd.len() {
            return Err(format!("axis {axis} out of range for x {x}"));
        }
        let mut want = xd.to_vec();
        want[axis] = xd[axis].div_ceil(block);
        if sd != want.as_slice() {
            return Err(format!(
                "a blocked scale (block {block} on axis {axis} of x {x}) must be {}, got {scale}",
                Shape::from(want)
            ));
        }
        Ok(QuantLayout::Blocked { axis, block })
    }

    /// The scale element of every element of `x` (row-major), as flat indices into a
    /// scale of shape `scale`.
    pub fn scale_indices(&self, x: &Shape, scale: &Shape) -> Vec<usize> {
        let dims = x.dims();
        let n = x.numel();
        match *self {
            QuantLayout::Broadcast => {
                let (rank, sd) = (dims.len(), scale.dims());
                let mut strides = vec![0usize; rank];
                let mut stride = 1;
                for (k, &s) in sd.iter().enumerate().rev() {
                    let axis = rank - sd.len() + k;
                    strides[axis] = if s == 1 { 0 } else { stride };
                    stride *= s;
                }
                (0..n)
                    .map(|mut i| {
                        let mut at = 0;
                        for axis in (0..rank).rev() {
                            at += (i % dims[axis]) * strides[axis];
                            i /= dims[axis];
                        }
                        at
                    })
                    .collect()
            }
            QuantLayout::Blocked { axis, block } => {
                let inner: usize = dims[axis + 1..].iter().product();
                let (d, nb) = (dims[axis], dims[axis].div_ceil(block));
                (0..n)
                    .map(|i| {
                        let (outer, a, k) = (i / (inner * d), (i / inner) % d, i % inner);
                        (outer * nb + a / block) * inner + k
                    })
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_and_indices() {
        let x = Shape::from(vec![2usize, 5, 3]);
        let one = Shape::from(vec![1usize]);
        assert_eq!(
            QuantLayout::of(&x, &one, 0, 0).unwrap(),
            QuantLayout::Broadcast
        );
        assert_eq!(QuantLayout::Broadcast.scale_indices(&x, &one), vec![0; 30]);
        let per_axis = Shape::from(vec![5usize, 1]);
        QuantLayout::of(&x, &per_axis, 0, 0).unwrap();
        let idx = QuantLayout::Broadcast.scale_indices(&x, &per_axis);
        assert_eq!(idx[..7], [0, 0, 0, 1, 1, 1, 2]);
        assert_eq!(idx[15..18], [0, 0, 0]);
        assert!(QuantLayout::of(&x, &Shape::from(vec![5usize]), 0, 0).is_err());
        assert!(QuantLayout::of(&x, &per_axis, 1, 0).is_err());
        // Blocks of 2 along axis 1 (5 → 3 blocks, the last one short).
        let bs = Shape::from(vec![2usize, 3, 3]);
        let blocked = QuantLayout::of(&x, &bs, 1, 2).unwrap();
        let idx = blocked.scale_indices(&x, &bs);
        // x[0, 4, 2] → scale[0, 2, 2]; x[1, 1, 0] → scale[1, 0, 0].
        assert_eq!(idx[4 * 3 + 2], 2 * 3 + 2);
        assert_eq!(idx[15 + 3], 9);
        assert!(QuantLayout::of(&x, &Shape::from(vec![2usize, 2, 3]), 1, 2).is_err());
    }
}
