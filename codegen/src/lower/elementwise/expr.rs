//! WGSL expressions for each elementwise op on loaded operand values, matching the
//! reference interpreter: floats in f32, integers in 32-bit storage with results
//! narrowed like the reference (i8/u8 wrap, except where it saturates), bool as 0/1.

use crate::lower::f32_literal;
use kiln_ir::{BinaryOp, DType, UnaryOp};
use std::collections::BTreeSet;

/// An expression and the math helpers it calls.
#[derive(Debug, Default)]
pub struct Expr {
    pub code: String,
    pub helpers: BTreeSet<&'static str>,
}

impl Expr {
    fn new(code: String, helpers: &[&'static str]) -> Expr {
        Expr {
            code,
            helpers: helpers.iter().copied().collect(),
        }
    }
}

/// The storage class of a dtype: how its elements are held and computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Float,
    Signed,
    Unsigned,
}

/// Minifloats are held as their bit patterns (unsigned words).
fn class(dtype: DType) -> Class {
    if dtype.is_float() {
        Class::Float
    } else if dtype.is_signed_int() {
        Class::Signed
    } else {
        Class::Unsigned
    }
}

/// The bits of a narrow (< 32-bit) integer type.
fn narrow_bits(dtype: DType) -> Option<u32> {
    dtype.int_range().map(|_| dtype.bits()).filter(|&b| b < 32)
}

/// A WGSL literal of integer `v` in the storage of an integer `dtype`.
pub fn int_literal(dtype: DType, v: i64) -> String {
    if dtype.is_signed_int() {
        match v {
            v if v <= i32::MIN as i64 => "(-2147483647 - 1)".to_string(),
            v => format!("{}", v.min(i32::MAX as i64)),
        }
    } else {
        format!("{}u", v.clamp(0, u32::MAX as i64))
    }
}

/// Wraps a 32-bit integer expression to `dtype`'s width (signed types sign-extend,
/// unsigned ones mask).
pub fn wrap(dtype: DType, e: &str) -> String {
    match narrow_bits(dtype) {
        Some(b) if dtype.is_signed_int() => format!("((({e}) << {s}u) >> {s}u)", s = 32 - b),
        Some(b) => format!("(({e}) & {:#x}u)", (1u64 << b) - 1),
        None => e.to_string(),
    }
}

/// Clamps a 32-bit integer expression into `dtype`'s range (the reference's saturation).
pub fn saturate(dtype: DType, e: &str) -> String {
    match (narrow_bits(dtype), dtype.int_range()) {
        (Some(_), Some((lo, hi))) if lo < 0 => format!("clamp({e}, {lo}, {hi})"),
        (Some(_), Some((_, hi))) => format!("min({e}, {hi}u)"),
        _ => e.to_string(),
    }
}

/// The arguments after the value of `k_f32_to_minifloat` / `k_minifloat_to_f32` for a
/// minifloat dtype: exponent and mantissa bits, bias, IEEE specials, NaN, fnuz.
pub fn minifloat_args(dtype: DType) -> Option<String> {
    let f = kiln_ir::minifloat::Format::of(dtype)?;
    Some(format!(
        "{}u, {}u, {}, {}, {}, {}",
        f.exp, f.man, f.bias, f.ieee, f.nan, f.uz
    ))
}

/// A minifloat bit pattern `x` of `dtype` as an f32 expression.
pub fn minifloat_to_f32(dtype: DType, x: &str) -> Option<Expr> {
    let args = minifloat_args(dtype)?;
    Some(Expr::new(
        format!("k_minifloat_to_f32({x}, {args})"),
        &["k_minifloat_to_f32"],
    ))
}

