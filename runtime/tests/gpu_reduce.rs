//! GPU reductions (Reduce of every kind over every axis set, MinMax, ArgMax/ArgMin,
//! Softmax, LogSoftmax) against the CPU reference (which accumulates in f64).
//!
//! Tolerances: an f32 sum of n terms in any order is within about sqrt(n)·eps·Σ|x| of
//! the exact sum for random data (n·eps worst case); we allow 2·sqrt(n)·eps·n·max|x|.
//! Products: n·eps relative. Max/min (and min_max), arg max/min and every integer
//! result are exact.
//! Softmax: exp is within 3 + 2|x| ulp (|x - max| ≤ 4 here), the sum adds log2(n)·eps,
//! the division 2.5 ulp: 1e-5 relative. Log-softmax subtracts a log (3 ulp, or 2^-21
//! absolute near 1).

mod common;

use common::{check_op, random_tensor, Tol};
use kiln_ir::{ArgOp, DType, Data, Op, ReduceOp, Tensor};

const KINDS: [ReduceOp; 7] = [
    ReduceOp::Sum,
    ReduceOp::Mean,
    ReduceOp::Max,
    ReduceOp::Min,
    ReduceOp::Prod,
    ReduceOp::L2,
    ReduceOp::SumSquare,
];

/// Every subset of the axes of a rank-`rank` tensor, sorted.
fn axis_sets(rank: usize) -> Vec<Vec<usize>> {
    (0..1usize << rank)
        .map(|m| (0..rank).filter(|a| m >> a & 1 == 1).collect())
        .collect()
}

/// The tolerance of `op` over `n` elements of magnitude at most `max` (f32 arithmetic).
fn tol(op: ReduceOp, n: usize, max: f64) -> Tol {
    let eps = f32::EPSILON as f64;
    let n = n.max(1) as f64;
    match op {
        ReduceOp::Max | ReduceOp::Min => Tol::EXACT,
        ReduceOp::Prod => Tol::new(0.0, 2.0 * n * eps),
        ReduceOp::SumSquare | ReduceOp::L2 => {
            Tol::new(2.0 * n.sqrt() * eps * n * max * max, 4.0 * eps)
        }
        _ => Tol::new(2.0 * n.sqrt() * eps * n * max, 4.0 * eps),
    }
}

#[test]
fn every_kind_over_every_axis_set_f32() {
    let dims = [3usize, 5, 7];
    for (i, axes) in axis_sets(3).into_iter().enumerate() {
        let n: usize = axes.iter().map(|&a| dims[a]).product();
        for (k, op) in KINDS.into_iter().enumerate() {
            for keepdims in [false, true] {
                let x = random_tensor(DType::F32, &dims, (i * 16 + k) as u64);
                let r = Op::Reduce {
                    op,
                    axes: axes.clone(),
                    keepdims,
                };
                check_op(r, vec![x], tol(op, n, 2.0));
            }
        }
    }
}

#[test]
fn long_rows_use_many_lanes() {
    // Lanes fold at least 16 elements each: 5000-element rows take 256 lanes per
    // row, 1000-element rows 64 (4 rows per workgroup), contiguous and strided;
    // 169-element rows (a global pool over 13×13) 16, 16 rows per workgroup with the
    // last workgroup part-filled.
    for (seed, dims, axes) in [
        (1u64, vec![2usize, 1000], vec![1usize]),
        (2, vec![1000, 3], vec![0]),
        (4, vec![5000, 2], vec![0]),
        (5, vec![2, 37, 13, 13], vec![2, 3]),
    ] {
        let n: usize = axes.iter().map(|&a| dims[a]).product();
        for op in [
            ReduceOp::Sum,
            ReduceOp::Mean,
            ReduceOp::Max,
            ReduceOp::Min,
            ReduceOp::L2,
        ] {
            let x = random_tensor(DType::F32, &dims, seed);
            check_op(
                Op::Reduce {
                    op,
                    axes: axes.clone(),
                    keepdims: false,
                },
                vec![x],
                tol(op, n, 2.0),
            );
        }
    }
    let x = random_tensor(DType::F32, &[257], 3);
    check_op(
        Op::Reduce {
            op: ReduceOp::Sum,
            axes: vec![0],
            keepdims: true,
        },
        vec![x],
        tol(ReduceOp::Sum, 257, 2.0),
    );
}

