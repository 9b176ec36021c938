//! Element-wise ops: unary and binary math, variadic Sum/Max/Min/Mean, Clip, Where,
//! SwiGLU, Cast/CastLike, Identity and Dropout.

use crate::builder::Cx;
use crate::error::ImportError;
use crate::proto::data_type;
use crate::tensor_proto::ir_dtype;
use kiln_ir::{BinaryOp, DType, Data, Handle, Op, Tensor, UnaryOp, Value};

type Outs = Result<Vec<Handle<Value>>, ImportError>;

/// Rejects the pre-opset-7 `broadcast`/`axis` attributes, which kiln does not model.
fn check_legacy_broadcast(cx: &Cx) -> Result<(), ImportError> {
    if cx.opset < 7 && cx.attr("axis").is_some() {
        return Err(
            cx.err("legacy broadcast with an 'axis' attribute (opset < 7) is not supported")
        );
    }
    Ok(())
}

pub(super) fn binary(cx: &mut Cx, op: BinaryOp) -> Outs {
    check_legacy_broadcast(cx)?;
    let (a, b) = (cx.input(0)?, cx.input(1)?);
    Ok(vec![cx.binary(op, a, b)?])
}

/// Pow allows an exponent of another numeric type: it is cast to the base's type.
pub(super) fn pow(cx: &mut Cx) -> Outs {
    check_legacy_broadcast(cx)?;
    let (a, b) = (cx.input(0)?, cx.input(1)?);
    let b = cx.cast(b, cx.ty(a).dtype)?;
    Ok(vec![cx.binary(BinaryOp::Pow, a, b)?])
}

/// Sum/Max/Min/Mean: a chain of binaries over all operands (Mean then divides).
pub(super) fn variadic(cx: &mut Cx, op: BinaryOp, mean: bool) -> Outs {
    let xs = cx.inputs()?;
    let Some((&first, rest)) = xs.split_first() else {
        return Err(cx.err("needs at least one operand"));
    };
    let mut acc = first;
    for &x in rest {
        acc = cx.binary(op, acc, x)?;
    }
    if rest.is_empty() {
        acc = cx.add(Op::Identity, &[acc])?;
    }
    if mean && !rest.is_empty() {
        let n = cx.scalar(cx.ty(acc).dtype, xs.len() as f64)?;
        acc = cx.binary(BinaryOp::Div, acc, n)?;
    }
    Ok(vec![acc])
}

pub(super) fn where_(cx: &mut Cx) -> Outs {
    let (c, x, y) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
    Ok(vec![cx.add(Op::Where, &[c, x, y])?])
}

/// Clip → max(x, min) then min(.., max); an absent bound is skipped.
pub(super) fn clip(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let dtype = cx.ty(x).dtype;
    let (lo, hi) = if cx.opset < 11 {
        let lo = cx.attr("min").map(|a| a.f);
        let hi = cx.attr("max").map(|a| a.f);
        let lo = lo.map(|v| cx.scalar(dtype, v as f64)).transpose()?;
        let hi = hi.map(|v| cx.scalar(dtype, v as f64)).transpose()?;
        (lo, hi)
    } else {
        (cx.opt_input(1)?, cx.opt_input(2)?)
    };
    let mut y = x;
    if let Some(lo) = lo {
        y = cx.binary(BinaryOp::Max, y, lo)?;
    }
    if let Some(hi) = hi {
        y = cx.binary(BinaryOp::Min, y, hi)?;
    }
    if y == x {
        y = cx.add(Op::Identity, &[x])?;
    }
    Ok(vec![y])
}

pub(super) fn unary(cx: &mut Cx, op: UnaryOp) -> Outs {
    let x = cx.input(0)?;
    Ok(vec![cx.unary(op, x)?])
}

pub(super) fn leaky_relu(cx: &mut Cx) -> Outs {
    let alpha = cx.attr_f("alpha", 0.01)?;
    unary(cx, UnaryOp::LeakyRelu { alpha })
}