/// An f32 expression converted to `to` the reference's way: f16 rounds to nearest,
/// integers truncate toward zero and saturate (NaN is 0; 4- and 2-bit integers give 0
/// out of range instead), bool is `x != 0`.
pub fn from_f32(to: DType, e: &str) -> Expr {
    match (to, to.int_range(), minifloat_args(to)) {
        (DType::F32, ..) => Expr::new(e.to_string(), &[]),
        (DType::F16, ..) => Expr::new(format!("k_round_f16({e})"), &["k_round_f16"]),
        (_, Some((lo, hi)), _) if to.bits() < 8 => {
            let v = format!("k_f32_to_small_int({e}, {lo}, {hi})");
            let v = if lo < 0 { v } else { format!("u32({v})") };
            Expr::new(v, &["k_f32_to_small_int"])
        }
        (_, Some((lo, hi)), _) if lo < 0 => Expr::new(
            format!(
                "k_f32_to_i32({e}, {}, {})",
                int_literal(to, lo),
                int_literal(to, hi)
            ),
            &["k_f32_to_i32"],
        ),
        (_, Some((_, hi)), _) => Expr::new(
            format!("k_f32_to_u32({e}, {})", int_literal(to, hi)),
            &["k_f32_to_u32"],
        ),
        // ONNX's Cast saturates by default.
        (_, None, Some(args)) => Expr::new(
            format!("k_f32_to_minifloat({e}, {args}, true)"),
            &["k_f32_to_minifloat"],
        ),
        // Bits, not `!= 0.0`: NaN is true, and a compiler may assume no NaN.
        _ => Expr::new(
            format!("select(0u, 1u, (bitcast<u32>({e}) & 0x7fffffffu) != 0u)"),
            &[],
        ),
    }
}

/// `x` (a value of `from`'s storage type) converted to `to`.
pub fn cast(from: DType, to: DType, x: &str) -> Expr {
    let plain = |s: String| Expr::new(s, &[]);
    if let Some(value) = minifloat_to_f32(from, x) {
        let mut e = from_f32(to, &value.code);
        e.helpers.extend(value.helpers);
        return e;
    }
    match (class(from), to) {
        (Class::Float, to) => from_f32(to, x),
        (Class::Signed, DType::Bool) => plain(format!("select(0u, 1u, {x} != 0)")),
        (Class::Unsigned, DType::Bool) => plain(format!("select(0u, 1u, {x} != 0u)")),
        (_, DType::F32) => plain(format!("f32({x})")),
        (_, DType::F16) => Expr::new(format!("k_round_f16(f32({x}))"), &["k_round_f16"]),
        (Class::Signed, to) if to.is_signed_int() => plain(wrap(to, x)),
        (Class::Signed, _) => plain(wrap(to, &format!("bitcast<u32>({x})"))),
        (Class::Unsigned, to) if to.is_signed_int() => {
            plain(wrap(to, &format!("bitcast<i32>({x})")))
        }
        (Class::Unsigned, _) => plain(wrap(to, x)),
    }
}

/// `e` rounded to f16 when `dtype` is f16: an f16 op computes in f32 and rounds its
/// result, as the reference does.
fn rounded(dtype: DType, e: Expr) -> Expr {
    if dtype != DType::F16 {
        return e;
    }
    let mut r = from_f32(DType::F16, &e.code);
    r.helpers.extend(e.helpers);
    r
}

/// `op(x)` on a value of `dtype`; `x` must be an identifier. An f16 result is rounded.
pub fn unary(op: UnaryOp, dtype: DType, x: &str) -> Result<Expr, String> {
    let e = unary_f32(op, dtype, x)?;
    Ok(if op.returns_bool() || op == UnaryOp::Not {
        e
    } else {
        rounded(dtype, e)
    })
}