#[test]
fn integer_reductions_are_exact() {
    for (i, dtype) in [DType::I32, DType::I8, DType::U32, DType::U8]
        .into_iter()
        .enumerate()
    {
        for axes in [vec![1], vec![0, 2], vec![]] {
            for op in KINDS {
                let x = random_tensor(dtype, &[3, 5, 4], 30 + i as u64);
                check_op(
                    Op::Reduce {
                        op,
                        axes: axes.clone(),
                        keepdims: false,
                    },
                    vec![x],
                    Tol::EXACT,
                );
            }
        }
    }
    // i8 sums saturate like the reference.
    let x = Tensor::new([4usize].as_slice(), Data::I8(vec![100, 100, -100, 90])).unwrap();
    check_op(
        Op::Reduce {
            op: ReduceOp::Sum,
            axes: vec![0],
            keepdims: false,
        },
        vec![x],
        Tol::EXACT,
    );
}

#[test]
fn f16_reductions() {
    for op in KINDS {
        let x = random_tensor(DType::F16, &[5, 9], 50);
        check_op(
            Op::Reduce {
                op,
                axes: vec![1],
                keepdims: false,
            },
            vec![x],
            Tol::new(1e-3, 1e-3),
        );
    }
}

#[test]
fn empty_reductions_give_identities() {
    for op in KINDS {
        for dtype in [DType::F32, DType::I32, DType::U8] {
            let x = random_tensor(dtype, &[3, 0, 2], 60);
            check_op(
                Op::Reduce {
                    op,
                    axes: vec![1],
                    keepdims: true,
                },
                vec![x],
                Tol::EXACT,
            );
        }
    }
}

#[test]
fn arg_max_and_min_with_ties_and_nan() {
    // Values on a coarse grid tie often; a NaN wins wherever it appears.
    let mut v: Vec<f32> = (0..3 * 7 * 5)
        .map(|i| ((i * 37 % 11) as f32 - 5.0) / 2.0)
        .collect();
    v[9] = f32::NAN;
    v[50] = f32::NAN;
    v[52] = f32::NAN;
    let x = Tensor::new([3usize, 7, 5].as_slice(), Data::F32(v)).unwrap();
    for op in [ArgOp::Max, ArgOp::Min] {
        for axis in 0..3 {
            for last in [false, true] {
                for keepdims in [false, true] {
                    let a = Op::ArgReduce {
                        op,
                        axis,
                        keepdims,
                        select_last_index: last,
                    };
                    check_op(a, vec![x.clone()], Tol::EXACT);
                }
            }
        }
    }
    for (i, dtype) in [DType::F16, DType::I32, DType::I8, DType::U8, DType::U32]
        .into_iter()
        .enumerate()
    {
        let x = random_tensor(dtype, &[4, 257], 70 + i as u64);
        for last in [false, true] {
            let a = Op::ArgReduce {
                op: ArgOp::Max,
                axis: 1,
                keepdims: true,
                select_last_index: last,
            };
            check_op(a, vec![x.clone()], Tol::EXACT);
        }
    }
}

#[test]
fn softmax_and_log_softmax_along_every_axis() {
    for axis in 0..3 {
        let x = random_tensor(DType::F32, &[3, 5, 7], 80 + axis as u64);
        check_op(Op::Softmax { axis }, vec![x.clone()], Tol::new(1e-9, 1e-5));
        check_op(Op::LogSoftmax { axis }, vec![x], Tol::new(1e-6, 2e-6));
    }
    let x = random_tensor(DType::F32, &[2, 1000], 90);
    check_op(
        Op::Softmax { axis: 1 },
        vec![x.clone()],
        Tol::new(1e-9, 1e-5),
    );
    check_op(Op::LogSoftmax { axis: 1 }, vec![x], Tol::new(1e-6, 2e-6));
    let x = random_tensor(DType::F32, &[1], 91);
    check_op(Op::Softmax { axis: 0 }, vec![x], Tol::EXACT);
    let x = random_tensor(DType::F16, &[4, 33], 92);
    check_op(
        Op::Softmax { axis: 1 },
        vec![x.clone()],
        Tol::new(1e-4, 1e-3),
    );
    check_op(Op::LogSoftmax { axis: 0 }, vec![x], Tol::new(1e-4, 1e-3));
}