pub(super) fn elu(cx: &mut Cx) -> Outs {
    let alpha = cx.attr_f("alpha", 1.0)?;
    unary(cx, UnaryOp::Elu { alpha })
}

pub(super) fn selu(cx: &mut Cx) -> Outs {
    let alpha = cx.attr_f("alpha", 1.673_263_2)?;
    let gamma = cx.attr_f("gamma", 1.050_701)?;
    unary(cx, UnaryOp::Selu { alpha, gamma })
}

pub(super) fn hard_sigmoid(cx: &mut Cx) -> Outs {
    let alpha = cx.attr_f("alpha", 0.2)?;
    let beta = cx.attr_f("beta", 0.5)?;
    unary(cx, UnaryOp::HardSigmoid { alpha, beta })
}

pub(super) fn gelu(cx: &mut Cx) -> Outs {
    let tanh = match cx.attr_s("approximate")?.as_deref() {
        None | Some("none") => false,
        Some("tanh") => true,
        Some(other) => return Err(cx.err(format!("approximate '{other}' is not supported"))),
    };
    unary(cx, UnaryOp::Gelu { tanh })
}

/// `x · sigmoid(alpha · x)`: kiln's SiLU when `alpha` is 1.
fn swish_of(cx: &mut Cx, x: Handle<Value>, alpha: f32) -> Result<Handle<Value>, ImportError> {
    if alpha == 1.0 {
        return cx.unary(UnaryOp::Silu, x);
    }
    let a = cx.scalar(cx.ty(x).dtype, alpha as f64)?;
    let ax = cx.binary(BinaryOp::Mul, x, a)?;
    let gate = cx.unary(UnaryOp::Sigmoid, ax)?;
    cx.binary(BinaryOp::Mul, x, gate)
}

/// SwiGLU: `swish_alpha(a) · b`, operands of one shape.
pub(super) fn swiglu(cx: &mut Cx) -> Outs {
    let (a, b) = (cx.input(0)?, cx.input(1)?);
    if cx.ty(a) != cx.ty(b) {
        return Err(cx.err(format!(
            "A and B must have one shape and type, got {} and {}",
            cx.ty(a),
            cx.ty(b)
        )));
    }
    let alpha = cx.attr_f("alpha", 1.0)?;
    let gate = swish_of(cx, a, alpha)?;
    Ok(vec![cx.binary(BinaryOp::Mul, gate, b)?])
}

pub(super) fn cast(cx: &mut Cx) -> Outs {
    let code = cx.attr_i("to", 0)? as i32;
    let (to, _) = ir_dtype(code).ok_or_else(|| {
        cx.err(format!(
            "cast to {} is not supported (kiln has no such dtype)",
            data_type::name(code)
        ))
    })?;
    let x = cx.input(0)?;
    let y = cast_saturating(cx, x, to)?;
    if code == data_type::BFLOAT16 {
        let name = cx.node_name();
        return Ok(vec![crate::bf16::exact(cx.imp, y, &name)?]);
    }
    Ok(vec![y])
}

/// BitCast: each element's bits as `to` (same width; the IR op checks it).
pub(super) fn bitcast(cx: &mut Cx) -> Outs {
    let code = cx.attr_i("to", 0)? as i32;
    let (to, _) = ir_dtype(code)
        .filter(|(_, w)| !w.is_wide())
        .ok_or_else(|| {
            cx.err(format!(
                "bitcast to {} is not supported (kiln has no such dtype)",
                data_type::name(code)
            ))
        })?;
    let x = cx.input(0)?;
    Ok(vec![cx.add(Op::BitCast { to }, &[x])?])
}

pub(super) fn cast_like(cx: &mut Cx) -> Outs {
    let (x, like) = (cx.input(0)?, cx.input(1)?);
    let to = cx.ty(like).dtype;
    let y = cast_saturating(cx, x, to)?;
    if cx.imp.bf16.contains_key(&like) {
        let name = cx.node_name();
        return Ok(vec![crate::bf16::exact(cx.imp, y, &name)?]);
    }
    Ok(vec![y])
}

