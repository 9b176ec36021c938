//! CausalConvWithState: the past state (or zeros) concatenated before the input along
//! time, a depthwise 1-D convolution over that, an optional SiLU, and the new state as
//! the last `k - 1` timesteps of the concatenation.

use crate::builder::Cx;
use crate::error::ImportError;
use kiln_ir::{ConvAttrs, DType, Handle, Op, PadMode, UnaryOp as U, Value};

type Outs = Result<Vec<Handle<Value>>, ImportError>;

/// Operands `input` `(B, C, L)`, `weight` `(C, 1, k)`, optional `bias` `(C)` and
/// `past_state` `(B, C, k - 1)`; results `output` `(B, C, L)` and `present_state`
/// `(B, C, k - 1)`.
pub(super) fn causal_conv_with_state(cx: &mut Cx) -> Outs {
    let (x, w) = (cx.input(0)?, cx.input(1)?);
    let bias = cx.opt_input(2)?;
    let past = cx.opt_input(3)?;
    let dtype = cx.ty(x).dtype;
    if !dtype.is_float() {
        return Err(cx.err(format!("input must be a float tensor, got {dtype}")));
    }
    let activation = cx.attr_s("activation")?.unwrap_or_else(|| "none".into());
    let silu = match activation.as_str() {
        "none" => false,
        "silu" | "swish" => true,
        other => {
            return Err(cx.err(format!(
                "activation '{other}' is not one of 'none', 'silu', 'swish'"
            )))
        }
    };
    let xd = cx.dims(x);
    let wd = cx.dims(w);
    let [b, c, _] = xd[..] else {
        return Err(cx.err(format!("input must be rank 3 (B, C, L), got {xd:?}")));
    };
    let [wc, 1, k] = wd[..] else {
        return Err(cx.err(format!("weight must have shape (C, 1, k), got {wd:?}")));
    };
    if wc != c || k == 0 {
        return Err(cx.err(format!(
            "weight {wd:?} does not fit input {xd:?}: expected ({c}, 1, k) with k ≥ 1"
        )));
    }
    if let Some(bias) = bias {
        if cx.dims(bias) != [c] {
            return Err(cx.err(format!(
                "bias must have shape ({c}), got {:?}",
                cx.dims(bias)
            )));
        }
    }
    let padded = match past {
        Some(p) => {
            if cx.dims(p) != [b, c, k - 1] {
                return Err(cx.err(format!(
                    "past_state must have shape ({b}, {c}, {}), got {:?}",
                    k - 1,
                    cx.dims(p)
                )));
            }
            if k == 1 {
                x
            } else {
                cx.add(Op::Concat { axis: 2 }, &[p, x])?
            }
        }
        None if k == 1 => x,
        None => cx.add(
            Op::Pad {
                mode: PadMode::Constant,
                pads: vec![0, 0, k as i64 - 1, 0, 0, 0],
            },
            &[x],
        )?,
    };
    let attrs = ConvAttrs {
        strides: vec![1],
        pads: vec![0, 0],
        dilations: vec![1],
        group: c,
    };
    let mut ins = vec![padded, w];
    ins.extend(bias);
    let mut y = cx.add(Op::Conv(attrs), &ins)?;
    if silu {
        // The reference applies SiLU in f32 to the convolution rounded to the input type.
        let y32 = cx.cast(y, DType::F32)?;
        let s = cx.unary(U::Silu, y32)?;
        y = cx.cast(s, dtype)?;
    }
    let total = cx.dims(padded)[2];
    let state = cx.slice_axis(padded, 2, total - (k - 1), k - 1)?;
    Ok(vec![y, state])
}
