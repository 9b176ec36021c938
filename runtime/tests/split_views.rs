//! Split views: a Split's results alias slices of its operand's buffer (no dispatch)
//! when the slices are contiguous and 256-byte aligned; otherwise the copy kernels stay.

mod common;

use common::{compare, gpu, random_tensor, Tol};
use kiln_codegen::{build_plan_with, Limits, PlanOptions};
use kiln_ir::{BinaryOp, DType, Graph, Op, TensorType, UnaryOp};

/// t = exp(x) split along axis 1 into three equal parts a, b, c; then p = neg(a),
/// q = sigmoid(p) (new buffers made while c is still live), y = q · c, and
/// cat = concat(b, abs(a)) (a split result as a concat operand).
fn graph(shape: &[usize]) -> Graph {
    let mut g = Graph::new("split");
    let x = g.add_input(
        "x",
        TensorType::new(DType::F32, shape.to_vec()),
        kiln_ir::Wide::No,
    );
    let t = g.add(Op::Unary(UnaryOp::Exp), &[x], "exp").unwrap();
    let third = shape[1] / 3;
    let parts = g
        .add_node(
            Op::Split {
                axis: 1,
                sizes: vec![third; 3],
            },
            &[t],
            None,
            "split",
        )
        .unwrap();
    let (a, b, c) = (parts[0], parts[1], parts[2]);
    let p = g.add(Op::Unary(UnaryOp::Neg), &[a], "neg").unwrap();
    let q = g.add(Op::Unary(UnaryOp::Sigmoid), &[p], "sigmoid").unwrap();
    let y = g.add(Op::Binary(BinaryOp::Mul), &[q, c], "mul").unwrap();
    let s = g.add(Op::Unary(UnaryOp::Abs), &[a], "abs").unwrap();
    let cat = g.add(Op::Concat { axis: 1 }, &[b, s], "cat").unwrap();
    let z = g.add(Op::Unary(UnaryOp::Relu), &[cat], "relu").unwrap();
    g.add_output("y", y, kiln_ir::Wide::No);
    g.add_output("z", z, kiln_ir::Wide::No);
    g
}

/// Runs `g` under every combination of in-place concat and split views; each must
/// match the CPU reference. Returns the dispatch counts indexed `[concat][split]`.
fn run_all(g: &Graph) -> [[usize; 2]; 2] {
    let x = random_tensor(DType::F32, g.ty(g.inputs[0].value).shape.dims(), 5);
    let want = kiln_ir::interp::run(g, std::slice::from_ref(&x)).unwrap();
    let mut counts = [[0; 2]; 2];
    for concat_in_place in [false, true] {
        for split_views in [false, true] {
            let options = PlanOptions {
                concat_in_place,
                split_views,
                ..Default::default()
            };
            let compiled = build_plan_with(g, &Limits::default(), &options).unwrap();
            counts[concat_in_place as usize][split_views as usize] = compiled.plan.dispatches.len();
            let mut session = gpu().load(&compiled.plan, &compiled.weights).unwrap();
            let got = session.run(std::slice::from_ref(&x)).unwrap();
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                // exp and sigmoid within WGSL's exp accuracy; neg, mul, relu exact.
                compare(g, w, Tol::new(1e-5, 1e-5)).unwrap_or_else(|e| {
                    panic!("concat in place {concat_in_place}, split views {split_views}: {e}")
                });
            }
        }
    }
    counts
}

#[test]
fn aligned_slices_are_views_with_no_dispatch() {
    // 4 × 16 elements per slice = 256 bytes: every slice starts aligned.
    let counts = run_all(&graph(&[1, 12, 16]));
    assert_eq!(counts[0][0] - counts[0][1], 3, "the three copies disappear");
    // With in-place concat too, abs(a) is written into the concat; the split view b
    // is never written in place (it is a view of exp's buffer) and is copied.
    assert_eq!(counts[1][0] - counts[1][1], 3);
    assert_eq!(
        counts[0][1] - counts[1][1],
        1,
        "only abs(a)'s copy disappears"
    );
}

#[test]
fn misaligned_or_strided_splits_keep_their_copies() {
    // 4 × 7 elements = 112 bytes per slice: the second slice is not aligned.
    let counts = run_all(&graph(&[1, 12, 7]));
    assert_eq!(counts[0][0], counts[0][1]);
    assert_eq!(counts[1][0], counts[1][1]);
    // Batch 2 before the axis: each result is two separate runs.
    let counts = run_all(&graph(&[2, 12, 16]));
    assert_eq!(counts[0][0], counts[0][1]);
}

#[test]
fn a_split_result_that_is_a_graph_output_keeps_the_copies() {
    let mut g = graph(&[1, 12, 16]);
    let c = g
        .nodes
        .iter()
        .find(|(_, n)| n.name == "split")
        .map(|(_, n)| n.outputs[2])
        .unwrap();
    g.add_output("c", c, kiln_ir::Wide::No);
    let counts = run_all(&g);
    assert_eq!(counts[0][0], counts[0][1]);
}

#[test]
fn unaligned_slices_read_by_convolutions_are_views() {
    // t = exp(x) [1, 9, 5, 7] split into channel groups of 2, 3 and 4 (planes of 35
    // elements = 140 bytes: the second and third slices start unaligned). Each part feeds
    // a convolution, which reads its slice at an element base; no copy remains.
    let mut g = Graph::new("split_conv");
    let x = g.add_input(
        "x",
        TensorType::new(DType::F32, vec![1, 9, 5, 7]),
        kiln_ir::Wide::No,
    );
    let t = g.add(Op::Unary(UnaryOp::Exp), &[x], "exp").unwrap();
    let split = Op::Split {
        axis: 1,
        sizes: vec![2, 3, 4],
    };
    let parts = g.add_node(split, &[t], None, "split").unwrap();
    for (i, (&part, channels)) in parts.iter().zip([2usize, 3, 4]).enumerate() {
        let w = g.add_const(
            None,
            random_tensor(DType::F32, &[3, channels, 3, 3], 20 + i as u64),
        );
        let conv = kiln_ir::ConvAttrs {
            strides: vec![1, 1],
            pads: vec![1; 4],
            dilations: vec![1, 1],
            group: 1,
        };
        let y = g.add(Op::Conv(conv), &[part, w], "conv").unwrap();
        g.add_output(format!("y{i}"), y, kiln_ir::Wide::No);
    }
    let x_in = random_tensor(DType::F32, &[1, 9, 5, 7], 6);
    let want = kiln_ir::interp::run(&g, std::slice::from_ref(&x_in)).unwrap();
    let mut counts = Vec::new();
    for split_views in [false, true] {
        let options = PlanOptions {
            split_views,
            ..Default::default()
        };
        let compiled = build_plan_with(&g, &Limits::default(), &options).unwrap();
        counts.push(compiled.plan.dispatches.len());
        let mut session = gpu().load(&compiled.plan, &compiled.weights).unwrap();
        let got = session.run(std::slice::from_ref(&x_in)).unwrap();
        for (got, want) in got.iter().zip(&want) {
            // Sums of 36 products of exp(x) < e² and weights in [-2, 2): each side within
            // γ₃₆·Σ|t·w| ≤ 36·2⁻²⁴·36·e²·2 ≈ 1.1e-3 of the exact sum, exp itself a few ulp;
            // a wrong base reads other channels (errors of order 1).
            compare(got, want, Tol::new(2.5e-3, 1e-5))
                .unwrap_or_else(|e| panic!("split views {split_views}: {e}"));
        }
    }
    assert_eq!(counts[0] - counts[1], 3, "the three copies disappear");
}
