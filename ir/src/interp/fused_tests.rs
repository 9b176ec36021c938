//! Tests of the fused ops: each equals the chain of separate ops it replaces, bit for
//! bit, on random data, plus hand-computed values.

use super::{eval_op, run};
use crate::verify::verify;
use crate::*;
use half::f16;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn ty(dtype: DType, shape: &[usize]) -> TensorType {
    TensorType::new(dtype, shape.to_vec())
}

/// Random never-zero data of `t`: floats in ±[0.1, 2), ints in ±[1, 50), random bools.
fn random(rng: &mut StdRng, t: &TensorType) -> Tensor {
    let n = t.shape.numel();
    let mut float = || {
        let x: f32 = rng.gen_range(0.1..2.0);
        if rng.gen_bool(0.5) {
            -x
        } else {
            x
        }
    };
    let data = match t.dtype {
        DType::F32 => Data::F32((0..n).map(|_| float()).collect()),
        DType::F16 => Data::F16((0..n).map(|_| f16::from_f32(float())).collect()),
        DType::I32 => Data::I32(
            (0..n)
                .map(|_| rng.gen_range(1..50) * if rng.gen_bool(0.5) { -1 } else { 1 })
                .collect(),
        ),
        DType::Bool => Data::Bool((0..n).map(|_| rng.gen_bool(0.5)).collect()),
        d => panic!("no random data for {d}"),
    };
    Tensor::new(t.shape.clone(), data).unwrap()
}

fn random_inputs(seed: u64, types: &[TensorType]) -> Vec<Tensor> {
    let mut rng = StdRng::seed_from_u64(seed);
    types.iter().map(|t| random(&mut rng, t)).collect()
}

/// Evaluates `op` with its result type inferred; the first result.
fn eval(op: Op, args: &[&Tensor]) -> Tensor {
    let types: Vec<TensorType> = args.iter().map(|t| t.ty()).collect();
    let refs: Vec<&TensorType> = types.iter().collect();
    let out = infer::infer(&op, &refs).unwrap_or_else(|e| panic!("{op:?}: {e}"));
    eval_op(&op, args, &out[..1])
        .unwrap_or_else(|e| panic!("{op:?}: {e}"))
        .remove(0)
}

/// The program as a graph of separate nodes: a graph constant per `Step::Const`.
fn chain_graph(program: &Program, inputs: &[TensorType]) -> Graph {
    let mut g = Graph::new("chain");
    let ins: Vec<Handle<Value>> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| g.add_input(format!("in{i}"), t.clone(), crate::Wide::No))
        .collect();
    let mut steps: Vec<Handle<Value>> = Vec::new();
    for step in &program.steps {
        let v = match *step {
            Step::Input(k) => ins[k],
            Step::Const { dtype, value } => {
                let data = match dtype {
                    DType::F32 => Data::F32(vec![value as f32]),
                    DType::F16 => Data::F16(vec![f16::from_f64(value)]),
                    DType::I32 => Data::I32(vec![value as i32]),
                    DType::Bool => Data::Bool(vec![value != 0.0]),
                    d => panic!("no constants of {d} here"),
                };
                g.add_const(None, Tensor::scalar(data).unwrap())
            }
            _ => {
                let args: Vec<Handle<Value>> = step.operands().iter().map(|&o| steps[o]).collect();
                g.add(step.op().unwrap(), &args, "").unwrap()
            }
        };
        steps.push(v);
    }
    g.add_output("y", *steps.last().unwrap(), crate::Wide::No);
    verify(&g).unwrap();
    g
}

/// One node applying `op` to graph inputs of `inputs`' types.
fn single_node_graph(op: Op, inputs: &[TensorType]) -> Graph {
    let mut g = Graph::new("fused");
    let ins: Vec<Handle<Value>> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| g.add_input(format!("in{i}"), t.clone(), crate::Wide::No))
        .collect();
    let y = g.add(op, &ins, "").unwrap();
    g.add_output("y", y, crate::Wide::No);
    verify(&g).unwrap();
    g
}

