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
        }
    };
}

impl Data {
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

    /// Every element converted to f64 (bool as 0/1). For printing, comparing and folding.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match self {
            Data::F32(v) => v.iter().map(|&x| x as f64).collect(),
            Data::F16(v) => v.iter().map(|&x| x.to_f64()).collect(),
            Data::I32(v) => v.iter().map(|&x| x as f64).collect(),
            Data::U32(v) => v.iter().map(|&x| x as f64).collect(),
            Data::I8(v) => v.iter().map(|&x| x as f64).collect(),
            Data::U8(v) => v.iter().map(|&x| x as f64).collect(),
            Data::Bool(v) => v.iter().map(|&x| x as u8 as f64).collect(),
        }
    }

    /// Every element as i64, for integer and bool data; `None` for floats.
    pub fn to_i64_vec(&self) -> Option<Vec<i64>> {
        Some(match self {
            Data::F32(_) | Data::F16(_) => return None,
            Data::I32(v) => v.iter().map(|&x| x as i64).collect(),
            Data::U32(v) => v.iter().map(|&x| x as i64).collect(),
            Data::I8(v) => v.iter().map(|&x| x as i64).collect(),
            Data::U8(v) => v.iter().map(|&x| x as i64).collect(),
            Data::Bool(v) => v.iter().map(|&x| x as i64).collect(),
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
