//! Normalizations: BatchNorm (inference), LayerNorm, InstanceNorm and Lrn.
//!
//! Statistics are accumulated in `f64`; results round once to the result type.

use super::index::broadcast_offsets;
use super::{floats, from_floats, operand};
use crate::{Tensor, TensorType};

/// A per-channel operand of `channels` elements.
fn per_channel(t: &Tensor, what: &str, channels: usize) -> Result<Vec<f32>, String> {
    let v = floats(t, what)?;
    if v.len() != channels {
        return Err(format!(
            "{what} has {} elements, expected {channels}",
            v.len()
        ));
    }
    Ok(v)
}

/// `(n, c, spatial)` of an `N × C × ...` tensor.
fn nc_spatial(x: &Tensor) -> Result<(usize, usize, usize), String> {
    let d = x.shape().dims();
    if d.len() < 2 {
        return Err(format!("needs an N×C×... operand, got {:?}", d));
    }
    Ok((d[0], d[1], d[2..].iter().product()))
}

/// `y = (x - mean) / sqrt(var + eps) * scale + bias` over axis 1.
pub(super) fn batch_norm(
    epsilon: f32,
    inputs: &[&Tensor],
    out: &TensorType,
) -> Result<Tensor, String> {
    let x = operand(inputs, 0)?;
    let (n, c, s) = nc_spatial(x)?;
    let [scale, bias, mean, var] = [1, 2, 3, 4].map(|i| operand(inputs, i));
    let (scale, bias) = (
        per_channel(scale?, "scale", c)?,
        per_channel(bias?, "bias", c)?,
    );
    let (mean, var) = (per_channel(mean?, "mean", c)?, per_channel(var?, "var", c)?);
    let mut y = floats(x, "x")?;
    for (i, chunk) in y.chunks_mut(s.max(1)).enumerate().take(n * c) {
        let ch = i % c;
        let inv = 1.0 / (var[ch] as f64 + epsilon as f64).sqrt();
        for e in chunk {
            *e = ((*e as f64 - mean[ch] as f64) * inv * scale[ch] as f64 + bias[ch] as f64) as f32;
        }
    }
    from_floats(out, y)
}

/// Operand 0 of a row normalization over axes `axis..`, with its row count and length.
fn rows_of<'t>(inputs: &[&'t Tensor], axis: usize) -> Result<(&'t Tensor, usize, usize), String> {
    let x = operand(inputs, 0)?;
    let dims = x.shape().dims();
    if axis > dims.len() {
        return Err(format!(
            "axis {axis} is out of range for rank {}",
            dims.len()
        ));
    }
    Ok((
        x,
        dims[..axis].iter().product(),
        dims[axis..].iter().product(),
    ))
}

/// Layer norm over axes `axis..`; results `y` and, when asked, `mean` and `inv_std_dev`.
pub(super) fn layer_norm(
    axis: usize,
    epsilon: f32,
    inputs: &[&Tensor],
    outs: &[TensorType],
) -> Result<Vec<Tensor>, String> {
    let (x, rows, cols) = rows_of(inputs, axis)?;
    let dims = x.shape().dims();
    let xv = floats(x, "x")?;
    let sv = floats(operand(inputs, 1)?, "scale")?;
    let so = broadcast_offsets(operand(inputs, 1)?.shape().dims(), dims)?;
    let bias = match inputs.get(2) {
        Some(b) => Some((
            floats(b, "bias")?,
            broadcast_offsets(b.shape().dims(), dims)?,
        )),
        None => None,
    };
    let mut y = vec![0.0f32; xv.len()];
    let (mut means, mut inv_stds) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
    for r in 0..rows {
        let row = &xv[r * cols..(r + 1) * cols];
        let mean = row.iter().map(|&v| v as f64).sum::<f64>() / cols as f64;
        let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / cols as f64;
        let inv = 1.0 / (var + epsilon as f64).sqrt();
        for (j, &xj) in row.iter().enumerate() {
            let i = r * cols + j;
            let mut v = (xj as f64 - mean) * inv * sv[so[i]] as f64;
            if let Some((bv, bo)) = &bias {
                v += bv[bo[i]] as f64;
            }
            y[i] = v as f32;
        }
        means.push(mean as f32);
        inv_stds.push(inv as f32);
    }
    let mut results = vec![from_floats(&outs[0], y)?];
    for (ty, v) in outs.iter().skip(1).zip([means, inv_stds]) {
        results.push(from_floats(ty, v)?);
    }
    Ok(results)
}

