//! STFT: the signal's frames gathered at constant indices, multiplied by the window,
//! and transformed by the DFT matrix of `ops/dft.rs` (frame step and length must be
//! known at import).

use super::dft::{transform, Mode};
use crate::builder::Cx;
use crate::error::ImportError;
use kiln_ir::{BinaryOp as B, Data, Handle, Op, Tensor, Value};

type Outs = Result<Vec<Handle<Value>>, ImportError>;

/// The most samples the frames may hold together (their gather indices are a constant).
const MAX_FRAMES: usize = 1 << 26;

/// Operands `signal` `[B, L, c]`, `frame_step`, optional `window` `[W]` and
/// `frame_length`; result `[B, frames, bins, 2]`.
pub(super) fn stft(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let dims = cx.dims(x);
    let [_, len, c] = dims[..] else {
        return Err(cx.err(format!("signal must be rank 3 [B, L, c], got {dims:?}")));
    };
    if c != 1 && c != 2 {
        return Err(cx.err(format!(
            "the signal's last axis holds real (1) or real and imaginary (2) parts, got {c}"
        )));
    }
    let scalar = |cx: &Cx, v: Vec<i64>, role: &str| -> Result<i64, ImportError> {
        match v[..] {
            [s] => Ok(s),
            _ => Err(cx.err(format!("{role} must be a scalar, got {v:?}"))),
        }
    };
    let step = cx.static_ints(1, "frame_step")?;
    let step = scalar(cx, step, "frame_step")?;
    if step < 1 {
        return Err(cx.err(format!("frame_step must be positive, got {step}")));
    }
    let step = step as usize;
    let window = cx.opt_input(2)?;
    let window_len = match window {
        Some(w) => match cx.dims(w)[..] {
            [n] => Some(n),
            ref d => return Err(cx.err(format!("window must be 1-D, got {d:?}"))),
        },
        None => None,
    };
    let frame_len = match cx.opt_static_ints(3, "frame_length")? {
        Some(v) => {
            let f = scalar(cx, v, "frame_length")?;
            if f < 1 {
                return Err(cx.err(format!("frame_length must be positive, got {f}")));
            }
            if window_len.is_some_and(|w| w as i64 != f) {
                return Err(cx.err(format!(
                    "frame_length {f} differs from the window's length {}",
                    window_len.unwrap_or(0)
                )));
            }
            f as usize
        }
        None => window_len.unwrap_or(len),
    };
    if frame_len == 0 || frame_len > len {
        return Err(cx.err(format!(
            "frame length {frame_len} must be between 1 and the signal length {len}"
        )));
    }
    let frames = 1 + (len - frame_len) / step;
    if len > i32::MAX as usize || frames.saturating_mul(frame_len) > MAX_FRAMES {
        return Err(cx.err(format!(
            "{frames} frames of {frame_len} samples are more than kiln gathers ({MAX_FRAMES} \
             samples of a signal of at most 2^31 - 1)"
        )));
    }
    let onesided = match cx.attr_i("onesided", 1)? {
        0 => Mode::Forward,
        1 => Mode::ForwardOnesided,
        v => return Err(cx.err(format!("onesided must be 0 or 1, got {v}"))),
    };
    // Frame f, sample i is signal sample f·step + i.
    let idx: Vec<i32> = (0..frames)
        .flat_map(|f| (0..frame_len).map(move |i| (f * step + i) as i32))
        .collect();
    let idx =
        Tensor::new(vec![frames, frame_len], Data::I32(idx)).map_err(|e| cx.err(e.to_string()))?;
    let idx = cx.constant(idx);
    let mut v = cx.add(Op::Gather { axis: 1 }, &[x, idx])?;
    if let Some(w) = window {
        let dtype = cx.ty(x).dtype;
        let w = cx.cast(w, dtype)?;
        let w = cx.reshape(w, vec![1, 1, frame_len, 1])?;
        v = cx.binary(B::Mul, v, w)?;
    }
    Ok(vec![transform(cx, v, 2, frame_len, onesided)?])
}
