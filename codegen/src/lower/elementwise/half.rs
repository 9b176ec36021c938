//! Native f16 arithmetic (WGSL's `f16` type, wgpu's `SHADER_F16`) for the f16 steps of
//! element-wise code, where [`crate::PlanOptions::f16_arithmetic`] asks for it.
//!
//! The reference computes an f16 op in f32 and rounds its result to the nearest f16
//! (`k_round_f16` on the GPU, a dozen integer operations per step). Natively, a step is
//! one f16 instruction, and the value stays f16 from one step to the next. Only the ops
//! whose native result is within one f16 ulp of the reference's are computed so: `+ - *`
//! (WGSL rounds them correctly, to either neighbour of the exact value), the exact
//! `neg`, `abs`, `relu`, `select`; `leaky_relu` and `prelu` are a product; and the
//! rounding of an f32 value to f16 (a cast, or the f32 result of a matmul, conv, norm
//! or reduction stored as f16: a conversion, also to either neighbour). Everything else
//! (division, transcendental helpers, the accumulators of matmul and conv, the
//! statistics of a norm) computes in f32 and rounds as before. A subnormal result may
//! be flushed to zero: an error of at most 2^-14.

use kiln_ir::{BinaryOp, DType, UnaryOp};

/// `op(x)` in f16 for an f16 identifier `x`, or None where `op` is not computed natively.
pub fn unary(op: UnaryOp, x: &str) -> Option<String> {
    use UnaryOp::*;
    Some(match op {
        Neg => format!("-{x}"),
        Abs => format!("abs({x})"),
        // NaN is kept, as the f32 form keeps it.
        Relu => format!("select({x}, 0.0h, {x} < 0.0h)"),
        // Only for a slope f16 holds exactly: the reference multiplies by the f32 one.
        LeakyRelu { alpha } if f32::from(half::f16::from_f32(alpha)) == alpha => {
            format!(
                "select({x}, f16({}) * {x}, {x} < 0.0h)",
                crate::lower::f32_literal(alpha)
            )
        }
        _ => return None,
    })
}

/// `op(a, b)` in f16 for f16 identifiers `a` and `b`, or None where `op` is not computed
/// natively.
pub fn binary(op: BinaryOp, a: &str, b: &str) -> Option<String> {
    use BinaryOp::*;
    Some(match op {
        Add => format!("{a} + {b}"),
        Sub => format!("{a} - {b}"),
        Mul => format!("{a} * {b}"),
        Prelu => format!("select({a}, {a} * {b}, {a} < 0.0h)"),
        _ => return None,
    })
}

/// A cast to f16 of `x`, a value of `from`, in f16: an f32 value converted (to either
/// neighbour), or None from another dtype.
pub fn cast(from: DType, x: &str) -> Option<String> {
    (from == DType::F32).then(|| format!("f16({x})"))
}

/// An f32 `value` rounded to f16 and back to f32: natively (either neighbour of the
/// value; beyond the f16 range ±inf, or 65504 below 65536), else the reference's way.
pub fn round(value: &str, native: bool) -> String {
    if native {
        format!("f32(f16({value}))")
    } else {
        format!("k_round_f16({value})")
    }
}

/// Whether `wgsl` names the `f16` type (and so needs `enable f16;`): an `f16` token
/// outside comments, not part of a longer identifier such as `k_round_f16`.
pub fn uses_f16(wgsl: &str) -> bool {
    wgsl.lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .flat_map(|code| code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))
        .any(|token| token == "f16")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_only_within_an_ulp() {
        assert_eq!(binary(BinaryOp::Add, "a", "b").unwrap(), "a + b");
        assert!(binary(BinaryOp::Div, "a", "b").is_none());
        assert!(binary(BinaryOp::Max, "a", "b").is_none());
        assert!(unary(UnaryOp::Exp, "x").is_none());
        assert!(unary(UnaryOp::LeakyRelu { alpha: 0.125 }, "x").is_some());
        // 0.1 is not an f16 value: the reference's product differs.
        assert!(unary(UnaryOp::LeakyRelu { alpha: 0.1 }, "x").is_none());
    }

    #[test]
    fn finds_the_type_not_the_helper() {
        assert!(!uses_f16(
            "let y = k_round_f16(x); // the f16 value\nlet z: f32 = y;"
        ));
        assert!(uses_f16("let h0: f16 = f16(x0);"));
        assert!(uses_f16("var<private> a: vec2<f16>;"));
    }
}
