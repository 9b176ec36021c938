//! GPU NonZero and Compress (outputs of data-dependent length) against the CPU
//! reference: odd shapes, more positions than the selection workgroup has lanes, floats
//! with zeros, negative zeros and NaNs, integers and bools; every Compress axis and the
//! flattened form, conditions shorter than the axis. Exact: both sides select the same
//! positions and move words unchanged. With every result a graph output (no extents)
//! the padding past the count is compared too (zeros on both); with extents, the
//! runtime's cut outputs are compared with the reference's cut ones.

mod common;

use common::{check_op, gpu, random_tensor, Tol};
use kiln_codegen::{build_plan_with, Limits, PlanOptions};
use kiln_ir::{DType, Data, Extent, Graph, Op, Tensor, Wide};

/// `x` with the elements where `keep` is false set to zero (negative zero for every
/// third float).
fn sparse(x: Tensor, seed: u64) -> Tensor {
    let keep = random_tensor(DType::Bool, x.shape().dims(), seed);
    let Data::Bool(keep) = keep.data().into_owned() else {
        unreachable!("a bool tensor")
    };
    let data = match x.data().into_owned() {
        Data::F32(v) => Data::F32(
            v.iter()
                .zip(&keep)
                .enumerate()
                .map(|(i, (&x, &k))| match (k, i % 3) {
                    (true, _) => x,
                    (false, 0) => -0.0,
                    (false, _) => 0.0,
                })
                .collect(),
        ),
        Data::I32(v) => Data::I32(
            v.iter()
                .zip(&keep)
                .map(|(&x, &k)| if k { x } else { 0 })
                .collect(),
        ),
        Data::U8(v) => Data::U8(
            v.iter()
                .zip(&keep)
                .map(|(&x, &k)| if k { x } else { 0 })
                .collect(),
        ),
        other => other,
    };
    Tensor::new(x.shape().clone(), data).unwrap()
}

#[test]
fn non_zero_matches_the_reference() {
    for (i, (dtype, dims)) in [
        (DType::F32, vec![37, 53]),
        (DType::F32, vec![3, 5, 7, 11]),
        (DType::I32, vec![1001]),
        (DType::U8, vec![9, 2, 13]),
        (DType::Bool, vec![5, 61]),
    ]
    .into_iter()
    .enumerate()
    {
        let x = sparse(random_tensor(dtype, &dims, 700 + i as u64), 750 + i as u64);
        check_op(Op::NonZero, vec![x], Tol::EXACT);
    }
    // NaN is not zero; all zeros and no zeros at all.
    let nan = Tensor::from_f32(vec![2, 3], vec![f32::NAN, 0.0, 1.0, -0.0, f32::NAN, 0.0]).unwrap();
    check_op(Op::NonZero, vec![nan], Tol::EXACT);
    check_op(
        Op::NonZero,
        vec![Tensor::from_f32(vec![300], vec![0.0; 300]).unwrap()],
        Tol::EXACT,
    );
    check_op(
        Op::NonZero,
        vec![random_tensor(DType::F32, &[7, 41], 760)],
        Tol::EXACT,
    );
}

#[test]
fn compress_matches_the_reference() {
    let x = random_tensor(DType::F32, &[7, 301, 3], 770);
    for (j, axis) in [None, Some(0), Some(1), Some(2)].into_iter().enumerate() {
        let bound = match axis {
            None => 7 * 301 * 3,
            Some(a) => x.shape().dims()[a],
        };
        // A full-length condition and a shorter one.
        for (k, len) in [bound, bound.div_ceil(2)].into_iter().enumerate() {
            let c = random_tensor(DType::Bool, &[len], 780 + (j * 2 + k) as u64);
            check_op(Op::Compress { axis }, vec![x.clone(), c], Tol::EXACT);
        }
    }
    let ints = random_tensor(DType::I32, &[11, 5], 790);
    let c = random_tensor(DType::Bool, &[11], 791);
    check_op(Op::Compress { axis: Some(0) }, vec![ints, c], Tol::EXACT);
}

