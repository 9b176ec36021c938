//! Seeded random input tensors for benchmarks and smoke runs: reproducible across
//! platforms and versions (SplitMix64), and never zero.

use crate::{DType, Data, Tensor};

/// A tensor of `dtype` and `dims` with seeded random elements, none zero: floats
/// uniform in ±[0.01, 1), integers in 1..=7 (small, so index-like inputs stay in
/// range), bools a random mix.
pub fn random_tensor(dtype: DType, dims: &[usize], seed: u64) -> Tensor {
    let n: usize = dims.iter().product();
    let mut next = splitmix(seed);
    let mut float = || {
        let r = next();
        let magnitude = 0.01 + 0.99 * ((r >> 11) as f64 / (1u64 << 53) as f64);
        if r & 1 == 0 {
            magnitude
        } else {
            -magnitude
        }
    };
    let data = match dtype {
        DType::F32 => Data::F32((0..n).map(|_| float() as f32).collect()),
        DType::F16 => Data::F16((0..n).map(|_| half::f16::from_f64(float())).collect()),
        DType::I32 => Data::I32((0..n).map(|_| (next() % 7 + 1) as i32).collect()),
        DType::I8 => Data::I8((0..n).map(|_| (next() % 7 + 1) as i8).collect()),
        DType::U32 => Data::U32((0..n).map(|_| (next() % 7 + 1) as u32).collect()),
        DType::U8 => Data::U8((0..n).map(|_| (next() % 7 + 1) as u8).collect()),
        DType::Bool => Data::Bool((0..n).map(|_| next() & 1 == 1).collect()),
        // Narrower integers: 1..=7 where the type holds it, else its nonzero values.
        d if d.is_int() => {
            let (lo, hi) = d.int_range().expect("an integer type");
            let span = (hi.min(7) - lo.max(1) + 1) as u64;
            let v = (0..n).map(|_| lo.max(1) + (next() % span) as i64);
            Data::from_i64s(d, v).expect("an integer type")
        }
        d => {
            let f = crate::minifloat::Format::of(d).expect("a minifloat");
            let bits = (0..n).map(|_| f.encode(float() as f32, true)).collect();
            Data::minifloats(d, bits).expect("a minifloat")
        }
    };
    Tensor::new(dims, data).expect("one element per position")
}

/// A tensor of integer `dtype` and `dims` with seeded elements uniform in `0..bound`
/// (index-like inputs: token ids below a table's row count). `None` when `dtype` is
/// not an integer type or cannot hold `bound - 1`.
pub fn random_indices(dtype: DType, dims: &[usize], seed: u64, bound: u64) -> Option<Tensor> {
    let (_, hi) = dtype.int_range()?;
    if bound == 0 || bound - 1 > hi as u64 {
        return None;
    }
    let n: usize = dims.iter().product();
    let mut next = splitmix(seed);
    let data = Data::from_i64s(dtype, (0..n).map(|_| (next() % bound) as i64))?;
    Tensor::new(dims, data).ok()
}

/// SplitMix64 from `seed`: the same sequence on every platform.
fn splitmix(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed ^ 0x6b69_6c6e_7261_6e64; // "kilnrand"
    move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_tensors_are_seeded_and_never_zero() {
        let a = random_tensor(DType::F32, &[3, 5], 7);
        assert_eq!(a, random_tensor(DType::F32, &[3, 5], 7));
        assert_ne!(a, random_tensor(DType::F32, &[3, 5], 8));
        let values = a.to_f64_vec();
        assert!(values.iter().all(|x| x.abs() >= 0.01 && x.abs() < 1.0));
        assert!(values.iter().any(|&x| x < 0.0) && values.iter().any(|&x| x > 0.0));
        let ints = random_tensor(DType::I32, &[257], 1).to_f64_vec();
        assert!(ints.iter().all(|&x| (1.0..=7.0).contains(&x)));
        assert_eq!(random_tensor(DType::Bool, &[0], 1).numel(), 0);
        let ids = random_indices(DType::I32, &[500], 3, 1000)
            .unwrap()
            .to_f64_vec();
        assert!(ids.iter().all(|&x| (0.0..1000.0).contains(&x)));
        assert!(ids.iter().any(|&x| x >= 500.0), "the whole range is drawn");
        assert!(random_indices(DType::I8, &[2], 3, 1000).is_none());
        assert!(random_indices(DType::F32, &[2], 3, 10).is_none());
    }
}
