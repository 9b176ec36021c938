//! The data-dependent selections (NonZero, Compress): the upper-bound result, selected
//! entries first and the rest zero, and the count ([`crate::Extent`]).

use crate::{map_data, Data, Shape, Tensor, TensorType};

/// The count result.
fn count(n: usize) -> Result<Tensor, String> {
    Tensor::new(Shape(vec![]), Data::I32(vec![n as i32])).map_err(|e| e.to_string())
}

/// NonZero: `[rank, numel]` coordinates of the non-zero elements, then their count.
pub fn non_zero(x: &Tensor, out: &[TensorType]) -> Result<Vec<Tensor>, String> {
    let dims = x.shape().dims();
    let (rank, numel) = (dims.len(), x.numel());
    let values = x.data().to_f64_vec();
    let mut coords = vec![0i32; rank * numel];
    let mut n = 0;
    for (flat, v) in values.iter().enumerate() {
        if *v != 0.0 {
            let mut rest = flat;
            for d in (0..rank).rev() {
                coords[d * numel + n] = (rest % dims[d]) as i32;
                rest /= dims[d];
            }
            n += 1;
        }
    }
    let ty = out.first().ok_or("no result type")?;
    let indices = Tensor::new(ty.shape.clone(), Data::I32(coords)).map_err(|e| e.to_string())?;
    Ok(vec![indices, count(n)?])
}

/// Compress: the slices of `x` along `axis` (of `x` flattened when `None`) where
/// `condition` holds, first, the rest zero; then their count.
pub fn compress(
    axis: Option<usize>,
    x: &Tensor,
    condition: &Tensor,
    out: &[TensorType],
) -> Result<Vec<Tensor>, String> {
    let ty = out.first().ok_or("no result type")?;
    let dims = x.shape().dims();
    let (outer, len, inner) = match axis {
        None => (1, x.numel(), 1),
        Some(a) => (
            dims[..a].iter().product(),
            dims[a],
            dims[a + 1..].iter().product(),
        ),
    };
    let bound = match axis {
        None => ty.shape.dims()[0],
        Some(a) => ty.shape.dims()[a],
    };
    let keep: Vec<usize> = match &*condition.data() {
        Data::Bool(c) => (0..bound).filter(|&i| c[i]).collect(),
        _ => return Err("condition must be bool".into()),
    };
    // The kept slices, then copies of element 0 (zeroed below) for the padding.
    let mut indices = Vec::with_capacity(outer * bound * inner);
    let mut pad = Vec::with_capacity(outer * bound * inner);
    for o in 0..outer {
        for j in 0..bound {
            for i in 0..inner {
                match keep.get(j) {
                    Some(&k) => {
                        indices.push((o * len + k) * inner + i);
                        pad.push(false);
                    }
                    None => {
                        indices.push(0);
                        pad.push(true);
                    }
                }
            }
        }
    }
    if x.numel() == 0 {
        let empty = Tensor::new(ty.shape.clone(), x.data().take(&[])).map_err(|e| e.to_string())?;
        return Ok(vec![empty, count(0)?]);
    }
    let picked = x.data().take(&indices);
    let data = map_data!(&picked, v => v
        .iter()
        .zip(&pad)
        .map(|(x, &p)| if p { Default::default() } else { *x })
        .collect());
    let y = Tensor::new(ty.shape.clone(), data).map_err(|e| e.to_string())?;
    Ok(vec![y, count(keep.len())?])
}
