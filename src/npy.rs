//! `.npy` reading and writing for host tensors (via `npyz`).
//!
//! Reads f32, f16, i32, u32, i8, u8, bool, and the 64-bit int64, uint64 and float64
//! narrowed to i32, u32 and f32 as kiln computes them (an integer that does not fit, or
//! a finite float64 beyond f32's range, is an error). Other dtypes are refused with a
//! hint. Fortran-order arrays are transposed to row-major. Writes any IR dtype, or
//! widens to the port's declared 64-bit dtype ([`Wide`]); bfloat16 ports are written as
//! float32 (numpy has no bfloat16), their values exact.

use crate::host_data::HostValues;
use crate::{Error, Result};
use half::f16;
use kiln_ir::{Tensor, Wide};
use npyz::{DType as NpyDType, NpyFile, NpyHeader, Order, TypeChar, WriterBuilder};
use std::io::Write;
use std::path::Path;

/// A tensor read from a file, with the 64-bit dtype its source held, if any.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    /// The tensor's name when the file carries one (ONNX `.pb`), else `None`.
    pub name: Option<String>,
    pub tensor: Tensor,
    /// The file held int64, uint64 or float64 data (now narrowed to i32, u32 or f32).
    pub wide: Wide,
}

/// Decodes the `.npy` bytes of `path` (the path only names errors).
pub fn read_npy(path: &Path, bytes: &[u8]) -> Result<HostTensor> {
    let err = |m: String| Error::file(path, m);
    let mut data_bytes = bytes;
    let header = NpyHeader::from_reader(&mut data_bytes)
        .map_err(|e| err(format!("not a valid .npy file ({e})")))?;
    let file = NpyFile::with_header(header, data_bytes);
    let type_str = match file.dtype() {
        NpyDType::Plain(t) => t,
        other => {
            return Err(err(format!(
                "structured .npy dtype {} is not supported; save a plain numeric array",
                other.descr()
            )))
        }
    };
    let dims: Vec<usize> = file
        .shape()
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| err(format!("dimension {d} is too large"))))
        .collect::<Result<_>>()?;
    let numel = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| err("the shape's element count overflows".into()))?;
    let need = numel.saturating_mul(type_str.num_bytes().unwrap_or(1));
    if need > data_bytes.len() {
        return Err(err(format!(
            "the file is truncated: shape {dims:?} needs {need} bytes of data but {} remain",
            data_bytes.len()
        )));
    }
    let fortran = file.order() == Order::Fortran;
    let read = |e: std::io::Error| err(format!("cannot read the array data ({e})"));
    let values = match (type_str.type_char(), type_str.size_field()) {
        (TypeChar::Float, 4) => HostValues::F32(file.into_vec::<f32>().map_err(read)?),
        (TypeChar::Float, 2) => HostValues::F16(file.into_vec::<f16>().map_err(read)?),
        (TypeChar::Int, 4) => HostValues::I32(file.into_vec::<i32>().map_err(read)?),
        (TypeChar::Int, 8) => HostValues::I64(file.into_vec::<i64>().map_err(read)?),
        (TypeChar::Uint, 8) => HostValues::U64(file.into_vec::<u64>().map_err(read)?),
        (TypeChar::Float, 8) => HostValues::F64(file.into_vec::<f64>().map_err(read)?),
        (TypeChar::Uint, 4) => HostValues::U32(file.into_vec::<u32>().map_err(read)?),
        (TypeChar::Int, 1) => HostValues::I8(file.into_vec::<i8>().map_err(read)?),
        (TypeChar::Uint, 1) => HostValues::U8(file.into_vec::<u8>().map_err(read)?),
        (TypeChar::Bool, 1) => HostValues::Bool(file.into_vec::<bool>().map_err(read)?),
        _ => {
            return Err(err(format!(
                "dtype '{type_str}' is not supported (use float32, float64, float16, int64, uint64, int32, uint32, int8, uint8 or bool)"
            )))
        }
    };
    let (data, wide) = values.narrow().map_err(err)?;
    let tensor = if fortran {
        let reversed: Vec<usize> = dims.iter().rev().copied().collect();
        let t = Tensor::new(reversed, data).map_err(|e| err(e.to_string()))?;
        reverse_axes(&t).map_err(|e| err(e.to_string()))?
    } else {
        Tensor::new(dims, data).map_err(|e| err(e.to_string()))?
    };
    Ok(HostTensor {
        name: None,
        tensor,
        wide,
    })
}