#[test]
fn few_long_rows_split_into_chunks_reduced_in_parallel() {
    // Rows that leave the device idle are reduced in chunks (the last one short) and
    // combined by a second pass: contiguous, strided and whole-tensor, every kind, and
    // an integer sum (exact) and max. Two dispatches each: the split happened.
    let cases: [(u64, &[usize], &[usize]); 3] = [
        (41, &[3, 20011], &[1]),
        (42, &[9001, 2], &[0]),
        (43, &[7, 13, 101], &[0, 1, 2]),
    ];
    for (seed, dims, axes) in cases {
        let n: usize = axes.iter().map(|&a| dims[a]).product();
        for op in KINDS {
            // Products of thousands of values in [-2, 2] under- or overflow: near 1.
            let x = if op == ReduceOp::Prod {
                let v = random_tensor(DType::F32, dims, seed).to_f64_vec();
                let v = v.iter().map(|x| (1.0 + x * 1e-4) as f32).collect();
                Tensor::new(dims.to_vec(), Data::F32(v)).unwrap()
            } else {
                random_tensor(DType::F32, dims, seed)
            };
            let r = Op::Reduce {
                op,
                axes: axes.to_vec(),
                keepdims: true,
            };
            let graph = common::op_graph(r.clone(), std::slice::from_ref(&x));
            let plan = kiln_codegen::build_plan(&graph, &kiln_codegen::Limits::default()).unwrap();
            assert_eq!(plan.plan.dispatches.len(), 2, "{op:?} over {dims:?}");
            check_op(r, vec![x], tol(op, n, 2.0));
        }
        for op in [ReduceOp::Sum, ReduceOp::Max] {
            let x = random_tensor(DType::I32, dims, seed + 10);
            let r = Op::Reduce {
                op,
                axes: axes.to_vec(),
                keepdims: false,
            };
            check_op(r, vec![x], Tol::EXACT);
        }
    }
}

/// `min_max` over `axes` (both results kept).
fn min_max(axes: &[usize]) -> Op {
    Op::MinMax {
        axes: axes.to_vec(),
        keepdims: false,
    }
}

#[test]
fn min_max_gives_both_extremes_exactly() {
    // Every axis set of a rank-3 f32 tensor, and of integers and halves; a NaN in a row
    // makes both of its results NaN; an empty row gives the identities (+inf, -inf).
    for axes in axis_sets(3) {
        check_op(
            min_max(&axes),
            vec![random_tensor(DType::F32, &[3, 5, 4], 70)],
            Tol::EXACT,
        );
    }
    for (i, dtype) in [DType::I32, DType::I8, DType::U8, DType::F16]
        .into_iter()
        .enumerate()
    {
        for axes in [vec![1], vec![0, 2], vec![0, 1, 2]] {
            let x = random_tensor(dtype, &[3, 5, 4], 71 + i as u64);
            check_op(min_max(&axes), vec![x], Tol::EXACT);
        }
    }
    let mut v = random_tensor(DType::F32, &[3, 7], 75).to_f64_vec();
    v[9] = f64::NAN;
    let x = Tensor::new(
        [3usize, 7].as_slice(),
        Data::F32(v.iter().map(|&x| x as f32).collect()),
    );
    check_op(min_max(&[1]), vec![x.unwrap()], Tol::EXACT);
    let empty = random_tensor(DType::F32, &[3, 0, 2], 76);
    check_op(min_max(&[1]), vec![empty], Tol::EXACT);
}

#[test]
fn min_max_of_few_long_rows_splits_into_chunks() {
    // The whole-tensor range dynamic quantization takes: on a GPU the rows split into
    // chunks whose partial (min, max) pairs a second pass combines.
    for (seed, dims, axes) in [
        (77, &[3usize, 20011][..], &[1usize][..]),
        (78, &[7, 13, 101], &[0, 1, 2]),
    ] {
        let x = random_tensor(DType::F32, dims, seed);
        let graph = common::op_graph(min_max(axes), std::slice::from_ref(&x));
        let plan = kiln_codegen::build_plan(&graph, &kiln_codegen::Limits::default()).unwrap();
        assert_eq!(plan.plan.dispatches.len(), 2, "min_max over {dims:?}");
        check_op(min_max(axes), vec![x], Tol::EXACT);
    }
}

