//! numpy arrays across the boundary: an input array read into [`kiln::HostValues`] in
//! its own dtype and row-major order (checked against the port by the library), an output's values moved
//! into a new array without a copy (numpy takes over the buffer).

use crate::errors::Kind;
use half::f16;
use kiln::HostValues;
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;

/// `array`'s values and shape. It must be a numpy array (the package makes it C
/// contiguous first); a dtype kiln has no host form of is a `BadInputError` naming
/// input `name`.
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
    let dtype = untyped.dtype().str()?.to_string();
    // `as_slice` also takes a Fortran-ordered array as it lies in memory; kiln wants
    // row-major order, which iterating the array's view gives.
    let c_order = untyped.is_c_contiguous();
    macro_rules! values {
        ($variant:ident, $t:ty) => {{
            let a: PyReadonlyArrayDyn<'_, $t> = array.extract()?;
            let v = match a.as_slice() {
                Ok(s) if c_order => s.to_vec(),
                _ => a.as_array().iter().copied().collect(),
            };
            HostValues::$variant(v)
        }};
    }
    let values = match dtype.as_str() {
        "float64" => values!(F64, f64),
        "float32" => values!(F32, f32),
        "float16" => values!(F16, f16),
        "int64" => values!(I64, i64),
        "uint64" => values!(U64, u64),
        "int32" => values!(I32, i32),
        "uint32" => values!(U32, u32),
        "int16" => values!(I16, i16),
        "uint16" => values!(U16, u16),
        "int8" => values!(I8, i8),
        "uint8" => values!(U8, u8),
        "bool" => values!(Bool, bool),
        other => {
            return Err(Kind::BadInput.err(format!(
                "input '{name}' is a numpy array of dtype {other}, which kiln does not take \
                 (float64, float32, float16, int64, uint64, int32, uint32, int16, uint16, \
                 int8, uint8, bool)"
            )))
        }
    };
    Ok((values, shape))
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
