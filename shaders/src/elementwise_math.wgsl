// kiln math helpers WGSL lacks. A line `// @fn NAME [uses DEP...]` starts helper NAME;
// codegen splices only the helpers a kernel calls (and their dependencies).
// Conventions: f16 values are computed in f32; NaN checks look at the bits, since a
// WGSL implementation may assume `x != x` is false.

// @fn k_is_nan
fn k_is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// @fn k_nan
fn k_nan() -> f32 {
    return bitcast<f32>(0x7fc00000u);
}

// @fn k_max uses k_is_nan k_nan
// max that propagates NaN (the reference's max).
fn k_max(a: f32, b: f32) -> f32 {
    if k_is_nan(a) || k_is_nan(b) {
        return k_nan();
    }
    return max(a, b);
}

// @fn k_min uses k_is_nan k_nan
// min that propagates NaN.
fn k_min(a: f32, b: f32) -> f32 {
    if k_is_nan(a) || k_is_nan(b) {
        return k_nan();
    }
    return min(a, b);
}

// @fn k_round_f16
// The f16 value nearest to x (ties to even), as an f32; beyond the f16 range it is ±inf.
fn k_round_f16(x: f32) -> f32 {
    let bits = bitcast<u32>(x);
    let sign = bits & 0x80000000u;
    let mag = bits & 0x7fffffffu;
    if mag >= 0x7f800000u {
        return x;
    }
    if mag >= 0x477ff000u {
        // 65520 and above round to infinity.
        return bitcast<f32>(sign | 0x7f800000u);
    }
    if mag < 0x38800000u {
        // Below 2^-14 f16 is subnormal: a multiple of 2^-24.
        let q = round(bitcast<f32>(mag) * 16777216.0) * 5.9604644775390625e-8;
        return bitcast<f32>(sign | bitcast<u32>(q));
    }
    // Drop 13 mantissa bits, rounding to nearest even (a carry bumps the exponent).
    let lsb = (mag >> 13u) & 1u;
    return bitcast<f32>(sign | ((mag + 0xfffu + lsb) & 0xffffe000u));
}

// @fn k_f32_to_i32 uses k_is_nan
// Truncation toward zero, saturating to [lo, hi]; NaN is 0.
fn k_f32_to_i32(x: f32, lo: i32, hi: i32) -> i32 {
    if k_is_nan(x) {
        return 0;
    }
    if x <= f32(lo) {
        return lo;
    }
    if x >= f32(hi) {
        return hi;
    }
    return i32(x);
}

// @fn k_f32_to_u32 uses k_is_nan
// Truncation toward zero, saturating to [0, hi]; NaN is 0.
fn k_f32_to_u32(x: f32, hi: u32) -> u32 {
    if k_is_nan(x) || x <= 0.0 {
        return 0u;
    }
    if x >= f32(hi) {
        return hi;
    }
    return u32(x);
}

// @fn k_erfc_tail
// erfc(t) for t > 0.927734375: exp of a minimax polynomial (coefficients after
// N. Juffa's erff; erf = 1 - erfc_tail is within ~1 ulp).
fn k_erfc_tail(t: f32) -> f32 {
    let s = t * t;
    var r = fma(-1.72853470e-5, t, 3.83197126e-4);
    let u = fma(-3.88396438e-3, t, 2.42546219e-2);
    r = fma(r, s, u);
    r = fma(r, t, -1.06777877e-1);
    r = fma(r, t, -6.34846687e-1);
    r = fma(r, t, -1.28717512e-1);
    r = fma(r, t, -t);
    return exp(r);
}

// @fn k_erf uses k_erfc_tail
// The error function, within ~1 ulp (max abs error 6e-8 in f32 arithmetic).
fn k_erf(x: f32) -> f32 {
    let t = abs(x);
    if t > 0.927734375 {
        let r = 1.0 - k_erfc_tail(t);
        return select(-r, r, x >= 0.0);
    }
    let s = x * x;
    var r = -5.96761703e-4;
    r = fma(r, s, 4.99119423e-3);
    r = fma(r, s, -2.67681349e-2);
    r = fma(r, s, 1.12819925e-1);
    r = fma(r, s, -3.76125336e-1);
    r = fma(r, s, 1.28379166e-1);
    return fma(r, x, x);
}

// @fn k_gelu uses k_erf k_erfc_tail
// x * Φ(x); for very negative x through erfc, avoiding 1 + erf cancellation.
fn k_gelu(x: f32) -> f32 {
    let z = x * 0.70710678118654752;
    if z < -0.927734375 {
        return 0.5 * x * k_erfc_tail(-z);
    }
    return 0.5 * x * (1.0 + k_erf(z));
}

