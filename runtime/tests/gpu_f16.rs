//! Native f16 arithmetic (`PlanOptions::f16_arithmetic`, WGSL's `f16` on an adapter
//! with `SHADER_F16`) against the CPU reference, on fresh random f16 data in [-2, 2)
//! at odd sizes: single ops, an element-wise program, and a matmul's epilogue.
//!
//! The reference computes each f16 op in f32 and rounds to the nearest f16; WGSL's f16
//! `+ - *` round to either neighbour of the exact value, so each native step is within
//! one f16 ulp of the reference's (2^-10 of its magnitude), or 2^-14 where a subnormal
//! result is flushed. Along a chain the errors add: each step contributes one ulp of the
//! largest magnitude it can reach, carried on unchanged by the steps after it.

mod common;

use common::{check_graph_planned, gpu, op_graph, random_tensor, Tol};
use kiln_codegen::{build_plan_with, Limits, PlanOptions};
use kiln_ir::{BinaryOp, DType, Graph, Op, Program, ReduceOp, UnaryOp};

/// One f16 ulp of the result, or the flush of a subnormal one.
const ONE_ULP: Tol = Tol::new(1.0 / 16384.0, 1.0 / 1024.0);

fn native() -> PlanOptions {
    PlanOptions {
        f16_arithmetic: true,
        ..PlanOptions::default()
    }
}

/// Builds `graph` natively and checks that every kernel computing its result enables
/// f16 and that the plan asks for `SHADER_F16` (so the comparison tests the f16 path);
/// then compares it with the reference within `tol` where the adapter has `SHADER_F16`,
/// and checks that loading it is refused, naming the feature, where it has not (GL).
fn check_native(graph: &Graph, inputs: &[kiln_ir::Tensor], tol: Tol) {
    let compiled = build_plan_with(graph, &Limits::default(), &native()).unwrap();
    let plan = &compiled.plan;
    assert_eq!(plan.requirements.features, ["SHADER_F16"], "{}", graph.name);
    assert!(
        plan.kernels
            .iter()
            .all(|k| k.wgsl.starts_with("enable f16;")),
        "{}: a kernel computes in f32",
        graph.name
    );
    if gpu().has_f16() {
        check_graph_planned(graph, inputs, tol, &Limits::default(), &native());
    } else {
        eprintln!(
            "{}: no SHADER_F16 on this adapter, the plan must be refused",
            graph.name
        );
        let err = gpu().load(plan, &compiled.weights).err().expect("refused");
        assert!(err.to_string().contains("SHADER_F16"), "{err}");
    }
}

#[test]
fn single_ops_within_an_ulp() {
    let a = random_tensor(DType::F16, &[3, 7, 5], 1);
    let b = random_tensor(DType::F16, &[7, 1], 2);
    for op in [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Prelu] {
        let b = if op == BinaryOp::Prelu {
            a.clone()
        } else {
            b.clone()
        };
        let inputs = [a.clone(), b];
        check_native(&op_graph(Op::Binary(op), &inputs), &inputs, ONE_ULP);
    }
    for op in [
        UnaryOp::Neg,
        UnaryOp::Abs,
        UnaryOp::Relu,
        UnaryOp::LeakyRelu { alpha: 0.125 },
    ] {
        let inputs = [a.clone()];
        check_native(&op_graph(Op::Unary(op), &inputs), &inputs, ONE_ULP);
    }
}

#[test]
fn ops_without_a_native_form_stay_f32() {
    let inputs = [
        random_tensor(DType::F16, &[9, 5], 3),
        random_tensor(DType::F16, &[5], 4),
    ];
    let g = op_graph(Op::Binary(BinaryOp::Div), &inputs);
    let compiled = build_plan_with(&g, &Limits::default(), &native()).unwrap();
    assert!(compiled.plan.requirements.features.is_empty());
    assert!(!compiled.plan.kernels[0].wgsl.contains("enable f16"));
}

#[test]
fn program_chain() {
    // relu(a·b + c) - a: |a·b| < 4 (an ulp 2^-9), |a·b + c| < 6 and the difference < 8
    // (2^-8 each); relu is exact.
    let program: Program = "[in0, in1, mul(%0,%1), in2, add(%2,%3), relu(%4), sub(%5,%0)]"
        .parse()
        .unwrap();
    let inputs = [
        random_tensor(DType::F16, &[5, 11], 5),
        random_tensor(DType::F16, &[11], 6),
        random_tensor(DType::F16, &[5, 1], 7),
    ];
    let g = op_graph(Op::Elementwise { program }, &inputs);
    check_native(&g, &inputs, Tol::new(1.0 / 512.0 + 2.0 / 256.0, 0.0));
}

#[test]
fn matmul_epilogue() {
    // The product accumulates in f32 (|x| < 13·2·2 = 52, the GPU's sum within 1e-4 of
    // the reference's) and is converted to f16 (an ulp 2^-5 up to 64); the epilogue's
    // add (|x| < 54) and relu are f16.
    let epilogue: Program = "[in0, in1, add(%0,%1), relu(%2)]".parse().unwrap();
    let op = Op::Fused {
        anchor: Box::new(Op::MatMul),
        prologue: None,
        arity: 2,
        epilogue,
    };
    let inputs = [
        random_tensor(DType::F16, &[7, 13], 8),
        random_tensor(DType::F16, &[13, 9], 9),
        random_tensor(DType::F16, &[9], 10),
    ];
    let g = op_graph(op, &inputs);
    check_native(&g, &inputs, Tol::new(2.0 / 32.0 + 1e-4, 0.0));
}

#[test]
fn rounding_to_f16_is_a_conversion() {
    // A cast of f32 values, and a sum accumulated in f32 and stored as f16: the GPU's
    // f32 sum may differ from the reference's in its last bits (37 terms below 2: under
    // 1e-5), which can move the conversion to the other neighbour of the reference's
    // rounding: half an ulp more.
    let x = random_tensor(DType::F32, &[6, 37], 11);
    check_native(
        &op_graph(Op::Cast { to: DType::F16 }, std::slice::from_ref(&x)),
        &[x],
        ONE_ULP,
    );
    let h = random_tensor(DType::F16, &[6, 37], 12);
    let sum = Op::Reduce {
        op: ReduceOp::Sum,
        axes: vec![1],
        keepdims: false,
    };
    check_native(
        &op_graph(sum, std::slice::from_ref(&h)),
        &[h],
        Tol::new(1.0 / 16384.0 + 1e-5, 1.5 / 1024.0),
    );
}
