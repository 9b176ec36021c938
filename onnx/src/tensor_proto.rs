//! TensorProto decoding: typed fields, little-endian `raw_data`, external data files.

use crate::error::ImportError;
use crate::known::{KData, Known};
use crate::proto::{data_type as dt, tensor_proto, TensorProto};
use kiln_ir::{bf16_to_f32, narrow_f64, narrow_u64, DType, Data, Tensor, Wide};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path};

/// A decoded tensor: an IR tensor, or int64 data kept exact (narrowed later, where used).
#[derive(Clone, Debug)]
pub(crate) enum Decoded {
    Ir(Tensor),
    I64(Known),
}

impl Decoded {
    /// The IR tensor, narrowing int64 to i32 (an error names the tensor when a value
    /// does not fit).
    pub(crate) fn into_tensor(self, name: &str) -> Result<Tensor, ImportError> {
        match self {
            Decoded::Ir(t) => Ok(t),
            Decoded::I64(k) => narrow(&k, name),
        }
    }
}

/// Narrows known int64 data to the IR's i32, or fails naming the tensor.
pub(crate) fn narrow(k: &Known, name: &str) -> Result<Tensor, ImportError> {
    if let Some(v) = k.as_ints() {
        if let Some(bad) = v
            .iter()
            .find(|&&x| x < i32::MIN as i64 || x > i32::MAX as i64)
        {
            return Err(ImportError::tensor(
                name,
                format!("int64 value {bad} does not fit in i32 (kiln computes int64 as i32)"),
            ));
        }
    }
    k.to_tensor().map_err(|e| ImportError::tensor(name, e))
}

/// The IR dtype of an ONNX element type, and which declared type it stands for (int64
/// as i32, uint64 as u32, double and bfloat16 as f32; see [`Wide`]).
pub(crate) fn ir_dtype(elem: i32) -> Option<(DType, Wide)> {
    let wide = match elem {
        dt::INT64 => Wide::I64,
        dt::UINT64 => Wide::U64,
        dt::DOUBLE => Wide::F64,
        dt::BFLOAT16 => Wide::Bf16,
        _ => Wide::No,
    };
    if let Some(d) = wide.ir_dtype() {
        return Some((d, wide));
    }
    Some((
        match elem {
            dt::FLOAT => DType::F32,
            dt::FLOAT16 => DType::F16,
            dt::INT32 => DType::I32,
            dt::UINT32 => DType::U32,
            dt::INT8 => DType::I8,
            dt::UINT8 => DType::U8,
            dt::BOOL => DType::Bool,
            dt::INT16 => DType::I16,
            dt::UINT16 => DType::U16,
            dt::INT4 => DType::I4,
            dt::UINT4 => DType::U4,
            dt::INT2 => DType::I2,
            dt::UINT2 => DType::U2,
            dt::FLOAT8E4M3FN => DType::F8E4M3FN,
            dt::FLOAT8E5M2 => DType::F8E5M2,
            dt::FLOAT8E4M3FNUZ => DType::F8E4M3FNUZ,
            dt::FLOAT8E5M2FNUZ => DType::F8E5M2FNUZ,
            dt::FLOAT4E2M1 => DType::F4E2M1,
            _ => return None,
        },
        Wide::No,
    ))
}

/// The elements of a sub-byte type packed `8 / bits` to a byte, lowest bits first (as
/// ONNX stores int4, uint4, float4e2m1, int2 and uint2), unpacked to one per byte;
/// signed types sign-extended.
fn unpack(dtype: DType, bytes: impl Iterator<Item = u8>, numel: usize) -> Data {
    let bits = dtype.bits() as usize;
    let per = 8 / bits;
    let mask = ((1u16 << bits) - 1) as u8;
    let fields = bytes
        .flat_map(|b| (0..per).map(move |j| (b >> (j * bits)) & mask))
        .take(numel);
    if dtype.is_signed_int() {
        let shift = 8 - bits as u32;
        let v = fields.map(|f| ((f << shift) as i8 >> shift) as i64);
        Data::from_i64s(dtype, v).expect("an integer type")
    } else if dtype.is_int() {
        Data::from_i64s(dtype, fields.map(|f| f as i64)).expect("an integer type")
    } else {
        Data::minifloats(dtype, fields.collect()).expect("a minifloat type")
    }
}