/// `value` and the `min_max` of everything it holds made outputs, in that order.
fn whole_range(g: &mut kiln_ir::Graph, value: kiln_ir::Handle<kiln_ir::Value>) {
    let n = g.outputs.len();
    g.add_output(format!("value{n}"), value, kiln_ir::Wide::No);
    let rank = g.ty(value).shape.dims().len();
    let axes: Vec<usize> = (0..rank).collect();
    let r = g.add_node(min_max(&axes), &[value], None, "range").unwrap();
    g.add_output(format!("low{n}"), r[0], kiln_ir::Wide::No);
    g.add_output(format!("high{n}"), r[1], kiln_ir::Wide::No);
}

/// `g` planned for the default limits, and its kernels' names.
fn planned(g: &kiln_ir::Graph) -> (kiln_codegen::CompiledPlan, Vec<String>) {
    let compiled = kiln_codegen::build_plan(g, &kiln_codegen::Limits::default()).unwrap();
    let names = compiled
        .plan
        .kernels
        .iter()
        .map(|k| k.name.clone())
        .collect();
    (compiled, names)
}

/// A `[d0, d1, ...]` f32 tensor of seeded random values with a NaN at `nan`, if any.
fn with_nan(dims: &[usize], seed: u64, nan: Option<usize>) -> Tensor {
    let mut v: Vec<f32> = random_tensor(DType::F32, dims, seed)
        .to_f64_vec()
        .iter()
        .map(|&x| x as f32)
        .collect();
    if let Some(i) = nan {
        v[i] = f32::NAN;
    }
    Tensor::new(dims, Data::F32(v)).unwrap()
}

#[test]
fn ranges_folded_where_the_tensor_is_stored_match_the_reference_run_after_run() {
    use kiln_ir::{BinaryOp, ConvAttrs, Graph, UnaryOp};
    // An element-wise producer, a conv with a relu epilogue read through a reshape, and
    // a matmul whose range is taken through a transpose: each folds its result's range
    // as it stores it, and `min_max` only decodes the two words.
    let mut g = Graph::new("folded_ranges");
    let x = g.add_input(
        "x",
        kiln_ir::TensorType::new(DType::F32, vec![3, 37, 5]),
        kiln_ir::Wide::No,
    );
    let img = g.add_input(
        "img",
        kiln_ir::TensorType::new(DType::F32, vec![1, 3, 9, 11]),
        kiln_ir::Wide::No,
    );
    let a = g.add_input(
        "a",
        kiln_ir::TensorType::new(DType::F32, vec![7, 13]),
        kiln_ir::Wide::No,
    );
    let k = g.add_const(None, Tensor::from_f32(vec![], vec![1.5]).unwrap());
    let y = g.add(Op::Binary(BinaryOp::Mul), &[x, k], "scale").unwrap();
    let y = g.add(Op::Unary(UnaryOp::Exp), &[y], "exp").unwrap();
    whole_range(&mut g, y);
    let w = g.add_const(None, random_tensor(DType::F32, &[5, 3, 3, 3], 91));
    let conv = Op::Conv(ConvAttrs {
        strides: vec![2, 1],
        pads: vec![1, 1, 1, 1],
        dilations: vec![1, 1],
        group: 1,
    });
    let c = g.add(conv, &[img, w], "conv").unwrap();
    let c = g.add(Op::Unary(UnaryOp::Relu), &[c], "relu").unwrap();
    let flat = g
        .add(Op::Reshape { shape: vec![275] }, &[c], "flat")
        .unwrap();
    whole_range(&mut g, flat);
    let b = g.add_const(None, random_tensor(DType::F32, &[13, 6], 92));
    let m = g.add(Op::MatMul, &[a, b], "mm").unwrap();
    let t = g
        .add(Op::Transpose { perm: vec![1, 0] }, &[m], "t")
        .unwrap();
    whole_range(&mut g, t);
    let (compiled, names) = planned(&g);
    assert!(
        names.iter().filter(|n| n.starts_with("range")).count() == 1
            && !names.iter().any(|n| n.starts_with("min_max")),
        "every range folded: {names:?}"
    );
    // The words are zeroed after each run: a NaN in one run must not leak into the next,
    // and each run's range is its own.
    let runs: Vec<Vec<Tensor>> = [None, Some(100), None, Some(0)]
        .into_iter()
        .enumerate()
        .map(|(run, nan)| {
            let seed = 93 + 3 * run as u64;
            vec![
                with_nan(&[3, 37, 5], seed, nan),
                with_nan(&[1, 3, 9, 11], seed + 1, None),
                with_nan(&[7, 13], seed + 2, None),
            ]
        })
        .collect();
    check_folded_ranges(&g, &compiled, &runs);
}

