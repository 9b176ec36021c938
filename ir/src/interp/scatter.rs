//! ScatterND ([`crate::Op::ScatterNd`]): a copy of the data with index-addressed
//! slices replaced or combined with updates, tuples in row-major order. Floats combine
//! in f32 and round once to the result type; integers wrap.

use super::elementwise::ints;
use super::{floats, from_floats, tensor};
use crate::{Data, ScatterReduction, Tensor, TensorType};

/// The row (of `data` viewed as `[prod(dims[..m]), inner]`) each index tuple names.
fn rows(indices: &Tensor, dims: &[usize]) -> Result<Vec<usize>, String> {
    let q = indices.shape().dims();
    let m = q.last().copied().unwrap_or(0);
    if m == 0 || m > dims.len() {
        return Err(format!(
            "indices {} do not index data of rank {}",
            indices.shape(),
            dims.len()
        ));
    }
    let v = indices
        .data()
        .to_i64_vec()
        .ok_or("indices must be integers")?;
    v.chunks(m)
        .map(|tuple| {
            tuple.iter().zip(dims).try_fold(0usize, |row, (&i, &d)| {
                let j = if i < 0 { i + d as i64 } else { i };
                if !(0..d as i64).contains(&j) {
                    return Err(format!("index {i} is out of range [-{d}, {d})"));
                }
                Ok(row * d + j as usize)
            })
        })
        .collect()
}

/// ScatterND of `updates` into `data` at `indices`.
pub(super) fn scatter_nd(
    reduction: ScatterReduction,
    [data, indices, updates]: [&Tensor; 3],
    out: &TensorType,
) -> Result<Tensor, String> {
    use ScatterReduction as R;
    let dims = data.shape().dims();
    let rows = rows(indices, dims)?;
    let m = indices.shape().dims().last().copied().unwrap_or(0);
    let inner: usize = dims[m..].iter().product();
    if updates.shape().numel() != rows.len() * inner {
        return Err(format!(
            "updates {} do not fit the indices",
            updates.shape()
        ));
    }
    // Every update element with its flat target, in order.
    let targets = rows
        .iter()
        .flat_map(|&r| (0..inner).map(move |o| r * inner + o))
        .enumerate();
    if data.dtype().is_float() {
        let (mut y, u) = (floats(data, "data")?, floats(updates, "updates")?);
        for (k, t) in targets {
            let (a, b) = (y[t], u[k]);
            y[t] = match reduction {
                R::None => b,
                R::Add => a + b,
                R::Mul => a * b,
                R::Max if a.is_nan() || b.is_nan() => f32::NAN,
                R::Min if a.is_nan() || b.is_nan() => f32::NAN,
                R::Max => a.max(b),
                R::Min => a.min(b),
            };
        }
        return from_floats(out, y);
    }
    if let (Data::Bool(d), Data::Bool(u)) = (&*data.data(), &*updates.data()) {
        if reduction != R::None {
            return Err("a scatter reduction needs numbers, got bool".into());
        }
        let mut y = d.clone();
        for (k, t) in targets {
            y[t] = u[k];
        }
        return tensor(out, Data::Bool(y));
    }
    let (Some(mut y), Some(u)) = (data.data().to_i64_vec(), updates.data().to_i64_vec()) else {
        return Err(format!("scatter_nd needs numbers, got {}", data.dtype()));
    };
    for (k, t) in targets {
        let (a, b) = (y[t], u[k]);
        y[t] = match reduction {
            R::None => b,
            R::Add => a.wrapping_add(b),
            R::Mul => a.wrapping_mul(b),
            R::Max => a.max(b),
            R::Min => a.min(b),
        };
    }
    tensor(out, ints(out.dtype, y.into_iter())?)
}
