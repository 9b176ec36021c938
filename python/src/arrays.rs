//! numpy arrays across the boundary: an input array copied into [`kiln::HostValues`]
//! in its own dtype and row-major order (checked against the port by the library); an
//! output's values moved into a new array without a copy (numpy takes over the buffer).

use crate::errors::Kind;
use half::f16;
use kiln::HostValues;
use numpy::{PyArray1, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;

/// `array`'s values (in row-major order, whatever its memory layout) and shape. It must
/// be a numpy array; another object, or a dtype kiln has no host form of, is a
/// `BadInputError` naming input `name`.
pub fn read_array(name: &str, array: &Bound<'_, PyAny>) -> PyResult<(HostValues, Vec<usize>)> {
    let untyped = array.cast::<PyUntypedArray>().map_err(|_| {
        Kind::BadInput.err(format!(
            "input '{name}' must be a numpy array, not {}",
            array
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })?;
    let shape = untyped.shape().to_vec();
    // `as_slice` also takes a Fortran-ordered array as it lies in memory; kiln wants
    // row-major order, which iterating the array's view gives.
    let c_order = untyped.is_c_contiguous();
    // The dtype by numpy's own equivalence check (no Python-level call).
    macro_rules! try_values {
        ($($variant:ident: $t:ty),*) => {
            $(if let Ok(a) = array.cast::<PyArrayDyn<$t>>() {
                let a = a.try_readonly().map_err(|e| Kind::BadInput.err(format!("input '{name}': {e}")))?;
                let v = match a.as_slice() {
                    Ok(s) if c_order => s.to_vec(),
                    _ => a.as_array().iter().copied().collect(),
                };
                return Ok((HostValues::$variant(v), shape));
            })*
        };
    }
    try_values!(F32: f32, I64: i64, I32: i32, F64: f64, F16: f16, U64: u64, U32: u32,
        I16: i16, U16: u16, I8: i8, U8: u8, Bool: bool);
    let dtype = untyped.dtype().str()?.to_string();
    Err(Kind::BadInput.err(format!(
        "input '{name}' is a numpy array of dtype {dtype}, which kiln does not take \
         (float64, float32, float16, int64, uint64, int32, uint32, int16, uint16, int8, \
         uint8, bool)"
    )))
}

/// A numpy array of `shape` owning `values` (no copy).
pub fn to_array<'py>(
    py: Python<'py>,
    values: HostValues,
    shape: &[usize],
) -> PyResult<Bound<'py, PyAny>> {
    fn shaped<'py, T: numpy::Element>(
        py: Python<'py>,
        v: Vec<T>,
        shape: &[usize],
    ) -> PyResult<Bound<'py, PyAny>> {
        Ok(PyArray1::from_vec(py, v)
            .reshape(shape.to_vec())?
            .into_any())
    }
    match values {
        HostValues::F64(v) => shaped(py, v, shape),
        HostValues::F32(v) => shaped(py, v, shape),
        HostValues::F16(v) => shaped(py, v, shape),
        HostValues::I64(v) => shaped(py, v, shape),
        HostValues::U64(v) => shaped(py, v, shape),
        HostValues::I32(v) => shaped(py, v, shape),
        HostValues::U32(v) => shaped(py, v, shape),
        HostValues::I16(v) => shaped(py, v, shape),
        HostValues::U16(v) => shaped(py, v, shape),
        HostValues::I8(v) => shaped(py, v, shape),
        HostValues::U8(v) => shaped(py, v, shape),
        HostValues::Bool(v) => shaped(py, v, shape),
    }
}
