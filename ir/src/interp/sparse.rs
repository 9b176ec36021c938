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
    let values = floats(arrays.first().ok_or("missing values")?, "values")?;
    let ints = |i: usize| -> Result<Vec<i64>, String> {
        let t = arrays.get(i).ok_or("missing index array")?;
        Ok(t.to_f64_vec().into_iter().map(|v| v as i64).collect())
    };
    let bias = match arrays.get(format.arrays()) {
        Some(b) => floats(b, "bias")?,
        None => vec![0.0; n],
    };
    // Element (row, i) of `a` and (row, j) of the result, rows = (outer, inner) pairs.
    let a_at = |row: usize, i: usize| a[(row / inner * k + i) * inner + row % inner];
    let y_at = |row: usize, j: usize| (row / inner * n + j) * inner + row % inner;
    let rows = outer * inner;
    let mut y = vec![0f32; rows * n];
    // Stored weight (i, j) = w, in k order per column.
    let mut weights: Vec<Vec<(usize, f32)>> = vec![Vec::new(); n];
    match format {
        SparseFormat::Blocks { rows: r, cols: c } => {
            let (block_rows, starts) = (ints(1)?, ints(2)?);
            for cb in 0..n.div_ceil(c) {
                let (lo, hi) = (starts[cb] as usize, starts[cb + 1] as usize);
                if lo > hi || hi > block_rows.len() {
                    return Err(format!("starts[{cb}..{}] out of range", cb + 2));
                }
                for (b, &kb) in block_rows.iter().enumerate().take(hi).skip(lo) {
                    let kb = usize::try_from(kb).map_err(|_| "negative block row")?;
                    for i in (0..r).filter(|i| kb * r + i < k) {
                        for j in 0..c.min(n - cb * c) {
                            weights[cb * c + j].push((kb * r + i, values[(b * r + i) * c + j]));
                        }
                    }
                }
            }
        }
        SparseFormat::NOfM { keep, group } => {
            let positions = ints(1)?;
            let per_col = k / group * keep;
            for (col, list) in weights.iter_mut().enumerate() {
                for t in 0..per_col {
                    let p = positions[col * per_col + t] as usize;
                    if p >= group {
                        return Err(format!("position {p} is outside a group of {group}"));
                    }
                    list.push((t / keep * group + p, values[col * per_col + t]));
                }
            }
        }
    }
    for (j, list) in weights.iter().enumerate() {
        for row in 0..rows {
            let sum: f32 = list.iter().fold(0.0, |acc, &(i, w)| acc + a_at(row, i) * w);
            y[y_at(row, j)] = sum + bias[j];
        }
    }
    from_floats(out, y)
}
