//! Element types of IR tensors.

use std::fmt;

/// The element type of a tensor. ONNX `int64`, `uint64` and `double` are narrowed to
/// [`DType::I32`], [`DType::U32`] and [`DType::F32`] at import (see [`crate::Wide`]);
/// there is no 64-bit type in the IR because WGSL has none.
///
/// Besides f32/f16, the 32-, 16-, 8-, 4- and 2-bit integers and the 8- and 4-bit
/// floats of quantized models. Host tensors hold one element per byte (or wider); the
/// minifloats (`f8e4m3fn`, `f8e5m2`, `f4e2m1`) hold their bit pattern and take part
/// only in quantization, casts and data movement (see [`crate::minifloat`]).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    F32,
    F16,
    I32,
    U32,
    I8,
    U8,
    Bool,
    I16,
    U16,
    I4,
    U4,
    I2,
    U2,
    F8E4M3FN,
    F8E5M2,
    F4E2M1,
    F8E4M3FNUZ,
    F8E5M2FNUZ,
}

impl DType {
    /// Every dtype, in declaration order.
    pub const ALL: [DType; 18] = [
        DType::F32,
        DType::F16,
        DType::I32,
        DType::U32,
        DType::I8,
        DType::U8,
        DType::Bool,
        DType::I16,
        DType::U16,
        DType::I4,
        DType::U4,
        DType::I2,
        DType::U2,
        DType::F8E4M3FN,
        DType::F8E5M2,
        DType::F4E2M1,
        DType::F8E4M3FNUZ,
        DType::F8E5M2FNUZ,
    ];

    /// The name used in the IR text (`f32`, `bool`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::I32 => "i32",
            DType::U32 => "u32",
            DType::I8 => "i8",
            DType::U8 => "u8",
            DType::Bool => "bool",
            DType::I16 => "i16",
            DType::U16 => "u16",
            DType::I4 => "i4",
            DType::U4 => "u4",
            DType::I2 => "i2",
            DType::U2 => "u2",
            DType::F8E4M3FN => "f8e4m3fn",
            DType::F8E5M2 => "f8e5m2",
            DType::F4E2M1 => "f4e2m1",
            DType::F8E4M3FNUZ => "f8e4m3fnuz",
            DType::F8E5M2FNUZ => "f8e5m2fnuz",
        }
    }

    /// Parses a name printed by [`DType::name`].
    pub fn from_name(name: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Bytes per element in host memory (sub-byte types take a byte each there).
    pub fn size_bytes(self) -> usize {
        match self {
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F16 | DType::I16 | DType::U16 => 2,
            _ => 1,
        }
    }

    /// Bits per element when stored packed (bool: 8).
    pub fn bits(self) -> u32 {
        match self {
            DType::I4 | DType::U4 | DType::F4E2M1 => 4,
            DType::I2 | DType::U2 => 2,
            d => 8 * d.size_bytes() as u32,
        }
    }

    /// f32 or f16.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F16)
    }

    /// An 8- or 4-bit float of quantized models (no arithmetic on it).
    pub fn is_minifloat(self) -> bool {
        matches!(
            self,
            DType::F8E4M3FN | DType::F8E5M2 | DType::F4E2M1 | DType::F8E4M3FNUZ | DType::F8E5M2FNUZ
        )
    }

    /// A signed or unsigned integer type of any width (not bool).
    pub fn is_int(self) -> bool {
        self.int_range().is_some()
    }

    /// i8 or u8: the operands of the integer products (`matmul_integer`,
    /// `conv_integer`).
    pub fn is_byte_int(self) -> bool {
        matches!(self, DType::I8 | DType::U8)
    }

    /// A signed integer type.
    pub fn is_signed_int(self) -> bool {
        self.int_range().is_some_and(|(lo, _)| lo < 0)
    }

    /// The smallest and largest value of an integer type; `None` for the others.
    pub fn int_range(self) -> Option<(i64, i64)> {
        let bits = self.bits();
        match self {
            DType::I32 | DType::I16 | DType::I8 | DType::I4 | DType::I2 => {
                Some((-(1 << (bits - 1)), (1 << (bits - 1)) - 1))
            }
            DType::U32 | DType::U16 | DType::U8 | DType::U4 | DType::U2 => {
                Some((0, (1 << bits) - 1))
            }
            _ => None,
        }
    }

    /// A type that arithmetic applies to (float or integer).
    pub fn is_numeric(self) -> bool {
        self.is_float() || self.is_int()
    }

    /// A type `QuantizeLinear` can produce and `DequantizeLinear` read: the 8-, 16-, 4-
    /// and 2-bit integers and the minifloats (and, for dequantization, i32).
    pub fn is_quantized(self) -> bool {
        self.is_minifloat() || (self.is_int() && self.bits() <= 16)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in DType::ALL {
            assert_eq!(DType::from_name(d.name()), Some(d));
        }
    }

    #[test]
    fn integer_ranges() {
        assert_eq!(DType::I4.int_range(), Some((-8, 7)));
        assert_eq!(DType::U2.int_range(), Some((0, 3)));
        assert_eq!(DType::I16.int_range(), Some((-32768, 32767)));
        assert_eq!(DType::U32.int_range(), Some((0, u32::MAX as i64)));
        assert_eq!(DType::F8E5M2.int_range(), None);
        assert!(DType::I2.is_signed_int() && !DType::U4.is_signed_int());
    }
}
