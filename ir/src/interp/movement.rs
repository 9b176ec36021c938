//! Data movement: Transpose, Concat, Split, Slice, Gather, Expand, Tile and Shape
//! (Reshape and Identity are re-labelings handled in `eval_op`). Written once for
//! every dtype; a splat operand stays a splat where the op only rearranges.

use super::index::{broadcast_offsets, strides, Elem};
use super::tensor;
use crate::{dispatch_data, map_data, Data, Tensor, TensorType};
use std::borrow::Cow;

/// The result whose element `i` is element `offs[i]` of `x`.
pub(super) fn pick(x: &Tensor, offs: &[usize], out: &TensorType) -> Result<Tensor, String> {
    if x.is_splat() {
        return Tensor::splat(out.shape.clone(), x.stored().clone()).map_err(|e| e.to_string());
    }
    let d = x.data();
    tensor(
        out,
        map_data!(&*d, v => offs.iter().map(|&o| v[o]).collect()),
    )
}

/// Offsets built axis by axis: result index `(i_0, .., i_r)` reads
/// `sum_a table[a][i_a]`. `table[a]` must have `dims[a]` entries.
pub(super) fn separable(dims: &[usize], table: &[Vec<usize>]) -> Vec<usize> {
    let n: usize = dims.iter().product();
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; dims.len()];
    for _ in 0..n {
        out.push(idx.iter().enumerate().map(|(a, &i)| table[a][i]).sum());
        super::conv::advance(&mut idx, dims);
    }
    out
}

/// Result axis `i` is operand axis `perm[i]`.
pub(super) fn transpose(perm: &[usize], x: &Tensor, out: &TensorType) -> Result<Tensor, String> {
    let dims = x.shape().dims();
    let mut seen = vec![false; dims.len()];
    if perm.len() != dims.len()
        || perm
            .iter()
            .any(|&p| p >= dims.len() || std::mem::replace(&mut seen[p], true))
    {
        return Err(format!(
            "perm {perm:?} is not a permutation of {} axes",
            dims.len()
        ));
    }
    let s = strides(dims);
    let table: Vec<Vec<usize>> = perm
        .iter()
        .map(|&p| (0..dims[p]).map(|i| i * s[p]).collect())
        .collect();
    let odims: Vec<usize> = perm.iter().map(|&p| dims[p]).collect();
    pick(x, &separable(&odims, &table), out)
}

/// numpy broadcast of the operand to the result shape.
pub(super) fn expand(x: &Tensor, out: &TensorType) -> Result<Tensor, String> {
    pick(
        x,
        &broadcast_offsets(x.shape().dims(), out.shape.dims())?,
        out,
    )
}

/// Repeats the operand `repeats[a]` times along each axis `a`.
pub(super) fn tile(repeats: &[usize], x: &Tensor, out: &TensorType) -> Result<Tensor, String> {
    let dims = x.shape().dims();
    if repeats.len() != dims.len() {
        return Err(format!(
            "repeats {repeats:?} do not fit rank {}",
            dims.len()
        ));
    }
    let s = strides(dims);
    let odims: Vec<usize> = dims.iter().zip(repeats).map(|(d, r)| d * r).collect();
    let table: Vec<Vec<usize>> = (0..dims.len())
        .map(|a| (0..odims[a]).map(|i| i % dims[a] * s[a]).collect())
        .collect();
    pick(x, &separable(&odims, &table), out)
}

/// Strided slice: result element `i` on axis `a` reads `starts[a] + i * steps[a]`.
pub(super) fn slice(
    starts: &[usize],
    steps: &[i64],
    lens: &[usize],
    x: &Tensor,
    out: &TensorType,
) -> Result<Tensor, String> {
    let dims = x.shape().dims();
    if starts.len() != dims.len() || steps.len() != dims.len() || lens.len() != dims.len() {
        return Err(format!("slice attributes do not fit rank {}", dims.len()));
    }
    let s = strides(dims);
    let mut table = Vec::with_capacity(dims.len());
    for a in 0..dims.len() {
        let col = (0..lens[a])
            .map(|i| {
                let at = starts[a] as i64 + i as i64 * steps[a];
                if at < 0 || at >= dims[a] as i64 {
                    Err(format!(
                        "slice reads index {at} of axis {a} with extent {}",
                        dims[a]
                    ))
                } else {
                    Ok(at as usize * s[a])
                }
            })
            .collect::<Result<Vec<usize>, String>>()?;
        table.push(col);
    }
    pick(x, &separable(lens, &table), out)
}

