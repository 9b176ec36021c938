//! The 8- and 4-bit floats of quantized models (`f8e4m3fn`, `f8e5m2`, `f4e2m1`, and the
//! `fnuz` variants `f8e4m3fnuz`, `f8e5m2fnuz`): conversion from f32 rounding to nearest
//! even, with ONNX's saturation rules, and back.
//!
//! Stored as bit patterns (`u8`, the low 4 bits for `f4e2m1`). ONNX defines: with
//! `saturate`, a value beyond the largest finite one (infinity included) becomes that
//! value; without it, `f8e4m3fn` (no infinity) gives NaN and `f8e5m2` infinity.
//! `f4e2m1` has neither infinity nor NaN and always saturates (see [`Format::encode`]).
//! The `fnuz` formats have no infinity and no negative zero: their one NaN is the
//! pattern of negative zero (`0x80`), overflow without `saturate` gives it.

use crate::DType;

/// A minifloat layout: sign, `exp` exponent bits with `bias`, `man` mantissa bits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Format {
    pub exp: u32,
    pub man: u32,
    pub bias: i32,
    /// An all-ones exponent encodes infinity and NaN (IEEE style): `f8e5m2`.
    pub ieee: bool,
    /// NaN exists: only the all-ones pattern (`f8e4m3fn`), or IEEE's.
    pub nan: bool,
    /// "Unsigned zero" (`fnuz`): no negative zero, its pattern `0x80` is the one NaN.
    pub uz: bool,
}

/// `f8e4m3fn`: max 448, NaN = `s.1111.111`, no infinity.
pub const E4M3FN: Format = Format {
    exp: 4,
    man: 3,
    bias: 7,
    ieee: false,
    nan: true,
    uz: false,
};

/// `f8e5m2`: max 57344, IEEE infinities and NaNs.
pub const E5M2: Format = Format {
    exp: 5,
    man: 2,
    bias: 15,
    ieee: true,
    nan: true,
    uz: false,
};

/// `f4e2m1`: values 0, 0.5, 1, 1.5, 2, 3, 4, 6; no infinity, no NaN.
pub const E2M1: Format = Format {
    exp: 2,
    man: 1,
    bias: 1,
    ieee: false,
    nan: false,
    uz: false,
};

/// `f8e4m3fnuz`: max 240, NaN = `0x80`, no infinity, no negative zero.
pub const E4M3FNUZ: Format = Format {
    exp: 4,
    man: 3,
    bias: 8,
    ieee: false,
    nan: true,
    uz: true,
};

/// `f8e5m2fnuz`: max 57344, NaN = `0x80`, no infinity, no negative zero.
pub const E5M2FNUZ: Format = Format {
    exp: 5,
    man: 2,
    bias: 16,
    ieee: false,
    nan: true,
    uz: true,
};

impl Format {
    /// The format of a minifloat dtype.
    pub fn of(dtype: DType) -> Option<Format> {
        match dtype {
            DType::F8E4M3FN => Some(E4M3FN),
            DType::F8E5M2 => Some(E5M2),
            DType::F4E2M1 => Some(E2M1),
            DType::F8E4M3FNUZ => Some(E4M3FNUZ),
            DType::F8E5M2FNUZ => Some(E5M2FNUZ),
            _ => None,
        }
    }

    fn bits(self) -> u32 {
        1 + self.exp + self.man
    }

    fn sign_bit(self) -> u8 {
        1 << (self.exp + self.man)
    }

    /// The largest finite value's bit pattern (positive).
    fn max_bits(self) -> u8 {
        let all = (1u8 << (self.exp + self.man)) - 1;
        match (self.ieee, self.nan && !self.uz) {
            // The all-ones exponent is reserved.
            (true, _) => all - (1 << self.man),
            // Only the all-ones pattern is NaN.
            (false, true) => all - 1,
            (false, false) => all,
        }
    }

    /// The largest finite value.
    pub fn max(self) -> f32 {
        self.decode(self.max_bits())
    }

    /// The value of bit pattern `b`.
    pub fn decode(self, b: u8) -> f32 {
        let b = b & ((1u16 << self.bits()) - 1) as u8;
        if self.uz && b == self.sign_bit() {
            return f32::NAN;
        }
        let sign = if b & self.sign_bit() != 0 { -1.0 } else { 1.0 };
        let e = ((b >> self.man) & ((1 << self.exp) - 1)) as i32;
        let m = (b & ((1 << self.man) - 1)) as i32;
        let all_e = (1 << self.exp) - 1;
        if self.ieee && e == all_e {
            return if m == 0 {
                sign * f32::INFINITY
            } else {
                f32::NAN
            };
        }
        if !self.ieee && self.nan && !self.uz && e == all_e && m == (1 << self.man) - 1 {
            return f32::NAN;
        }
        let scale = |p: i32| (p as f32).exp2();
        if e == 0 {
            sign * m as f32 * scale(1 - self.bias - self.man as i32)
        } else {
            sign * (1.0 + m as f32 * scale(-(self.man as i32))) * scale(e - self.bias)
        }
    }