fn unary_f32(op: UnaryOp, dtype: DType, x: &str) -> Result<Expr, String> {
    use UnaryOp::*;
    let plain = |s: String| Ok(Expr::new(s, &[]));
    let with = |s: String, h: &'static str| Ok(Expr::new(s, &[h]));
    if op == Not {
        return match dtype {
            DType::Bool => plain(format!("1u - {x}")),
            d => Err(format!("not needs bool, got {d}")),
        };
    }
    if op.returns_bool() {
        if class(dtype) != Class::Float || dtype != DType::F32 && dtype != DType::F16 {
            return Err(format!("{} needs floats, got {dtype}", op.name()));
        }
        return match op {
            IsNan => with(format!("select(0u, 1u, k_is_nan({x}))"), "k_is_nan"),
            _ => plain(format!(
                "select(0u, 1u, (bitcast<u32>({x}) & 0x7fffffffu) == 0x7f800000u)"
            )),
        };
    }
    match class(dtype) {
        _ if dtype == DType::Bool => Err(format!("{} needs numbers, got bool", op.name())),
        Class::Float => match op {
            Neg => plain(format!("-{x}")),
            Abs => plain(format!("abs({x})")),
            Sqrt => plain(format!("sqrt({x})")),
            Reciprocal => plain(format!("1.0 / {x}")),
            Exp => plain(format!("exp({x})")),
            Log => plain(format!("log({x})")),
            Erf => with(format!("k_erf({x})"), "k_erf"),
            Floor => plain(format!("floor({x})")),
            Ceil => plain(format!("ceil({x})")),
            Round => plain(format!("round({x})")),
            Sign => plain(format!(
                "select(select({x}, -1.0, {x} < 0.0), 1.0, {x} > 0.0)"
            )),
            Sin => plain(format!("sin({x})")),
            Cos => plain(format!("cos({x})")),
            Tanh => with(format!("k_tanh({x})"), "k_tanh"),
            Sigmoid => with(format!("k_sigmoid({x})"), "k_sigmoid"),
            Silu => with(format!("({x} * k_sigmoid({x}))"), "k_sigmoid"),
            Relu => plain(format!("select({x}, 0.0, {x} < 0.0)")),
            Softplus => with(format!("k_softplus({x})"), "k_softplus"),
            Mish => Ok(Expr::new(
                format!("{x} * k_tanh(k_softplus({x}))"),
                &["k_tanh", "k_softplus"],
            )),
            HardSwish => plain(format!("{x} * clamp({x} / 6.0 + 0.5, 0.0, 1.0)")),
            LeakyRelu { alpha } => plain(format!(
                "select({x}, {} * {x}, {x} < 0.0)",
                f32_literal(alpha)
            )),
            Elu { alpha } => with(
                format!(
                    "select({x}, {} * k_expm1({x}), {x} < 0.0)",
                    f32_literal(alpha)
                ),
                "k_expm1",
            ),
            Selu { alpha, gamma } => with(
                format!(
                    "{} * select({x}, {} * k_expm1({x}), {x} <= 0.0)",
                    f32_literal(gamma),
                    f32_literal(alpha)
                ),
                "k_expm1",
            ),
            HardSigmoid { alpha, beta } => plain(format!(
                "clamp({} * {x} + {}, 0.0, 1.0)",
                f32_literal(alpha),
                f32_literal(beta)
            )),
            Gelu { tanh: false } => with(format!("k_gelu({x})"), "k_gelu"),
            // 0.5·x·(1 + tanh(u)) = x·σ(2u), which does not cancel for negative x.
            Gelu { tanh: true } => with(
                format!("{x} * k_sigmoid(1.5957691216057308 * ({x} + 0.044715 * {x} * {x} * {x}))"),
                "k_sigmoid",
            ),
            Tan => plain(format!("tan({x})")),
            Sinh => with(format!("k_sinh({x})"), "k_sinh"),
            Cosh => plain(format!("cosh({x})")),
            Asin => plain(format!("asin({x})")),
            Acos => plain(format!("acos({x})")),
            Atan => plain(format!("atan({x})")),
            Asinh => with(format!("k_asinh({x})"), "k_asinh"),
            Acosh => plain(format!("acosh({x})")),
            Atanh => with(format!("k_atanh({x})"), "k_atanh"),
            BitNot => Err(format!("bitwise_not needs integers, got {dtype}")),
            Not | IsNan | IsInf => unreachable_not(),
        },
        c => {
            let signed = c == Class::Signed;
            let e = match op {
                Neg if signed => wrap(dtype, &format!("-{x}")),
                Neg => wrap(dtype, &format!("0u - {x}")),
                Abs if signed => wrap(dtype, &format!("abs({x})")),
                Sign if signed => format!("sign({x})"),
                Sign => format!("min({x}, 1u)"),
                Relu if signed => format!("max({x}, 0)"),
                Abs | Relu | Floor | Ceil | Round => x.to_string(),
                // Sign-extended values stay sign-extended; unsigned ones are masked.
                BitNot => wrap(dtype, &format!("~{x}")),
                _ => {
                    return Err(format!(
                        "{} is defined on floats only, got {dtype}",
                        op.name()
                    ))
                }
            };
            plain(e)
        }
    }
}

fn unreachable_not() -> Result<Expr, String> {
    Err("not is handled before dispatch on the dtype".into())
}

/// `op(a, b)` for operands of `at` and `bt`, giving `out`; `a` and `b` are identifiers.
/// An f16 result is rounded.
pub fn binary(op: BinaryOp, at: DType, bt: DType, a: &str, b: &str) -> Result<Expr, String> {
    let e = binary_f32(op, at, bt, a, b)?;
    Ok(if op.returns_bool() || op == BinaryOp::Pow {
        // Pow rounds to its result type itself.
        e
    } else {
        rounded(at, e)
    })
}

