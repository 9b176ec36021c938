//! The sparse product `sparse_matmul` on the GPU against the CPU reference, on fresh
//! random data of odd sizes: block-sparse weights in 4×4, 1×1 (CSR) and 8×3 blocks
//! (partial blocks past `k` and `n`), N:M weights (2:4, 1:3), at densities from no zero
//! block through about half to every block zero; one, several and batched rows; a fused
//! bias + relu epilogue. The same weights dense through `matmul` on the CPU give the
//! same results (the sparse product skips only zero weights).
//!
//! Bound: both sides sum the same `k` products in different orders, so they differ by
//! the dot-product bound 2·k·u·Σ|a·w| (`bounds.rs`), plus for the epilogue one rounding
//! of the result on each side (2u·|result|).

mod bounds;
mod common;

use bounds::{abs, check_within, cpu, dot_bound, U};
use common::random_tensor;
use kiln_ir::sparse::encode;
use kiln_ir::{DType, Op, Program, SparseFormat, Tensor};

/// Dense `k × n` weights, random, with the blocks of `block` zeroed where
/// `zero(block_row, block_col)` says.
fn weights(
    (k, n): (usize, usize),
    block: (usize, usize),
    seed: u64,
    zero: impl Fn(usize, usize) -> bool,
) -> Vec<f32> {
    let t = random_tensor(DType::F32, &[k, n], seed);
    let mut w: Vec<f32> = t.to_f64_vec().iter().map(|&v| v as f32).collect();
    for (i, v) in w.iter_mut().enumerate() {
        if zero((i / n) / block.0, (i % n) / block.1) {
            *v = 0.0;
        }
    }
    w
}

/// `a` (of `a_dims`, last axis `k`) times `w` in `format`, as op and inputs, with the
/// dense product's magnitudes for the bound.
fn case(
    format: SparseFormat,
    a_dims: &[usize],
    w: &[f32],
    n: usize,
    seed: u64,
) -> (Op, Vec<Tensor>, Vec<f64>) {
    let k = *a_dims.last().unwrap();
    let a = random_tensor(DType::F32, a_dims, seed);
    let arrays = encode(format, w, k, n).expect("the weights fit the format");
    let dense = Tensor::from_f32(vec![k, n], w.to_vec()).unwrap();
    let mag = cpu(&Op::MatMul, &[abs(&a), abs(&dense)], 0);
    let want = cpu(&Op::MatMul, &[a.clone(), dense], 0);
    let op = Op::SparseMatMul {
        format,
        axis: a_dims.len() - 1,
        k,
        n,
    };
    let mut inputs = vec![a];
    inputs.extend(arrays);
    // The reference's sparse product is the dense product of the same weights.
    let got = cpu(&op, &inputs, 0);
    let bound = dot_bound(&mag, k, 0.0);
    for ((g, w), b) in got.iter().zip(&want).zip(&bound) {
        assert!(
            (g - w).abs() <= *b,
            "{}: sparse {g} vs dense {w}",
            format.label()
        );
    }
    (op, inputs, bound)
}

#[test]
fn block_sparse_products_match_the_reference() {
    let pattern = |r: usize, c: usize| (r * 7 + c * 3) % 5 < 2; // about 40% of blocks zero
    for (format, (k, n)) in [
        (SparseFormat::Blocks { rows: 4, cols: 4 }, (36, 20)),
        (SparseFormat::Blocks { rows: 1, cols: 1 }, (29, 11)),
        (SparseFormat::Blocks { rows: 8, cols: 3 }, (37, 13)),
    ] {
        let [r, c] = format.dims();
        for (_density, zero) in [
            (
                "no zero block",
                Box::new(|_, _| false) as Box<dyn Fn(usize, usize) -> bool>,
            ),
            ("some zero blocks", Box::new(pattern)),
            ("every block zero", Box::new(|_, _| true)),
            ("one column of blocks zero", Box::new(|_, c| c == 1)),
        ] {
            let w = weights((k, n), (r, c), 11, zero);
            for (seed, a_dims) in [
                (1u64, vec![1, k]),
                (2, vec![13, k]),
                (3, vec![2, 3, k]),
                (4, vec![k]),
            ] {
                let (op, inputs, bound) = case(format, &a_dims, &w, n, seed);
                check_within(op, &inputs, &[Some(bound)]);
            }
        }
    }
}

