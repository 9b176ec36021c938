//! Host tensors: the data of constants, of interpreter values and of graph inputs/outputs.

use crate::{DType, Shape, TensorType};
use half::f16;
use std::sync::Arc;

/// Dense element storage, one variant per [`DType`].
#[derive(Clone, Debug)]
pub enum Data {
    F32(Vec<f32>),
    F16(Vec<f16>),
    I32(Vec<i32>),
    U32(Vec<u32>),
    I8(Vec<i8>),
    U8(Vec<u8>),
    Bool(Vec<bool>),
    I16(Vec<i16>),
    U16(Vec<u16>),
    /// One element per byte, in `-8..=7`.
    I4(Vec<i8>),
    /// One element per byte, in `0..=15`.
    U4(Vec<u8>),
    /// One element per byte, in `-2..=1`.
    I2(Vec<i8>),
    /// One element per byte, in `0..=3`.
    U2(Vec<u8>),
    /// Bit patterns (see [`crate::minifloat`]).
    F8E4M3FN(Vec<u8>),
    /// Bit patterns.
    F8E5M2(Vec<u8>),
    /// Bit patterns in the low 4 bits.
    F4E2M1(Vec<u8>),
    /// Bit patterns (no negative zero; `0x80` is NaN).
    F8E4M3FNUZ(Vec<u8>),
    /// Bit patterns (no negative zero; `0x80` is NaN).
    F8E5M2FNUZ(Vec<u8>),
}

/// Applies `$body` to the vector inside a [`Data`], binding it as `$v`.
/// The body must type-check for every element type.
#[macro_export]
macro_rules! dispatch_data {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            $crate::Data::F32($v) => $body,
            $crate::Data::F16($v) => $body,
            $crate::Data::I32($v) => $body,
            $crate::Data::U32($v) => $body,
            $crate::Data::I8($v) => $body,
            $crate::Data::U8($v) => $body,
            $crate::Data::Bool($v) => $body,
            $crate::Data::I16($v) => $body,
            $crate::Data::U16($v) => $body,
            $crate::Data::I4($v) => $body,
            $crate::Data::U4($v) => $body,
            $crate::Data::I2($v) => $body,
            $crate::Data::U2($v) => $body,
            $crate::Data::F8E4M3FN($v) => $body,
            $crate::Data::F8E5M2($v) => $body,
            $crate::Data::F4E2M1($v) => $body,
            $crate::Data::F8E4M3FNUZ($v) => $body,
            $crate::Data::F8E5M2FNUZ($v) => $body,
        }
    };
}

/// Like [`dispatch_data!`], but wraps a `Vec` result back into the same variant.
#[macro_export]
macro_rules! map_data {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            $crate::Data::F32($v) => $crate::Data::F32($body),
            $crate::Data::F16($v) => $crate::Data::F16($body),
            $crate::Data::I32($v) => $crate::Data::I32($body),
            $crate::Data::U32($v) => $crate::Data::U32($body),
            $crate::Data::I8($v) => $crate::Data::I8($body),
            $crate::Data::U8($v) => $crate::Data::U8($body),
            $crate::Data::Bool($v) => $crate::Data::Bool($body),
            $crate::Data::I16($v) => $crate::Data::I16($body),
            $crate::Data::U16($v) => $crate::Data::U16($body),
            $crate::Data::I4($v) => $crate::Data::I4($body),
            $crate::Data::U4($v) => $crate::Data::U4($body),
            $crate::Data::I2($v) => $crate::Data::I2($body),
            $crate::Data::U2($v) => $crate::Data::U2($body),
            $crate::Data::F8E4M3FN($v) => $crate::Data::F8E4M3FN($body),
            $crate::Data::F8E5M2($v) => $crate::Data::F8E5M2($body),
            $crate::Data::F4E2M1($v) => $crate::Data::F4E2M1($body),
            $crate::Data::F8E4M3FNUZ($v) => $crate::Data::F8E4M3FNUZ($body),
            $crate::Data::F8E5M2FNUZ($v) => $crate::Data::F8E5M2FNUZ($body),
        }
    };
}

