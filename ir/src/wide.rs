//! The ONNX dtype a graph port is declared as when the IR computes it in another dtype
//! (int64, uint64, double narrowed; bfloat16 widened to f32), and the conversions of
//! such values at the boundary.

use crate::DType;
use std::fmt;

/// How a graph port is declared by the source model when that differs from the IR
/// dtype it is computed in. WGSL has no 64-bit types, so kiln computes ONNX `int64` as
/// `i32`, `uint64` as `u32` and `double` as `f32` (f32 precision: results agree with
/// f64 to about 1e-7 relative). Inputs are narrowed at the boundary (integers must
/// fit, doubles must be within f32's range) and outputs widened back, so a caller
/// gives and gets the declared type. `bfloat16` is computed as `f32` too: every
/// bfloat16 is an f32, and import rounds to bfloat16 where the model makes a value
/// bfloat16 (Cast/CastLike to it, and before a bfloat16 output port).
///
/// Serialized as `"i64"`, `"u64"`, `"f64"`, `"bf16"` or `"no"`; a bundle written
/// before the other kinds existed stored a bool (`true` for int64), which still reads.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase", try_from = "WideRepr")]
pub enum Wide {
    /// Declared as the IR dtype itself.
    #[default]
    No,
    /// ONNX `int64`, computed as `i32`.
    I64,
    /// ONNX `uint64`, computed as `u32`.
    U64,
    /// ONNX `double`, computed as `f32`.
    F64,
    /// ONNX `bfloat16`, computed as `f32` (rounded to bfloat16 where it is made).
    Bf16,
}

impl Wide {
    /// Every kind declared otherwise (not [`Wide::No`]).
    pub const ALL: [Wide; 4] = [Wide::I64, Wide::U64, Wide::F64, Wide::Bf16];

    /// The IR dtype a port of this kind is computed in (`None` for [`Wide::No`]).
    pub fn ir_dtype(self) -> Option<DType> {
        match self {
            Wide::No => None,
            Wide::I64 => Some(DType::I32),
            Wide::U64 => Some(DType::U32),
            Wide::F64 | Wide::Bf16 => Some(DType::F32),
        }
    }

    /// Whether the port is declared as another dtype than it is computed in.
    pub fn is_wide(self) -> bool {
        self != Wide::No
    }

    /// The short marker of the IR text and manifests: `i64`, `u64`, `f64`, `bf16`
    /// (`no`).
    pub fn marker(self) -> &'static str {
        match self {
            Wide::No => "no",
            Wide::I64 => "i64",
            Wide::U64 => "u64",
            Wide::F64 => "f64",
            Wide::Bf16 => "bf16",
        }
    }

    /// The kind a marker names (`i64`, `u64`, `f64`, `bf16`).
    pub fn from_marker(s: &str) -> Option<Wide> {
        Wide::ALL.into_iter().find(|w| w.marker() == s)
    }

    /// The ONNX name of the declared dtype (`int64`, `uint64`, `double`, `bfloat16`), or
    /// `None`.
    pub fn onnx_name(self) -> Option<&'static str> {
        match self {
            Wide::No => None,
            Wide::I64 => Some("int64"),
            Wide::U64 => Some("uint64"),
            Wide::F64 => Some("double"),
            Wide::Bf16 => Some("bfloat16"),
        }
    }

    /// `, int64` (`, uint64`, `, double`, `, bfloat16`) to follow a port's IR type in a message; empty
    /// for [`Wide::No`].
    pub fn note(self) -> &'static str {
        match self {
            Wide::No => "",
            Wide::I64 => ", int64",
            Wide::U64 => ", uint64",
            Wide::F64 => ", double",
            Wide::Bf16 => ", bfloat16",
        }
    }

    /// The name of the dtype a port computed as `dtype` is declared as: the ONNX name
    /// of the kind, or the IR dtype's own name.
    pub fn declared_name(self, dtype: DType) -> &'static str {
        self.onnx_name().unwrap_or(dtype.name())
    }
}

impl fmt::Display for Wide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.marker())
    }
}

/// uint64 values as the IR's u32, or the first value that does not fit.
pub fn narrow_u64(v: impl IntoIterator<Item = u64>) -> Result<Vec<u32>, String> {
    v.into_iter()
        .map(|x| {
            u32::try_from(x).map_err(|_| {
                format!("uint64 value {x} does not fit in u32 (kiln computes uint64 as u32)")
            })
        })
        .collect()
}

/// double values as the IR's f32, or the first finite value beyond f32's range (NaN and
/// the infinities carry over; precision is f32's).
pub fn narrow_f64(v: impl IntoIterator<Item = f64>) -> Result<Vec<f32>, String> {
    v.into_iter()
        .map(|x| {
            let y = x as f32;
            if x.is_finite() && !y.is_finite() {
                Err(format!(
                    "double value {x:e} is beyond f32's range (kiln computes double as f32)"
                ))
            } else {
                Ok(y)
            }
        })
        .collect()
}

