//! A tensor's values as a caller hands them over or gets them back: in the dtype the
//! model declares. int64, uint64 and double are narrowed to the i32, u32 and f32 kiln
//! computes (an integer that does not fit, or a finite double beyond f32's range, is an
//! error, never a wrap) and widened back; the `.npy` reader and writer and the Python
//! package convert through here.

use half::f16;
use kiln_ir::{Data, Tensor, Wide};

/// Values in a host dtype (numpy's): the 64-bit types as the model declares them.
#[derive(Clone, Debug, PartialEq)]
pub enum HostValues {
    F64(Vec<f64>),
    F32(Vec<f32>),
    F16(Vec<f16>),
    I64(Vec<i64>),
    U64(Vec<u64>),
    I32(Vec<i32>),
    U32(Vec<u32>),
    I16(Vec<i16>),
    U16(Vec<u16>),
    I8(Vec<i8>),
    U8(Vec<u8>),
    Bool(Vec<bool>),
}

impl HostValues {
    /// numpy's name of the dtype (`float32`, `int64`, ...).
    pub fn numpy_name(&self) -> &'static str {
        match self {
            HostValues::F64(_) => "float64",
            HostValues::F32(_) => "float32",
            HostValues::F16(_) => "float16",
            HostValues::I64(_) => "int64",
            HostValues::U64(_) => "uint64",
            HostValues::I32(_) => "int32",
            HostValues::U32(_) => "uint32",
            HostValues::I16(_) => "int16",
            HostValues::U16(_) => "uint16",
            HostValues::I8(_) => "int8",
            HostValues::U8(_) => "uint8",
            HostValues::Bool(_) => "bool",
        }
    }

    /// The IR data kiln computes these values as, and the 64-bit dtype they were
    /// narrowed from ([`Wide::No`] for the others). Fails on the first int64 or
    /// uint64 value that does not fit in 32 bits, or double beyond f32's range.
    pub fn narrow(self) -> Result<(Data, Wide), String> {
        Ok(match self {
            HostValues::F64(v) => (Data::F32(kiln_ir::narrow_f64(v)?), Wide::F64),
            HostValues::I64(v) => (Data::I32(narrow_i64(&v)?), Wide::I64),
            HostValues::U64(v) => (Data::U32(kiln_ir::narrow_u64(v)?), Wide::U64),
            HostValues::F32(v) => (Data::F32(v), Wide::No),
            HostValues::F16(v) => (Data::F16(v), Wide::No),
            HostValues::I32(v) => (Data::I32(v), Wide::No),
            HostValues::U32(v) => (Data::U32(v), Wide::No),
            HostValues::I16(v) => (Data::I16(v), Wide::No),
            HostValues::U16(v) => (Data::U16(v), Wide::No),
            HostValues::I8(v) => (Data::I8(v), Wide::No),
            HostValues::U8(v) => (Data::U8(v), Wide::No),
            HostValues::Bool(v) => (Data::Bool(v), Wide::No),
        })
    }

    /// `tensor`'s values in the dtype a port computed as its dtype and declared
    /// `wide` is given back as: i32 widened to int64, u32 to uint64, f32 to float64;
    /// types numpy lacks as the nearest it has (4- and 2-bit integers as int8/uint8,
    /// minifloats and bfloat16, held as f32, as their float32 values).
    pub fn widen(tensor: &Tensor, wide: Wide) -> HostValues {
        let data = tensor.data();
        match (data.as_ref(), wide) {
            (Data::I32(v), Wide::I64) => {
                return HostValues::I64(v.iter().map(|&x| x as i64).collect())
            }
            (Data::U32(v), Wide::U64) => {
                return HostValues::U64(v.iter().map(|&x| x as u64).collect())
            }
            (Data::F32(v), Wide::F64) => {
                return HostValues::F64(v.iter().map(|&x| x as f64).collect())
            }
            _ => {}
        }
        match data.into_owned() {
            Data::F32(v) => HostValues::F32(v),
            Data::F16(v) => HostValues::F16(v),
            Data::I32(v) => HostValues::I32(v),
            Data::U32(v) => HostValues::U32(v),
            Data::I8(v) => HostValues::I8(v),
            Data::U8(v) => HostValues::U8(v),
            Data::Bool(v) => HostValues::Bool(v),
            Data::I16(v) => HostValues::I16(v),
            Data::U16(v) => HostValues::U16(v),
            Data::I4(v) | Data::I2(v) => HostValues::I8(v),
            Data::U4(v) | Data::U2(v) => HostValues::U8(v),
            d @ (Data::F8E4M3FN(_)
            | Data::F8E5M2(_)
            | Data::F4E2M1(_)
            | Data::F8E4M3FNUZ(_)
            | Data::F8E5M2FNUZ(_)) => {
                HostValues::F32(d.to_f64_vec().into_iter().map(|x| x as f32).collect())
            }
        }
    }
}

/// Narrows int64 values to i32, failing on the first value that does not fit.
pub fn narrow_i64(wide: &[i64]) -> Result<Vec<i32>, String> {
    wide.iter()
        .enumerate()
        .map(|(i, &x)| {
            i32::try_from(x).map_err(|_| {
                format!("int64 element {i} ({x}) does not fit in i32, which kiln computes int64 as")
            })
        })
        .collect()
}

