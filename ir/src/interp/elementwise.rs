//! Element-wise ops: Unary, Binary (numpy broadcasting), Where and Cast.
//!
//! Float math is done in `f64` and rounded once to the result type (f32 or f16);
//! integer math in wrapping `i64`, truncated back to the result's width.

use super::index::{broadcast_offsets, Elem};
use super::{floats, from_floats, tensor};
use crate::{dispatch_data, BinaryOp, DType, Data, Tensor, TensorType, UnaryOp};
use half::f16;

/// `f(x)` element-wise.
pub(super) fn unary(op: UnaryOp, x: &Tensor, out: &TensorType) -> Result<Tensor, String> {
    let xd = x.data();
    if op == UnaryOp::Not {
        return match &*xd {
            Data::Bool(v) => tensor(out, Data::Bool(v.iter().map(|b| !b).collect())),
            d => Err(format!("not needs bool, got {}", d.dtype())),
        };
    }
    if op.returns_bool() {
        let v = floats(x, "operand").map_err(|_| format!("{} needs floats", op.name()))?;
        let f: fn(f32) -> bool = if op == UnaryOp::IsNan {
            f32::is_nan
        } else {
            f32::is_infinite
        };
        return tensor(out, Data::Bool(v.into_iter().map(f).collect()));
    }
    if x.dtype().is_float() {
        let v = floats(x, "operand")?;
        let y = v
            .into_iter()
            .map(|a| unary_float(op, a as f64) as f32)
            .collect();
        return from_floats(out, y);
    }
    let v = xd
        .to_i64_vec()
        .filter(|_| x.dtype().is_int())
        .ok_or_else(|| format!("{} needs numbers, got {}", op.name(), x.dtype()))?;
    let f: fn(i64) -> i64 = match op {
        UnaryOp::Neg => |a| a.wrapping_neg(),
        UnaryOp::Abs => |a| a.abs(),
        UnaryOp::Sign => |a| a.signum(),
        UnaryOp::Relu => |a| a.max(0),
        UnaryOp::Floor | UnaryOp::Ceil | UnaryOp::Round => |a| a,
        // The complement of the sign- or zero-extended value, wrapped to the width.
        UnaryOp::BitNot => |a| !a,
        _ => {
            return Err(format!(
                "{} is defined on floats only, got {}",
                op.name(),
                x.dtype()
            ))
        }
    };
    tensor(out, ints(out.dtype, v.into_iter().map(f))?)
}

/// One float unary function.
fn unary_float(op: UnaryOp, x: f64) -> f64 {
    use UnaryOp::*;
    match op {
        Neg => -x,
        Abs => x.abs(),
        Sqrt => x.sqrt(),
        Reciprocal => 1.0 / x,
        Exp => x.exp(),
        Log => x.ln(),
        Erf => erf(x),
        Floor => x.floor(),
        Ceil => x.ceil(),
        Round => x.round_ties_even(),
        Sign => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                x // 0, -0 and NaN map to themselves
            }
        }
        Sin => x.sin(),
        Cos => x.cos(),
        Tanh => x.tanh(),
        Sigmoid => sigmoid(x),
        Relu => {
            if x < 0.0 {
                0.0
            } else {
                x
            }
        }
        Softplus => softplus(x),
        Mish => x * softplus(x).tanh(),
        HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
        Silu => x / (1.0 + (-x).exp()),
        Tan => x.tan(),
        Sinh => x.sinh(),
        Cosh => x.cosh(),
        Asin => x.asin(),
        Acos => x.acos(),
        Atan => x.atan(),
        Asinh => x.asinh(),
        Acosh => x.acosh(),
        Atanh => x.atanh(),
        // Bool and integer ops; handled by the caller.
        Not | IsNan | IsInf | BitNot => f64::NAN,
        LeakyRelu { alpha } => {
            if x < 0.0 {
                alpha as f64 * x
            } else {
                x
            }
        }
        Elu { alpha } => {
            if x < 0.0 {
                alpha as f64 * x.exp_m1()
            } else {
                x
            }
        }
        Selu { alpha, gamma } => {
            let y = if x <= 0.0 {
                alpha as f64 * x.exp_m1()
            } else {
                x
            };
            gamma as f64 * y
        }
        HardSigmoid { alpha, beta } => (alpha as f64 * x + beta as f64).clamp(0.0, 1.0),
        Gelu { tanh: false } => 0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2)),
        Gelu { tanh: true } => {
            let c = (2.0 / std::f64::consts::PI).sqrt();
            0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
        }
    }
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `ln(1 + e^x)` without overflow.
fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// The error function, accurate to ~1e-13: Maclaurin series for |x| < 3, the
/// continued fraction of erfc beyond.
pub(super) fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    let r = if a < 3.0 {
        // erf(a) = 2/sqrt(pi) * sum (-1)^n a^(2n+1) / (n! (2n+1))
        let (mut term, mut sum, mut n) = (a, a, 0.0);
        while term.abs() > 1e-17 * sum.abs() {
            n += 1.0;
            term *= -a * a / n;
            sum += term / (2.0 * n + 1.0);
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        // erfc(a) = exp(-a^2)/sqrt(pi) / (a + (1/2)/(a + 1/(a + (3/2)/(a + ...))))
        let mut t = a;
        for k in (1..=80).rev() {
            t = a + (k as f64 / 2.0) / t;
        }
        1.0 - (-a * a).exp() / (std::f64::consts::PI.sqrt() * t)
    };
    r.copysign(x)
}