/// N of every M weights along k kept, the rest zero (`keep` largest magnitudes).
fn n_of_m(k: usize, n: usize, keep: usize, group: usize, seed: u64) -> Vec<f32> {
    let mut w = weights((k, n), (1, 1), seed, |_, _| false);
    for col in 0..n {
        for g in 0..k / group {
            let mut idx: Vec<usize> = (0..group).map(|p| (g * group + p) * n + col).collect();
            idx.sort_by(|&x, &y| w[y].abs().total_cmp(&w[x].abs()));
            for &i in &idx[keep..] {
                w[i] = 0.0;
            }
        }
    }
    w
}

#[test]
fn n_of_m_products_match_the_reference() {
    for (keep, group, k, n) in [(2, 4, 36, 19), (1, 3, 27, 5), (2, 4, 8, 1)] {
        let w = n_of_m(k, n, keep, group, 21);
        for (seed, a_dims) in [(5u64, vec![1, k]), (6, vec![11, k]), (7, vec![3, 2, k])] {
            let format = SparseFormat::NOfM { keep, group };
            let (op, inputs, bound) = case(format, &a_dims, &w, n, seed);
            check_within(op, &inputs, &[Some(bound)]);
        }
    }
}

#[test]
fn fused_sparse_product_with_bias_and_relu() {
    let (k, n) = (44, 18);
    let w = weights((k, n), (4, 4), 31, |r, c| (r + c) % 3 == 0);
    for format in [
        SparseFormat::Blocks { rows: 4, cols: 4 },
        SparseFormat::Blocks { rows: 1, cols: 1 },
    ] {
        let (anchor, mut inputs, bound) = case(format, &[9, k], &w, n, 41);
        let arity = inputs.len();
        inputs.push(random_tensor(DType::F32, &[n], 42));
        let op = Op::Fused {
            anchor: Box::new(anchor),
            prologue: None,
            arity,
            epilogue: "[in0, in1, add(%0,%1), relu(%2)]"
                .parse::<Program>()
                .unwrap(),
        };
        let want = cpu(&op, &inputs, 0);
        let bound: Vec<f64> = bound
            .iter()
            .zip(&want)
            .map(|(b, w)| b + 2.0 * U * w.abs())
            .collect();
        check_within(op, &inputs, &[Some(bound)]);
    }
}

/// Along axis 1 of NCHW tensors (a 1×1 convolution's layout), with a bias, plain and
/// with an epilogue: the rows are pixels, read and written with the channel stride.
#[test]
fn channel_axis_products_with_a_bias_match_the_reference() {
    let (c, m) = (20, 13);
    let w = weights((c, m), (4, 4), 51, |r, col| (r + 2 * col) % 3 == 0);
    for format in [
        SparseFormat::Blocks { rows: 4, cols: 4 },
        SparseFormat::Blocks { rows: 1, cols: 1 },
    ] {
        for (seed, x_dims) in [
            (61u64, vec![1, c, 5, 7]),
            (62, vec![2, c, 3, 1]),
            (63, vec![3, c, 9]),
        ] {
            let x = random_tensor(DType::F32, &x_dims, seed);
            let bias = random_tensor(DType::F32, &[m], seed + 1);
            let mut inputs = vec![x.clone()];
            inputs.extend(encode(format, &w, c, m).unwrap());
            inputs.push(bias.clone());
            let op = Op::SparseMatMul {
                format,
                axis: 1,
                k: c,
                n: m,
            };
            // Bound: the dot-product bound of the same contraction done densely (a 1×1
            // convolution on |x|, |w|), plus the bias's one rounding.
            let mut dims = x_dims.clone();
            dims[1] = m;
            let dense_t: Vec<f32> = (0..m * c).map(|i| w[(i % c) * m + i / c].abs()).collect();
            let mut wt_dims = vec![m, c];
            wt_dims.extend(std::iter::repeat_n(1, x_dims.len() - 2));
            let conv = Op::Conv(kiln_ir::ConvAttrs {
                strides: vec![1; x_dims.len() - 2],
                pads: vec![0; 2 * (x_dims.len() - 2)],
                dilations: vec![1; x_dims.len() - 2],
                group: 1,
            });
            let wt = Tensor::from_f32(wt_dims, dense_t).unwrap();
            let mag = cpu(&conv, &[abs(&x), wt], 0);
            let want = cpu(&op, &inputs, 0);
            let bound: Vec<f64> = dot_bound(&mag, c, 0.0)
                .iter()
                .zip(&want)
                .map(|(b, y)| b + 2.0 * U * y.abs())
                .collect();
            check_within(op.clone(), &inputs, &[Some(bound.clone())]);
            let fused = Op::Fused {
                anchor: Box::new(op),
                prologue: None,
                arity: inputs.len(),
                epilogue: "[in0, relu(%0)]".parse::<Program>().unwrap(),
            };
            check_within(fused, &inputs, &[Some(bound)]);
        }
    }
}

