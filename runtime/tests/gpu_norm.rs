//! GPU normalizations (BatchNorm, LayerNorm with its mean and inv_std_dev results,
//! RmsNorm, InstanceNorm, Lrn) against the CPU reference (which works in f64).
//!
//! Tolerances: batch norm is four f32 roundings and a 2.5-ulp division: 1e-6 relative,
//! plus 1e-6 absolute where the bias cancels the rest. Layer, RMS and instance norm
//! compute mean and variance (or mean square) as f32 tree sums (about log2(n)·eps
//! relative each) before 1/sqrt: 1e-5; in f16, the result's rounding (2^-11): 1e-3. Lrn raises to beta through WGSL `pow` (exp2 ∘ log2, a few ulps for a
//! base near 1): 2e-6.

mod common;

use common::{check_op, random_tensor, Tol};
use kiln_ir::{DType, Data, Op, Tensor};

/// `t` with every element replaced by its absolute value plus `add` (variances).
fn positive(t: Tensor, add: f32) -> Tensor {
    let data = match &*t.data() {
        Data::F32(v) => Data::F32(v.iter().map(|x| x.abs() + add).collect()),
        Data::F16(v) => Data::F16(
            v.iter()
                .map(|x| half::f16::from_f32(x.to_f32().abs() + add))
                .collect(),
        ),
        _ => panic!("float expected"),
    };
    Tensor::new(t.shape().clone(), data).unwrap()
}

#[test]
fn batch_norm_per_channel() {
    for (seed, dims) in [
        (1u64, vec![2usize, 3, 5, 7]),
        (2, vec![1, 7]),
        (3, vec![2, 5, 257]),
    ] {
        for dtype in [DType::F32, DType::F16] {
            let c = dims[1];
            let x = random_tensor(dtype, &dims, seed);
            let [scale, bias, mean] = [10, 20, 30].map(|s| random_tensor(dtype, &[c], seed + s));
            let var = positive(random_tensor(dtype, &[c], seed + 40), 0.1);
            let tol = if dtype == DType::F16 {
                Tol::new(1e-3, 1e-3)
            } else {
                Tol::new(1e-6, 1e-6)
            };
            check_op(
                Op::BatchNorm { epsilon: 1e-5 },
                vec![x, scale, bias, mean, var],
                tol,
            );
        }
    }
}

#[test]
fn instance_norm_per_image_and_channel() {
    for (seed, dims) in [
        (50u64, vec![2usize, 3, 5, 7]),
        (51, vec![1, 2, 257]),
        (52, vec![3, 1, 1]),
    ] {
        let c = dims[1];
        let x = random_tensor(DType::F32, &dims, seed);
        let [scale, bias] = [1, 2].map(|s| random_tensor(DType::F32, &[c], seed + s));
        check_op(
            Op::InstanceNorm { epsilon: 1e-5 },
            vec![x, scale, bias],
            Tol::new(1e-5, 1e-5),
        );
    }
}

#[test]
fn layer_norm_every_axis_with_and_without_bias() {
    let dims = [3usize, 5, 7];
    for axis in 0..3 {
        let x = random_tensor(DType::F32, &dims, 60 + axis as u64);
        let scale = random_tensor(DType::F32, &dims[axis..], 70 + axis as u64);
        let bias = random_tensor(DType::F32, &dims[axis..], 80 + axis as u64);
        // All three results (y, mean, inv_std_dev) are outputs of the test graph.
        let op = Op::LayerNorm {
            axis,
            epsilon: 1e-5,
        };
        check_op(
            op.clone(),
            vec![x.clone(), scale.clone(), bias],
            Tol::new(1e-5, 1e-5),
        );
        check_op(op, vec![x, scale], Tol::new(1e-5, 1e-5));
    }
    // Long rows share 256 lanes; a broadcast scale.
    let x = random_tensor(DType::F32, &[2, 1000], 90);
    let scale = random_tensor(DType::F32, &[1000], 91);
    check_op(
        Op::LayerNorm {
            axis: 1,
            epsilon: 1e-5,
        },
        vec![x, scale],
        Tol::new(1e-5, 1e-5),
    );
    let x = random_tensor(DType::F32, &[4, 3, 6], 92);
    let scale = random_tensor(DType::F32, &[1, 6], 93);
    check_op(
        Op::LayerNorm {
            axis: 1,
            epsilon: 1e-3,
        },
        vec![x, scale],
        Tol::new(1e-5, 1e-5),
    );
    let x = random_tensor(DType::F16, &[5, 33], 94);
    let scale = random_tensor(DType::F16, &[33], 95);
    check_op(
        Op::LayerNorm {
            axis: 1,
            epsilon: 1e-5,
        },
        vec![x, scale],
        Tol::new(1e-3, 1e-3),
    );
}

#[test]
fn lrn_across_channels() {
    for (i, size) in [1usize, 2, 3, 5].into_iter().enumerate() {
        let x = random_tensor(DType::F32, &[2, 7, 3, 3], 100 + i as u64);
        let op = Op::Lrn {
            size,
            alpha: 0.5,
            beta: 0.75,
            bias: 1.5,
        };
        check_op(op, vec![x], Tol::new(1e-6, 2e-6));
    }
    let x = random_tensor(DType::F32, &[1, 3, 257], 110);
    check_op(
        Op::Lrn {
            size: 3,
            alpha: 1e-4,
            beta: 0.75,
            bias: 1.0,
        },
        vec![x],
        Tol::new(1e-6, 2e-6),
    );
}

#[test]
fn rms_norm_every_axis_odd_sizes() {
    let dims = [3usize, 5, 7];
    for axis in 0..3 {
        for dtype in [DType::F32, DType::F16] {
            let seed = 120 + axis as u64 + if dtype == DType::F16 { 10 } else { 0 };
            let x = random_tensor(dtype, &dims, seed);
            let scale = random_tensor(dtype, &dims[axis..], seed + 100);
            let tol = if dtype == DType::F16 {
                Tol::new(1e-3, 1e-3)
            } else {
                Tol::new(1e-5, 1e-5)
            };
            check_op(
                Op::RmsNorm {
                    axis,
                    epsilon: 1e-5,
                },
                vec![x, scale],
                tol,
            );
        }
    }
    // Long rows share 256 lanes; a scale broadcast over the leading normalized axis.
    let x = random_tensor(DType::F32, &[3, 1001], 140);
    let scale = random_tensor(DType::F32, &[1001], 141);
    check_op(
        Op::RmsNorm {
            axis: 1,
            epsilon: 1e-6,
        },
        vec![x, scale],
        Tol::new(1e-5, 1e-5),
    );
    let x = random_tensor(DType::F32, &[2, 3, 9], 142);
    let scale = random_tensor(DType::F32, &[1, 9], 143);
    check_op(
        Op::RmsNorm {
            axis: 1,
            epsilon: 0.1,
        },
        vec![x, scale],
        Tol::new(1e-5, 1e-5),
    );
}