/// `f(a, b)` element-wise with numpy broadcasting.
pub(super) fn binary(
    op: BinaryOp,
    a: &Tensor,
    b: &Tensor,
    out: &TensorType,
) -> Result<Tensor, String> {
    use BinaryOp::*;
    let dims = out.shape.dims();
    let (ao, bo) = (
        broadcast_offsets(a.shape().dims(), dims)?,
        broadcast_offsets(b.shape().dims(), dims)?,
    );
    let (ad, bd) = (a.data(), b.data());
    let name = op.name();
    match op {
        And | Or | Xor => {
            let (Data::Bool(x), Data::Bool(y)) = (&*ad, &*bd) else {
                return Err(format!(
                    "{name} needs bool operands, got {} and {}",
                    a.dtype(),
                    b.dtype()
                ));
            };
            let f: fn(bool, bool) -> bool = match op {
                And => |p, q| p && q,
                Or => |p, q| p || q,
                _ => |p, q| p != q,
            };
            tensor(
                out,
                Data::Bool(ao.iter().zip(&bo).map(|(&i, &j)| f(x[i], y[j])).collect()),
            )
        }
        Equal | Less | Greater | LessOrEqual | GreaterOrEqual => {
            if a.dtype() != b.dtype() {
                return Err(format!(
                    "{name} operands differ: {} and {}",
                    a.dtype(),
                    b.dtype()
                ));
            }
            let (x, y) = (ad.to_f64_vec(), bd.to_f64_vec());
            let f: fn(f64, f64) -> bool = match op {
                Equal => |p, q| p == q,
                Less => |p, q| p < q,
                Greater => |p, q| p > q,
                LessOrEqual => |p, q| p <= q,
                _ => |p, q| p >= q,
            };
            tensor(
                out,
                Data::Bool(ao.iter().zip(&bo).map(|(&i, &j)| f(x[i], y[j])).collect()),
            )
        }
        Pow => {
            // Mixed operand types are allowed; the result has the base's type (an
            // integer result truncates, so 2^-1 is 0 like integer division).
            if !a.dtype().is_numeric() || !b.dtype().is_numeric() {
                return Err(format!(
                    "pow needs numbers, got {} and {}",
                    a.dtype(),
                    b.dtype()
                ));
            }
            let (x, y) = (ad.to_f64_vec(), bd.to_f64_vec());
            let v: Vec<f64> = ao.iter().zip(&bo).map(|(&i, &j)| x[i].powf(y[j])).collect();
            tensor(out, from_f64(out.dtype, v))
        }
        _ if op.is_bitwise() && !a.dtype().is_int() => {
            Err(format!("{name} needs integers, got {}", a.dtype()))
        }
        _ if a.dtype() != b.dtype() => Err(format!(
            "{name} operands differ: {} and {}",
            a.dtype(),
            b.dtype()
        )),
        _ if a.dtype().is_float() => {
            let (x, y) = (floats(a, "a")?, floats(b, "b")?);
            let f = float_fn(op);
            from_floats(
                out,
                ao.iter().zip(&bo).map(|(&i, &j)| f(x[i], y[j])).collect(),
            )
        }
        _ if a.dtype().is_int() => {
            let (Some(x), Some(y)) = (ad.to_i64_vec(), bd.to_i64_vec()) else {
                return Err(format!("{name} needs numbers"));
            };
            let bits = i64::from(a.dtype().bits());
            let v = ao
                .iter()
                .zip(&bo)
                .map(|(&i, &j)| int_fn(op, bits, x[i], y[j]))
                .collect::<Result<Vec<i64>, String>>()?;
            tensor(out, ints(out.dtype, v.into_iter())?)
        }
        _ => Err(format!("{name} needs numbers, got {}", a.dtype())),
    }
}