/// The host dtype a port computed as `dtype` and declared `wide` takes and gives (its
/// numpy name), or `None` when numpy has no such dtype (the minifloats, the 4- and
/// 2-bit integers: only outputs of those types cross, as [`HostValues::widen`] says).
/// A bfloat16 port takes and gives float32 values.
pub fn host_dtype(dtype: kiln_ir::DType, wide: Wide) -> Option<&'static str> {
    use kiln_ir::DType as D;
    Some(match (wide, dtype) {
        (Wide::I64, _) => "int64",
        (Wide::U64, _) => "uint64",
        (Wide::F64, _) => "float64",
        (Wide::Bf16, _) | (_, D::F32) => "float32",
        (_, D::F16) => "float16",
        (_, D::I32) => "int32",
        (_, D::U32) => "uint32",
        (_, D::I16) => "int16",
        (_, D::U16) => "uint16",
        (_, D::I8) => "int8",
        (_, D::U8) => "uint8",
        (_, D::Bool) => "bool",
        _ => return None,
    })
}

/// The tensor for input port `name` (computed as `ty`, declared `wide`) from host
/// `values` of `shape`: they must be of the port's host dtype ([`host_dtype`]) and
/// shape; int64, uint64 and double values are narrowed. Errors are
/// [`crate::Error::Input`] naming the input.
pub fn port_tensor(
    name: &str,
    ty: &kiln_ir::TensorType,
    wide: Wide,
    values: HostValues,
    shape: &[usize],
) -> crate::Result<Tensor> {
    let bad = |m: String| crate::Error::Input(m);
    let Some(want) = host_dtype(ty.dtype, wide) else {
        return Err(bad(format!(
            "input '{name}' is {}, which has no numpy dtype to give it in",
            ty.dtype
        )));
    };
    if values.numpy_name() != want {
        return Err(bad(format!(
            "input '{name}' must be {want} but the given array is {}",
            values.numpy_name()
        )));
    }
    if shape != ty.shape.dims() {
        return Err(bad(format!(
            "input '{name}' must have shape {} but the given tensor has shape {}",
            ty.shape,
            kiln_ir::Shape::new(shape.to_vec())
        )));
    }
    let (data, _) = values
        .narrow()
        .map_err(|why| bad(format!("input '{name}': {why}")))?;
    Tensor::new(shape.to_vec(), data).map_err(|e| bad(format!("input '{name}': {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_values_round_trip_and_misfits_are_errors() {
        let (data, wide) = HostValues::I64(vec![-3, 1 << 30]).narrow().unwrap();
        assert_eq!(
            (data.clone(), wide),
            (Data::I32(vec![-3, 1 << 30]), Wide::I64)
        );
        let t = Tensor::new(vec![2], data).unwrap();
        assert_eq!(
            HostValues::widen(&t, Wide::I64),
            HostValues::I64(vec![-3, 1 << 30])
        );
        assert_eq!(
            HostValues::widen(&t, Wide::No),
            HostValues::I32(vec![-3, 1 << 30])
        );
        let err = HostValues::I64(vec![0, 1 << 40]).narrow().unwrap_err();
        assert_eq!(
            err,
            "int64 element 1 (1099511627776) does not fit in i32, which kiln computes int64 as"
        );
        assert!(HostValues::F64(vec![1e300]).narrow().is_err());
        assert!(HostValues::U64(vec![u64::MAX]).narrow().is_err());
        let (data, wide) = HostValues::F64(vec![0.5]).narrow().unwrap();
        assert_eq!(wide, Wide::F64);
        let t = Tensor::new(vec![1], data).unwrap();
        assert_eq!(HostValues::widen(&t, wide), HostValues::F64(vec![0.5]));
        assert_eq!(host_dtype(kiln_ir::DType::I32, Wide::I64), Some("int64"));
        assert_eq!(host_dtype(kiln_ir::DType::F32, Wide::Bf16), Some("float32"));
        assert_eq!(host_dtype(kiln_ir::DType::Bool, Wide::No), Some("bool"));
    }

    #[test]
    fn port_tensors_are_checked_against_the_declared_type() {
        let ty = kiln_ir::TensorType::new(kiln_ir::DType::I32, vec![2]);
        let t = port_tensor("ids", &ty, Wide::I64, HostValues::I64(vec![1, 2]), &[2]).unwrap();
        assert_eq!(t, Tensor::from_i32(vec![2], vec![1, 2]).unwrap());
        let err = port_tensor("ids", &ty, Wide::I64, HostValues::I32(vec![1, 2]), &[2])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "input 'ids' must be int64 but the given array is int32"
        );
        let err = port_tensor("ids", &ty, Wide::I64, HostValues::I64(vec![1]), &[1])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "input 'ids' must have shape [2] but the given tensor has shape [1]"
        );
        let err = port_tensor(
            "ids",
            &ty,
            Wide::I64,
            HostValues::I64(vec![1, 1 << 33]),
            &[2],
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("input 'ids': int64 element 1"), "{err}");
        // Values that do not fill the shape are an error, not a panic.
        assert!(port_tensor("ids", &ty, Wide::I64, HostValues::I64(vec![1]), &[2]).is_err());
    }
}
