//! Graphs that need no kernels, through `build_plan` and the runtime: outputs that are
//! graph inputs, constants (dense and splat, every dtype) or aliases of them.

mod common;

use common::{check_graph, random_tensor, run_gpu, Tol};
use half::f16;
use kiln_ir::{DType, Data, Graph, Op, Tensor};

#[test]
fn output_that_is_an_input() {
    for (i, dtype) in [
        DType::F32,
        DType::F16,
        DType::I32,
        DType::U32,
        DType::I8,
        DType::U8,
        DType::Bool,
    ]
    .into_iter()
    .enumerate()
    {
        let x = random_tensor(dtype, &[3, 5], i as u64);
        let mut g = Graph::new("passthrough");
        let v = g.add_input("x", x.ty(), kiln_ir::Wide::No);
        g.add_output("y", v, kiln_ir::Wide::No);
        g.add_output("y_again", v, kiln_ir::Wide::No);
        check_graph(&g, std::slice::from_ref(&x), Tol::EXACT);
        let out = run_gpu(&g, std::slice::from_ref(&x));
        assert_eq!(out, vec![x.clone(), x], "{dtype:?}");
    }
}

#[test]
fn outputs_that_are_constants() {
    let dense = [
        Tensor::new(
            [2usize, 3].as_slice(),
            Data::F32(vec![1.5, -2.0, 0.25, 7.0, -0.5, 3.0]),
        )
        .unwrap(),
        Tensor::new(
            [3usize].as_slice(),
            Data::F16(vec![
                f16::from_f32(0.1),
                f16::from_f32(-3.0),
                f16::from_f32(65504.0),
            ]),
        )
        .unwrap(),
        Tensor::new(
            [4usize].as_slice(),
            Data::I32(vec![i32::MIN, -1, 7, i32::MAX]),
        )
        .unwrap(),
        Tensor::new([2usize].as_slice(), Data::I8(vec![-128, 127])).unwrap(),
        Tensor::new([3usize].as_slice(), Data::U8(vec![255, 1, 9])).unwrap(),
        Tensor::new([3usize].as_slice(), Data::Bool(vec![true, false, true])).unwrap(),
    ];
    let splats = [
        Tensor::splat([300usize, 7].as_slice(), Data::F32(vec![-1.25])).unwrap(),
        Tensor::splat([5usize].as_slice(), Data::U32(vec![u32::MAX])).unwrap(),
        Tensor::splat([2usize, 2].as_slice(), Data::Bool(vec![true])).unwrap(),
        Tensor::splat(Vec::<usize>::new(), Data::I8(vec![-3])).unwrap(),
    ];
    let mut g = Graph::new("constants");
    for (i, t) in dense.iter().chain(&splats).enumerate() {
        let c = g.add_const(None, t.clone());
        g.add_output(format!("c{i}"), c, kiln_ir::Wide::No);
    }
    check_graph(&g, &[], Tol::EXACT);
    let out = run_gpu(&g, &[]);
    for (got, want) in out.iter().zip(dense.iter().chain(&splats)) {
        assert_eq!(got, &want.to_dense());
    }
}

#[test]
fn reshape_and_identity_alias_their_operand() {
    let x = random_tensor(DType::F32, &[2, 6], 7);
    let mut g = Graph::new("aliases");
    let v = g.add_input("x", x.ty(), kiln_ir::Wide::No);
    let r = g
        .add(Op::Reshape { shape: vec![3, 4] }, &[v], "reshape")
        .unwrap();
    let i = g.add(Op::Identity, &[r], "identity").unwrap();
    g.add_output("r", r, kiln_ir::Wide::No);
    g.add_output("i", i, kiln_ir::Wide::No);
    check_graph(&g, std::slice::from_ref(&x), Tol::EXACT);
    let out = run_gpu(&g, std::slice::from_ref(&x));
    assert_eq!(out[1], x.reshaped([3usize, 4].as_slice()).unwrap());
}

#[test]
fn empty_tensors_pass_through() {
    let x = Tensor::from_f32([2usize, 0, 3].as_slice(), vec![]).unwrap();
    let mut g = Graph::new("empty");
    let v = g.add_input("x", x.ty(), kiln_ir::Wide::No);
    g.add_output("y", v, kiln_ir::Wide::No);
    assert_eq!(run_gpu(&g, std::slice::from_ref(&x)), vec![x]);
}

#[test]
fn timed_run_without_kernels() {
    let x = random_tensor(DType::I32, &[4], 3);
    let mut g = Graph::new("passthrough");
    let v = g.add_input("x", x.ty(), kiln_ir::Wide::No);
    g.add_output("y", v, kiln_ir::Wide::No);
    let compiled = kiln_codegen::build_plan(&g, &kiln_codegen::Limits::default()).unwrap();
    let mut session = common::gpu()
        .load(&compiled.plan, &compiled.weights)
        .unwrap();
    let timed = session.run_timed(std::slice::from_ref(&x)).unwrap();
    assert_eq!(timed.outputs, vec![x]);
    assert!(timed.dispatches.is_empty());
}