/// Runs `program` as one Elementwise node and as separate nodes on the same random
/// inputs and checks the results are identical; returns the result.
#[track_caller]
fn assert_program_equals_chain(steps: Vec<Step>, inputs: &[TensorType], seed: u64) -> Tensor {
    let program = Program { steps };
    let data = random_inputs(seed, inputs);
    let want = run(&chain_graph(&program, inputs), &data)
        .unwrap()
        .remove(0);
    let fused = single_node_graph(Op::Elementwise { program }, inputs);
    let got = run(&fused, &data).unwrap().remove(0);
    assert_eq!(got.ty(), want.ty());
    assert_eq!(got, want);
    got
}

fn konst(dtype: DType, value: f64) -> Step {
    Step::Const { dtype, value }
}

use BinaryOp::*;
use Step::{Binary, Cast, Input, Unary, Where};

#[test]
fn elementwise_hand_computed() {
    // relu(x + b) * 0.5 with b broadcast along rows.
    let x = Tensor::from_f32(vec![2, 2], vec![1.0, -2.0, 3.0, -40.0]).unwrap();
    let b = Tensor::from_f32(vec![2], vec![10.0, 20.0]).unwrap();
    let program = Program {
        steps: vec![
            Input(0),
            Input(1),
            Binary(Add, 0, 1),
            Unary(UnaryOp::Relu, 2),
            konst(DType::F32, 0.5),
            Binary(Mul, 3, 4),
        ],
    };
    let op = Op::Elementwise { program };
    let y = eval(op, &[&x, &b]);
    assert_eq!(y.to_f64_vec(), vec![5.5, 9.0, 6.5, 0.0]);
}