    /// The bit pattern of the nearest value to `x` (ties to even). Beyond the largest
    /// finite value: that value with `saturate` (or in a format with neither infinity
    /// nor NaN), else infinity (IEEE formats) or NaN. NaN stays NaN; in `f4e2m1`, which
    /// has none, it becomes a zero of the opposite sign, as ONNX's reference (ml_dtypes)
    /// does.
    pub fn encode(self, x: f32, saturate: bool) -> u8 {
        let sign = if x.is_sign_negative() {
            self.sign_bit()
        } else {
            0
        };
        // All ones but the sign: a NaN in both formats that have one.
        let nan_bits = self.sign_bit() - 1;
        if x.is_nan() {
            return if self.uz {
                self.sign_bit()
            } else if self.nan {
                sign | nan_bits
            } else {
                sign ^ self.sign_bit()
            };
        }
        let a = x.abs() as f64;
        let overflow = || {
            if saturate || !self.nan {
                sign | self.max_bits()
            } else if self.uz {
                self.sign_bit()
            } else if self.ieee {
                sign | (((1u8 << self.exp) - 1) << self.man)
            } else {
                sign | nan_bits
            }
        };
        if a.is_infinite() {
            return overflow();
        }
        // The spacing of representable values around `a` (subnormals share the
        // smallest normal exponent's), then round to a multiple of it, ties to even.
        let min_exp = 1 - self.bias;
        let e = if a == 0.0 {
            min_exp
        } else {
            (a.log2().floor() as i32).max(min_exp)
        };
        let quantum = ((e - self.man as i32) as f64).exp2();
        let r = (a / quantum).round_ties_even() * quantum;
        if r > self.max() as f64 {
            return overflow();
        }
        let k = (r / ((min_exp - self.man as i32) as f64).exp2()) as u32;
        // `k` counts multiples of the smallest subnormal; above the subnormal range
        // the pattern is (exponent field, mantissa) which this formula yields too.
        let bits = if k < (1 << self.man) {
            k
        } else {
            let e = (r.log2().floor() as i32).max(min_exp);
            let m = (r / ((e - self.man as i32) as f64).exp2()) as u32 - (1 << self.man);
            (((e + self.bias) as u32) << self.man) | m
        };
        if self.uz && bits == 0 {
            // No negative zero.
            return 0;
        }
        sign | bits as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_values() {
        assert_eq!(E4M3FN.max(), 448.0);
        assert_eq!(E5M2.max(), 57344.0);
        assert_eq!(E2M1.max(), 6.0);
        assert_eq!(E4M3FNUZ.max(), 240.0);
        assert_eq!(E5M2FNUZ.max(), 57344.0);
    }

    #[test]
    fn fnuz_has_one_nan_and_no_negative_zero() {
        for f in [E4M3FNUZ, E5M2FNUZ] {
            assert!(f.decode(0x80).is_nan());
            assert_eq!(f.encode(f32::NAN, true), 0x80);
            assert_eq!(f.encode(-f32::NAN, false), 0x80);
            assert_eq!(f.encode(-0.0, true), 0x00);
            assert_eq!(f.encode(-1e-30, true), 0x00);
            assert_eq!(f.encode(f32::INFINITY, false), 0x80);
            assert_eq!(f.encode(f32::NEG_INFINITY, false), 0x80);
            assert_eq!(f.encode(f32::NEG_INFINITY, true), 0xff);
            assert_eq!(f.decode(f.encode(1e9, true)), f.max());
            assert_eq!(f.encode(1e9, false), 0x80);
        }
        // Smallest subnormal of f8e4m3fnuz: 2^-10 (bias 8).
        assert_eq!(E4M3FNUZ.decode(0x01), 2f32.powi(-10));
        assert_eq!(E4M3FNUZ.decode(E4M3FNUZ.encode(-1.3, true)), -1.25);
    }

    #[test]
    fn every_pattern_round_trips() {
        for f in [E4M3FN, E5M2, E2M1, E4M3FNUZ, E5M2FNUZ] {
            for b in 0..(1u16 << f.bits()) as u8 {
                let v = f.decode(b);
                if v.is_nan() {
                    assert!(f.decode(f.encode(v, true)).is_nan());
                    continue;
                }
                let back = f.encode(v, false);
                // -0 and +0 differ in bits only.
                assert!(back == b || v == 0.0, "{f:?} {b:#x}: {v} -> {back:#x}");
            }
        }
    }

    #[test]
    fn rounds_to_nearest_even_and_saturates() {
        // f4e2m1: 2.5 lies between 2 and 3 (tie: even mantissa is 2); 5 between 4 and 6.
        assert_eq!(E2M1.decode(E2M1.encode(2.5, true)), 2.0);
        assert_eq!(E2M1.decode(E2M1.encode(5.0, true)), 4.0);
        assert_eq!(E2M1.decode(E2M1.encode(0.25, true)), 0.0);
        assert_eq!(E2M1.decode(E2M1.encode(0.26, true)), 0.5);
        assert_eq!(E2M1.decode(E2M1.encode(100.0, false)), 6.0);
        assert_eq!(E2M1.decode(E2M1.encode(-7.0, true)), -6.0);
        // f8e4m3fn: 464 is the tie between 448 and the NaN pattern: 448.
        assert_eq!(E4M3FN.decode(E4M3FN.encode(464.0, false)), 448.0);
        assert!(E4M3FN.decode(E4M3FN.encode(470.0, false)).is_nan());
        assert_eq!(E4M3FN.decode(E4M3FN.encode(1e9, true)), 448.0);
        assert_eq!(
            E4M3FN.decode(E4M3FN.encode(f32::NEG_INFINITY, true)),
            -448.0
        );
        // Smallest subnormal 2^-9; half of it is a tie to 0.
        assert_eq!(
            E4M3FN.decode(E4M3FN.encode(2f32.powi(-9), true)),
            2f32.powi(-9)
        );
        assert_eq!(E4M3FN.decode(E4M3FN.encode(2f32.powi(-10), true)), 0.0);
        assert_eq!(E5M2.decode(E5M2.encode(1e6, false)), f32::INFINITY);
        assert_eq!(E5M2.decode(E5M2.encode(1e6, true)), 57344.0);
        assert_eq!(E5M2.decode(E5M2.encode(-1.3, true)), -1.25);
    }
}