/// Float arithmetic for the non-comparison binary ops.
fn float_fn(op: BinaryOp) -> fn(f32, f32) -> f32 {
    use BinaryOp::*;
    match op {
        Add => |a, b| a + b,
        Sub => |a, b| a - b,
        Mul => |a, b| a * b,
        Div => |a, b| a / b,
        Max => |a, b| {
            if a.is_nan() || b.is_nan() {
                f32::NAN
            } else {
                a.max(b)
            }
        },
        Min => |a, b| {
            if a.is_nan() || b.is_nan() {
                f32::NAN
            } else {
                a.min(b)
            }
        },
        Mod => floor_mod,
        Fmod => |a, b| a % b,
        _ => |a, b| if a < 0.0 { a * b } else { a }, // Prelu
    }
}

/// numpy's `mod`: the C remainder moved to the divisor's sign (a zero takes the
/// divisor's sign too), so `-3 mod ∞` is ∞ and `x mod 0` is NaN.
fn floor_mod(a: f32, b: f32) -> f32 {
    let r = a % b;
    if r == 0.0 {
        0.0f32.copysign(b)
    } else if (r < 0.0) != (b < 0.0) {
        r + b
    } else {
        r
    }
}

/// Integer arithmetic for the non-comparison binary ops on values of a `bits`-wide
/// type (wrapping; Div truncates; a remainder by zero is 0, as numpy's).
fn int_fn(op: BinaryOp, bits: i64, a: i64, b: i64) -> Result<i64, String> {
    use BinaryOp::*;
    Ok(match op {
        Fmod => a.checked_rem(b).unwrap_or(0),
        Mod => match a.checked_rem(b) {
            Some(r) if r != 0 && (r < 0) != (b < 0) => r + b,
            Some(r) => r,
            None => 0,
        },
        BitAnd => a & b,
        BitOr => a | b,
        BitXor => a ^ b,
        ShiftLeft if (0..bits).contains(&b) => a << b,
        ShiftRight if (0..bits).contains(&b) => a >> b,
        ShiftLeft => 0,
        ShiftRight => a.min(0).signum(),
        Add => a.wrapping_add(b),
        Sub => a.wrapping_sub(b),
        Mul => a.wrapping_mul(b),
        Div => {
            if b == 0 {
                return Err("integer division by zero".into());
            }
            a.wrapping_div(b)
        }
        Max => a.max(b),
        Min => a.min(b),
        _ => {
            if a < 0 {
                a.wrapping_mul(b)
            } else {
                a
            }
        }
    })
}

/// `cond ? x : y` with broadcasting over all three.
pub(super) fn where_(
    cond: &Tensor,
    x: &Tensor,
    y: &Tensor,
    out: &TensorType,
) -> Result<Tensor, String> {
    let dims = out.shape.dims();
    let co = broadcast_offsets(cond.shape().dims(), dims)?;
    let xo = broadcast_offsets(x.shape().dims(), dims)?;
    let yo = broadcast_offsets(y.shape().dims(), dims)?;
    let cd = cond.data();
    let Data::Bool(c) = &*cd else {
        return Err(format!("condition must be bool, got {}", cond.dtype()));
    };
    let (xd, yd) = (x.data(), y.data());
    fn pick<T: Elem>(c: &[bool], o: [&[usize]; 3], x: &[T], y: &Data) -> Result<Data, String> {
        let y_dtype = y.dtype();
        let y = T::slice(y).ok_or("x and y differ in dtype")?;
        Ok(T::wrap(
            (0..o[0].len())
                .map(|i| if c[o[0][i]] { x[o[1][i]] } else { y[o[2][i]] })
                .collect(),
            y_dtype,
        ))
    }
    let data = dispatch_data!(&*xd, v => pick(c, [&co, &xo, &yo], v, &yd))?;
    tensor(out, data)
}

