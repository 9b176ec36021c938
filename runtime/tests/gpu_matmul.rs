//! MatMul on the GPU against the CPU reference: odd sizes around the tile sizes,
//! 1-D operands, batched products with broadcast batch dims, a tensor times itself,
//! and a weight split over several K-range bindings, with the tiles of both device
//! classes (GPU, CPU driver). Bounds: see `bounds`.

mod bounds;
mod common;

use bounds::{abs, check_within_both, cpu, dot_bound};
use common::{random_tensor, run_gpu};
use kiln_ir::{DType, Graph, Op};

/// Checks `a × b` against the reference within the dot-product bound.
fn check(a: &[usize], b: &[usize], seed: u64) {
    let x = random_tensor(DType::F32, a, seed);
    let y = random_tensor(DType::F32, b, seed + 1000);
    let k = if b.len() == 1 { b[0] } else { b[b.len() - 2] };
    let mag = cpu(&Op::MatMul, &[abs(&x), abs(&y)], 0);
    check_within_both(Op::MatMul, &[x, y], &[Some(dot_bound(&mag, k, 1e-30))]);
}

#[test]
fn odd_sizes_around_the_tiles() {
    let sizes = [
        (1, 1, 1),
        (7, 7, 7),
        (1, 257, 3),
        (257, 1, 5),
        (3, 9, 257),
        (65, 33, 63),
        (70, 130, 129),
        (131, 17, 37),
        (13, 29, 139),
        (16, 17, 129),
        (1, 300, 257),
        (3, 37, 65),
        (4, 129, 33),
        (131, 40, 133),
        (67, 19, 131),
        (29, 40, 100),
    ];
    for (i, (m, k, n)) in sizes.into_iter().enumerate() {
        check(&[m, k], &[k, n], i as u64);
    }
}

#[test]
fn one_dimensional_operands() {
    check(&[7], &[7, 5], 1);
    check(&[6, 7], &[7], 2);
    check(&[257], &[257], 3);
    check(&[2, 3, 7], &[7], 4);
    check(&[7], &[3, 7, 4], 5);
}

#[test]
fn batched_with_broadcast_batch_dims() {
    check(&[2, 1, 4, 3], &[5, 3, 7], 1);
    check(&[3, 5, 9], &[9, 6], 2);
    check(&[1, 5, 9], &[4, 9, 6], 3);
    check(&[2, 3, 17, 33], &[2, 3, 33, 5], 4);
}

#[test]
fn tensor_times_itself_binds_once() {
    // The graph computes x·x through an intermediate so the operand is read twice.
    let x = random_tensor(DType::F32, &[9, 9], 7);
    let mut g = Graph::new("square");
    let input = g.add_input("x", x.ty(), kiln_ir::Wide::No);
    let t = g
        .add(Op::Unary(kiln_ir::UnaryOp::Abs), &[input], "abs")
        .unwrap();
    let y = g.add(Op::MatMul, &[t, t], "mm").unwrap();
    g.add_output("y", y, kiln_ir::Wide::No);
    let want = kiln_ir::interp::run(&g, std::slice::from_ref(&x)).unwrap();
    let got = run_gpu(&g, &[x]);
    let mag = want[0].to_f64_vec();
    let bound = dot_bound(&mag, 9, 1e-30);
    for (i, (a, b)) in got[0].to_f64_vec().iter().zip(&mag).enumerate() {
        assert!((a - b).abs() <= bound[i], "[{i}] gpu {a} cpu {b}");
    }
}

#[test]
fn f16_operands_compute_in_f32() {
    let x = random_tensor(DType::F16, &[5, 19], 1);
    let y = random_tensor(DType::F16, &[19, 6], 2);
    let mag = cpu(&Op::MatMul, &[abs(&x), abs(&y)], 0);
    // Plus one f16 rounding of the result (half an f16 ulp, 2⁻¹¹ relative).
    let want = cpu(&Op::MatMul, &[x.clone(), y.clone()], 0);
    let bound: Vec<f64> = dot_bound(&mag, 19, 1e-30)
        .iter()
        .zip(&want)
        .map(|(b, w)| b + w.abs() / 1024.0 + 1e-7)
        .collect();
    check_within_both(Op::MatMul, &[x, y], &[Some(bound)]);
}

/// A weight over the binding limit is bound in K ranges accumulated into the result;
/// run with a small limit so the test stays small.
#[test]
fn oversized_weight_accumulates_over_k_chunks() {
    let x = random_tensor(DType::F32, &[3, 100], 11);
    let w = random_tensor(DType::F32, &[100, 300], 12);
    let mut g = Graph::new("split");
    let input = g.add_input("x", x.ty(), kiln_ir::Wide::No);
    let weight = g.add_const(Some("w".into()), w.clone());
    let y = g.add(Op::MatMul, &[input, weight], "mm").unwrap();
    g.add_output("y", y, kiln_ir::Wide::No);
    let limits = kiln_codegen::Limits {
        max_storage_buffer_binding_size: 64 * 1024,
        ..Default::default()
    };
    let compiled = kiln_codegen::build_plan(&g, &limits).unwrap();
    assert!(compiled.plan.dispatches.len() >= 2, "expected a K split");
    let mut session = common::gpu()
        .load(&compiled.plan, &compiled.weights)
        .unwrap();
    let got = session.run(std::slice::from_ref(&x)).unwrap();
    let want = cpu(&Op::MatMul, &[x.clone(), w.clone()], 0);
    let mag = cpu(&Op::MatMul, &[abs(&x), abs(&w)], 0);
    let bound = dot_bound(&mag, 100, 1e-30);
    for (i, (a, b)) in got[0].to_f64_vec().iter().zip(&want).enumerate() {
        assert!((a - b).abs() <= bound[i], "[{i}] gpu {a} cpu {b}");
    }
}
