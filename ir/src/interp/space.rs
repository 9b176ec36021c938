//! DepthToSpace (DCR and CRD) and SpaceToDepth, as a reshape, a transpose and a reshape.

use super::movement::transpose;
use crate::{DepthToSpaceMode, Tensor, TensorType};

/// `x` viewed as `view`, permuted by `perm`, then viewed as `out`.
fn rearrange(
    x: &Tensor,
    view: [usize; 6],
    perm: [usize; 6],
    out: &TensorType,
) -> Result<Tensor, String> {
    let v = x.reshaped(view.to_vec()).map_err(|e| e.to_string())?;
    let permuted = TensorType::new(x.dtype(), perm.map(|p| view[p]).to_vec());
    transpose(&perm, &v, &permuted)?
        .reshaped(out.shape.clone())
        .map_err(|e| e.to_string())
}

/// `[n, c, h, w]` of a rank-4 operand.
fn nchw(x: &Tensor) -> Result<[usize; 4], String> {
    <[usize; 4]>::try_from(x.shape().dims())
        .map_err(|_| format!("needs an NCHW operand, got {}", x.ty()))
}

/// Moves depth blocks of `blocksize²` channels into `blocksize × blocksize` spatial blocks.
pub(super) fn depth_to_space(
    b: usize,
    mode: DepthToSpaceMode,
    x: &Tensor,
    out: &TensorType,
) -> Result<Tensor, String> {
    let [n, c, h, w] = nchw(x)?;
    if b == 0 || c % (b * b) != 0 {
        return Err(format!(
            "{c} channels are not a multiple of blocksize² = {}",
            b * b
        ));
    }
    let d = c / (b * b);
    match mode {
        DepthToSpaceMode::Dcr => rearrange(x, [n, b, b, d, h, w], [0, 3, 4, 1, 5, 2], out),
        DepthToSpaceMode::Crd => rearrange(x, [n, d, b, b, h, w], [0, 1, 4, 2, 5, 3], out),
    }
}

/// Moves `blocksize × blocksize` spatial blocks into depth.
pub(super) fn space_to_depth(b: usize, x: &Tensor, out: &TensorType) -> Result<Tensor, String> {
    let [n, c, h, w] = nchw(x)?;
    if b == 0 || h % b != 0 || w % b != 0 {
        return Err(format!(
            "spatial size {h}×{w} is not a multiple of blocksize {b}"
        ));
    }
    rearrange(x, [n, c, h / b, b, w / b, b], [0, 3, 5, 1, 2, 4], out)
}