#[test]
fn a_constant_program_fills_the_result_shape() {
    let x = Tensor::from_f32(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    let program = Program {
        steps: vec![
            konst(DType::F32, 2.0),
            konst(DType::F32, 3.0),
            Binary(Mul, 0, 1),
        ],
    };
    let y = eval(Op::Elementwise { program }, &[&x]);
    assert_eq!(y.ty(), ty(DType::F32, &[2, 2]));
    assert_eq!(y.to_f64_vec(), vec![6.0; 4]);
}

#[test]
fn elementwise_f32_equals_the_chain() {
    let inputs = [
        ty(DType::F32, &[2, 3, 4]),
        ty(DType::F32, &[3, 1]),
        ty(DType::F32, &[]),
    ];
    let steps = vec![
        Input(0),
        Input(1),
        Binary(Add, 0, 1),
        konst(DType::F32, 0.5),
        Binary(Mul, 2, 3),
        Input(2),
        Binary(Sub, 4, 5),
        konst(DType::F32, 0.0),
        Binary(Greater, 6, 7),
        Unary(UnaryOp::Sigmoid, 6),
        Where(8, 9, 6),
        Unary(UnaryOp::Silu, 10),
        Unary(UnaryOp::LeakyRelu { alpha: 0.1 }, 11),
        Binary(Max, 12, 1),
        Unary(UnaryOp::Gelu { tanh: false }, 13),
    ];
    let y = assert_program_equals_chain(steps, &inputs, 1);
    assert_eq!(y.ty(), ty(DType::F32, &[2, 3, 4]));
}

#[test]
fn elementwise_f16_rounds_every_step_like_the_chain() {
    let inputs = [ty(DType::F16, &[4, 1, 5]), ty(DType::F16, &[1, 3, 5])];
    let steps = vec![
        Input(0),
        Input(1),
        Binary(Mul, 0, 1),
        konst(DType::F16, f16::from_f32(0.1).to_f64()),
        Binary(Add, 2, 3),
        Unary(UnaryOp::Sigmoid, 4),
        Binary(Div, 5, 0),
        Cast(DType::F32, 6),
        konst(DType::F32, 1.5),
        Binary(Mul, 7, 8),
        Cast(DType::F16, 9),
        Binary(Sub, 10, 1),
    ];
    let y = assert_program_equals_chain(steps.clone(), &inputs, 2);
    assert_eq!(y.ty(), ty(DType::F16, &[4, 3, 5]));
    assert!(y.to_f64_vec().iter().all(|v| v.is_finite()));
    // Rounding each step to f16 is observable: the same program in f32, rounded once
    // at the end, differs somewhere.
    let data = random_inputs(2, &inputs);
    let wide: Vec<Tensor> = data
        .iter()
        .map(|t| eval(Op::Cast { to: DType::F32 }, &[t]))
        .collect();
    let wide_steps: Vec<Step> = steps
        .iter()
        .map(|s| match *s {
            Step::Const {
                dtype: DType::F16,
                value,
            } => konst(DType::F32, value),
            Cast(DType::F16, a) => Cast(DType::F32, a),
            ref s => s.clone(),
        })
        .collect();
    let once = eval(
        Op::Elementwise {
            program: Program { steps: wide_steps },
        },
        &[&wide[0], &wide[1]],
    );
    let once = eval(Op::Cast { to: DType::F16 }, &[&once]);
    assert_ne!(once, y);
}

#[test]
fn elementwise_i32_equals_the_chain() {
    let inputs = [ty(DType::I32, &[3, 4]), ty(DType::I32, &[4])];
    let steps = vec![
        Input(0),
        Input(1),
        Binary(Mul, 0, 1),
        konst(DType::I32, -7.0),
        Binary(Add, 2, 3),
        konst(DType::I32, 3.0),
        Binary(Div, 4, 5),
        Unary(UnaryOp::Abs, 6),
        Binary(Max, 7, 1),
        Cast(DType::F32, 8),
        konst(DType::F32, 0.25),
        Binary(Mul, 9, 10),
        Cast(DType::I32, 11),
        Unary(UnaryOp::Neg, 12),
    ];
    let y = assert_program_equals_chain(steps, &inputs, 3);
    assert_eq!(y.ty(), ty(DType::I32, &[3, 4]));
}

#[test]
fn elementwise_bool_equals_the_chain() {
    let inputs = [
        ty(DType::Bool, &[2, 3]),
        ty(DType::Bool, &[3]),
        ty(DType::F32, &[2, 3]),
        ty(DType::F32, &[1]),
    ];
    let steps = vec![
        Input(0),
        Input(1),
        Binary(And, 0, 1),
        Unary(UnaryOp::Not, 0),
        Binary(Or, 2, 3),
        konst(DType::Bool, 1.0),
        Binary(And, 4, 5),
        Input(2),
        Input(3),
        Where(6, 7, 8),
        Binary(Equal, 9, 7),
        Unary(UnaryOp::Not, 10),
        Binary(Or, 11, 1),
    ];
    let y = assert_program_equals_chain(steps, &inputs, 4);
    assert_eq!(y.ty(), ty(DType::Bool, &[2, 3]));
}

fn conv_3x3() -> ConvAttrs {
    ConvAttrs {
        strides: vec![1, 1],
        pads: vec![1, 1, 1, 1],
        dilations: vec![1, 1],
        group: 1,
    }
}

/// `[in0, in1, add(%0,%1), relu(%2)]`.
fn add_relu() -> Program {
    "[in0, in1, add(%0,%1), relu(%2)]".parse().unwrap()
}

#[test]
fn fused_conv_bias_relu_equals_conv_then_add_then_relu() {
    let types = [
        ty(DType::F32, &[1, 2, 5, 5]),
        ty(DType::F32, &[3, 2, 3, 3]),
        ty(DType::F32, &[1, 3, 1, 1]),
    ];
    let data = random_inputs(5, &types);
    let [x, w, b] = [&data[0], &data[1], &data[2]];
    let conv = eval(Op::Conv(conv_3x3()), &[x, w]);
    let added = eval(Op::Binary(Add), &[&conv, b]);
    let want = eval(Op::Unary(UnaryOp::Relu), &[&added]);
    let fused = Op::Fused {
        anchor: Box::new(Op::Conv(conv_3x3())),
        prologue: None,
        arity: 2,
        epilogue: add_relu(),
    };
    let got = run(&single_node_graph(fused, &types), &data)
        .unwrap()
        .remove(0);
    assert_eq!(got, want);
    // Some outputs are clamped, some pass through.
    let v = got.to_f64_vec();
    assert!(v.contains(&0.0) && v.iter().any(|&y| y > 0.0));
}

/// A `kernel`×`kernel` max pool with `stride`, padding 1 and `ceil_mode`.
fn max_pool(kernel: usize, stride: usize, ceil_mode: bool) -> Op {
    Op::MaxPool(PoolAttrs {
        kernel: vec![kernel, kernel],
        strides: vec![stride, stride],
        pads: vec![1, 1, 1, 1],
        dilations: vec![1, 1],
        ceil_mode,
        count_include_pad: false,
        storage_order: 0,
    })
}

#[test]
fn fused_max_pool_prologue_equals_pool_then_conv_then_epilogue() {
    let pointwise = ConvAttrs {
        strides: vec![1, 1],
        pads: vec![0, 0, 0, 0],
        dilations: vec![1, 1],
        group: 1,
    };
    for (seed, pool) in [(30, max_pool(3, 1, false)), (31, max_pool(3, 2, true))] {
        for dtype in [DType::F32, DType::F16] {
            let types = [
                ty(dtype, &[2, 5, 11, 13]),
                ty(dtype, &[4, 5, 1, 1]),
                ty(dtype, &[4]),
            ];
            let data = random_inputs(seed, &types);
            let pooled = eval(pool.clone(), &[&data[0]]);
            let conv = eval(Op::Conv(pointwise.clone()), &[&pooled, &data[1], &data[2]]);
            let want = eval(Op::Unary(UnaryOp::Relu), &[&conv]);
            let fused = Op::Fused {
                anchor: Box::new(Op::Conv(pointwise.clone())),
                prologue: Some(Box::new(pool.clone())),
                arity: 3,
                epilogue: Program {
                    steps: vec![Input(0), Unary(UnaryOp::Relu, 0)],
                },
            };
            let got = run(&single_node_graph(fused, &types), &data)
                .unwrap()
                .remove(0);
            assert_eq!(got, want, "{pool:?} {dtype}");
            assert_ne!(pooled, data[0], "the pool changes its operand");
            let v = got.to_f64_vec();
            assert!(v.contains(&0.0) && v.iter().any(|&y| y > 0.0));
        }
    }
}

#[test]
fn fused_conv_with_its_own_bias_and_a_residual() {
    let types = [
        ty(DType::F32, &[2, 2, 4, 4]),
        ty(DType::F32, &[3, 2, 3, 3]),
        ty(DType::F32, &[3]),
        ty(DType::F32, &[2, 3, 4, 4]),
    ];
    let data = random_inputs(6, &types);
    let conv = eval(Op::Conv(conv_3x3()), &[&data[0], &data[1], &data[2]]);
    let added = eval(Op::Binary(Add), &[&conv, &data[3]]);
    let want = eval(Op::Unary(UnaryOp::Relu), &[&added]);
    let fused = Op::Fused {
        anchor: Box::new(Op::Conv(conv_3x3())),
        prologue: None,
        arity: 3,
        epilogue: add_relu(),
    };
    let refs: Vec<&Tensor> = data.iter().collect();
    assert_eq!(eval(fused, &refs), want);
}

#[test]
fn fused_matmul_f16_and_max_pool_and_reduce_anchors() {
    // f16 matmul + bias + gelu(tanh).
    let types = [
        ty(DType::F16, &[3, 4]),
        ty(DType::F16, &[4, 5]),
        ty(DType::F16, &[5]),
    ];
    let data = random_inputs(7, &types);
    let mm = eval(Op::MatMul, &[&data[0], &data[1]]);
    let added = eval(Op::Binary(Add), &[&mm, &data[2]]);
    let want = eval(Op::Unary(UnaryOp::Gelu { tanh: true }), &[&added]);
    let epilogue = Program {
        steps: vec![
            Input(0),
            Input(1),
            Binary(Add, 0, 1),
            Unary(UnaryOp::Gelu { tanh: true }, 2),
        ],
    };
    let fused = Op::Fused {
        anchor: Box::new(Op::MatMul),
        prologue: None,
        arity: 2,
        epilogue,
    };
    let refs: Vec<&Tensor> = data.iter().collect();
    assert_eq!(eval(fused, &refs), want);

    // Max pool (two results; the epilogue reads the first) + sigmoid.
    let pool = PoolAttrs {
        kernel: vec![2, 2],
        strides: vec![2, 2],
        pads: vec![0, 0, 0, 0],
        dilations: vec![1, 1],
        ceil_mode: false,
        count_include_pad: false,
        storage_order: 0,
    };
    let x = random_inputs(8, &[ty(DType::F32, &[1, 2, 4, 4])]).remove(0);
    let pooled = eval(Op::MaxPool(pool.clone()), &[&x]);
    let want = eval(Op::Unary(UnaryOp::Sigmoid), &[&pooled]);
    let fused = Op::Fused {
        anchor: Box::new(Op::MaxPool(pool)),
        prologue: None,
        arity: 1,
        epilogue: Program {
            steps: vec![Input(0), Unary(UnaryOp::Sigmoid, 0)],
        },
    };
    assert_eq!(eval(fused, &[&x]), want);

    // Mean over the last axis, then 1/sqrt(mean + eps).
    let reduce = Op::Reduce {
        op: ReduceOp::Mean,
        axes: vec![1],
        keepdims: true,
    };
    let mean = eval(reduce.clone(), &[&x.reshaped(vec![8, 4]).unwrap()]);
    let eps = Tensor::scalar(Data::F32(vec![1e-5])).unwrap();
    let sum = eval(Op::Binary(Add), &[&mean, &eps]);
    let want = eval(
        Op::Unary(UnaryOp::Reciprocal),
        &[&eval(Op::Unary(UnaryOp::Sqrt), &[&sum])],
    );
    let fused = Op::Fused {
        anchor: Box::new(reduce),
        prologue: None,
        arity: 1,
        epilogue: Program {
            steps: vec![
                Input(0),
                konst(DType::F32, 1e-5f32 as f64),
                Binary(Add, 0, 1),
                Unary(UnaryOp::Sqrt, 2),
                Unary(UnaryOp::Reciprocal, 3),
            ],
        },
    };
    assert_eq!(eval(fused, &[&x.reshaped(vec![8, 4]).unwrap()]), want);
}

/// `softmax(q · kt · scale + mask) · v` spelled out as separate ops.
fn attention_chain(
    scale: f32,
    q: &Tensor,
    kt: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
) -> Tensor {
    let scores = eval(Op::MatMul, &[q, kt]);
    let s = match q.dtype() {
        DType::F16 => Data::F16(vec![f16::from_f32(scale)]),
        _ => Data::F32(vec![scale]),
    };
    let mut scores = eval(Op::Binary(Mul), &[&scores, &Tensor::scalar(s).unwrap()]);
    if let Some(mask) = mask {
        scores = eval(Op::Binary(Add), &[&scores, mask]);
    }
    let axis = scores.shape().rank() - 1;
    let probs = eval(Op::Softmax { axis }, &[&scores]);
    eval(Op::MatMul, &[&probs, v])
}

#[test]
fn attention_hand_computed() {
    let q = Tensor::from_f32(vec![1, 1], vec![2.0]).unwrap();
    let kt = Tensor::from_f32(vec![1, 2], vec![1.0, -1.0]).unwrap();
    let v = Tensor::from_f32(vec![2, 1], vec![3.0, 5.0]).unwrap();
    // scores [1, -1]; softmax [0.880797, 0.119203]; 3·0.880797 + 5·0.119203.
    let y = eval(Op::Attention { scale: 0.5 }, &[&q, &kt, &v]);
    assert!((y.to_f64_vec()[0] - 3.238406).abs() < 1e-5, "{y:?}");
    // A mask of [0, 2] makes the scores equal: the mean of v.
    let mask = Tensor::from_f32(vec![2], vec![0.0, 2.0]).unwrap();
    let y = eval(Op::Attention { scale: 0.5 }, &[&q, &kt, &v, &mask]);
    assert!((y.to_f64_vec()[0] - 4.0).abs() < 1e-6, "{y:?}");
}

#[test]
fn attention_equals_its_chain_with_and_without_mask() {
    for (dtype, seed) in [(DType::F32, 10), (DType::F16, 11)] {
        let types = [
            ty(dtype, &[2, 3, 4]),
            ty(dtype, &[2, 4, 5]),
            ty(dtype, &[2, 5, 6]),
            ty(dtype, &[3, 5]),
        ];
        let data = random_inputs(seed, &types);
        let [q, kt, v, mask] = [&data[0], &data[1], &data[2], &data[3]];
        let scale = 0.35355338;
        let op = Op::Attention { scale };
        let got = run(&single_node_graph(op.clone(), &types[..3]), &data[..3])
            .unwrap()
            .remove(0);
        assert_eq!(got, attention_chain(scale, q, kt, v, None), "{dtype}");
        assert_eq!(got.ty(), ty(dtype, &[2, 3, 6]));
        let masked = run(&single_node_graph(op, &types), &data)
            .unwrap()
            .remove(0);
        assert_eq!(
            masked,
            attention_chain(scale, q, kt, v, Some(mask)),
            "{dtype}"
        );
        assert_ne!(masked, got);
    }
}

#[test]
fn silu_is_x_times_sigmoid_x() {
    let x = Tensor::from_f32(vec![5], vec![1.0, -1.0, 0.0, 4.0, -20.0]).unwrap();
    let y = eval(Op::Unary(UnaryOp::Silu), &[&x]).to_f64_vec();
    let want = [0.7310586, -0.26894143, 0.0, 3.928055, -4.1223073e-8];
    for (got, want) in y.iter().zip(want) {
        assert!((got - want).abs() <= 1e-6 * want.abs().max(1e-6), "{y:?}");
    }
}

#[test]
fn fused_ops_reject_operands_that_do_not_fit() {
    let x = Tensor::from_f32(vec![2], vec![1.0, 2.0]).unwrap();
    let out = [ty(DType::F32, &[2])];
    let fused = Op::Fused {
        anchor: Box::new(Op::MatMul),
        prologue: None,
        arity: 3,
        epilogue: Program::identity(),
    };
    assert_eq!(
        eval_op(&fused, &[&x, &x], &out).unwrap_err(),
        "anchor arity 3 exceeds the 2 operands"
    );
    let program = Program {
        steps: vec![Input(0), Input(2), Binary(Add, 0, 1)],
    };
    assert_eq!(
        eval_op(&Op::Elementwise { program }, &[&x, &x], &out).unwrap_err(),
        "program reads input 2, the op has 2"
    );
    let forward = Program {
        steps: vec![Input(0), Binary(Add, 0, 2), Input(1)],
    };
    assert_eq!(
        eval_op(&Op::Elementwise { program: forward }, &[&x, &x], &out).unwrap_err(),
        "program step 1 reads step 2, not an earlier one"
    );
    assert_eq!(
        eval_op(&Op::Attention { scale: 1.0 }, &[&x, &x], &out).unwrap_err(),
        "expected 3 or 4 operands (q, kt, v, mask), got 2"
    );
}