/// `x` cast to `to`. A float cast to an 8-bit float saturates unless the `saturate`
/// attribute is 0 (opset 19): then out-of-range values become infinity or NaN, as
/// `quantize` with scale 1 and saturation off computes it.
fn cast_saturating(cx: &mut Cx, x: Handle<Value>, to: DType) -> Result<Handle<Value>, ImportError> {
    if to.is_minifloat() && cx.ty(x).dtype.is_float() && cx.attr_i("saturate", 1)? == 0 {
        let x = cx.cast(x, DType::F32)?;
        let one = cx.scalar(DType::F32, 1.0)?;
        let zero = cx.scalar(to, 0.0)?;
        let q = Op::Quantize {
            axis: 0,
            block: 0,
            saturate: false,
        };
        return cx.add(q, &[x, one, zero]);
    }
    cx.add(Op::Cast { to }, &[x])
}

pub(super) fn identity(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    Ok(vec![cx.add(Op::Identity, &[x])?])
}

/// Dropout at inference is the identity; the mask result is all true. In training
/// mode only a zero ratio is supported (the mask is random otherwise).
pub(super) fn dropout(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let training = if cx.opset >= 12 {
        match cx.opt_static_ints(2, "training_mode")? {
            Some(v) => v.first().copied().unwrap_or(0) != 0,
            None => false,
        }
    } else {
        cx.attr_i("is_test", 1)? == 0 && cx.opset < 7
    };
    if training {
        let ratio = match cx.opt_static_floats(1, "ratio")? {
            Some(v) => v.first().copied().unwrap_or(0.5),
            None => 0.5,
        };
        if ratio != 0.0 {
            return Err(cx.err(format!(
                "training mode with ratio {ratio} draws a random mask; not supported"
            )));
        }
    }
    let y = cx.add(Op::Identity, &[x])?;
    let mut outs = vec![y];
    if cx.num_outputs() > 1 {
        let shape = cx.dims(x);
        let mask =
            Tensor::splat(shape, Data::Bool(vec![true])).map_err(|e| cx.err(e.to_string()))?;
        outs.push(cx.constant(mask));
    }
    Ok(outs)
}

/// Mod: `fmod = 1` is C's fmod (the dividend's sign), `fmod = 0` numpy's mod (the
/// divisor's sign).
pub(super) fn mod_(cx: &mut Cx) -> Outs {
    let op = match cx.attr_i("fmod", 0)? {
        0 => BinaryOp::Mod,
        1 => BinaryOp::Fmod,
        other => return Err(cx.err(format!("fmod must be 0 or 1, got {other}"))),
    };
    binary(cx, op)
}

/// BitShift: `direction` LEFT or RIGHT.
pub(super) fn bit_shift(cx: &mut Cx) -> Outs {
    let op = match cx.attr_s("direction")?.as_deref() {
        Some("LEFT") => BinaryOp::ShiftLeft,
        Some("RIGHT") => BinaryOp::ShiftRight,
        Some(other) => return Err(cx.err(format!("direction '{other}' is not supported"))),
        None => return Err(cx.err("attribute 'direction' is required")),
    };
    binary(cx, op)
}

/// IsInf: `is_inf`, narrowed to one sign by `detect_positive` / `detect_negative`.
pub(super) fn is_inf(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let positive = cx.attr_i("detect_positive", 1)? != 0;
    let negative = cx.attr_i("detect_negative", 1)? != 0;
    let inf = cx.unary(UnaryOp::IsInf, x)?;
    if positive && negative {
        return Ok(vec![inf]);
    }
    let sign = match (positive, negative) {
        (true, false) => {
            let zero = cx.scalar(cx.ty(x).dtype, 0.0)?;
            cx.binary(BinaryOp::Greater, x, zero)?
        }
        (false, true) => {
            let zero = cx.scalar(cx.ty(x).dtype, 0.0)?;
            cx.binary(BinaryOp::Less, x, zero)?
        }
        _ => cx.scalar(DType::Bool, 0.0)?,
    };
    Ok(vec![cx.binary(BinaryOp::And, inf, sign)?])
}