fn binary_f32(op: BinaryOp, at: DType, bt: DType, a: &str, b: &str) -> Result<Expr, String> {
    use BinaryOp::*;
    let plain = |s: String| Ok(Expr::new(s, &[]));
    if op == Pow {
        return pow(at, bt, a, b);
    }
    if at != bt {
        return Err(format!("{} operands differ: {at} and {bt}", op.name()));
    }
    // Float comparisons are false on NaN, checked on the bits (a compiler may assume no NaN).
    let cmp = |sym: &str| {
        if class(at) == Class::Float {
            Ok(Expr::new(
                format!("select(0u, 1u, {a} {sym} {b} && !k_is_nan({a}) && !k_is_nan({b}))"),
                &["k_is_nan"],
            ))
        } else {
            plain(format!("select(0u, 1u, {a} {sym} {b})"))
        }
    };
    match op {
        And | Or if at != DType::Bool => {
            Err(format!("{} needs bool operands, got {at}", op.name()))
        }
        Xor if at != DType::Bool => Err(format!("xor needs bool operands, got {at}")),
        And => plain(format!("{a} & {b}")),
        Or => plain(format!("{a} | {b}")),
        Xor => plain(format!("{a} ^ {b}")),
        _ if op.is_bitwise() => bitwise(op, at, a, b),
        Equal => cmp("=="),
        Less => cmp("<"),
        Greater => cmp(">"),
        LessOrEqual => cmp("<="),
        GreaterOrEqual => cmp(">="),
        _ if at == DType::Bool => Err(format!("{} needs numbers, got bool", op.name())),
        _ => match class(at) {
            Class::Float => match op {
                Add => plain(format!("{a} + {b}")),
                Sub => plain(format!("{a} - {b}")),
                Mul => plain(format!("{a} * {b}")),
                Div => plain(format!("{a} / {b}")),
                Max => Ok(Expr::new(format!("k_max({a}, {b})"), &["k_max"])),
                Min => Ok(Expr::new(format!("k_min({a}, {b})"), &["k_min"])),
                Mod => Ok(Expr::new(format!("k_mod({a}, {b})"), &["k_mod"])),
                Fmod => Ok(Expr::new(format!("k_fmod({a}, {b})"), &["k_fmod"])),
                _ => plain(format!("select({a}, {a} * {b}, {a} < 0.0)")), // Prelu
            },
            c => {
                let zero = if c == Class::Signed { "0" } else { "0u" };
                let e = match op {
                    Add => wrap(at, &format!("{a} + {b}")),
                    Sub => wrap(at, &format!("{a} - {b}")),
                    Mul => wrap(at, &format!("{a} * {b}")),
                    // Truncating; WGSL defines x / 0 as x where the reference fails.
                    Div => wrap(at, &format!("{a} / {b}")),
                    Max => format!("max({a}, {b})"),
                    Min => format!("min({a}, {b})"),
                    // |a mod b| < |b|: no wrapping needed.
                    Mod if c == Class::Signed => {
                        return Ok(Expr::new(format!("k_imod({a}, {b})"), &["k_imod"]))
                    }
                    Fmod if c == Class::Signed => {
                        return Ok(Expr::new(format!("k_ifmod({a}, {b})"), &["k_ifmod"]))
                    }
                    Mod | Fmod => format!("select({a} % {b}, 0u, {b} == 0u)"),
                    _ => format!(
                        "select({a}, {}, {a} < {zero})",
                        wrap(at, &format!("{a} * {b}"))
                    ),
                };
                plain(e)
            }
        },
    }
}

/// The bitwise ops and shifts on integers of `dtype` (sign-extended or zero-extended
/// in 32 bits, which `&`, `|` and `^` preserve); a shift amount outside `0..width`
/// gives the sign fill, as the reference's.
fn bitwise(op: BinaryOp, dtype: DType, a: &str, b: &str) -> Result<Expr, String> {
    use BinaryOp::*;
    let signed = match class(dtype) {
        Class::Float => return Err(format!("{} needs integers, got {dtype}", op.name())),
        c => c == Class::Signed,
    };
    let width = dtype.bits();
    let (in_range, amount) = if signed {
        (format!("({b} >= 0 && {b} < {width})"), format!("u32({b})"))
    } else {
        (format!("({b} < {width}u)"), b.to_string())
    };
    let zero = if signed { "0" } else { "0u" };
    let e = match op {
        BitAnd => format!("{a} & {b}"),
        BitOr => format!("{a} | {b}"),
        BitXor => format!("{a} ^ {b}"),
        ShiftLeft => format!(
            "select({zero}, {}, {in_range})",
            wrap(dtype, &format!("{a} << {amount}"))
        ),
        ShiftRight if signed => {
            format!("select(select(0, -1, {a} < 0), {a} >> {amount}, {in_range})")
        }
        ShiftRight => format!("select(0u, {a} >> {amount}, {in_range})"),
        _ => return Err(format!("{} is not a bitwise op", op.name())),
    };
    Ok(Expr::new(e, &[]))
}

