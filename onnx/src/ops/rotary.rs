//! ONNX `RotaryEmbedding` (opset 23) as slices, products and concatenations: the
//! first `rotary_embedding_dim` features of each head are rotated pairwise (halves, or
//! even/odd features when `interleaved`) by the cos/sin caches, the rest pass through.

use crate::builder::Cx;
use crate::error::ImportError;
use kiln_ir::{BinaryOp, Handle, Op, Value};

type Outs = Result<Vec<Handle<Value>>, ImportError>;
type V = Handle<Value>;

/// `x[..., start + i·step]` for `i < len` along the last axis.
fn last_axis(cx: &mut Cx, x: V, start: usize, step: usize, len: usize) -> Result<V, ImportError> {
    let last = cx.rank(x) - 1;
    cx.slice_strided(x, last, start, step, len)
}

pub(super) fn rotary_embedding(cx: &mut Cx) -> Outs {
    let input = cx.input(0)?;
    let (cos, sin) = (cx.input(1)?, cx.input(2)?);
    let positions = cx.opt_input(3)?;
    let interleaved = cx.attr_i("interleaved", 0)? != 0;
    let dims = cx.dims(input);
    // Work in [B, H, S, D] (4-D input) or [B, S, H, D] (3-D input split into heads).
    let (x, seq_axis) = match dims.len() {
        4 => (input, 2),
        3 => {
            let heads = cx.attr_i("num_heads", 0)?;
            if heads <= 0 || !dims[2].is_multiple_of(heads as usize) {
                return Err(cx.err(format!(
                    "3-D input {dims:?} needs num_heads dividing its hidden size"
                )));
            }
            let h = heads as usize;
            (
                cx.reshape(input, vec![dims[0], dims[1], h, dims[2] / h])?,
                1,
            )
        }
        _ => return Err(cx.err(format!("input must be 3-D or 4-D, got {}", cx.ty(input)))),
    };
    let xd = cx.dims(x);
    let (batch, seq, head) = (xd[0], xd[seq_axis], xd[3]);
    let rd = match cx.attr_i("rotary_embedding_dim", 0)? {
        0 => head,
        d if d > 0 && d as usize <= head && d % 2 == 0 => d as usize,
        d => {
            return Err(cx.err(format!(
                "rotary_embedding_dim {d} must be even and at most the head size {head}"
            )))
        }
    };
    let half = rd / 2;
    // The caches as [B, S, rd/2], then broadcast over heads.
    let mut caches = [cos, sin];
    for c in &mut caches {
        if let Some(p) = positions {
            let cd = cx.dims(*c);
            if cd.len() != 2 || cx.dims(p) != [batch, seq] {
                return Err(cx.err(format!(
                    "with position_ids {}, caches must be [max_pos, {half}], got {}",
                    cx.ty(p),
                    cx.ty(*c)
                )));
            }
            let p = cx.cast(p, kiln_ir::DType::I32)?;
            *c = cx.add(Op::Gather { axis: 0 }, &[*c, p])?;
        }
        if cx.dims(*c) != [batch, seq, half] || cx.ty(*c).dtype != cx.ty(x).dtype {
            return Err(cx.err(format!(
                "cache {} must be [{batch}, {seq}, {half}] (after position_ids) of the input's type",
                cx.ty(*c)
            )));
        }
        let shape = if seq_axis == 2 {
            vec![batch, 1, seq, half]
        } else {
            vec![batch, seq, 1, half]
        };
        *c = cx.reshape(*c, shape)?;
    }
    let [cos, sin] = caches;
    let (x1, x2) = if interleaved {
        (last_axis(cx, x, 0, 2, half)?, last_axis(cx, x, 1, 2, half)?)
    } else {
        (
            last_axis(cx, x, 0, 1, half)?,
            last_axis(cx, x, half, 1, half)?,
        )
    };
    let a = cx.binary(BinaryOp::Mul, cos, x1)?;
    let b = cx.binary(BinaryOp::Mul, sin, x2)?;
    let real = cx.binary(BinaryOp::Sub, a, b)?;
    let a = cx.binary(BinaryOp::Mul, sin, x1)?;
    let b = cx.binary(BinaryOp::Mul, cos, x2)?;
    let imag = cx.binary(BinaryOp::Add, a, b)?;
    let rotated = if interleaved {
        let mut pair = cx.dims(real);
        pair.push(1);
        let r = cx.reshape(real, pair.clone())?;
        let i = cx.reshape(imag, pair)?;
        let both = cx.add(Op::Concat { axis: 4 }, &[r, i])?;
        let mut flat = xd.clone();
        flat[3] = rd;
        cx.reshape(both, flat)?
    } else {
        cx.add(Op::Concat { axis: 3 }, &[real, imag])?
    };
    let y = if rd < head {
        let rest = last_axis(cx, x, rd, 1, head - rd)?;
        cx.add(Op::Concat { axis: 3 }, &[rotated, rest])?
    } else {
        rotated
    };
    Ok(vec![cx.reshape(y, dims)?])
}
