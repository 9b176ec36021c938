//! In-place concat: operand producers write straight into their slice of the result.

mod common;

use common::{compare, gpu, random_tensor, Tol};
use kiln_codegen::{build_plan_with, Limits, PlanOptions};
use kiln_ir::{BinaryOp, ConvAttrs, DType, Graph, Op, TensorType, UnaryOp};

/// x → relu, x → neg, (x + x) → concat along `axis`, then a consumer of the concat.
fn graph(shape: &[usize], axis: usize) -> Graph {
    let mut g = Graph::new("concat");
    let x = g.add_input(
        "x",
        TensorType::new(DType::F32, shape.to_vec()),
        kiln_ir::Wide::No,
    );
    let a = g.add(Op::Unary(UnaryOp::Relu), &[x], "relu").unwrap();
    let b = g.add(Op::Unary(UnaryOp::Neg), &[x], "neg").unwrap();
    let c = g.add(Op::Binary(BinaryOp::Add), &[x, x], "add").unwrap();
    let cat = g.add(Op::Concat { axis }, &[a, b, c], "cat").unwrap();
    let y = g.add(Op::Unary(UnaryOp::Exp), &[cat], "exp").unwrap();
    g.add_output("y", y, kiln_ir::Wide::No);
    g.add_output("cat", cat, kiln_ir::Wide::No);
    g
}

/// Runs `g` with and without in-place concat; both must match the CPU reference.
/// Returns the dispatch counts (copying, in place).
fn run_both(g: &Graph) -> (usize, usize) {
    // exp, relu, neg and x + x are correctly rounded or exact in f32 on both sides, up
    // to WGSL's exp accuracy (3 + 2|x| ulp).
    run_both_within(g, Tol::new(1e-6, 2e-6))
}

/// [`run_both`] with the tolerance `tol`.
fn run_both_within(g: &Graph, tol: Tol) -> (usize, usize) {
    let x = random_tensor(DType::F32, g.ty(g.inputs[0].value).shape.dims(), 7);
    let want = kiln_ir::interp::run(g, std::slice::from_ref(&x)).unwrap();
    let mut counts = Vec::new();
    for concat_in_place in [false, true] {
        let options = PlanOptions {
            concat_in_place,
            ..Default::default()
        };
        let compiled = build_plan_with(g, &Limits::default(), &options).unwrap();
        counts.push(compiled.plan.dispatches.len());
        let mut session = gpu().load(&compiled.plan, &compiled.weights).unwrap();
        let got = session.run(std::slice::from_ref(&x)).unwrap();
        for (g, w) in got.iter().zip(&want) {
            compare(g, w, tol).unwrap_or_else(|e| panic!("in place {concat_in_place}: {e}"));
        }
    }
    (counts[0], counts[1])
}

#[test]
fn aligned_slices_are_written_in_place() {
    // 64 elements per operand = 256 bytes: every slice starts aligned.
    let (copying, in_place) = run_both(&graph(&[1, 4, 16], 1));
    assert_eq!(copying - in_place, 3, "the three copy dispatches disappear");
}

#[test]
fn misaligned_or_strided_concats_fall_back_to_copies() {
    // 7 elements per operand: only the first slice (offset 0) is 256-byte aligned.
    let (copying, in_place) = run_both(&graph(&[1, 7], 1));
    assert_eq!(copying - in_place, 1);
    // Batch 2 before the axis: each operand is two separate runs, not one slice.
    let (copying, in_place) = run_both(&graph(&[2, 64], 1));
    assert_eq!(copying, in_place);
}

#[test]
fn an_operand_read_elsewhere_is_copied_while_the_others_are_written_in_place() {
    let mut g = graph(&[1, 4, 16], 1);
    // The relu result (operand 0) also becomes a graph output: it keeps its own buffer.
    let relu = g
        .nodes
        .iter()
        .find(|(_, n)| n.name == "relu")
        .map(|(_, n)| n.outputs[0])
        .unwrap();
    g.add_output("relu", relu, kiln_ir::Wide::No);
    let (copying, in_place) = run_both(&g);
    assert_eq!(copying - in_place, 2);
}

/// A convolution of `x` with fresh random weights of shape `w`.
fn conv(
    g: &mut Graph,
    x: kiln_ir::Handle<kiln_ir::Value>,
    w: &[usize],
    pad: usize,
    seed: u64,
) -> kiln_ir::Handle<kiln_ir::Value> {
    let weights = g.add_const(None, random_tensor(DType::F32, w, seed));
    let attrs = ConvAttrs {
        strides: vec![1, 1],
        pads: vec![pad; 4],
        dilations: vec![1, 1],
        group: 1,
    };
    g.add(Op::Conv(attrs), &[x, weights], "conv").unwrap()
}

#[test]
fn convolutions_write_in_place_at_unaligned_slices() {
    // Channel planes of 5×7 = 35 elements (140 bytes): after the first operand no slice
    // starts at a multiple of 256 bytes. The convolutions add the offset to their
    // stores; the relu (an element-wise kernel, which cannot) is copied.
    let mut g = Graph::new("concat_conv");
    let x = g.add_input(
        "x",
        TensorType::new(DType::F32, vec![1, 3, 5, 7]),
        kiln_ir::Wide::No,
    );
    let a = conv(&mut g, x, &[4, 3, 1, 1], 0, 11);
    let b = conv(&mut g, x, &[3, 3, 3, 3], 1, 12);
    let r = g.add(Op::Unary(UnaryOp::Relu), &[x], "relu").unwrap();
    let c = conv(&mut g, x, &[5, 3, 3, 3], 1, 13);
    let cat = g.add(Op::Concat { axis: 1 }, &[a, b, r, c], "cat").unwrap();
    let y = g.add(Op::Unary(UnaryOp::Neg), &[cat], "neg").unwrap();
    g.add_output("y", y, kiln_ir::Wide::No);
    // Sums of n = 27 products of values in [-2, 2) (see `random_tensor`): each side is
    // within γ_n·Σ|x·w| ≤ 27·2⁻²⁴·27·4 ≈ 1.7e-4 of the exact sum, so they differ by
    // at most twice that. A wrong offset moves whole values (errors of order 1).
    let (copying, in_place) = run_both_within(&g, Tol::new(3.5e-4, 0.0));
    assert_eq!(
        copying - in_place,
        3,
        "the three convolutions write in place"
    );
}