#[test]
fn runtime_cuts_outputs_to_their_counts() {
    let x = sparse(random_tensor(DType::F32, &[13, 29], 800), 801);
    let c = random_tensor(DType::Bool, &[29], 802);
    let mut g = Graph::new("extents");
    let xv = g.add_input("x", x.ty(), Wide::No);
    let cv = g.add_input("c", c.ty(), Wide::No);
    let nz = g.add_node(Op::NonZero, &[xv], None, "nz").unwrap();
    let cp = g
        .add_node(Op::Compress { axis: Some(1) }, &[xv, cv], None, "cp")
        .unwrap();
    g.add_output("indices", nz[0], Wide::No);
    g.add_output("kept", cp[0], Wide::No);
    g.add_output("indices#count", nz[1], Wide::No);
    g.add_output("kept#count", cp[1], Wide::No);
    g.extents = vec![
        Extent {
            output: 0,
            axis: 1,
            count: 2,
        },
        Extent {
            output: 1,
            axis: 1,
            count: 3,
        },
    ];
    kiln_ir::verify::verify(&g).unwrap();
    let inputs = [x, c];
    let want = g
        .finish_outputs(kiln_ir::interp::run(&g, &inputs).unwrap())
        .unwrap();
    let compiled = build_plan_with(&g, &Limits::default(), &PlanOptions::default()).unwrap();
    assert_eq!(compiled.plan.model_outputs().len(), 2);
    let got = gpu()
        .load(&compiled.plan, &compiled.weights)
        .unwrap()
        .run(&inputs)
        .unwrap();
    assert_eq!(got.len(), 2);
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.shape(), w.shape());
        assert!(w.shape().dims()[1] > 0 && w.shape().dims()[1] < 29 * 13);
        assert_eq!(g.data().to_f64_vec(), w.data().to_f64_vec());
    }
}

/// Random boxes for `batches` × `n`: corners in either order, or centers and sizes.
fn random_boxes(batches: usize, n: usize, center: bool, seed: u64) -> Tensor {
    let u = random_tensor(DType::F32, &[batches, n, 4], seed);
    let Data::F32(v) = u.data().into_owned() else {
        unreachable!("an f32 tensor")
    };
    // Values in [-2, 2): as corners, boxes of every overlap and orientation; as centers,
    // sizes taken positive (with a few zero-area ones from near-equal corners).
    let boxes: Vec<f32> = v
        .chunks(4)
        .flat_map(|b| {
            if center {
                [b[0] * 4.0, b[1] * 4.0, b[2].abs() * 2.0, b[3].abs() * 2.0]
            } else {
                [b[0], b[1], b[0] + b[2], b[1] + b[3]]
            }
        })
        .collect();
    Tensor::from_f32(vec![batches, n, 4], boxes).unwrap()
}

#[test]
fn non_max_suppression_matches_the_reference() {
    let scalar = |x: f32| Tensor::from_f32(vec![], vec![x]).unwrap();
    for (i, (center, max_per_class, iou, score)) in [
        (false, 7, 0.3, None),
        (false, 300, 0.5, Some(0.0)),
        (true, 11, 0.4, Some(-1.0)),
        (true, 1000, 0.0, None),
    ]
    .into_iter()
    .enumerate()
    {
        let seed = 820 + 10 * i as u64;
        let boxes = random_boxes(2, 301, center, seed);
        let scores = random_tensor(DType::F32, &[2, 3, 301], seed + 1);
        let op = Op::NonMaxSuppression {
            center_point_box: center,
            max_per_class,
            score_threshold: score.is_some(),
        };
        let inputs = vec![boxes, scores, scalar(iou), scalar(score.unwrap_or(0.0))];
        check_op(op, inputs, Tol::EXACT);
    }
}

#[test]
fn unique_matches_the_reference() {
    // Floats rounded to halves and small integers: slices and values repeat.
    let halves = {
        let x = random_tensor(DType::F32, &[4, 37, 3], 850);
        let Data::F32(v) = x.data().into_owned() else {
            unreachable!("an f32 tensor")
        };
        let v = v.iter().map(|x| (x * 2.0).round() / 2.0).collect();
        Tensor::from_f32(vec![4, 37, 3], v).unwrap()
    };
    let ints = random_tensor(DType::I32, &[701], 851);
    let rows = random_tensor(DType::U8, &[2, 300], 852);
    for sorted in [true, false] {
        for axis in [None, Some(0), Some(1), Some(2)] {
            check_op(
                Op::Unique { axis, sorted },
                vec![halves.clone()],
                Tol::EXACT,
            );
        }
        check_op(
            Op::Unique { axis: None, sorted },
            vec![ints.clone()],
            Tol::EXACT,
        );
        check_op(
            Op::Unique {
                axis: Some(1),
                sorted,
            },
            vec![rows.clone()],
            Tol::EXACT,
        );
    }
}