/// `x / √(mean(x²) + ε) · scale` over axes `axis..`, in f64.
pub(super) fn rms_norm(
    axis: usize,
    epsilon: f32,
    inputs: &[&Tensor],
    outs: &[TensorType],
) -> Result<Vec<Tensor>, String> {
    let (x, _, cols) = rows_of(inputs, axis)?;
    let dims = x.shape().dims();
    let xv = floats(x, "x")?;
    let sv = floats(operand(inputs, 1)?, "scale")?;
    let so = broadcast_offsets(operand(inputs, 1)?.shape().dims(), dims)?;
    let mut y = vec![0.0f32; xv.len()];
    for (r, row) in xv.chunks(cols.max(1)).enumerate() {
        let ms = row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / cols as f64;
        let inv = 1.0 / (ms + epsilon as f64).sqrt();
        for (j, &xj) in row.iter().enumerate() {
            let i = r * cols + j;
            y[i] = (xj as f64 * inv * sv[so[i]] as f64) as f32;
        }
    }
    Ok(vec![from_floats(&outs[0], y)?])
}

/// `y = scale * (x - mean) / sqrt(var + eps) + bias` with statistics per image and channel.
pub(super) fn instance_norm(
    epsilon: f32,
    inputs: &[&Tensor],
    out: &TensorType,
) -> Result<Tensor, String> {
    let x = operand(inputs, 0)?;
    let (n, c, s) = nc_spatial(x)?;
    let scale = per_channel(operand(inputs, 1)?, "scale", c)?;
    let bias = per_channel(operand(inputs, 2)?, "bias", c)?;
    let mut y = floats(x, "x")?;
    for (i, chunk) in y.chunks_mut(s.max(1)).enumerate().take(n * c) {
        let ch = i % c;
        let mean = chunk.iter().map(|&v| v as f64).sum::<f64>() / s as f64;
        let var = chunk
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / s as f64;
        let inv = 1.0 / (var + epsilon as f64).sqrt();
        for e in chunk {
            *e = ((*e as f64 - mean) * inv * scale[ch] as f64 + bias[ch] as f64) as f32;
        }
    }
    from_floats(out, y)
}

/// Local response normalization across channels:
/// `y = x / (bias + alpha / size * sum(x[c']^2))^beta` for `c'` in
/// `[c - floor((size-1)/2), c + ceil((size-1)/2)]`.
pub(super) fn lrn(
    size: usize,
    alpha: f32,
    beta: f32,
    bias: f32,
    x: &Tensor,
    out: &TensorType,
) -> Result<Tensor, String> {
    let (n, c, s) = nc_spatial(x)?;
    if size == 0 {
        return Err("size must be positive".into());
    }
    let xv = floats(x, "x")?;
    let (lo, hi) = ((size - 1) / 2, size / 2);
    let mut y = vec![0.0f32; xv.len()];
    for ni in 0..n {
        for ci in 0..c {
            let (from, to) = (ci.saturating_sub(lo), (ci + hi).min(c - 1));
            for si in 0..s {
                let at = |ch: usize| xv[(ni * c + ch) * s + si] as f64;
                let sq: f64 = (from..=to).map(|ch| at(ch) * at(ch)).sum();
                let d = (bias as f64 + alpha as f64 / size as f64 * sq).powf(beta as f64);
                y[(ni * c + ci) * s + si] = (at(ci) / d) as f32;
            }
        }
    }
    from_floats(out, y)
}
