//! The sparse product `sparse_matmul`: `a · B` along one axis of `a`, with `B` read from
//! its stored format, only the weights the format stores multiplied, summed in `k`
//! order per output, then the bias added.

use super::{floats, from_floats};
use crate::{SparseFormat, Tensor, TensorType};

/// `a · B` along `a`'s axis `axis` for `B` (`k × n`) stored in `format` as `arrays`
/// (then an optional bias), into a result of `out`.
pub(super) fn sparse_matmul(
    format: SparseFormat,
    (axis, k, n): (usize, usize, usize),
    a: &Tensor,
    arrays: &[&Tensor],
    out: &TensorType,
) -> Result<Tensor, String> {
    let dims = a.shape().dims();
    let inner: usize = dims
        .get(axis + 1..)
        .ok_or("axis out of range")?
        .iter()
        .product();
    let outer: usize = dims[..axis].iter().product();
    let a = floats(a, "a")?;
    let bias = match arrays.get(format.arrays()) {
        Some(b) => floats(b, "bias")?,
        None => vec![0.0; n],
    };
    // Element (row, i) of `a` and (row, j) of the result, rows = (outer, inner) pairs.
    let a_at = |row: usize, i: usize| a[(row / inner * k + i) * inner + row % inner];
    let y_at = |row: usize, j: usize| (row / inner * n + j) * inner + row % inner;
    let rows = outer * inner;
    let mut y = vec![0f32; rows * n];
    let weights =
        crate::sparse::stored(format, &arrays[..format.arrays().min(arrays.len())], k, n)?;
    for (j, list) in weights.iter().enumerate() {
        for row in 0..rows {
            let sum: f32 = list.iter().fold(0.0, |acc, &(i, w)| acc + a_at(row, i) * w);
            y[y_at(row, j)] = sum + bias[j];
        }
    }
    from_floats(out, y)
}