/// `sparse_conv` (2-D, strided, padded, dilated windows; partial blocks; N:M along the
/// window) against the reference, with and without bias and a fused relu.
#[test]
fn sparse_convolutions_match_the_reference() {
    let cases = [
        // (x dims, output channels, kernel, strides, pads, dilations)
        ([2, 5, 9, 8], 7, [3, 3], [1, 1], [1, 1, 1, 1], [1, 1]),
        ([1, 6, 11, 7], 9, [3, 2], [2, 1], [0, 1, 2, 0], [1, 2]),
        ([1, 5, 6, 6], 4, [2, 2], [1, 2], [0, 0, 0, 0], [2, 1]),
    ];
    for (seed, (x_dims, m, kernel, strides, pads, dilations)) in cases.into_iter().enumerate() {
        let seed = 70 + 10 * seed as u64;
        let c = x_dims[1];
        let k = c * kernel[0] * kernel[1];
        let conv = kiln_ir::ConvAttrs {
            strides: strides.to_vec(),
            pads: pads.to_vec(),
            dilations: dilations.to_vec(),
            group: 1,
        };
        let x = random_tensor(DType::F32, &x_dims, seed);
        let bias = random_tensor(DType::F32, &[m], seed + 1);
        let mut formats = vec![
            SparseFormat::Blocks { rows: 4, cols: 4 },
            SparseFormat::Blocks { rows: 1, cols: 1 },
        ];
        if k % 4 == 0 {
            formats.push(SparseFormat::NOfM { keep: 2, group: 4 });
        }
        for format in formats {
            let b = match format {
                SparseFormat::NOfM { keep, group } => n_of_m(k, m, keep, group, seed + 2),
                _ => weights((k, m), (4, 4), seed + 2, |r, col| (r + col) % 3 == 0),
            };
            // The dense weights W[m, kk] = B[kk, m] for the bound.
            let w_abs: Vec<f32> = (0..m * k).map(|i| b[(i % k) * m + i / k].abs()).collect();
            let w_abs = Tensor::from_f32(vec![m, c, kernel[0], kernel[1]], w_abs).unwrap();
            let mag = cpu(&Op::Conv(conv.clone()), &[abs(&x), w_abs], 0);
            let op = Op::SparseConv {
                format,
                conv: conv.clone(),
                kernel: kernel.to_vec(),
                n: m,
            };
            for with_bias in [false, true] {
                let mut inputs = vec![x.clone()];
                inputs.extend(encode(format, &b, k, m).unwrap());
                if with_bias {
                    inputs.push(bias.clone());
                }
                let want = cpu(&op, &inputs, 0);
                let bound: Vec<f64> = dot_bound(&mag, k, 0.0)
                    .iter()
                    .zip(&want)
                    .map(|(d, y)| d + 2.0 * U * y.abs())
                    .collect();
                check_within(op.clone(), &inputs, &[Some(bound.clone())]);
                let fused = Op::Fused {
                    anchor: Box::new(op.clone()),
                    prologue: None,
                    arity: inputs.len(),
                    epilogue: "[in0, relu(%0)]".parse::<Program>().unwrap(),
                };
                check_within(fused, &inputs, &[Some(bound)]);
            }
        }
    }
}