/// `(outer, extent, inner)` around `axis`.
pub(super) fn around(dims: &[usize], axis: usize) -> Result<(usize, usize, usize), String> {
    if axis >= dims.len() {
        return Err(format!(
            "axis {axis} is out of range for rank {}",
            dims.len()
        ));
    }
    Ok((
        dims[..axis].iter().product(),
        dims[axis],
        dims[axis + 1..].iter().product(),
    ))
}

/// Gathers along `axis`; indices are i32, negative ones count from the end.
pub(super) fn gather(
    axis: usize,
    data: &Tensor,
    indices: &Tensor,
    out: &TensorType,
) -> Result<Tensor, String> {
    let (outer, n, inner) = around(data.shape().dims(), axis)?;
    let id = indices.data();
    let Data::I32(idx) = &*id else {
        return Err(format!("indices must be i32, got {}", indices.dtype()));
    };
    let resolved = idx
        .iter()
        .map(|&i| {
            let j = if i < 0 { i as i64 + n as i64 } else { i as i64 };
            if j < 0 || j >= n as i64 {
                Err(format!(
                    "index {i} is out of range for axis {axis} with extent {n}"
                ))
            } else {
                Ok(j as usize)
            }
        })
        .collect::<Result<Vec<usize>, String>>()?;
    let mut offs = Vec::with_capacity(outer * resolved.len() * inner);
    for o in 0..outer {
        for &j in &resolved {
            offs.extend((0..inner).map(|i| (o * n + j) * inner + i));
        }
    }
    pick(data, &offs, out)
}

/// Concatenates all operands along `axis`.
pub(super) fn concat(axis: usize, inputs: &[&Tensor], out: &TensorType) -> Result<Tensor, String> {
    let first = inputs.first().ok_or("concat needs at least one operand")?;
    let rank = first.shape().rank();
    let mut parts = Vec::with_capacity(inputs.len());
    for t in inputs {
        let d = t.shape().dims();
        if d.len() != rank || t.dtype() != first.dtype() {
            return Err(format!("operand {} does not fit {}", t.ty(), first.ty()));
        }
        let (outer, n, inner) = around(d, axis)?;
        parts.push((t.data(), outer, n * inner));
    }
    // `_witness` fixes `T` to the first operand's element type.
    fn join<T: Elem>(
        _witness: &[T],
        parts: &[(Cow<'_, Data>, usize, usize)],
    ) -> Result<Data, String> {
        let outer = parts[0].1;
        let mut v: Vec<T> = Vec::with_capacity(parts.iter().map(|p| p.1 * p.2).sum());
        for o in 0..outer {
            for (d, _, chunk) in parts {
                let s = T::slice(d).ok_or("operands differ in dtype")?;
                v.extend_from_slice(&s[o * chunk..(o + 1) * chunk]);
            }
        }
        Ok(T::wrap(v, parts[0].0.dtype()))
    }
    let data = dispatch_data!(&*parts[0].0, v => join(v, &parts))?;
    tensor(out, data)
}

/// Splits along `axis` into pieces of `sizes`.
pub(super) fn split(
    axis: usize,
    sizes: &[usize],
    x: &Tensor,
    outs: &[TensorType],
) -> Result<Vec<Tensor>, String> {
    let (outer, n, inner) = around(x.shape().dims(), axis)?;
    if sizes.iter().sum::<usize>() != n {
        return Err(format!("split sizes {sizes:?} do not add up to extent {n}"));
    }
    let mut start = 0;
    let mut results = Vec::with_capacity(outs.len());
    for (&len, ty) in sizes.iter().zip(outs) {
        let offs: Vec<usize> = (0..outer)
            .flat_map(|o| ((o * n + start) * inner)..((o * n + start + len) * inner))
            .collect();
        results.push(pick(x, &offs, ty)?);
        start += len;
    }
    Ok(results)
}

/// The operand's dims `start..end` as a 1-D i32 tensor.
pub(super) fn shape(
    start: usize,
    end: usize,
    x: &Tensor,
    out: &TensorType,
) -> Result<Tensor, String> {
    let dims = x.shape().dims();
    let end = end.min(dims.len());
    let picked = dims.get(start..end.max(start)).unwrap_or(&[]);
    let v = picked
        .iter()
        .map(|&d| i32::try_from(d).map_err(|_| format!("dim {d} does not fit i32")))
        .collect::<Result<Vec<i32>, String>>()?;
    tensor(out, Data::I32(v))
}