/// Bytes of `numel` elements of ONNX type `elem` in `raw_data`.
fn raw_len(elem: i32, numel: usize) -> usize {
    match elem {
        dt::INT4 | dt::UINT4 | dt::FLOAT4E2M1 => numel.div_ceil(2),
        dt::INT2 | dt::UINT2 => numel.div_ceil(4),
        _ => numel * elem_bytes(elem),
    }
}

/// Decodes a TensorProto; `dir` is the model's directory, for external data.
pub(crate) fn decode(t: &TensorProto, dir: Option<&Path>) -> Result<Decoded, ImportError> {
    let name = t.name.as_str();
    let err = |reason: String| ImportError::tensor(name, reason);
    let shape = t
        .dims
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| err(format!("negative dimension {d} in {:?}", t.dims)))
        })
        .collect::<Result<Vec<usize>, _>>()?;
    let numel = crate::builder::checked_numel(&shape)
        .ok_or_else(|| err(format!("dims {:?} are too large", t.dims)))?;
    if t.segment.is_some() {
        return Err(err("segmented tensors are not supported".into()));
    }
    ir_dtype(t.data_type).ok_or_else(|| {
        err(format!("dtype {} is not supported (kiln supports float, double, float16, bfloat16, int64, uint64, int32, uint32, int16, uint16, int8, uint8, int4, uint4, int2, uint2, float8e4m3fn, float8e5m2, float4e2m1, bool)", dt::name(t.data_type)))
    })?;
    let external;
    let raw: Option<&[u8]> = if t.data_location == tensor_proto::EXTERNAL {
        external = read_external(t, dir, raw_len(t.data_type, numel))?;
        Some(&external)
    } else {
        t.raw_data.as_deref()
    };
    let count_err = |got: usize| {
        err(format!(
            "holds {got} elements but dims {:?} need {numel}",
            t.dims
        ))
    };
    let check = |len: usize| {
        if len == numel {
            Ok(())
        } else {
            Err(count_err(len))
        }
    };
    if let Some(raw) = raw {
        let want = raw_len(t.data_type, numel);
        if raw.len() != want {
            return Err(err(format!(
                "raw data has {} bytes but dims {:?} of {} need {want}",
                raw.len(),
                t.dims,
                dt::name(t.data_type),
            )));
        }
        return from_raw(t.data_type, shape, raw).map_err(err);
    }
    let ints32 = || t.int32_data.iter();
    let data = match t.data_type {
        dt::FLOAT => {
            check(t.float_data.len())?;
            Data::F32(t.float_data.clone())
        }
        dt::FLOAT16 => {
            check(t.int32_data.len())?;
            Data::F16(ints32().map(|&b| half::f16::from_bits(b as u16)).collect())
        }
        dt::INT32 => {
            check(t.int32_data.len())?;
            Data::I32(t.int32_data.clone())
        }
        dt::INT8 => {
            check(t.int32_data.len())?;
            Data::I8(ints32().map(|&b| b as i8).collect())
        }
        dt::UINT8 => {
            check(t.int32_data.len())?;
            Data::U8(ints32().map(|&b| b as u8).collect())
        }
        dt::BOOL => {
            check(t.int32_data.len())?;
            Data::Bool(ints32().map(|&b| b != 0).collect())
        }
        dt::UINT32 => {
            check(t.uint64_data.len())?;
            Data::U32(t.uint64_data.iter().map(|&b| b as u32).collect())
        }
        dt::UINT64 => {
            check(t.uint64_data.len())?;
            Data::U32(narrow_u64(t.uint64_data.iter().copied()).map_err(err)?)
        }
        dt::BFLOAT16 => {
            check(t.int32_data.len())?;
            Data::F32(ints32().map(|&b| bf16_to_f32(b as u16)).collect())
        }
        dt::DOUBLE => {
            check(t.double_data.len())?;
            Data::F32(narrow_f64(t.double_data.iter().copied()).map_err(err)?)
        }
        dt::INT16 => {
            check(t.int32_data.len())?;
            Data::I16(ints32().map(|&b| b as i16).collect())
        }
        dt::UINT16 => {
            check(t.int32_data.len())?;
            Data::U16(ints32().map(|&b| b as u16).collect())
        }
        dt::FLOAT8E4M3FN | dt::FLOAT8E5M2 | dt::FLOAT8E4M3FNUZ | dt::FLOAT8E5M2FNUZ => {
            check(t.int32_data.len())?;
            let (dtype, _) = ir_dtype(t.data_type).expect("a known dtype");
            Data::minifloats(dtype, ints32().map(|&b| b as u8).collect()).expect("float8")
        }
        dt::INT4 | dt::UINT4 | dt::FLOAT4E2M1 | dt::INT2 | dt::UINT2 => {
            // int32_data holds the packed bytes, one per entry.
            let (dtype, _) = ir_dtype(t.data_type).expect("a known dtype");
            if t.int32_data.len() != raw_len(t.data_type, numel) {
                return Err(count_err(t.int32_data.len() * 8 / dtype.bits() as usize));
            }
            unpack(dtype, ints32().map(|&b| b as u8), numel)
        }
        _ => {
            check(t.int64_data.len())?;
            return Ok(Decoded::I64(Known::new(
                DType::I32,
                shape,
                KData::Int(t.int64_data.clone()),
            )));
        }
    };
    Tensor::new(shape, data)
        .map(Decoded::Ir)
        .map_err(|e| err(e.to_string()))
}

