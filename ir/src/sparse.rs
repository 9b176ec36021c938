//! Sparse weight formats of `sparse_matmul` ([`SparseFormat`]): how dense `k × n`
//! weights are encoded into each format's arrays, and how many of a matrix's blocks
//! hold a non-zero (what decides whether a format pays).

use crate::{Data, SparseFormat, Tensor};

/// The arrays of `format` for the dense row-major `k × n` matrix `b` (operands 1.. of a
/// `sparse_matmul`). `None` when `b` does not fit the format: for `N:M`, a group of
/// `group` weights along `k` holding more than `keep` non-zeros, or `k` not a multiple
/// of `group`.
pub fn encode(format: SparseFormat, b: &[f32], k: usize, n: usize) -> Option<Vec<Tensor>> {
    if b.len() != k * n {
        return None;
    }
    match format {
        SparseFormat::Blocks { rows, cols } => Some(encode_blocks(b, k, n, rows, cols)),
        SparseFormat::NOfM { keep, group } => encode_n_of_m(b, k, n, keep, group),
    }
}

/// BSR of `bᵀ`: the `rows × cols` blocks holding a non-zero, by column of blocks.
fn encode_blocks(b: &[f32], k: usize, n: usize, rows: usize, cols: usize) -> Vec<Tensor> {
    let (kb, nb) = (k.div_ceil(rows), n.div_ceil(cols));
    let mut values = Vec::new();
    let mut block_rows = Vec::new();
    let mut starts = vec![0i32];
    for cb in 0..nb {
        for r in 0..kb {
            let block = block_of(b, (k, n), (rows, cols), (r, cb));
            if block.iter().any(|&w| w != 0.0) {
                values.extend(block);
                block_rows.push(r as i32);
            }
        }
        starts.push(block_rows.len() as i32);
    }
    let blocks = block_rows.len();
    vec![
        Tensor::from_f32(vec![blocks, rows, cols], values).expect("sized by construction"),
        Tensor::new(vec![blocks], Data::I32(block_rows)).expect("sized by construction"),
        Tensor::new(vec![nb + 1], Data::I32(starts)).expect("sized by construction"),
    ]
}

/// Block `(r, c)` of the `rows × cols` tiling of the row-major `k × n` matrix `b`,
/// row-major, zeros past `k` and `n`.
fn block_of(
    b: &[f32],
    (k, n): (usize, usize),
    (rows, cols): (usize, usize),
    (r, c): (usize, usize),
) -> Vec<f32> {
    let mut out = vec![0f32; rows * cols];
    for i in 0..rows {
        let kk = r * rows + i;
        if kk >= k {
            break;
        }
        for j in 0..cols {
            let nn = c * cols + j;
            if nn < n {
                out[i * cols + j] = b[kk * n + nn];
            }
        }
    }
    out
}

/// `keep` weights of every `group` along `k` per column, with their positions; the
/// smallest dtype that holds a position.
fn encode_n_of_m(b: &[f32], k: usize, n: usize, keep: usize, group: usize) -> Option<Vec<Tensor>> {
    if keep == 0 || keep > group || !k.is_multiple_of(group) {
        return None;
    }
    let per_col = k / group * keep;
    let mut values = Vec::with_capacity(n * per_col);
    let mut positions = Vec::with_capacity(n * per_col);
    for col in 0..n {
        for g in 0..k / group {
            let mut kept = 0;
            for p in 0..group {
                let w = b[(g * group + p) * n + col];
                if w != 0.0 {
                    kept += 1;
                    values.push(w);
                    positions.push(p as u8);
                }
            }
            if kept > keep {
                return None;
            }
            // Fewer non-zeros than `keep`: zeros fill the rest (at position 0).
            for _ in kept..keep {
                values.push(0.0);
                positions.push(0);
            }
        }
    }
    let dims = vec![n, per_col];
    let data = match group {
        0..=4 => Data::U2(positions),
        5..=16 => Data::U4(positions),
        _ => Data::U8(positions),
    };
    Some(vec![
        Tensor::from_f32(dims.clone(), values).ok()?,
        Tensor::new(dims, data).ok()?,
    ])
}

/// The fraction of the `rows × cols` blocks of the row-major `k × n` matrix `b` that
/// hold a non-zero (1 for an empty matrix).
pub fn block_density(b: &[f32], (k, n): (usize, usize), (rows, cols): (usize, usize)) -> f64 {
    let (kb, nb) = (k.div_ceil(rows), n.div_ceil(cols));
    if kb * nb == 0 {
        return 1.0;
    }
    let mut full = vec![false; kb * nb];
    for (i, row) in b.chunks(n.max(1)).enumerate().take(k) {
        for (j, &w) in row.iter().enumerate() {
            if w != 0.0 {
                full[(i / rows) * nb + j / cols] = true;
            }
        }
    }
    full.iter().filter(|&&f| f).count() as f64 / full.len() as f64
}

/// The weights `arrays` store in `format`, per column of the `k × n` matrix: (row,
/// weight) in row order, every stored weight (zeros inside a stored block too; none
/// past `k` or `n`).
pub fn stored(
    format: SparseFormat,
    arrays: &[&Tensor],
    k: usize,
    n: usize,
) -> Result<Vec<Vec<(usize, f32)>>, String> {
    let ints = |i: usize| -> Result<Vec<i64>, String> {
        let t = arrays.get(i).ok_or("missing index array")?;
        Ok(t.to_f64_vec().into_iter().map(|v| v as i64).collect())
    };
    let values: Vec<f32> = arrays
        .first()
        .ok_or("missing values")?
        .to_f64_vec()
        .iter()
        .map(|&v| v as f32)
        .collect();
    let mut columns: Vec<Vec<(usize, f32)>> = vec![Vec::new(); n];
    match format {
        SparseFormat::Blocks { rows, cols } => {
            let (block_rows, starts) = (ints(1)?, ints(2)?);
            for cb in 0..n.div_ceil(cols) {
                let (lo, hi) = (starts[cb] as usize, starts[cb + 1] as usize);
                if lo > hi || hi > block_rows.len() {
                    return Err(format!("starts[{cb}..{}] out of range", cb + 2));
                }
                for (blk, &kb) in block_rows.iter().enumerate().take(hi).skip(lo) {
                    let kb = usize::try_from(kb).map_err(|_| "negative block row")?;
                    for i in (0..rows).filter(|i| kb * rows + i < k) {
                        for j in (0..cols).filter(|j| cb * cols + j < n) {
                            let w = values[(blk * rows + i) * cols + j];
                            columns[cb * cols + j].push((kb * rows + i, w));
                        }
                    }
                }
            }
        }
        SparseFormat::NOfM { keep, group } => {
            let positions = ints(1)?;
            let per_col = k / group * keep;
            for (col, list) in columns.iter_mut().enumerate() {
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
    Ok(columns)
}

/// The dense row-major `k × n` matrix `arrays` hold in `format` (what [`encode`] took).
pub fn decode(
    format: SparseFormat,
    arrays: &[&Tensor],
    k: usize,
    n: usize,
) -> Result<Vec<f32>, String> {
    let mut b = vec![0f32; k * n];
    for (col, list) in stored(format, arrays, k, n)?.into_iter().enumerate() {
        for (row, w) in list {
            b[row * n + col] += w;
        }
    }
    Ok(b)
}