impl Data {
    /// The elements at `indices`, in that order (each in range).
    pub fn take(&self, indices: &[usize]) -> Data {
        map_data!(self, v => indices.iter().map(|&i| v[i]).collect())
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            Data::F32(_) => DType::F32,
            Data::F16(_) => DType::F16,
            Data::I32(_) => DType::I32,
            Data::U32(_) => DType::U32,
            Data::I8(_) => DType::I8,
            Data::U8(_) => DType::U8,
            Data::Bool(_) => DType::Bool,
            Data::I16(_) => DType::I16,
            Data::U16(_) => DType::U16,
            Data::I4(_) => DType::I4,
            Data::U4(_) => DType::U4,
            Data::I2(_) => DType::I2,
            Data::U2(_) => DType::U2,
            Data::F8E4M3FN(_) => DType::F8E4M3FN,
            Data::F8E5M2(_) => DType::F8E5M2,
            Data::F8E4M3FNUZ(_) => DType::F8E4M3FNUZ,
            Data::F8E5M2FNUZ(_) => DType::F8E5M2FNUZ,
            Data::F4E2M1(_) => DType::F4E2M1,
        }
    }

    /// Number of stored elements.
    pub fn len(&self) -> usize {
        dispatch_data!(self, v => v.len())
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every element converted to f64 (bool as 0/1, minifloats decoded). For printing,
    /// comparing and folding.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match self {
            Data::F32(v) => v.iter().map(|&x| x as f64).collect(),
            Data::F16(v) => v.iter().map(|&x| x.to_f64()).collect(),
            Data::F8E4M3FN(v)
            | Data::F8E5M2(v)
            | Data::F4E2M1(v)
            | Data::F8E4M3FNUZ(v)
            | Data::F8E5M2FNUZ(v) => {
                let f = crate::minifloat::Format::of(self.dtype()).expect("a minifloat");
                v.iter().map(|&b| f.decode(b) as f64).collect()
            }
            _ => self
                .to_i64_vec()
                .expect("integer data")
                .into_iter()
                .map(|x| x as f64)
                .collect(),
        }
    }

    /// Every element as i64, for integer and bool data; `None` for floats.
    pub fn to_i64_vec(&self) -> Option<Vec<i64>> {
        fn all<T: Copy + Into<i64>>(v: &[T]) -> Vec<i64> {
            v.iter().map(|&x| x.into()).collect()
        }
        Some(match self {
            Data::F32(_)
            | Data::F16(_)
            | Data::F8E4M3FN(_)
            | Data::F8E5M2(_)
            | Data::F4E2M1(_)
            | Data::F8E4M3FNUZ(_)
            | Data::F8E5M2FNUZ(_) => return None,
            Data::I32(v) => all(v),
            Data::U32(v) => all(v),
            Data::I8(v) | Data::I4(v) | Data::I2(v) => all(v),
            Data::U8(v) | Data::U4(v) | Data::U2(v) => all(v),
            Data::I16(v) => all(v),
            Data::U16(v) => all(v),
            Data::Bool(v) => v.iter().map(|&x| x as i64).collect(),
        })
    }

    /// Integers of `dtype` (an integer type or bool) from i64 values, wrapping to its
    /// width as a two's-complement store would.
    pub fn from_i64s(dtype: DType, v: impl Iterator<Item = i64>) -> Option<Data> {
        let (lo, hi) = match dtype.int_range() {
            Some(r) => r,
            None if dtype == DType::Bool => return Some(Data::Bool(v.map(|x| x != 0).collect())),
            None => return None,
        };
        let bits = dtype.bits();
        let wrap = move |x: i64| {
            let m = x & ((1i64 << bits) - 1);
            if lo < 0 && m > hi {
                m - (1 << bits)
            } else {
                m
            }
        };
        let v = v.map(wrap);
        Some(match dtype {
            DType::I32 => Data::I32(v.map(|x| x as i32).collect()),
            DType::U32 => Data::U32(v.map(|x| x as u32).collect()),
            DType::I16 => Data::I16(v.map(|x| x as i16).collect()),
            DType::U16 => Data::U16(v.map(|x| x as u16).collect()),
            DType::I8 => Data::I8(v.map(|x| x as i8).collect()),
            DType::U8 => Data::U8(v.map(|x| x as u8).collect()),
            DType::I4 => Data::I4(v.map(|x| x as i8).collect()),
            DType::U4 => Data::U4(v.map(|x| x as u8).collect()),
            DType::I2 => Data::I2(v.map(|x| x as i8).collect()),
            DType::U2 => Data::U2(v.map(|x| x as u8).collect()),
            _ => return None,
        })
    }

    /// Minifloat bit patterns of `dtype`; `None` for the other types.
    pub fn minifloats(dtype: DType, bits: Vec<u8>) -> Option<Data> {
        Some(match dtype {
            DType::F8E4M3FN => Data::F8E4M3FN(bits),
            DType::F8E5M2 => Data::F8E5M2(bits),
            DType::F8E4M3FNUZ => Data::F8E4M3FNUZ(bits),
            DType::F8E5M2FNUZ => Data::F8E5M2FNUZ(bits),
            DType::F4E2M1 => Data::F4E2M1(bits),
            _ => return None,
        })
    }

    /// `n` copies of element `i`.
    fn repeat_element(&self, i: usize, n: usize) -> Data {
        map_data!(self, v => vec![v[i]; n])
    }
}