fn elem_bytes(elem: i32) -> usize {
    match elem {
        dt::FLOAT | dt::INT32 | dt::UINT32 => 4,
        dt::FLOAT16 | dt::BFLOAT16 | dt::INT16 | dt::UINT16 => 2,
        dt::INT64 | dt::UINT64 | dt::DOUBLE => 8,
        _ => 1,
    }
}

fn from_raw(elem: i32, shape: Vec<usize>, raw: &[u8]) -> Result<Decoded, String> {
    fn words<const N: usize>(raw: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
        raw.chunks_exact(N).map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            a
        })
    }
    let data = match elem {
        dt::FLOAT => Data::F32(words::<4>(raw).map(f32::from_le_bytes).collect()),
        dt::FLOAT16 => Data::F16(
            words::<2>(raw)
                .map(|b| half::f16::from_bits(u16::from_le_bytes(b)))
                .collect(),
        ),
        dt::INT32 => Data::I32(words::<4>(raw).map(i32::from_le_bytes).collect()),
        dt::UINT32 => Data::U32(words::<4>(raw).map(u32::from_le_bytes).collect()),
        dt::UINT64 => Data::U32(narrow_u64(words::<8>(raw).map(u64::from_le_bytes))?),
        dt::DOUBLE => Data::F32(narrow_f64(words::<8>(raw).map(f64::from_le_bytes))?),
        dt::BFLOAT16 => Data::F32(
            words::<2>(raw)
                .map(|b| bf16_to_f32(u16::from_le_bytes(b)))
                .collect(),
        ),
        dt::INT8 => Data::I8(raw.iter().map(|&b| b as i8).collect()),
        dt::UINT8 => Data::U8(raw.to_vec()),
        dt::BOOL => Data::Bool(raw.iter().map(|&b| b != 0).collect()),
        dt::INT16 => Data::I16(words::<2>(raw).map(i16::from_le_bytes).collect()),
        dt::UINT16 => Data::U16(words::<2>(raw).map(u16::from_le_bytes).collect()),
        dt::FLOAT8E4M3FN => Data::F8E4M3FN(raw.to_vec()),
        dt::FLOAT8E4M3FNUZ => Data::F8E4M3FNUZ(raw.to_vec()),
        dt::FLOAT8E5M2FNUZ => Data::F8E5M2FNUZ(raw.to_vec()),
        dt::FLOAT8E5M2 => Data::F8E5M2(raw.to_vec()),
        dt::INT4 | dt::UINT4 | dt::FLOAT4E2M1 | dt::INT2 | dt::UINT2 => {
            let (dtype, _) = ir_dtype(elem).expect("a known dtype");
            unpack(dtype, raw.iter().copied(), shape.iter().product())
        }
        _ => {
            let v = words::<8>(raw).map(i64::from_le_bytes).collect();
            return Ok(Decoded::I64(Known::new(DType::I32, shape, KData::Int(v))));
        }
    };
    Tensor::new(shape, data)
        .map(Decoded::Ir)
        .map_err(|e| e.to_string())
}