/// `a ^ b`; the result has the base's type (integer results saturate like the reference).
fn pow(at: DType, bt: DType, a: &str, b: &str) -> Result<Expr, String> {
    if !at.is_numeric() || !bt.is_numeric() {
        return Err(format!("pow needs numbers, got {at} and {bt}"));
    }
    let as_f32 = |t: DType, x: &str| {
        if class(t) == Class::Float {
            x.to_string()
        } else {
            format!("f32({x})")
        }
    };
    let as_i32 = |t: DType, x: &str| match class(t) {
        Class::Unsigned => format!("i32(min({x}, 2147483647u))"),
        _ => x.to_string(),
    };
    let e = match (class(at), class(bt)) {
        (Class::Float, _) => Expr::new(format!("k_pow({a}, {})", as_f32(bt, b)), &["k_pow"]),
        (_, Class::Float) => {
            let mut e = from_f32(at, &format!("k_pow(f32({a}), {b})"));
            e.helpers.insert("k_pow");
            e
        }
        (Class::Signed, _) => Expr::new(
            saturate(at, &format!("k_ipow({a}, {})", as_i32(bt, b))),
            &["k_ipow"],
        ),
        (Class::Unsigned, _) => Expr::new(
            saturate(at, &format!("k_upow({a}, {})", as_i32(bt, b))),
            &["k_upow"],
        ),
    };
    Ok(e)
}

/// `saturate(round(x / s) + z)` in `to` (the zero point's dtype) for values `x`, `s` of
/// float dtypes and `z` of `to`, as the reference computes it: the quotient in f32,
/// round half to even, integers clamped to their range, minifloats encoded.
pub fn quantize(to: DType, saturate: bool, [x, s, z]: [(&str, DType); 3]) -> Result<Expr, String> {
    let (xf, sf, zf) = (
        cast(x.1, DType::F32, x.0),
        cast(s.1, DType::F32, s.0),
        cast(z.1, DType::F32, z.0),
    );
    let q = format!("(({}) / ({}))", xf.code, sf.code);
    let mut e = match (to.int_range(), minifloat_args(to)) {
        // round() ties to even; the sum is an integer, so the conversion only clamps.
        (Some((lo, hi)), _) if lo < 0 => Expr::new(
            format!(
                "k_f32_to_i32(round({q}) + {}, {}, {})",
                zf.code,
                int_literal(to, lo),
                int_literal(to, hi)
            ),
            &["k_f32_to_i32"],
        ),
        (Some((_, hi)), _) => Expr::new(
            format!(
                "k_f32_to_u32(round({q}) + {}, {})",
                zf.code,
                int_literal(to, hi)
            ),
            &["k_f32_to_u32"],
        ),
        (None, Some(args)) => Expr::new(
            format!("k_f32_to_minifloat({q} + {}, {args}, {saturate})", zf.code),
            &["k_f32_to_minifloat"],
        ),
        (None, None) => return Err(format!("cannot quantize to {to}")),
    };
    for h in [xf, sf, zf] {
        e.helpers.extend(h.helpers);
    }
    Ok(e)
}

/// `(x - z) * s` computed in f32 and converted to `to` (the scale's dtype).
pub fn dequantize(to: DType, [x, s, z]: [(&str, DType); 3]) -> Expr {
    let (xf, sf, zf) = (
        cast(x.1, DType::F32, x.0),
        cast(s.1, DType::F32, s.0),
        cast(z.1, DType::F32, z.0),
    );
    let mut e = from_f32(
        to,
        &format!("(({}) - ({})) * ({})", xf.code, zf.code, sf.code),
    );
    for h in [xf, sf, zf] {
        e.helpers.extend(h.helpers);
    }
    e
}