/// The f32 value of bfloat16 bits (exact: bfloat16 is f32's upper half).
pub fn bf16_to_f32(bits: u16) -> f32 {
    f32::from_bits((bits as u32) << 16)
}

/// `x` rounded to the nearest bfloat16 (ties to even), as its bits; NaN stays NaN.
pub fn f32_to_bf16(x: f32) -> u16 {
    if x.is_nan() {
        return ((x.to_bits() >> 16) as u16) | 0x0040;
    }
    let b = x.to_bits();
    let lsb = (b >> 16) & 1;
    (b.wrapping_add(0x7FFF + lsb) >> 16) as u16
}

/// What a manifest may hold for a [`Wide`]: a marker, or the bool of older bundles.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum WideRepr {
    Flag(bool),
    Marker(String),
}

impl TryFrom<WideRepr> for Wide {
    type Error = String;
    fn try_from(r: WideRepr) -> Result<Wide, String> {
        match r {
            WideRepr::Flag(true) => Ok(Wide::I64),
            WideRepr::Flag(false) => Ok(Wide::No),
            WideRepr::Marker(s) if s == "no" => Ok(Wide::No),
            WideRepr::Marker(s) => Wide::from_marker(&s).ok_or_else(|| {
                format!("unknown port kind '{s}' (expected no, i64, u64, f64 or bf16)")
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uint64_narrows_to_u32_or_says_why_not() {
        assert_eq!(
            narrow_u64([0, 7, u32::MAX as u64]).unwrap(),
            [0, 7, u32::MAX]
        );
        let e = narrow_u64([1, 1 << 32]).unwrap_err();
        assert_eq!(
            e,
            "uint64 value 4294967296 does not fit in u32 (kiln computes uint64 as u32)"
        );
    }

    #[test]
    fn double_narrows_to_f32_or_says_why_not() {
        let v = narrow_f64([1.5, -0.1, f64::INFINITY, f64::NAN, 1e-50]).unwrap();
        assert_eq!(v[..2], [1.5, -0.1f32]);
        assert_eq!(v[2], f32::INFINITY);
        assert!(v[3].is_nan());
        assert_eq!(v[4], 0.0);
        // f32 values round trip exactly through double.
        let exact = [f32::MAX, f32::MIN_POSITIVE, -3.25, 1e-45];
        assert_eq!(narrow_f64(exact.map(f64::from)).unwrap(), exact);
        let e = narrow_f64([1e39]).unwrap_err();
        assert!(
            e.contains("1e39") && e.contains("kiln computes double as f32"),
            "{e}"
        );
    }

    #[test]
    fn bfloat16_rounds_to_nearest_even_and_round_trips() {
        for bits in [0u16, 0x3F80, 0xBF80, 0x7F7F, 0x0001, 0x7F80, 0xFF80] {
            assert_eq!(f32_to_bf16(bf16_to_f32(bits)), bits);
        }
        assert_eq!(bf16_to_f32(0x3F80), 1.0);
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1).
        assert_eq!(f32_to_bf16(1.0 + 1.0 / 256.0), 0x3F80);
        // Just above halfway rounds up.
        assert_eq!(f32_to_bf16(f32::from_bits(0x3F80_8001)), 0x3F81);
        // 1 + 3 * 2^-8 is halfway between odd 0x3F81 and even 0x3F82: up.
        assert_eq!(f32_to_bf16(1.0 + 3.0 / 256.0), 0x3F82);
        // The largest finite f32 rounds to infinity; NaN stays NaN.
        assert_eq!(f32_to_bf16(f32::MAX), 0x7F80);
        assert!(bf16_to_f32(f32_to_bf16(f32::from_bits(0x7FFF_FFFF))).is_nan());
    }

    #[test]
    fn markers_round_trip_and_old_bools_read() {
        for w in [Wide::No, Wide::I64, Wide::U64, Wide::F64, Wide::Bf16] {
            let s = serde_json::to_string(&w).unwrap();
            assert_eq!(s, format!("\"{}\"", w.marker()));
            assert_eq!(serde_json::from_str::<Wide>(&s).unwrap(), w);
        }
        assert_eq!(serde_json::from_str::<Wide>("true").unwrap(), Wide::I64);
        assert_eq!(serde_json::from_str::<Wide>("false").unwrap(), Wide::No);
        assert!(serde_json::from_str::<Wide>("\"i128\"").is_err());
        assert_eq!(Wide::F64.declared_name(DType::F32), "double");
        assert_eq!(Wide::No.declared_name(DType::F32), "f32");
    }
}