/// The tensor with its axes in reverse order (a column-major array read as row-major).
fn reverse_axes(t: &Tensor) -> std::result::Result<Tensor, kiln_ir::ShapeMismatch> {
    let dims = t.shape().dims();
    let out_dims: Vec<usize> = dims.iter().rev().copied().collect();
    let in_strides = t.shape().strides();
    let out_shape = kiln_ir::Shape::new(out_dims.clone());
    let out_strides = out_shape.strides();
    let n = t.numel();
    // Output element at multi-index (j_0..j_r) is input element (j_r..j_0).
    let source = |flat: usize| -> usize {
        let mut rest = flat;
        let mut at = 0;
        for (axis, &stride) in out_strides.iter().enumerate() {
            let j = rest / stride;
            rest %= stride;
            at += j * in_strides[dims.len() - 1 - axis];
        }
        at
    };
    let data = t.data();
    let out = kiln_ir::map_data!(data.as_ref(), v => (0..n).map(|i| v[source(i)]).collect());
    Tensor::new(out_shape, out)
}

/// Writes `tensor` as `.npy` to `w`, widened to the port's declared `wide` dtype (i32
/// data to int64, u32 to uint64, f32 to float64). Types numpy lacks are written as the
/// nearest it has: 4- and 2-bit integers as int8/uint8, minifloats and bfloat16 (held
/// as f32, already rounded to bfloat16) as their float32 values.
pub fn write_npy(w: &mut impl Write, tensor: &Tensor, wide: Wide) -> std::io::Result<()> {
    let shape: Vec<u64> = tensor.shape().dims().iter().map(|&d| d as u64).collect();
    match HostValues::widen(tensor, wide) {
        HostValues::F64(v) => write_slice(w, &shape, v.into_iter()),
        HostValues::F32(v) => write_slice(w, &shape, v.into_iter()),
        HostValues::F16(v) => write_slice(w, &shape, v.into_iter()),
        HostValues::I64(v) => write_slice(w, &shape, v.into_iter()),
        HostValues::U64(v) => write_slice(w, &shape, v.into_iter()),
        HostValues::I32(v) => write_slice(w, &shape, v.into_iter()),
        HostValues::U32(v) => write_slice(w, &shape, v.into_iter()),
        HostValues::I16(v) => write_slice(w, &shape, v.into_iter()),
        HostValues::U16(v) => write_slice(w, &shape, v.into_iter()),
        HostValues::I8(v) => write_slice(w, &shape, v.into_iter()),
        HostValues::U8(v) => write_slice(w, &shape, v.into_iter()),
        HostValues::Bool(v) => write_slice(w, &shape, v.into_iter()),
    }
}

