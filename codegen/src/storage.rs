//! Host ⇄ GPU element conversion: every element is one 32-bit word (see [`StorageType`]).

use crate::plan::{DequantizedConst, StorageType};
use half::f16;
use kiln_ir::quant::QuantLayout;
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
        Data::U32(v) => v.clone(),
        Data::F8E4M3FN(v)
        | Data::F8E5M2(v)
        | Data::F4E2M1(v)
        | Data::F8E4M3FNUZ(v)
        | Data::F8E5M2FNUZ(v) => v.iter().map(|&x| x as u32).collect(),
        // Integers and bool: sign-extended or zero-extended to 32 bits.
        d => d
            .to_i64_vec()
            .expect("integer data")
            .into_iter()
            .map(|x| x as u32)
            .collect(),
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
            DType::U32 => Data::U32(words.to_vec()),
            DType::Bool => Data::Bool(words.iter().map(|&w| w != 0).collect()),
            d if d.is_signed_int() => {
                Data::from_i64s(d, words.iter().map(|&w| w as i32 as i64)).expect("an int")
            }
            d if d.is_int() => Data::from_i64s(d, words.iter().map(|&w| w as i64)).expect("an int"),
            d => Data::minifloats(d, words.iter().map(|&w| w as u8).collect()).expect("minifloat"),
        },
    };
    Tensor::new(shape, data).expect("one word per element")
}

/// `data` packed for a bundle's weights, when its dtype is a low-bit integer or a
/// minifloat (8 bits or fewer, or 16-bit integers), or f16 (its bit patterns; see
/// [`widen_halves`]): the bytes (elements `bits` wide,
/// lowest bits first), `bits`, and whether the words sign-extend. `None` for the rest.
pub fn pack(data: &Data) -> Option<(Vec<u8>, u8, bool)> {
    let dtype = data.dtype();
    let bits = dtype.bits();
    let words = match data {
        Data::F16(v) => v.iter().map(|h| h.to_bits() as u32).collect(),
        _ if !(dtype.is_int() || dtype.is_minifloat()) || bits > 16 => return None,
        _ => data_words(data),
    };
    let mask = (1u32 << bits) - 1;
    let mut bytes = vec![0u8; (words.len() * bits as usize).div_ceil(8)];
    for (i, w) in words.iter().enumerate() {
        let at = i * bits as usize;
        let field = (w & mask) << (at % 8);
        for (j, b) in field.to_le_bytes().iter().enumerate().take(3) {
            if let Some(byte) = bytes.get_mut(at / 8 + j) {
                *byte |= b;
            }
        }
    }
    Some((bytes, bits as u8, dtype.is_signed_int()))
}

/// The `count` storage words of elements packed by [`pack`].
pub fn unpack_words(bytes: &[u8], bits: u8, signed: bool, count: usize) -> Vec<u32> {
    let bits = bits as usize;
    let mask = (1u32 << bits) - 1;
    (0..count)
        .map(|i| {
            let at = i * bits;
            let mut window = [0u8; 4];
            for (j, w) in window.iter_mut().enumerate().take(3) {
                *w = bytes.get(at / 8 + j).copied().unwrap_or(0);
            }
            let field = (u32::from_le_bytes(window) >> (at % 8)) & mask;
            if signed {
                (((field << (32 - bits)) as i32) >> (32 - bits)) as u32
            } else {
                field
            }
        })
        .collect()
}

