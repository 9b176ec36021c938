//! The sparse product `sparse_matmul`: `a · B` with `B` read from its stored format,
//! only the weights the format stores multiplied, summed in `k` order per output.

use super::{floats, from_floats};
use crate::{SparseFormat, Tensor, TensorType};

/// `a · B` for `B` (`k × n`) stored in `format` as `arrays`, into a result of `out`.
pub(super) fn sparse_matmul(
    format: SparseFormat,
    (k, n): (usize, usize),
    a: &Tensor,
    arrays: &[&Tensor],
    out: &TensorType,
) -> Result<Tensor, String> {
    let a = floats(a, "a")?;
    let values = floats(arrays.first().ok_or("missing values")?, "values")?;
    let ints = |i: usize| -> Result<Vec<i64>, String> {
        let t = arrays.get(i).ok_or("missing index array")?;
        Ok(t.to_f64_vec().into_iter().map(|v| v as i64).collect())
    };
    let rows = a.len().checked_div(k).unwrap_or(0);
    let mut y = vec![0f32; rows * n];
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
                    for i in 0..r {
                        let kk = kb * r + i;
                        if kk >= k {
                            continue;
                        }
                        for j in 0..c.min(n - cb * c) {
                            let w = values[(b * r + i) * c + j];
                            let col = cb * c + j;
                            for m in 0..rows {
                                y[m * n + col] += a[m * k + kk] * w;
                            }
                        }
                    }
                }
            }
        }
        SparseFormat::NOfM { keep, group } => {
            let positions = ints(1)?;
            let per_col = k / group * keep;
            for col in 0..n {
                for t in 0..per_col {
                    let p = positions[col * per_col + t] as usize;
                    if p >= group {
                        return Err(format!("position {p} is outside a group of {group}"));
                    }
                    let kk = t / keep * group + p;
                    let w = values[col * per_col + t];
                    for m in 0..rows {
                        y[m * n + col] += a[m * k + kk] * w;
                    }
                }
            }
        }
    }
    from_floats(out, y)
}