fn write_slice<T: npyz::AutoSerialize>(
    w: &mut impl Write,
    shape: &[u64],
    items: impl Iterator<Item = T>,
) -> std::io::Result<()> {
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(w)
        .begin_nd()?;
    writer.extend(items)?;
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_ir::Data;

    fn round_trip(t: &Tensor, wide: Wide) -> HostTensor {
        let mut bytes = Vec::new();
        write_npy(&mut bytes, t, wide).unwrap();
        read_npy(Path::new("t.npy"), &bytes).unwrap()
    }

    #[test]
    fn every_dtype_round_trips() {
        let cases = [
            Tensor::from_f32(vec![2, 2], vec![1.5, -2.0, 3.25, 7.0]).unwrap(),
            Tensor::new(
                vec![3],
                Data::F16(vec![f16::from_f32(0.5), f16::ONE, f16::from_f32(-3.0)]),
            )
            .unwrap(),
            Tensor::from_i32(vec![3], vec![-7, 0, 123456]).unwrap(),
            Tensor::new(vec![2], Data::U32(vec![3, 4_000_000_000])).unwrap(),
            Tensor::new(vec![2], Data::I8(vec![-128, 5])).unwrap(),
            Tensor::new(vec![1, 2], Data::U8(vec![255, 9])).unwrap(),
            Tensor::new(vec![3], Data::Bool(vec![true, false, true])).unwrap(),
            Tensor::from_f32(Vec::<usize>::new(), vec![42.0]).unwrap(),
        ];
        for t in &cases {
            let back = round_trip(t, Wide::No);
            assert_eq!(&back.tensor, t);
            assert_eq!(back.wide, Wide::No);
        }
    }

    #[test]
    fn int64_is_narrowed_and_flagged() {
        let t = Tensor::from_i32(vec![2], vec![-5, 1 << 30]).unwrap();
        let back = round_trip(&t, Wide::I64);
        assert_eq!(back.tensor, t);
        assert_eq!(back.wide, Wide::I64);
    }

    #[test]
    fn uint64_and_float64_are_narrowed_and_flagged() {
        let u = Tensor::new(vec![2], Data::U32(vec![0, u32::MAX])).unwrap();
        let back = round_trip(&u, Wide::U64);
        assert_eq!((back.tensor, back.wide), (u, Wide::U64));
        let f = Tensor::from_f32(vec![3], vec![0.1, -1e30, f32::INFINITY]).unwrap();
        let back = round_trip(&f, Wide::F64);
        assert_eq!((back.tensor, back.wide), (f, Wide::F64));
        // Written as 64-bit: 8 bytes an element after the header.
        let mut bytes = Vec::new();
        write_npy(
            &mut bytes,
            &Tensor::from_f32(vec![1], vec![0.5]).unwrap(),
            Wide::F64,
        )
        .unwrap();
        assert!(bytes.ends_with(&0.5f64.to_le_bytes()));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let err = read_npy(Path::new("x.npy"), b"not numpy at all")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("x.npy: not a valid .npy file"), "{err}");

        let mut bytes = Vec::new();
        let t = Tensor::from_f32(vec![4], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        write_npy(&mut bytes, &t, Wide::No).unwrap();
        bytes.truncate(bytes.len() - 3);
        let err = read_npy(Path::new("x.npy"), &bytes)
            .unwrap_err()
            .to_string();
        assert!(err.contains("truncated"), "{err}");

        let mut bytes = Vec::new();
        write_slice(&mut bytes, &[2], [1.0f64, 1e300].into_iter()).unwrap();
        let err = read_npy(Path::new("x.npy"), &bytes)
            .unwrap_err()
            .to_string();
        assert!(err.contains("beyond f32's range"), "{err}");

        let mut bytes = Vec::new();
        write_slice(&mut bytes, &[1], [u64::MAX].into_iter()).unwrap();
        let err = read_npy(Path::new("x.npy"), &bytes)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not fit in u32"), "{err}");

        let mut bytes = Vec::new();
        write_slice(&mut bytes, &[1], [1i64 << 40].into_iter()).unwrap();
        let err = read_npy(Path::new("x.npy"), &bytes)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not fit in i32"), "{err}");
    }

    #[test]
    fn fortran_order_is_transposed() {
        // np.asfortranarray([[1, 2, 3], [4, 5, 6]], dtype=np.float32) stores 1 4 2 5 3 6.
        let mut bytes = Vec::new();
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&[2, 3])
            .order(Order::Fortran)
            .writer(&mut bytes)
            .begin_nd()
            .unwrap();
        w.extend([1.0f32, 4.0, 2.0, 5.0, 3.0, 6.0]).unwrap();
        w.finish().unwrap();
        let back = read_npy(Path::new("f.npy"), &bytes).unwrap();
        let want = Tensor::from_f32(vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        assert_eq!(back.tensor, want);
    }
}