/// Element-wise conversion to `to`.
pub(super) fn cast(x: &Tensor, to: DType, out: &TensorType) -> Result<Tensor, String> {
    let xd = x.data();
    let data = match (&*xd, to) {
        (_, DType::Bool) => Data::Bool(xd.to_f64_vec().into_iter().map(|v| v != 0.0).collect()),
        (d, t) if t.is_int() && !d.dtype().is_float() => ints(
            t,
            d.to_i64_vec().ok_or("cast: no integer view")?.into_iter(),
        )?,
        // f64 holds every source value exactly, so each conversion rounds once.
        _ => from_f64(to, xd.to_f64_vec()),
    };
    tensor(out, data)
}

/// Integers to `dtype`, wrapping like a C cast.
pub(super) fn ints(dtype: DType, v: impl Iterator<Item = i64>) -> Result<Data, String> {
    Ok(match dtype {
        DType::F32 => Data::F32(v.map(|x| x as f32).collect()),
        DType::F16 => Data::F16(v.map(|x| f16::from_f64(x as f64)).collect()),
        d => Data::from_i64s(d, v).ok_or_else(|| format!("no integer conversion to {d}"))?,
    })
}

/// Reals to `dtype`: floats round to nearest, integers truncate toward zero and
/// saturate (NaN becomes 0), bool is `x != 0`. The 4- and 2-bit integers give 0 for a
/// value outside their range instead, as ONNX's Cast tests expect (its reference
/// converts through ml_dtypes); QuantizeLinear saturates them on its own path.
pub(super) fn from_f64(dtype: DType, v: Vec<f64>) -> Data {
    match dtype {
        DType::F32 => Data::F32(v.into_iter().map(|x| x as f32).collect()),
        DType::F16 => Data::F16(v.into_iter().map(f16::from_f64).collect()),
        DType::Bool => Data::Bool(v.into_iter().map(|x| x != 0.0).collect()),
        d => match (d.int_range(), crate::minifloat::Format::of(d)) {
            (Some((lo, hi)), _) => Data::from_i64s(
                d,
                v.into_iter().map(|x| {
                    let t = x.trunc();
                    if x.is_nan() || (d.bits() < 8 && !(lo as f64..=hi as f64).contains(&t)) {
                        0
                    } else {
                        t.clamp(lo as f64, hi as f64) as i64
                    }
                }),
            )
            .expect("an integer type"),
            (None, Some(f)) => {
                let bits = v.into_iter().map(|x| f.encode(x as f32, true)).collect();
                Data::minifloats(d, bits).expect("a minifloat type")
            }
            (None, None) => unreachable!("every dtype is float, int, bool or minifloat"),
        },
    }
}

/// Each element of `x` with its bits read as `to` (same width; bool is the byte 0 or 1).
pub(super) fn bitcast(x: &Tensor, to: DType, out: &TensorType) -> Result<Tensor, String> {
    let bits: Vec<u32> = match &*x.data() {
        Data::F32(v) => v.iter().map(|f| f.to_bits()).collect(),
        Data::F16(v) => v.iter().map(|f| u32::from(f.to_bits())).collect(),
        Data::I32(v) => v.iter().map(|&i| i as u32).collect(),
        Data::U32(v) => v.clone(),
        Data::I16(v) => v.iter().map(|&i| u32::from(i as u16)).collect(),
        Data::U16(v) => v.iter().map(|&i| u32::from(i)).collect(),
        Data::I8(v) => v.iter().map(|&i| u32::from(i as u8)).collect(),
        Data::U8(v) => v.iter().map(|&i| u32::from(i)).collect(),
        Data::Bool(v) => v.iter().map(|&b| u32::from(b)).collect(),
        d => return Err(format!("cannot bitcast {}", d.dtype())),
    };
    let data = match to {
        DType::F32 => Data::F32(bits.into_iter().map(f32::from_bits).collect()),
        DType::F16 => Data::F16(bits.into_iter().map(|b| f16::from_bits(b as u16)).collect()),
        DType::I32 => Data::I32(bits.into_iter().map(|b| b as i32).collect()),
        DType::U32 => Data::U32(bits),
        DType::I16 => Data::I16(bits.into_iter().map(|b| b as u16 as i16).collect()),
        DType::U16 => Data::U16(bits.into_iter().map(|b| b as u16).collect()),
        DType::I8 => Data::I8(bits.into_iter().map(|b| b as u8 as i8).collect()),
        DType::U8 => Data::U8(bits.into_iter().map(|b| b as u8).collect()),
        d => return Err(format!("cannot bitcast to {d}")),
    };
    tensor(out, data)
}