/// Reads `want` bytes of external data (`location`, `offset`, `length` keys).
fn read_external(t: &TensorProto, dir: Option<&Path>, want: usize) -> Result<Vec<u8>, ImportError> {
    let err = |reason: String| ImportError::tensor(&t.name, reason);
    let key = |k: &str| {
        t.external_data
            .iter()
            .find(|e| e.key == k)
            .map(|e| e.value.as_str())
    };
    let location =
        key("location").ok_or_else(|| err("external data without a 'location'".into()))?;
    let number = |k: &str| -> Result<Option<u64>, ImportError> {
        key(k)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| err(format!("external data {k} '{v}' is not a number")))
            })
            .transpose()
    };
    let offset = number("offset")?.unwrap_or(0);
    let length = number("length")?;
    let rel = Path::new(location);
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(err(format!("external data location '{location}' must be a relative path inside the model's directory")));
    }
    let dir = dir.ok_or_else(|| {
        err(format!("its data is in external file '{location}': load the model from a file (Model::load) so the file can be found"))
    })?;
    let path = dir.join(rel);
    let io = |e: std::io::Error| ImportError::Io {
        path: path.clone(),
        reason: format!("external data of tensor '{}': {e}", t.name),
    };
    let mut file = std::fs::File::open(&path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    let length = length.unwrap_or_else(|| size.saturating_sub(offset));
    if length != want as u64 {
        return Err(err(format!(
            "external data length {length} does not match the {want} bytes its dims and dtype need"
        )));
    }
    if offset.checked_add(length).is_none_or(|end| end > size) {
        return Err(err(format!(
            "external data range {offset}..{} is past the end of '{location}' ({size} bytes)",
            offset.saturating_add(length)
        )));
    }
    file.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut buf = vec![0u8; want];
    file.read_exact(&mut buf).map_err(io)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_tensors_decode_from_typed_fields_and_raw_bytes() {
        let typed = TensorProto {
            dims: vec![2],
            data_type: dt::DOUBLE,
            double_data: vec![0.25, -2.0],
            ..Default::default()
        };
        let raw = TensorProto {
            dims: vec![2],
            data_type: dt::UINT64,
            raw_data: Some([3u64, 9].iter().flat_map(|v| v.to_le_bytes()).collect()),
            ..Default::default()
        };
        let f = decode(&typed, None).unwrap().into_tensor("d").unwrap();
        assert_eq!(*f.data(), Data::F32(vec![0.25, -2.0]));
        let u = decode(&raw, None).unwrap().into_tensor("u").unwrap();
        assert_eq!(*u.data(), Data::U32(vec![3, 9]));
        let big = TensorProto {
            name: "big".into(),
            uint64_data: vec![u64::MAX],
            dims: vec![1],
            data_type: dt::UINT64,
            ..Default::default()
        };
        let e = decode(&big, None).unwrap_err().to_string();
        assert!(
            e.contains("big") && e.contains("does not fit in u32"),
            "{e}"
        );
    }
}
