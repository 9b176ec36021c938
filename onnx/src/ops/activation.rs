//! Activations composed from the IR's element-wise ops: Celu, Shrink,
//! ThresholdedRelu, Softsign and Swish.

use crate::builder::Cx;
use crate::error::ImportError;
use kiln_ir::{BinaryOp as B, Handle, UnaryOp as U, Value};

type Outs = Result<Vec<Handle<Value>>, ImportError>;

/// The operand, which must be a float tensor.
fn float_input(cx: &Cx) -> Result<Handle<Value>, ImportError> {
    let x = cx.input(0)?;
    let dtype = cx.ty(x).dtype;
    if !dtype.is_float() {
        return Err(cx.err(format!("needs a float operand, got {dtype}")));
    }
    Ok(x)
}

/// Celu: `max(0, x) + min(0, α·(e^(x/α) − 1))`, which is `α·elu(x / α)`.
pub(super) fn celu(cx: &mut Cx) -> Outs {
    let x = float_input(cx)?;
    let alpha = cx.attr_f("alpha", 1.0)?;
    if alpha == 0.0 {
        return Err(cx.err("alpha must not be 0"));
    }
    let a = cx.scalar(cx.ty(x).dtype, alpha as f64)?;
    let scaled = cx.binary(B::Div, x, a)?;
    let elu = cx.unary(U::Elu { alpha: 1.0 }, scaled)?;
    Ok(vec![cx.binary(B::Mul, elu, a)?])
}

/// Shrink: `x + bias` below `−lambd`, `x − bias` above `lambd`, 0 between.
pub(super) fn shrink(cx: &mut Cx) -> Outs {
    let x = float_input(cx)?;
    let dtype = cx.ty(x).dtype;
    let lambd = cx.attr_f("lambd", 0.5)? as f64;
    let bias = cx.attr_f("bias", 0.0)? as f64;
    let (lo, hi) = (cx.scalar(dtype, -lambd)?, cx.scalar(dtype, lambd)?);
    let (b, zero) = (cx.scalar(dtype, bias)?, cx.scalar(dtype, 0.0)?);
    let below = cx.binary(B::Less, x, lo)?;
    let above = cx.binary(B::Greater, x, hi)?;
    let plus = cx.binary(B::Add, x, b)?;
    let minus = cx.binary(B::Sub, x, b)?;
    let upper = cx.add(kiln_ir::Op::Where, &[above, minus, zero])?;
    Ok(vec![cx.add(kiln_ir::Op::Where, &[below, plus, upper])?])
}

/// ThresholdedRelu: `x` where `x > alpha`, else 0.
pub(super) fn thresholded_relu(cx: &mut Cx) -> Outs {
    let x = float_input(cx)?;
    let dtype = cx.ty(x).dtype;
    let alpha = cx.attr_f("alpha", 1.0)?;
    let (a, zero) = (cx.scalar(dtype, alpha as f64)?, cx.scalar(dtype, 0.0)?);
    let keep = cx.binary(B::Greater, x, a)?;
    Ok(vec![cx.add(kiln_ir::Op::Where, &[keep, x, zero])?])
}

/// Softsign: `x / (1 + |x|)`.
pub(super) fn softsign(cx: &mut Cx) -> Outs {
    let x = float_input(cx)?;
    let one = cx.scalar(cx.ty(x).dtype, 1.0)?;
    let abs = cx.unary(U::Abs, x)?;
    let d = cx.binary(B::Add, abs, one)?;
    Ok(vec![cx.binary(B::Div, x, d)?])
}

/// Swish: `x · sigmoid(alpha · x)` (`silu` when alpha is 1).
pub(super) fn swish(cx: &mut Cx) -> Outs {
    let x = float_input(cx)?;
    let alpha = cx.attr_f("alpha", 1.0)?;
    if alpha == 1.0 {
        return Ok(vec![cx.unary(U::Silu, x)?]);
    }
    let a = cx.scalar(cx.ty(x).dtype, alpha as f64)?;
    let ax = cx.binary(B::Mul, x, a)?;
    let s = cx.unary(U::Sigmoid, ax)?;
    Ok(vec![cx.binary(B::Mul, x, s)?])
}