impl PartialEq for Data {
    /// Element-wise equality; floats compare by bits, except that all NaNs are equal.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Data::F32(a), Data::F32(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
            }
            (Data::F16(a), Data::F16(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
            }
            (Data::I32(a), Data::I32(b)) => a == b,
            (Data::U32(a), Data::U32(b)) => a == b,
            (Data::I8(a), Data::I8(b)) => a == b,
            (Data::U8(a), Data::U8(b)) => a == b,
            (Data::Bool(a), Data::Bool(b)) => a == b,
            (Data::I16(a), Data::I16(b)) => a == b,
            (Data::U16(a), Data::U16(b)) => a == b,
            (Data::I4(a), Data::I4(b)) | (Data::I2(a), Data::I2(b)) => a == b,
            (Data::U4(a), Data::U4(b)) | (Data::U2(a), Data::U2(b)) => a == b,
            (Data::F8E4M3FN(_), Data::F8E4M3FN(_))
            | (Data::F8E5M2(_), Data::F8E5M2(_))
            | (Data::F4E2M1(_), Data::F4E2M1(_))
            | (Data::F8E4M3FNUZ(_), Data::F8E4M3FNUZ(_))
            | (Data::F8E5M2FNUZ(_), Data::F8E5M2FNUZ(_)) => {
                let (a, b) = (self.to_f64_vec(), other.to_f64_vec());
                a.len() == b.len()
                    && a.iter()
                        .zip(&b)
                        .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
            }
            _ => false,
        }
    }
}

/// A host tensor: a type plus shared, immutable data. Cloning never copies the data.
///
/// A *splat* tensor stores one element that stands for every element of its shape;
/// constants built by `ConstantOfShape` stay tiny this way however large their shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    shape: Shape,
    data: Arc<Data>,
    splat: bool,
}

/// A tensor's data did not match its shape.
#[derive(Debug, thiserror::Error)]
#[error("tensor data has {got} elements but shape {shape} needs {want}")]
pub struct ShapeMismatch {
    pub shape: Shape,
    pub got: usize,
    pub want: usize,
}

impl Tensor {
    /// A dense tensor; `data` must hold exactly `shape.numel()` elements.
    pub fn new(shape: impl Into<Shape>, data: Data) -> Result<Tensor, ShapeMismatch> {
        let shape = shape.into();
        if data.len() != shape.numel() {
            return Err(ShapeMismatch {
                want: shape.numel(),
                got: data.len(),
                shape,
            });
        }
        Ok(Tensor {
            shape,
            data: Arc::new(data),
            splat: false,
        })
    }

    /// A tensor whose every element equals the single element of `value`.
    pub fn splat(shape: impl Into<Shape>, value: Data) -> Result<Tensor, ShapeMismatch> {
        let shape = shape.into();
        if value.len() != 1 {
            return Err(ShapeMismatch {
                want: 1,
                got: value.len(),
                shape,
            });
        }
        Ok(Tensor {
            shape,
            data: Arc::new(value),
            splat: true,
        })
    }

    /// A scalar (rank-0) tensor.
    pub fn scalar(value: Data) -> Result<Tensor, ShapeMismatch> {
        Tensor::new(Shape::scalar(), value)
    }

    /// Shorthand for a dense f32 tensor.
    pub fn from_f32(shape: impl Into<Shape>, v: Vec<f32>) -> Result<Tensor, ShapeMismatch> {
        Tensor::new(shape, Data::F32(v))
    }

    /// Shorthand for a dense i32 tensor.
    pub fn from_i32(shape: impl Into<Shape>, v: Vec<i32>) -> Result<Tensor, ShapeMismatch> {
        Tensor::new(shape, Data::I32(v))
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// Type of this tensor.
    pub fn ty(&self) -> TensorType {
        TensorType::new(self.dtype(), self.shape.clone())
    }

    /// Number of logical elements.
    pub fn numel(&self) -> usize {
        self.shape.numel()
    }

    /// True when one stored element stands for all elements.
    pub fn is_splat(&self) -> bool {
        self.splat
    }

    /// The stored data: one element for a splat, `numel` elements otherwise.
    pub fn stored(&self) -> &Data {
        &self.data
    }

    /// The dense data, expanding a splat (which allocates).
    pub fn data(&self) -> std::borrow::Cow<'_, Data> {
        if self.splat {
            std::borrow::Cow::Owned(self.data.repeat_element(0, self.numel()))
        } else {
            std::borrow::Cow::Borrowed(&self.data)
        }
    }

    /// A dense copy of this tensor (a cheap clone unless it is a splat).
    pub fn to_dense(&self) -> Tensor {
        if self.splat {
            Tensor {
                shape: self.shape.clone(),
                data: Arc::new(self.data().into_owned()),
                splat: false,
            }
        } else {
            self.clone()
        }
    }

    /// The same data under another shape with the same element count.
    pub fn reshaped(&self, shape: impl Into<Shape>) -> Result<Tensor, ShapeMismatch> {
        let shape = shape.into();
        if shape.numel() != self.numel() {
            return Err(ShapeMismatch {
                want: shape.numel(),
                got: self.numel(),
                shape,
            });
        }
        Ok(Tensor {
            shape,
            data: self.data.clone(),
            splat: self.splat,
        })
    }

    /// Every element as f64, expanded.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        self.data().to_f64_vec()
    }

    /// Every element as i64 (integer and bool tensors only), expanded.
    pub fn to_i64_vec(&self) -> Option<Vec<i64>> {
        self.data().to_i64_vec()
    }

    /// Size of the stored data in bytes.
    pub fn stored_bytes(&self) -> usize {
        self.data.len() * self.dtype().size_bytes()
    }
}