// @fn k_expm1
// e^x - 1, accurate near 0 (Taylor series to x^9 for |x| < 0.5, error < 1e-9 relative).
fn k_expm1(x: f32) -> f32 {
    if abs(x) < 0.5 {
        var p = 1.0 / 362880.0;
        p = fma(p, x, 1.0 / 40320.0);
        p = fma(p, x, 1.0 / 5040.0);
        p = fma(p, x, 1.0 / 720.0);
        p = fma(p, x, 1.0 / 120.0);
        p = fma(p, x, 1.0 / 24.0);
        p = fma(p, x, 1.0 / 6.0);
        p = fma(p, x, 0.5);
        p = fma(p, x, 1.0);
        return p * x;
    }
    return exp(x) - 1.0;
}

// @fn k_log1p
// ln(1 + u) for u > -1, accurate near 0 (series to u^9 for |u| < 0.125).
fn k_log1p(u: f32) -> f32 {
    if abs(u) < 0.125 {
        var p = 1.0 / 9.0;
        p = fma(p, -u, 1.0 / 8.0);
        p = fma(p, -u, 1.0 / 7.0);
        p = fma(p, -u, 1.0 / 6.0);
        p = fma(p, -u, 1.0 / 5.0);
        p = fma(p, -u, 1.0 / 4.0);
        p = fma(p, -u, 1.0 / 3.0);
        p = fma(p, -u, 0.5);
        p = fma(p, -u, 1.0);
        return p * u;
    }
    return log(1.0 + u);
}

// @fn k_tanh uses k_expm1 k_is_nan
// tanh through expm1: no cancellation near 0, no inf/inf for large |x|.
fn k_tanh(x: f32) -> f32 {
    if k_is_nan(x) {
        return x;
    }
    let e = k_expm1(2.0 * min(abs(x), 9.0));
    let t = e / (e + 2.0);
    return select(-t, t, x >= 0.0);
}

// @fn k_sigmoid
// 1 / (1 + e^-x) without overflow.
fn k_sigmoid(x: f32) -> f32 {
    let e = exp(-abs(x));
    let s = 1.0 / (1.0 + e);
    return select(e * s, s, x >= 0.0);
}

// @fn k_softplus uses k_log1p
// ln(1 + e^x) without overflow.
fn k_softplus(x: f32) -> f32 {
    return max(x, 0.0) + k_log1p(exp(-abs(x)));
}

// @fn k_pow uses k_nan
// x^y with C pow's special cases (x^0 = 1, 1^y = 1, a negative base needs an integral
// exponent); integral exponents up to 64 by repeated squaring (a few ulps), others
// through exp2/log2.
fn k_pow(x: f32, y: f32) -> f32 {
    if y == 0.0 || x == 1.0 {
        return 1.0;
    }
    let ay = abs(y);
    let integral = ay == trunc(ay);
    if integral && ay <= 64.0 {
        var e = u32(ay);
        var b = x;
        var r = 1.0;
        loop {
            if (e & 1u) != 0u {
                r = r * b;
            }
            e = e >> 1u;
            if e == 0u {
                break;
            }
            b = b * b;
        }
        return select(r, 1.0 / r, y < 0.0);
    }
    let m = exp2(y * log2(abs(x)));
    if x >= 0.0 {
        return m;
    }
    if !integral {
        return k_nan();
    }
    // Integral beyond 64: even unless below 2^24 and odd.
    let odd = ay < 16777216.0 && (u32(ay) & 1u) == 1u;
    return select(m, -m, odd);
}

// @fn k_ipow
// x^y on i32, wrapping; a negative y truncates (0 unless |x| = 1; 0^-n saturates).
fn k_ipow(x: i32, y: i32) -> i32 {
    if y < 0 {
        if x == 1 {
            return 1;
        }
        if x == -1 {
            return select(1, -1, (y & 1) != 0);
        }
        if x == 0 {
            return 2147483647;
        }
        return 0;
    }
    var e = u32(y);
    var b = x;
    var r = 1;
    loop {
        if e == 0u {
            break;
        }
        if (e & 1u) != 0u {
            r = r * b;
        }
        e = e >> 1u;
        b = b * b;
    }
    return r;
}

// @fn k_upow
// x^y on u32, wrapping; a negative y truncates (0 unless x = 1; 0^-n saturates).
fn k_upow(x: u32, y: i32) -> u32 {
    if y < 0 {
        if x == 1u {
            return 1u;
        }
        return select(0u, 4294967295u, x == 0u);
    }
    var e = u32(y);
    var b = x;
    var r = 1u;
    loop {
        if e == 0u {
            break;
        }
        if (e & 1u) != 0u {
            r = r * b;
        }
        e = e >> 1u;
        b = b * b;
    }
    return r;
}
