//! How the scale and zero point of `Quantize`/`Dequantize` map onto the elements of
//! `x`: one for all (per tensor), one per index of an axis (per axis), or one per block
//! of `block` consecutive indices along an axis (blocked). Shared by shape inference,
//! the interpreter and the kernels.

use crate::Shape;

/// Which scale element applies to each element of `x`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QuantLayout {
    /// One scale for the whole tensor.
    PerTensor,
    /// Scale `i` for index `i` of `axis`.
    PerAxis { axis: usize },
    /// The scale tensor has `x`'s shape with `ceil(dims[axis] / block)` on `axis`.
    Blocked { axis: usize, block: usize },
}

impl QuantLayout {
    /// The layout a scale of shape `scale` gives `x`, with the op's `axis` and `block`
    /// (0: not blocked); `Err` says why the shapes do not fit.
    pub fn of(x: &Shape, scale: &Shape, axis: usize, block: usize) -> Result<QuantLayout, String> {
        let (xd, sd) = (x.dims(), scale.dims());
        if block == 0 && scale.numel() == 1 && sd.len() <= 1 {
            return Ok(QuantLayout::PerTensor);
        }
        if axis >= xd.len() {
            return Err(format!("axis {axis} out of range for x {x}"));
        }
        if block == 0 {
            if sd != [xd[axis]] {
                return Err(format!(
                    "a per-axis scale must be [{}] (x {x}, axis {axis}), got {scale}",
                    xd[axis]
                ));
            }
            return Ok(QuantLayout::PerAxis { axis });
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

    /// The scale element of every element of `x` (row-major), as flat indices.
    pub fn scale_indices(&self, x: &Shape) -> Vec<usize> {
        let dims = x.dims();
        let n = x.numel();
        match *self {
            QuantLayout::PerTensor => vec![0; n],
            QuantLayout::PerAxis { axis } => {
                let inner: usize = dims[axis + 1..].iter().product();
                (0..n).map(|i| (i / inner) % dims[axis]).collect()
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
        let per_tensor = QuantLayout::of(&x, &Shape::from(vec![1usize]), 1, 0).unwrap();
        assert_eq!(per_tensor, QuantLayout::PerTensor);
        let per_axis = QuantLayout::of(&x, &Shape::from(vec![5usize]), 1, 0).unwrap();
        assert_eq!(per_axis.scale_indices(&x)[..6], [0, 0, 0, 1, 1, 1]);
        assert!(QuantLayout::of(&x, &Shape::from(vec![3usize]), 1, 0).is_err());
        // Blocks of 2 along axis 1 (5 → 3 blocks, the last one short).
        let blocked = QuantLayout::of(&x, &Shape::from(vec![2usize, 3, 3]), 1, 2).unwrap();
        let idx = blocked.scale_indices(&x);
        // x[0, 4, 2] → scale[0, 2, 2]; x[1, 1, 0] → scale[1, 0, 0].
        assert_eq!(idx[4 * 3 + 2], 2 * 3 + 2);
        assert_eq!(idx[15 + 3], 9);
        assert!(QuantLayout::of(&x, &Shape::from(vec![2usize, 2, 3]), 1, 2).is_err());
    }
}
