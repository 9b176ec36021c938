//! Statically known values: the contents of constants and of small values computed
//! from them at import, kept exact (int64 stays int64 here) for shape-like operands.

use kiln_ir::{DType, Data, Tensor};

/// Element storage of a known value: integers and bools (0/1) as i64, floats as f64
/// holding a value of the declared float type.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum KData {
    Int(Vec<i64>),
    Float(Vec<f64>),
}

impl KData {
    pub(crate) fn len(&self) -> usize {
        match self {
            KData::Int(v) => v.len(),
            KData::Float(v) => v.len(),
        }
    }

    /// Elements picked by index (for data-movement ops).
    pub(crate) fn pick(&self, idx: &[usize]) -> KData {
        match self {
            KData::Int(v) => KData::Int(idx.iter().map(|&i| v[i]).collect()),
            KData::Float(v) => KData::Float(idx.iter().map(|&i| v[i]).collect()),
        }
    }

    /// Every element as f64.
    pub(crate) fn to_f64(&self) -> Vec<f64> {
        match self {
            KData::Int(v) => v.iter().map(|&x| x as f64).collect(),
            KData::Float(v) => v.clone(),
        }
    }
}

/// A value whose contents are known at import time. `dtype` is the IR type the value
/// has in the graph; an int64 source keeps its exact values in `data` even when they
/// do not fit the `i32` the IR computes with.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Known {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub data: KData,
}

impl Known {
    /// A known value; `data` must hold `shape.product()` elements of the right kind.
    pub(crate) fn new(dtype: DType, shape: Vec<usize>, data: KData) -> Known {
        Known { dtype, shape, data }
    }

    /// A known 1-D integer vector.
    pub(crate) fn ints(dtype: DType, v: Vec<i64>) -> Known {
        Known {
            dtype,
            shape: vec![v.len()],
            data: KData::Int(v),
        }
    }

    pub(crate) fn numel(&self) -> usize {
        self.data.len()
    }

    /// The contents of a tensor.
    pub(crate) fn from_tensor(t: &Tensor) -> Known {
        let data = t.data();
        let kd = match &*data {
            Data::F32(v) => KData::Float(v.iter().map(|&x| x as f64).collect()),
            Data::F16(v) => KData::Float(v.iter().map(|&x| x.to_f64()).collect()),
            other => KData::Int(other.to_i64_vec().unwrap_or_default()),
        };
        Known {
            dtype: t.dtype(),
            shape: t.shape().dims().to_vec(),
            data: kd,
        }
    }

    /// The integer contents (integer and bool values), or `None` for floats.
    pub(crate) fn as_ints(&self) -> Option<&[i64]> {
        match &self.data {
            KData::Int(v) => Some(v),
            KData::Float(_) => None,
        }
    }

    /// True when every element fits the IR dtype (always true for floats).
    pub(crate) fn fits(&self) -> bool {
        match &self.data {
            KData::Float(_) => true,
            KData::Int(v) => {
                let (lo, hi) = int_range(self.dtype);
                v.iter().all(|&x| x >= lo && x <= hi)
            }
        }
    }

    /// The IR tensor; integers outside the dtype's range saturate (check [`Known::fits`]
    /// first where that matters).
    pub(crate) fn to_tensor(&self) -> Result<Tensor, String> {
        let (lo, hi) = int_range(self.dtype);
        let ints = || match &self.data {
            KData::Int(v) => v.iter().map(|&x| x.clamp(lo, hi)).collect::<Vec<i64>>(),
            KData::Float(v) => v.iter().map(|&x| (x as i64).clamp(lo, hi)).collect(),
        };
        let data = match self.dtype {
            DType::F32 => Data::F32(self.data.to_f64().iter().map(|&x| x as f32).collect()),
            DType::F16 => Data::F16(
                self.data
                    .to_f64()
                    .iter()
                    .map(|&x| half::f16::from_f64(x))
                    .collect(),
            ),
            d if d.is_int() || d == DType::Bool => {
                Data::from_i64s(d, ints().into_iter()).expect("an integer type")
            }
            d => {
                let f = kiln_ir::minifloat::Format::of(d).expect("a minifloat");
                let values = self.data.to_f64();
                let bits = values.iter().map(|&x| f.encode(x as f32, true)).collect();
                Data::minifloats(d, bits).expect("a minifloat")
            }
        };
        Tensor::new(self.shape.clone(), data).map_err(|e| e.to_string())
    }
}

/// The value range of an integer IR dtype (floats: all of i64).
pub(crate) fn int_range(dtype: DType) -> (i64, i64) {
    match dtype.int_range() {
        Some(range) => range,
        None if dtype == DType::Bool => (0, 1),
        None => (i64::MIN, i64::MAX),
    }
}

/// Rounds `x` to the precision of the float dtype.
pub(crate) fn round_float(dtype: DType, x: f64) -> f64 {
    match dtype {
        DType::F16 => half::f16::from_f64(x).to_f64(),
        _ => x as f32 as f64,
    }
}
