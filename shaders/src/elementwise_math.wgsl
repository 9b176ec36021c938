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

// @fn k_f16_bits
// The binary16 bits of x, an f16 value held as f32 (as `k_round_f16` gives it): ±inf
// and NaN included, which `pack2x16float` leaves indeterminate.
fn k_f16_bits(x: f32) -> u32 {
    let bits = bitcast<u32>(x);
    let sign = (bits >> 16u) & 0x8000u;
    let mag = bits & 0x7fffffffu;
    if mag > 0x7f800000u {
        return sign | 0x7e00u;
    }
    if mag >= 0x47800000u {
        return sign | 0x7c00u;
    }
    if mag >= 0x38800000u {
        // Normal: the exponent rebiased from 127 to 15, the top 10 mantissa bits.
        return sign | ((mag - 0x38000000u) >> 13u);
    }
    // Subnormal: a multiple of 2^-24.
    return sign | u32(abs(x) * 16777216.0);
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

// @fn k_f32_to_small_int uses k_is_nan
// Truncation toward zero for the 4- and 2-bit integers (held in an i32): a value
// outside [lo, hi], or NaN, is 0, as ONNX's Cast expects.
fn k_f32_to_small_int(x: f32, lo: i32, hi: i32) -> i32 {
    let t = trunc(x);
    if k_is_nan(x) || t < f32(lo) || t > f32(hi) {
        return 0;
    }
    return i32(t);
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

// @fn k_pow2
// 2^p as an f32, built from its bits (exact; p in -126..=127).
fn k_pow2(p: i32) -> f32 {
    return bitcast<f32>(u32(p + 127) << 23u);
}

// @fn k_minifloat_to_f32 uses k_pow2
// The value of minifloat bit pattern b: sign, e exponent bits with bias, m mantissa
// bits; ieee: the all-ones exponent holds infinities and NaNs (f8e5m2); nan: else the
// all-ones pattern is NaN (f8e4m3fn); neither: every pattern is finite (f4e2m1);
// uz: the negative-zero pattern is the one NaN (the fnuz formats).
fn k_minifloat_to_f32(b: u32, e: u32, m: u32, bias: i32, ieee: bool, nan: bool, uz: bool) -> f32 {
    if uz && b == (1u << (e + m)) {
        return bitcast<f32>(0x7fc00000u);
    }
    let negative = ((b >> (e + m)) & 1u) != 0u;
    let s = select(1.0, -1.0, negative);
    let ef = (b >> m) & ((1u << e) - 1u);
    let mf = b & ((1u << m) - 1u);
    let all_e = (1u << e) - 1u;
    if (ieee && ef == all_e && mf != 0u) || (!ieee && nan && !uz && ef == all_e && mf == (1u << m) - 1u) {
        return bitcast<f32>(0x7fc00000u | (b & 0u));
    }
    if ieee && ef == all_e {
        return bitcast<f32>(select(0x7f800000u, 0xff800000u, negative));
    }
    if ef == 0u {
        return s * f32(mf) * k_pow2(1 - bias - i32(m));
    }
    return s * (1.0 + f32(mf) * k_pow2(-i32(m))) * k_pow2(i32(ef) - bias);
}

// @fn k_f32_to_minifloat uses k_is_nan k_pow2 k_minifloat_to_f32
// The minifloat bit pattern nearest to x, ties to even (the layout as for
// k_minifloat_to_f32). Beyond the largest finite value: that value when saturate (or
// when the format has no NaN), else infinity (ieee) or NaN. A NaN stays NaN; without
// one it becomes a zero of the opposite sign, as ONNX's reference does. The fnuz
// formats (uz) give their NaN (the negative-zero pattern) for NaN and non-saturated
// overflow, and +0 for every zero.
fn k_f32_to_minifloat(x: f32, e: u32, m: u32, bias: i32, ieee: bool, nan: bool, uz: bool, saturate: bool) -> u32 {
    let sign_bit = 1u << (e + m);
    let sign = select(0u, sign_bit, (bitcast<u32>(x) >> 31u) != 0u);
    let nan_bits = sign_bit - 1u;
    var max_bits = nan_bits;
    if ieee {
        max_bits = nan_bits - (1u << m);
    } else if nan && !uz {
        max_bits = nan_bits - 1u;
    }
    if k_is_nan(x) {
        if uz {
            return sign_bit;
        }
        if nan {
            return sign | nan_bits;
        }
        return sign ^ sign_bit;
    }
    var overflow = sign | max_bits;
    if !saturate && nan {
        overflow = select(sign | nan_bits, sign | (((1u << e) - 1u) << m), ieee);
        if uz {
            overflow = sign_bit;
        }
    }
    let a = abs(x);
    let max_value = k_minifloat_to_f32(max_bits, e, m, bias, ieee, nan, uz);
    if a > 2.0 * max_value {
        return overflow;
    }
    // Round to a multiple of the spacing at a's exponent (subnormals share the
    // smallest normal exponent's): a / q is exact, round() ties to even.
    let min_exp = 1 - bias;
    let ex = max(i32((bitcast<u32>(a) >> 23u) & 0xffu) - 127, min_exp);
    let q = k_pow2(ex - i32(m));
    let r = round(a / q) * q;
    if r > max_value {
        return overflow;
    }
    let k = u32(r / k_pow2(min_exp - i32(m)));
    if uz && k == 0u {
        return 0u;
    }
    if k < (1u << m) {
        return sign | k;
    }
    let er = max(i32((bitcast<u32>(r) >> 23u) & 0xffu) - 127, min_exp);
    let mant = u32(r / k_pow2(er - i32(m))) - (1u << m);
    return sign | (u32(er + bias) << m) | mant;
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

// @fn k_sinh uses k_expm1
// sinh through expm1: no cancellation near 0.
fn k_sinh(x: f32) -> f32 {
    let e = k_expm1(abs(x));
    let s = 0.5 * (e + e / (e + 1.0));
    return select(-s, s, x >= 0.0);
}

// @fn k_asinh uses k_log1p
// asinh as log1p(|x| + x² / (1 + √(1 + x²))): no cancellation near 0 or for negative x.
fn k_asinh(x: f32) -> f32 {
    let a = abs(x);
    var s: f32;
    if a > 1.0e18 {
        s = log(a) + 0.6931471805599453;
    } else {
        s = k_log1p(a + a * a / (1.0 + sqrt(1.0 + a * a)));
    }
    return select(-s, s, x >= 0.0);
}

// @fn k_atanh uses k_log1p
// atanh as ½·log1p(2|x| / (1 − |x|)): no cancellation near 0.
fn k_atanh(x: f32) -> f32 {
    let a = abs(x);
    let s = 0.5 * k_log1p(2.0 * a / (1.0 - a));
    return select(-s, s, x >= 0.0);
}

// @fn k_fmod uses k_is_nan
// C fmod (the remainder with the dividend's sign): a − b·trunc(a / b), with one step
// correcting a quotient that rounded across an integer; a finite a by ±∞ is a.
fn k_fmod(a: f32, b: f32) -> f32 {
    let b_inf = (bitcast<u32>(b) & 0x7fffffffu) == 0x7f800000u;
    let a_finite = (bitcast<u32>(a) & 0x7fffffffu) < 0x7f800000u;
    if b_inf && a_finite {
        return a;
    }
    var r = fma(-b, trunc(a / b), a);
    if r != 0.0 && (r < 0.0) != (a < 0.0) {
        r = r + select(-abs(b), abs(b), a > 0.0);
    }
    if r == 0.0 {
        return bitcast<f32>(bitcast<u32>(a) & 0x80000000u);
    }
    return r;
}

// @fn k_mod uses k_fmod
// numpy's mod (the remainder with the divisor's sign; a zero takes the divisor's sign).
fn k_mod(a: f32, b: f32) -> f32 {
    let r = k_fmod(a, b);
    if r == 0.0 {
        return bitcast<f32>(bitcast<u32>(b) & 0x80000000u);
    }
    if (r < 0.0) != (b < 0.0) {
        return r + b;
    }
    return r;
}

// @fn k_ifmod
// Integer remainder with the dividend's sign; by 0 (and by −1) it is 0. Taken of the
// magnitudes as u32: a signed `%` of a negative operand is undefined in GLSL.
fn k_ifmod(a: i32, b: i32) -> i32 {
    if b == 0 || b == -1 {
        return 0;
    }
    let ua = select(u32(a), 0u - u32(a), a < 0);
    let ub = select(u32(b), 0u - u32(b), b < 0);
    let r = ua % ub;
    return select(i32(r), i32(0u - r), a < 0);
}

// @fn k_imod uses k_ifmod
// Integer remainder with the divisor's sign (Python's %); by 0 it is 0.
fn k_imod(a: i32, b: i32) -> i32 {
    let r = k_ifmod(a, b);
    if r != 0 && (r < 0) != (b < 0) {
        return r + b;
    }
    return r;
}

// @fn k_range_value
// The f32 value of an order-preserving key (codegen's `range`): a non-negative value's
// bits with the sign bit set, a negative value's bits inverted.
fn k_range_value(k: u32) -> f32 {
    return bitcast<f32>(select(~k, k & 0x7fffffffu, (k & 0x80000000u) != 0u));
}

// @fn k_range_low uses k_range_value
// The minimum in a folded range's low word (its key inverted, or 0xffffffff for NaN).
fn k_range_low(w: u32) -> f32 {
    if w == 0xffffffffu {
        return bitcast<f32>(0x7fc00000u);
    }
    return k_range_value(~w);
}

// @fn k_range_high uses k_range_value
// The maximum in a folded range's high word (its key, 0xffffffff for NaN).
fn k_range_high(w: u32) -> f32 {
    if w == 0xffffffffu {
        return bitcast<f32>(0x7fc00000u);
    }
    return k_range_value(w);
}