/// Runs `compiled` (the plan of `g`, whose outputs are [`whole_range`] triples) on each
/// input set in turn in one session, and checks each tensor against the reference and
/// each range exactly against the extremes of what the GPU stored.
fn check_folded_ranges(
    g: &kiln_ir::Graph,
    compiled: &kiln_codegen::CompiledPlan,
    runs: &[Vec<Tensor>],
) {
    let mut session = common::gpu()
        .load(&compiled.plan, &compiled.weights)
        .unwrap();
    for (run, inputs) in runs.iter().enumerate() {
        let want = kiln_ir::interp::run(g, inputs).unwrap();
        let got = session.run(inputs).unwrap();
        // Each tensor as the reference computes it (exp, sums in another order: a few
        // ulps), and its range exactly the extremes of what the GPU stored (a NaN in
        // the tensor makes both NaN, as the reference's min and max propagate it).
        for (i, part) in got.chunks(3).enumerate() {
            common::compare(&part[0], &want[3 * i], Tol::LOOSE)
                .unwrap_or_else(|e| panic!("run {run}, tensor {i}: {e}"));
            let v = part[0].to_f64_vec();
            let nan = v.iter().any(|x| x.is_nan());
            let low = v.iter().copied().fold(f64::INFINITY, f64::min);
            let high = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let (low, high) = if nan {
                (f64::NAN, f64::NAN)
            } else {
                (low, high)
            };
            for (got, want) in [(&part[1], low), (&part[2], high)] {
                let want = Tensor::from_f32(vec![], vec![want as f32]).unwrap();
                common::compare(got, &want, Tol::EXACT)
                    .unwrap_or_else(|e| panic!("run {run}, range of tensor {i}: {e}"));
            }
            // And the reference's range of its own tensor, as closely as the tensors agree.
            common::compare(&part[1], &want[3 * i + 1], Tol::LOOSE).unwrap();
            common::compare(&part[2], &want[3 * i + 2], Tol::LOOSE).unwrap();
        }
    }
}

#[test]
fn product_engines_fold_ranges_after_their_last_store() {
    use kiln_ir::{Graph, Program, Step, TensorType, Wide};
    // The product engines keep each invocation's extremes in registers and fold them
    // into the words after its last store: the direct engine (a 2-row matmul), the
    // tiled one (9 rows), and an integer product dequantized to f32 on the exact
    // engine and on the packed 8-bit one. A NaN in A in some runs makes whole rows NaN.
    let mut g = Graph::new("engine_ranges");
    let f32_input = |g: &mut Graph, name: &str, dims: &[usize]| {
        g.add_input(name, TensorType::new(DType::F32, dims.to_vec()), Wide::No)
    };
    let thin = f32_input(&mut g, "thin", &[2, 13]);
    let wide = f32_input(&mut g, "wide", &[9, 13]);
    let q = g.add_input("q", TensorType::new(DType::U8, vec![9, 16]), Wide::No);
    let b = g.add_const(None, random_tensor(DType::F32, &[13, 6], 120));
    for a in [thin, wide] {
        let m = g.add(Op::MatMul, &[a, b], "mm").unwrap();
        whole_range(&mut g, m);
    }
    let w = g.add_const(None, random_tensor(DType::I8, &[16, 12], 121));
    let za = g.add_const(
        None,
        Tensor::new([0usize; 0].as_slice(), Data::U8(vec![3])).unwrap(),
    );
    let zw = g.add_const(
        None,
        Tensor::new([0usize; 0].as_slice(), Data::I8(vec![-2])).unwrap(),
    );
    let dequantize = Program {
        steps: vec![
            Step::Input(0),
            Step::Cast(DType::F32, 0),
            Step::Const {
                dtype: DType::F32,
                value: -0.25,
            },
            Step::Binary(kiln_ir::BinaryOp::Mul, 1, 2),
        ],
    };
    let integer = Op::Fused {
        anchor: Box::new(Op::MatMulInteger),
        prologue: None,
        arity: 4,
        epilogue: dequantize,
    };
    let y = g.add(integer, &[q, w, za, zw], "int").unwrap();
    whole_range(&mut g, y);
    let runs: Vec<Vec<Tensor>> = [None, Some(14), None, Some(0)]
        .into_iter()
        .enumerate()
        .map(|(run, nan)| {
            let seed = 130 + 3 * run as u64;
            vec![
                with_nan(&[2, 13], seed, nan),
                with_nan(&[9, 13], seed + 1, nan),
                random_tensor(DType::U8, &[9, 16], seed + 2),
            ]
        })
        .collect();
    for packed_dot in [false, true] {
        let options = kiln_codegen::PlanOptions {
            packed_dot,
            ..Default::default()
        };
        let compiled =
            kiln_codegen::build_plan_with(&g, &kiln_codegen::Limits::default(), &options).unwrap();
        let flushes = compiled
            .plan
            .kernels
            .iter()
            .filter(|k| k.wgsl.contains("kiln_range_flush();"))
            .count();
        assert_eq!(
            flushes, 3,
            "packed_dot {packed_dot}: every product folds at its end"
        );
        let engines = |text: &str| {
            let k = &compiled.plan.kernels;
            k.iter().filter(|k| k.wgsl.contains(text)).count()
        };
        assert_eq!(engines("Direct matrix-product engine"), 1);
        assert_eq!(engines("dot4I8Packed(av"), usize::from(packed_dot));
        assert!(
            !compiled
                .plan
                .kernels
                .iter()
                .any(|k| k.name.starts_with("min_max")),
            "packed_dot {packed_dot}: every range folded"
        );
        check_folded_ranges(&g, &compiled, &runs);
    }
}