/// The storage words of a [`crate::plan::BufferKind::Dequantized`] constant, from the
/// weights: exactly what the interpreter's `dequantize` gives. `Err` names what is
/// out of range or inconsistent (the plan verifier checks the same).
pub fn dequantized_words(d: &DequantizedConst, weights: &[u8]) -> Result<Vec<u32>, String> {
    let count = check_dequantized(d, weights.len() as u64)?;
    let [q, scales, zeros] = dequantized_parts(d, count);
    let bytes = |(offset, len): (u64, u64)| &weights[offset as usize..(offset + len) as usize];
    let q = unpack_words(bytes(q), d.bits, d.signed, count);
    let (scales, zeros) = (bytes(scales), bytes(zeros));
    let scales: Vec<f32> = if d.scales_half {
        let halves = unpack_words(scales, 16, false, scales.len() / 2);
        halves
            .iter()
            .map(|&h| f16::from_bits(h as u16).to_f32())
            .collect()
    } else {
        scales
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    let zeros: Vec<f32> = zeros
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let x = Shape::from(d.x_dims.clone());
    let index = |dims: &[usize]| -> Result<Vec<usize>, String> {
        let s = Shape::from(dims.to_vec());
        Ok(QuantLayout::of(&x, &s, d.axis, d.block)?.scale_indices(&x, &s))
    };
    let si = index(&d.scale_dims)?;
    let zi = if d.zero_splat {
        vec![0; count]
    } else {
        index(&d.zero_dims)?
    };
    Ok((0..count)
        .map(|i| {
            let q = if d.signed {
                q[i] as i32 as f32
            } else {
                q[i] as f32
            };
            let v = (q - zeros[zi[i]]) * scales[si[i]];
            let v = if d.half { f16::from_f32(v).to_f32() } else { v };
            v.to_bits()
        })
        .collect())
}

/// The byte ranges (offset, length) in the weights of a dequantized constant's
/// integers, scales and zero points, for `count` elements.
fn dequantized_parts(d: &DequantizedConst, count: usize) -> [(u64, u64); 3] {
    let n = |dims: &[usize]| dims.iter().product::<usize>() as u64;
    let scale_bytes = if d.scales_half { 2 } else { 4 };
    let zeros = if d.zero_splat { 1 } else { n(&d.zero_dims) };
    [
        (d.q, packed_len(d.bits, count as u64)),
        (d.scales, scale_bytes * n(&d.scale_dims)),
        (d.zeros, 4 * zeros),
    ]
}

/// How the bundle stores a constant `dequantize`'s scales `s` and zero points `z`:
/// scales as f16 halves when every one is an f16 value, and one zero point for all
/// when they are a splat (`DequantizedConst::scales_half`, `zero_splat`).
pub fn dequantized_encoding(s: &Tensor, z: &Tensor) -> (bool, bool) {
    let scales_half = s
        .to_f64_vec()
        .iter()
        .all(|&v| f16::from_f64(v).to_f64() == v);
    (scales_half, z.is_splat())
}

/// Bytes the bundle's weights hold for a constant `dequantize` of `x` by scales `s`
/// and zero points `z` (alignment padding aside): the packed values, the scales and the
/// zero points as [`dequantized_encoding`] stores them.
pub fn dequantized_bytes(x: &Tensor, s: &Tensor, z: &Tensor) -> usize {
    let (scales_half, zero_splat) = dequantized_encoding(s, z);
    let zeros = if zero_splat { 1 } else { z.numel() };
    packed_len(x.dtype().bits() as u8, x.numel() as u64) as usize
        + s.numel() * if scales_half { 2 } else { 4 }
        + 4 * zeros
}

/// Bytes the bundle's weights hold for a plain constant: none for a splat (its one
/// word is in the plan), packed elements for low-bit types and f16, a word each else.
pub fn constant_bytes(t: &Tensor) -> usize {
    if t.is_splat() {
        return 0;
    }
    match pack(t.stored()) {
        Some((bytes, _, _)) => bytes.len(),
        None => 4 * t.numel(),
    }
}

/// Whether a `dequantize` with operands of these dtypes, all constants, is computed
/// when the plan is uploaded ([`crate::plan::BufferKind::Dequantized`]): integer
/// weights of at most 16 bits, float scales, integer zero points.
pub fn dequantized_at_upload(x: DType, scale: DType, zero: DType) -> bool {
    x.is_int() && x.bits() <= 16 && scale.is_float() && zero.is_int()
}

/// Checks what [`dequantized_words`] relies on without computing it: the element width,
/// the parts' ranges in `weights_len` bytes and the layout. Returns the element count.
pub fn check_dequantized(d: &DequantizedConst, weights_len: u64) -> Result<usize, String> {
    if !matches!(d.bits, 2 | 4 | 8 | 16) {
        return Err(format!("{}-bit elements (2, 4, 8 or 16 are valid)", d.bits));
    }
    let numel = |dims: &[usize]| dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    let count = numel(&d.x_dims).ok_or("too many elements")?;
    numel(&d.scale_dims).ok_or("too many scales")?;
    numel(&d.zero_dims).ok_or("too many zero points")?;
    let x = Shape::from(d.x_dims.clone());
    QuantLayout::of(&x, &Shape::from(d.scale_dims.clone()), d.axis, d.block)?;
    if !d.zero_splat {
        QuantLayout::of(&x, &Shape::from(d.zero_dims.clone()), d.axis, d.block)?;
    }
    for (offset, len) in dequantized_parts(d, count) {
        if offset.checked_add(len).is_none_or(|end| end > weights_len) {
            return Err(format!(
                "bytes {offset}..+{len} are outside the {weights_len} bytes of weights"
            ));
        }
    }
    Ok(count)
}

/// f16 bit patterns (as [`unpack_words`] gives packed f16 data) as f32 storage words.
pub fn widen_halves(words: &mut [u32]) {
    for w in words {
        *w = f16::from_bits(*w as u16).to_f32().to_bits();
    }
}

/// Bytes [`pack`] gives `count` elements of `bits` bits.
pub fn packed_len(bits: u8, count: u64) -> u64 {
    (count * bits as u64).div_ceil(8)
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
            Data::I16(vec![-32768, 0, 32767]),
            Data::U16(vec![65535, 0, 1]),
            Data::I4(vec![-8, 0, 7]),
            Data::U4(vec![15, 0, 3]),
            Data::I2(vec![-2, -1, 1]),
            Data::U2(vec![3, 0, 2]),
            Data::F8E4M3FN(vec![0x7e, 0xff, 0x01]),
            Data::F8E5M2(vec![0x7c, 0x80, 0x3d]),
            Data::F4E2M1(vec![0x7, 0x9, 0x0]),
        ];
        for data in cases {
            let t = Tensor::new([3usize].as_slice(), data).unwrap();
            let words = to_words(&t);
            let back = from_words(&words, t.dtype(), t.shape().clone());
            assert_eq!(back, t);
            if let Some((bytes, bits, signed)) = pack(t.stored()) {
                assert_eq!(bytes.len() as u64, packed_len(bits, 3));
                let mut unpacked = unpack_words(&bytes, bits, signed, 3);
                if t.dtype() == DType::F16 {
                    // f16 is packed as its bit patterns, widened to f32 words on upload.
                    assert_eq!(bits, 16);
                    widen_halves(&mut unpacked);
                }
                assert_eq!(unpacked, words, "{}", t.dtype());
            }
        }
    }
}
