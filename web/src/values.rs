//! JavaScript values to kiln tensors and back, port by port: typed arrays (or arrays
//! of numbers) in, typed arrays out.

use js_sys::{Array, BigInt64Array, BigUint64Array, Float32Array, Float64Array, Int32Array};
use js_sys::{Object, Reflect, Uint32Array, Uint8Array};
use kiln_codegen::PlanPort;
use kiln_ir::{DType, Data, Shape, Tensor, Wide};
use wasm_bindgen::{JsCast, JsValue};

/// The elements a JavaScript value holds.
enum Values {
    Numbers(Vec<f64>),
    BigInts(Vec<i64>),
}

/// The tensor `port` takes from `value`: a typed array, or an array of numbers, with
/// the port's element count in row-major order. Integer ports take integral numbers
/// (or BigInts) in their dtype's range; int64 ports values that fit in i32, which kiln
/// computes int64 as.
pub fn input(port: &PlanPort, value: &JsValue) -> Result<Tensor, String> {
    let fail = |m: String| format!("input '{}' ({}): {m}", port.name, declared(port));
    let values = if let Some(v) = value.dyn_ref::<BigInt64Array>() {
        Values::BigInts(v.to_vec())
    } else if let Some(v) = value.dyn_ref::<BigUint64Array>() {
        let wide = v
            .to_vec()
            .into_iter()
            .map(|x| i64::try_from(x).unwrap_or(i64::MAX));
        Values::BigInts(wide.collect())
    } else if js_sys::ArrayBuffer::is_view(value) || Array::is_array(value) {
        Values::Numbers(Float64Array::new(value).to_vec())
    } else {
        return Err(fail("expected a typed array or an array of numbers".into()));
    };
    let numel: usize = port.shape.iter().product();
    let len = match &values {
        Values::Numbers(v) => v.len(),
        Values::BigInts(v) => v.len(),
    };
    if len != numel {
        return Err(fail(format!(
            "expected {numel} elements (shape {:?}), got {len}",
            port.shape
        )));
    }
    let data = match (port.dtype, values) {
        (DType::F32, Values::Numbers(v)) => Data::F32(v.into_iter().map(|x| x as f32).collect()),
        (DType::F16, Values::Numbers(v)) => {
            Data::F16(v.into_iter().map(half::f16::from_f64).collect())
        }
        (dtype, _) if dtype.is_float() && !matches!(dtype, DType::F32 | DType::F16) => {
            return Err(fail(
                "inputs of this dtype cannot be given from JavaScript".into(),
            ))
        }
        (DType::F32 | DType::F16, Values::BigInts(_)) => {
            return Err(fail("expected numbers, got BigInts".into()))
        }
        (dtype, values) => integers(dtype, port.wide, values).map_err(fail)?,
    };
    Tensor::new(Shape(port.shape.clone()), data).map_err(|e| fail(e.to_string()))
}

/// Integer (or bool) data of `dtype` from `values`, each integral and in range.
fn integers(dtype: DType, wide: Wide, values: Values) -> Result<Data, String> {
    let ints: Vec<i64> = match values {
        Values::BigInts(v) => v,
        Values::Numbers(v) => v
            .into_iter()
            .enumerate()
            .map(|(i, x)| {
                if x.fract() == 0.0 && x.abs() < 9.007_199_254_740_992e15 {
                    Ok(x as i64)
                } else {
                    Err(format!("element {i} ({x}) is not an integer"))
                }
            })
            .collect::<Result<_, _>>()?,
    };
    let (lo, hi) = match dtype {
        DType::Bool => (0, 1),
        _ => dtype
            .int_range()
            .ok_or_else(|| format!("dtype {} has no integer range", dtype.name()))?,
    };
    if let Some((i, x)) = ints.iter().enumerate().find(|(_, &x)| x < lo || x > hi) {
        let computed = if wide.is_wide() {
            format!(", which kiln computes {} as", wide.marker())
        } else {
            String::new()
        };
        return Err(format!(
            "element {i} ({x}) does not fit in {}{computed}",
            dtype.name()
        ));
    }
    Data::from_i64s(dtype, ints.into_iter())
        .ok_or_else(|| format!("dtype {} is not an integer type", dtype.name()))
}

/// `{ name, dtype, shape, data }` for one output: data a Float32Array for floating
/// ports, Uint8Array for bool, Uint32Array for unsigned, Int32Array for the other
/// integers (int64 ports included: kiln computes them as i32).
pub fn output(port: &PlanPort, tensor: &Tensor) -> JsValue {
    let data = tensor.data();
    let array: JsValue = match (&*data, port.dtype) {
        (Data::F32(v), _) => Float32Array::from(v.as_slice()).into(),
        (d, dtype) if dtype.is_float() => {
            let v: Vec<f32> = d.to_f64_vec().into_iter().map(|x| x as f32).collect();
            Float32Array::from(v.as_slice()).into()
        }
        (Data::Bool(v), _) => {
            let v: Vec<u8> = v.iter().map(|&b| u8::from(b)).collect();
            Uint8Array::from(v.as_slice()).into()
        }
        (d, dtype) => {
            let v = d.to_i64_vec().unwrap_or_default();
            if dtype.int_range().is_some_and(|(lo, _)| lo == 0) {
                let v: Vec<u32> = v.into_iter().map(|x| x as u32).collect();
                Uint32Array::from(v.as_slice()).into()
            } else {
                let v: Vec<i32> = v.into_iter().map(|x| x as i32).collect();
                Int32Array::from(v.as_slice()).into()
            }
        }
    };
    // The tensor's own shape: an output of data-dependent length is cut to its count.
    let o = with_shape(port, tensor.shape().dims());
    set(&o, "data", &array);
    o.into()
}

/// `{ name, dtype, shape }` of a port.
pub fn describe(port: &PlanPort) -> Object {
    with_shape(port, &port.shape)
}

/// `{ name, dtype, shape }` of a port holding a tensor of `dims`.
fn with_shape(port: &PlanPort, dims: &[usize]) -> Object {
    let o = Object::new();
    set(&o, "name", &port.name.as_str().into());
    set(&o, "dtype", &declared(port).into());
    let shape: Array = dims.iter().map(|&d| JsValue::from(d as f64)).collect();
    set(&o, "shape", &shape);
    o
}

/// The dtype the model declared for a port, as the IR text names it (`f32`, `i64`).
fn declared(port: &PlanPort) -> &'static str {
    if port.wide.is_wide() {
        port.wide.marker()
    } else {
        port.dtype.name()
    }
}

fn set(o: &Object, key: &str, value: &JsValue) {
    // Setting a property of a fresh plain object cannot fail.
    let _ = Reflect::set(o, &key.into(), value);
}