#[test]
fn a_range_no_kernel_stores_stays_a_reduction() {
    // The graph's input is stored by no kernel: its range is reduced as before.
    let x = random_tensor(DType::F32, &[4, 9], 97);
    let g = common::op_graph(min_max(&[0, 1]), std::slice::from_ref(&x));
    assert!(planned(&g).1.iter().any(|k| k.starts_with("min_max")));
    check_op(min_max(&[0, 1]), vec![x], Tol::EXACT);
}

#[test]
fn range_words_decoded_by_their_readers_need_no_kernel() {
    use kiln_ir::{BinaryOp, Graph};
    // `(y - low) / (high - low)` of `y = 1.5 x`: the element-wise kernel storing `y`
    // folds its range, and the one reading `low` and `high` decodes the words itself,
    // so the `min_max` runs no kernel at all.
    let mut g = Graph::new("decoded_ranges");
    let x = g.add_input(
        "x",
        kiln_ir::TensorType::new(DType::F32, vec![5, 33]),
        kiln_ir::Wide::No,
    );
    let k = g.add_const(None, Tensor::from_f32(vec![], vec![1.5]).unwrap());
    let y = g.add(Op::Binary(BinaryOp::Mul), &[x, k], "scale").unwrap();
    let r = g.add_node(min_max(&[0, 1]), &[y], None, "range").unwrap();
    let shifted = g
        .add(Op::Binary(BinaryOp::Sub), &[y, r[0]], "shift")
        .unwrap();
    let span = g
        .add(Op::Binary(BinaryOp::Sub), &[r[1], r[0]], "span")
        .unwrap();
    let z = g
        .add(Op::Binary(BinaryOp::Div), &[shifted, span], "norm")
        .unwrap();
    g.add_output("z", z, kiln_ir::Wide::No);
    let (compiled, names) = planned(&g);
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("range") || n.starts_with("min_max")),
        "the range is decoded where it is read: {names:?}"
    );
    assert_eq!(compiled.plan.zeroed.len(), 1);
    let mut session = common::gpu()
        .load(&compiled.plan, &compiled.weights)
        .unwrap();
    for (run, nan) in [None, Some(40), None].into_iter().enumerate() {
        let x = with_nan(&[5, 33], 101 + run as u64, nan);
        let want = kiln_ir::interp::run(&g, std::slice::from_ref(&x)).unwrap();
        let got = session.run(&[x]).unwrap();
        // One subtraction and one division of the same f32 values: exact.
        common::compare(&got[0], &want[0], Tol::EXACT).unwrap_or_else(|e| panic!("run {run}: {e}"));
    }
}
