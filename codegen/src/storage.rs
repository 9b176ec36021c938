//! Host ⇄ GPU element conversion: every element is one 32-bit word (see [`StorageType`]).

use crate::plan::StorageType;
use half::f16;
use kiln_ir::{DType, Data, Shape, Tensor};

/// The 32-bit storage words of a dense tensor (a splat is expanded).
pub fn to_words(tensor: &Tensor) -> Vec<u32> {
    data_words(&tensor.data())
}

/// The storage words of every element of `data`.
pub fn data_words(data: &Data) -> Vec<u32> {
    match data {
        Data::F32(v) => v.iter().map(|x| x.to_bits()).collect(),
        Data::F16(v) => v.iter().map(|x| x.to_f32().to_bits()).collect(),
        Data::I32(v) => v.iter().map(|&x| x as u32).collect(),
        Data::U32(v) => v.clone(),
        Data::I8(v) => v.iter().map(|&x| x as i32 as u32).collect(),
        Data::U8(v) => v.iter().map(|&x| x as u32).collect(),
        Data::Bool(v) => v.iter().map(|&x| x as u32).collect(),
    }
}

/// A tensor of `dtype` and `shape` from its storage words (f16 rounds to nearest;
/// narrow integers wrap, as a WGSL kernel computing in 32 bits and storing would).
pub fn from_words(words: &[u32], dtype: DType, shape: Shape) -> Tensor {
    let data = match StorageType::of(dtype) {
        _ if dtype == DType::F16 => Data::F16(
            words
                .iter()
                .map(|&w| f16::from_f32(f32::from_bits(w)))
                .collect(),
        ),
        StorageType::F32 => Data::F32(words.iter().map(|&w| f32::from_bits(w)).collect()),
        _ => match dtype {
            DType::I32 => Data::I32(words.iter().map(|&w| w as i32).collect()),
            DType::U32 => Data::U32(words.to_vec()),
            DType::I8 => Data::I8(words.iter().map(|&w| w as i32 as i8).collect()),
            DType::U8 => Data::U8(words.iter().map(|&w| w as u8).collect()),
            _ => Data::Bool(words.iter().map(|&w| w != 0).collect()),
        },
    };
    Tensor::new(shape, data).expect("one word per element")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_every_dtype() {
        let cases = [
            Data::F32(vec![1.5, -0.0, f32::INFINITY]),
            Data::F16(vec![
                f16::from_f32(0.1),
                f16::from_f32(-3.0),
                f16::from_f32(65504.0),
            ]),
            Data::I32(vec![i32::MIN, -1, 7]),
            Data::U32(vec![u32::MAX, 0, 9]),
            Data::I8(vec![-128, 0, 127]),
            Data::U8(vec![255, 0, 1]),
            Data::Bool(vec![true, false, true]),
        ];
        for data in cases {
            let t = Tensor::new([3usize].as_slice(), data).unwrap();
            let back = from_words(&to_words(&t), t.dtype(), t.shape().clone());
            assert_eq!(back, t);
        }
    }
}
