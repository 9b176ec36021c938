//! Fused kernels on the GPU against the CPU reference (which evaluates a fused op as
//! the chain of ops it replaces): `Elementwise` programs, `Fused` nodes on every
//! anchor family, and `Attention` in its one-kernel and three-kernel forms.
//!
//! Bounds: a product anchor (matmul, conv, conv-transpose, the attention products)
//! differs by the dot-product bound of `bounds` (2·K·u·Σ|a·b|); the epilogues used here
//! (`relu(v + x)`, `0.5·v + x`) pass that error on with a factor ≤ 1 and add one
//! rounding of the result on each side (2u·|result|). Other anchors carry the
//! tolerances of their own GPU tests (see each test).

mod bounds;
mod common;

use bounds::{abs, attention_bound, check_within, cpu, dot_bound, U};
use common::{check_graph, check_op, random_tensor, Tol};
use kiln_ir::{
    BinaryOp, ConvAttrs, ConvTransposeAttrs, DType, Graph, Op, PoolAttrs, Program, ReduceOp, Step,
    Tensor, UnaryOp,
};

const F: DType = DType::F32;

/// `relu(x0 + x1)`.
fn add_relu() -> Program {
    "[in0, in1, add(%0,%1), relu(%2)]".parse().unwrap()
}

/// `0.5·x0 + x1`.
fn half_plus() -> Program {
    "[in0, const(f32 0.5), mul(%0,%1), in1, add(%2,%3)]"
        .parse()
        .unwrap()
}

fn fused(anchor: Op, arity: usize, epilogue: Program) -> Op {
    Op::Fused {
        anchor: Box::new(anchor),
        prologue: None,
        arity,
        epilogue,
    }
}

fn rand(dims: &[usize], seed: u64) -> Tensor {
    random_tensor(F, dims, seed)
}

/// `t` with every element replaced by `|x| + add`.
fn positive(t: Tensor, add: f32) -> Tensor {
    let v: Vec<f32> = t
        .to_f64_vec()
        .iter()
        .map(|x| x.abs() as f32 + add)
        .collect();
    Tensor::from_f32(t.shape().clone(), v).unwrap()
}

/// Checks `fused(anchor, epilogue)` on `inputs` (anchor operands first) within
/// `anchor_bound` (the anchor's own error bound per result element) plus two roundings.
fn check_fused(op: Op, inputs: Vec<Tensor>, anchor_bound: Vec<f64>) {
    let want = cpu(&op, &inputs, 0);
    let bound: Vec<f64> = anchor_bound
        .iter()
        .zip(&want)
        .map(|(b, w)| b + 2.0 * U * w.abs() + 1e-30)
        .collect();
    check_within(op, &inputs, &[Some(bound)]);
}

#[test]
fn elementwise_programs_match_the_reference() {
    // where(x0 < x1, silu(x0), cast(x2)) with broadcasting: silu's exp and division are
    // a few ulps (WGSL exp: 3 + 2|x| ulp for |x| < 2): 1e-6 relative.
    let p = Program {
        steps: vec![
            Step::Input(0),
            Step::Input(1),
            Step::Binary(BinaryOp::Less, 0, 1),
            Step::Unary(UnaryOp::Silu, 0),
            Step::Input(2),
            Step::Cast(F, 4),
            Step::Where(2, 3, 5),
        ],
    };
    let inputs = vec![
        rand(&[3, 5, 7], 1),
        rand(&[5, 1], 2),
        random_tensor(DType::I8, &[7], 3),
    ];
    check_op(Op::Elementwise { program: p }, inputs, Tol::new(1e-7, 1e-6));
    // Integers and bools are exact: not(max(x0, INT_MIN) * i32(x1) > 3).
    let p = Program {
        steps: vec![
            Step::Input(0),
            Step::Const {
                dtype: DType::I32,
                value: -2147483648.0,
            },
            Step::Binary(BinaryOp::Max, 0, 1),
            Step::Input(1),
            Step::Cast(DType::I32, 3),
            Step::Binary(BinaryOp::Mul, 2, 4),
            Step::Const {
                dtype: DType::I32,
                value: 3.0,
            },
            Step::Binary(BinaryOp::Greater, 5, 6),
            Step::Unary(UnaryOp::Not, 7),
        ],
    };
    let inputs = vec![
        random_tensor(DType::I32, &[4, 9], 4),
        random_tensor(DType::Bool, &[9], 5),
    ];
    check_op(Op::Elementwise { program: p }, inputs, Tol::EXACT);
}

#[test]
fn elementwise_program_with_an_inlined_constant_and_a_repeated_operand() {
    // tanh(x · x - 1.5): x bound once, the scalar inlined; tanh is a few ulps.
    let x = rand(&[5, 11], 6);
    let mut g = Graph::new("inline");
    let xv = g.add_input("x", x.ty(), kiln_ir::Wide::No);
    let c = g.add_const(
        None,
        Tensor::from_f32([1usize].as_slice(), vec![1.5]).unwrap(),
    );
    let p = Program {
        steps: vec![
            Step::Input(0),
            Step::Input(1),
            Step::Binary(BinaryOp::Mul, 0, 1),
            Step::Input(2),
            Step::Binary(BinaryOp::Sub, 2, 3),
            Step::Unary(UnaryOp::Tanh, 4),
        ],
    };
    let y = g
        .add(Op::Elementwise { program: p }, &[xv, xv, c], "e")
        .unwrap();
    g.add_output("y", y, kiln_ir::Wide::No);
    check_graph(&g, &[x], Tol::new(1e-7, 1e-6));
}

#[test]
fn element_wise_anchor_composes_with_its_epilogue() {
    let anchor = Op::Elementwise {
        program: Program {
            steps: vec![
                Step::Input(0),
                Step::Input(1),
                Step::Binary(BinaryOp::Mul, 0, 1),
            ],
        },
    };
    // Products and sums of values in [-2, 2): a few roundings of magnitudes ≤ 6.
    check_op(
        fused(anchor, 2, add_relu()),
        vec![rand(&[3, 7], 7), rand(&[7], 8), rand(&[3, 1], 9)],
        Tol::new(1e-6, 1e-6),
    );
    check_op(
        fused(Op::Unary(UnaryOp::Sigmoid), 1, half_plus()),
        vec![rand(&[13], 10), rand(&[13], 11)],
        Tol::new(1e-6, 1e-6),
    );
}

#[test]
fn fused_matmul_with_bias_and_relu() {
    for (seed, (a, b, c)) in [
        (1u64, (vec![7usize, 33], vec![33usize, 9], vec![9usize])),
        (2, (vec![2, 3, 5, 17], vec![3, 17, 65], vec![2, 1, 5, 65])),
        (3, (vec![1, 70], vec![70, 3], vec![1, 3])),
    ] {
        let k = a[a.len() - 1];
        let (x, y) = (rand(&a, seed), rand(&b, seed + 100));
        let bound = dot_bound(&cpu(&Op::MatMul, &[abs(&x), abs(&y)], 0), k, 0.0);
        let op = fused(Op::MatMul, 2, add_relu());
        check_fused(op, vec![x, y, rand(&c, seed + 200)], bound);
    }
}

#[test]
fn fused_conv_reads_its_own_input_again_for_a_residual() {
    // (x + relu(conv(x, w, b))) · s: x is bound once, as the convolution's input.
    let conv = ConvAttrs {
        strides: vec![1, 1],
        pads: vec![1, 1, 1, 1],
        dilations: vec![1, 1],
        group: 1,
    };
    let (x, w, b, s) = (
        rand(&[2, 5, 7, 6], 1),
        rand(&[5, 5, 3, 3], 2),
        rand(&[5], 3),
        rand(&[5, 1, 1], 4),
    );
    let mut g = Graph::new("residual");
    let xv = g.add_input("x", x.ty(), kiln_ir::Wide::No);
    let wv = g.add_input("w", w.ty(), kiln_ir::Wide::No);
    let bv = g.add_input("b", b.ty(), kiln_ir::Wide::No);
    let sv = g.add_input("s", s.ty(), kiln_ir::Wide::No);
    let epilogue = Program {
        steps: vec![
            Step::Input(0),
            Step::Unary(UnaryOp::Relu, 0),
            Step::Input(1),
            Step::Binary(BinaryOp::Add, 2, 1),
            Step::Input(2),
            Step::Binary(BinaryOp::Mul, 3, 4),
        ],
    };
    let y = g
        .add(
            fused(Op::Conv(conv.clone()), 3, epilogue),
            &[xv, wv, bv, xv, sv],
            "f",
        )
        .unwrap();
    g.add_output("y", y, kiln_ir::Wide::No);
    // conv error ≤ 2·(C·kk + 1)·u·(Σ|x·w| + |b|) ≤ 2·46·u·182; relu passes it on, the
    // residual add rounds values below 184 on each side, the multiply by |s| < 2 doubles
    // it and rounds values below 368.
    let conv_err = 2.0 * 46.0 * U * 182.0;
    let bound = 2.0 * (conv_err + 2.0 * U * 184.0) + 2.0 * U * 368.0;
    check_graph(&g, &[x, w, b, s], Tol::new(bound, 0.0));
}

#[test]
fn fused_convolutions_with_bias_and_epilogue_operands() {
    let conv = ConvAttrs {
        strides: vec![2, 1],
        pads: vec![1, 0, 1, 2],
        dilations: vec![1, 2],
        group: 1,
    };
    let (x, w, b) = (
        rand(&[2, 3, 9, 8], 1),
        rand(&[10, 3, 3, 3], 2),
        rand(&[10], 3),
    );
    let op = Op::Conv(conv);
    let mag = cpu(&op, &[abs(&x), abs(&w), abs(&b)], 0);
    let bound = dot_bound(&mag, 3 * 9 + 1, 0.0);
    let out = cpu(&op, &[x.clone(), w.clone(), b.clone()], 0).len();
    assert_eq!(out, 2 * 10 * 5 * 6);
    check_fused(
        fused(op, 3, add_relu()),
        vec![x, w, b, rand(&[10, 1, 6], 4)],
        bound,
    );
    // Depthwise (the direct engine), no bias.
    let dw = ConvAttrs {
        strides: vec![1, 1],
        pads: vec![1, 1, 1, 1],
        dilations: vec![1, 1],
        group: 4,
    };
    let (x, w) = (rand(&[1, 4, 7, 7], 5), rand(&[4, 1, 3, 3], 6));
    let op = Op::Conv(dw);
    let bound = dot_bound(&cpu(&op, &[abs(&x), abs(&w)], 0), 9, 0.0);
    check_fused(fused(op, 2, half_plus()), vec![x, w, rand(&[7], 7)], bound);
    let ct = ConvTransposeAttrs {
        strides: vec![2],
        pads: vec![0, 1],
        dilations: vec![1],
        output_padding: vec![1],
        group: 1,
    };
    let (x, w, b) = (rand(&[2, 3, 5], 8), rand(&[3, 4, 3], 9), rand(&[4], 10));
    let op = Op::ConvTranspose(ct);
    let mag = cpu(&op, &[abs(&x), abs(&w), abs(&b)], 0);
    let bound = dot_bound(&mag, 3 * 3 + 1, 0.0);
    check_fused(
        fused(op, 3, add_relu()),
        vec![x, w, b, rand(&[4, 1], 11)],
        bound,
    );
}

#[test]
fn fused_reductions() {
    let x = rand(&[3, 5, 7, 4], 1);
    // Mean over 35 elements: the sum's bound (2·35·u·Σ|x|) divided by 35.
    let mean = Op::Reduce {
        op: ReduceOp::Mean,
        axes: vec![1, 2],
        keepdims: true,
    };
    let bound = dot_bound(&cpu(&mean, &[abs(&x)], 0), 35, 0.0);
    check_fused(
        fused(mean, 1, add_relu()),
        vec![x.clone(), rand(&[3, 1, 1, 4], 2)],
        bound,
    );
    let sum = Op::Reduce {
        op: ReduceOp::Sum,
        axes: vec![3],
        keepdims: false,
    };
    let bound = dot_bound(&cpu(&sum, &[abs(&x)], 0), 4, 0.0);
    check_fused(
        fused(sum, 1, half_plus()),
        vec![x.clone(), rand(&[7], 3)],
        bound,
    );
    // Max is exact.
    let max = Op::Reduce {
        op: ReduceOp::Max,
        axes: vec![0],
        keepdims: false,
    };
    check_fused(
        fused(max, 1, add_relu()),
        vec![x, rand(&[5, 7, 4], 4)],
        vec![0.0; 140],
    );
}

#[test]
fn fused_softmax_and_log_softmax() {
    // Each exp is within 3 + 2·4 ulps (WGSL, |x - max| < 4), the row sum adds n·u, the
    // division one more: probabilities ≤ 1 within (2·11 + n + 4)·u ≈ 2e-6 for n ≤ 9.
    // log-softmax: d − log(sum) adds log's 2⁻²¹ absolute error to the same.
    let x = rand(&[4, 9, 5], 1);
    let tol = Tol::new(4e-6, 2.0 * U);
    check_op(
        fused(Op::Softmax { axis: 1 }, 1, half_plus()),
        vec![x.clone(), rand(&[9, 1], 2)],
        tol,
    );
    check_op(
        fused(Op::Softmax { axis: 2 }, 1, add_relu()),
        vec![x.clone(), rand(&[4, 1, 5], 3)],
        tol,
    );
    check_op(
        fused(Op::LogSoftmax { axis: 2 }, 1, add_relu()),
        vec![x, rand(&[5], 4)],
        Tol::new(4e-6 + 1.0 / 2097152.0, 4.0 * U),
    );
}

#[test]
fn fused_pools() {
    let pool = PoolAttrs {
        kernel: vec![3, 2],
        strides: vec![2, 1],
        pads: vec![1, 0, 1, 1],
        dilations: vec![1, 1],
        ceil_mode: true,
        count_include_pad: false,
        storage_order: 0,
    };
    let x = rand(&[2, 3, 7, 6], 1);
    let max = Op::MaxPool(pool.clone());
    let n = cpu(&max, std::slice::from_ref(&x), 0).len();
    check_fused(
        fused(max, 1, add_relu()),
        vec![x.clone(), rand(&[3, 1, 1], 2)],
        vec![0.0; n],
    );
    // Average of at most 6 taps: the sum's bound over the count.
    let avg = Op::AveragePool(pool);
    let bound = dot_bound(&cpu(&avg, &[abs(&x)], 0), 6, 0.0);
    check_fused(fused(avg, 1, half_plus()), vec![x, rand(&[6], 3)], bound);
}

/// A `Fused` conv reading `max_pool(x)` through its prologue, checked against the
/// reference (pool, conv, epilogue). Max pooling is exact, so the bound is the conv's
/// on the pooled values: `2·(C/group + 1)·u·Σ|p·w|` (+ |b|), then two roundings.
fn check_prologue(
    pool: PoolAttrs,
    conv: ConvAttrs,
    anchor_in: Vec<Tensor>,
    tail: (Program, Vec<Tensor>),
) {
    let pool = Op::MaxPool(pool);
    let conv = Op::Conv(conv);
    let x = &anchor_in[0];
    let pooled_ty = kiln_ir::infer::infer(&pool, &[&x.ty()]).unwrap().remove(0);
    let pooled: Vec<f32> = cpu(&pool, std::slice::from_ref(x), 0)
        .iter()
        .map(|&v| v as f32)
        .collect();
    let pooled = Tensor::from_f32(pooled_ty.shape.clone(), pooled).unwrap();
    assert_ne!(
        pooled.to_f64_vec(),
        x.to_f64_vec(),
        "the pool changes its input"
    );
    let mut mag_in = vec![abs(&pooled)];
    mag_in.extend(anchor_in[1..].iter().map(abs));
    let terms = anchor_in[1].shape().dims()[1] + 1;
    let bound = dot_bound(&cpu(&conv, &mag_in, 0), terms, 0.0);
    let arity = anchor_in.len();
    let op = Op::Fused {
        anchor: Box::new(conv),
        prologue: Some(Box::new(pool)),
        arity,
        epilogue: tail.0,
    };
    let mut inputs = anchor_in;
    inputs.extend(tail.1);
    check_fused(op, inputs, bound);
}

#[test]
fn fused_max_pool_prologues_on_pointwise_convs() {
    let pointwise = |group: usize| ConvAttrs {
        strides: vec![1, 1],
        pads: vec![0, 0, 0, 0],
        dilations: vec![1, 1],
        group,
    };
    let pool =
        |kernel: usize, stride: usize, pads: [usize; 4], dilation: usize, ceil_mode| PoolAttrs {
            kernel: vec![kernel, kernel],
            strides: vec![stride, stride],
            pads: pads.to_vec(),
            dilations: vec![dilation, dilation],
            ceil_mode,
            count_include_pad: false,
            storage_order: 0,
        };
    let relu = Program {
        steps: vec![Step::Input(0), Step::Unary(UnaryOp::Relu, 0)],
    };
    // 3×3/1 pad 1 (inception's pool projection), bias and relu, 7 output channels.
    check_prologue(
        pool(3, 1, [1, 1, 1, 1], 1, false),
        pointwise(1),
        vec![
            rand(&[2, 5, 11, 13], 1),
            rand(&[7, 5, 1, 1], 2),
            rand(&[7], 3),
        ],
        (relu, vec![]),
    );
    // 3×3/2 with ceil_mode taking effect (rows: (11 + 1 − 3)/2 = 4.5 → 6 windows),
    // 70 output channels (two row blocks of the tiled engine), an epilogue operand.
    let x = rand(&[1, 5, 11, 13], 4);
    let ceil = pool(3, 2, [1, 0, 0, 0], 1, true);
    let pooled = kiln_ir::infer::infer(&Op::MaxPool(ceil.clone()), &[&x.ty()]).unwrap();
    assert_eq!(pooled[0].shape.dims(), &[1, 5, 6, 6]);
    check_prologue(
        ceil,
        pointwise(1),
        vec![x, rand(&[70, 5, 1, 1], 5)],
        (half_plus(), vec![rand(&[70, 1, 1], 6)]),
    );
    // Dilated 2×2 pool, a depthwise 1×1 conv (group 5: the direct engine), add + relu.
    check_prologue(
        pool(2, 1, [1, 1, 0, 1], 2, false),
        pointwise(5),
        vec![
            rand(&[1, 5, 11, 13], 7),
            rand(&[5, 1, 1, 1], 8),
            rand(&[5], 9),
        ],
        (add_relu(), vec![rand(&[1, 5, 1, 1], 10)]),
    );
}

#[test]
fn fused_normalizations() {
    // The tolerances of gpu_norm (batch norm 1e-6 relative + 1e-6 absolute, row norms
    // 1e-5, lrn 2e-6), on results of magnitude ≤ 10 before the epilogue.
    let x = rand(&[2, 3, 5, 7], 1);
    let [scale, bias, mean] = [10, 20, 30].map(|s| rand(&[3], s));
    let var = positive(rand(&[3], 40), 0.1);
    check_op(
        fused(Op::BatchNorm { epsilon: 1e-5 }, 5, add_relu()),
        vec![
            x.clone(),
            scale.clone(),
            bias.clone(),
            mean,
            var,
            rand(&[7], 2),
        ],
        Tol::new(1e-5, 1e-6),
    );
    check_op(
        fused(Op::InstanceNorm { epsilon: 1e-5 }, 3, half_plus()),
        vec![x.clone(), scale, bias, rand(&[2, 3, 5, 7], 3)],
        Tol::new(1e-4, 1e-5),
    );
    let s = rand(&[5, 7], 4);
    check_op(
        fused(
            Op::LayerNorm {
                axis: 2,
                epsilon: 1e-5,
            },
            3,
            add_relu(),
        ),
        vec![x.clone(), s.clone(), rand(&[7], 5), rand(&[3, 1, 1], 6)],
        Tol::new(1e-4, 1e-5),
    );
    // Without a bias operand.
    check_op(
        fused(
            Op::LayerNorm {
                axis: 3,
                epsilon: 1e-5,
            },
            2,
            half_plus(),
        ),
        vec![x.clone(), rand(&[7], 7), rand(&[5, 1], 8)],
        Tol::new(1e-4, 1e-5),
    );
    let lrn = Op::Lrn {
        size: 3,
        alpha: 1e-2,
        beta: 0.75,
        bias: 1.0,
    };
    check_op(
        fused(lrn, 1, add_relu()),
        vec![x.clone(), x],
        Tol::new(1e-5, 2e-6),
    );
}

#[test]
fn attention_in_one_kernel() {
    // Plain, masked, and with batch axes broadcast between q, kt, v and the mask.
    let (q, k, v) = (
        rand(&[2, 3, 7, 5], 1),
        rand(&[2, 3, 5, 9], 2),
        rand(&[2, 3, 9, 6], 3),
    );
    let bound = attention_bound(5, 9, 0.4);
    check_op(
        Op::Attention { scale: 0.4 },
        vec![q.clone(), k.clone(), v.clone()],
        Tol::new(bound, 0.0),
    );
    check_op(
        Op::Attention { scale: 0.4 },
        vec![q, k, v, rand(&[1, 7, 9], 4)],
        Tol::new(bound, 0.0),
    );
    let bound = attention_bound(4, 6, 0.5);
    check_op(
        Op::Attention { scale: 0.5 },
        vec![
            rand(&[3, 1, 2, 4], 5),
            rand(&[2, 4, 6], 6),
            rand(&[1, 2, 6, 5], 7),
            rand(&[2, 1, 6], 8),
        ],
        Tol::new(bound, 0.0),
    );
    // One query row (decoding), many rows of one head.
    check_op(
        Op::Attention { scale: 0.25 },
        vec![rand(&[1, 16], 9), rand(&[16, 33], 10), rand(&[33, 3], 11)],
        Tol::new(attention_bound(16, 33, 0.25), 0.0),
    );
    check_op(
        Op::Attention { scale: 0.3 },
        vec![rand(&[37, 8], 12), rand(&[8, 13], 13), rand(&[13, 8], 14)],
        Tol::new(attention_bound(8, 13, 0.3), 0.0),
    );
}

#[test]
fn fused_attention_with_epilogue() {
    let bound = attention_bound(5, 9, 0.4) + 2.0 * 4.0 * U;
    check_op(
        fused(Op::Attention { scale: 0.4 }, 4, add_relu()),
        vec![
            rand(&[2, 7, 5], 1),
            rand(&[2, 5, 9], 2),
            rand(&[2, 9, 6], 3),
            rand(&[7, 9], 4),
            rand(&[6], 5),
        ],
        Tol::new(bound, 0.0),
    );
}

#[test]
fn long_attention_takes_three_kernels() {
    // 4500 keys per row exceed 16 KiB of workgroup memory: scores go through scratch.
    let t = 4500;
    let bound = attention_bound(3, t, 0.5) + 2.0 * 4.0 * U;
    let graph_inputs = vec![
        rand(&[1, 5, 3], 1),
        rand(&[1, 3, t], 2),
        rand(&[1, t, 2], 3),
        rand(&[t], 4),
        rand(&[5, 1], 5),
    ];
    let op = fused(Op::Attention { scale: 0.5 }, 4, half_plus());
    let graph = common::op_graph(op, &graph_inputs);
    let plan = kiln_codegen::build_plan(&graph, &kiln_codegen::Limits::default()).unwrap();
    assert_eq!(plan.plan.dispatches.len(), 3);
    check_graph(&graph, &graph_inputs, Tol::new(bound, 0.0));
}

#[test]
fn f16_epilogue_program() {
    // f16 values computed in f32 on the GPU, each step rounded to f16 by the reference:
    // three f16 roundings of magnitudes ≤ 6 (2⁻¹¹ relative each).
    let p = Program {
        steps: vec![
            Step::Input(0),
            Step::Input(1),
            Step::Binary(BinaryOp::Mul, 0, 1),
            Step::Input(0),
            Step::Binary(BinaryOp::Sub, 2, 3),
        ],
    };
    let inputs = vec![
        random_tensor(DType::F16, &[3, 5], 1),
        random_tensor(DType::F16, &[5], 2),
    ];
    check_op(
        Op::Elementwise { program: p },
        inputs,
        Tol::new(3.0 * 6.0 / 2048.0, 0.0),
    );
}

/// A `Fused` conv whose element-wise prologue reads single-element runtime operands
/// besides its input: `relu(x·s + t)` with `s` and `t` graph inputs (the epilogue reads
/// `s` too: `v·s`), on a strided padded conv (tiled engine) and a depthwise one (direct
/// engine). The prologue's values are within 2u of exact (a product and a sum), so the
/// conv's bound on them takes two more terms; the epilogue's product adds a rounding.
#[test]
fn fused_prologues_reading_runtime_scalars() {
    let prologue: Program = "[in0, in1, mul(%0,%1), in2, add(%2,%3), relu(%4)]"
        .parse()
        .unwrap();
    let epilogue: Program = "[in0, in1, mul(%0,%1)]".parse().unwrap();
    let conv = |strides: usize, group: usize| ConvAttrs {
        strides: vec![strides, strides],
        pads: vec![1, 1, 1, 1],
        dilations: vec![1, 1],
        group,
    };
    for (attrs, w_dims, seed) in [
        (conv(2, 1), [9, 6, 3, 3], 20),
        (conv(1, 6), [6, 1, 3, 3], 30),
    ] {
        let x = rand(&[1, 6, 11, 13], seed);
        let w = rand(&w_dims, seed + 1);
        let (s, t) = (positive(rand(&[], seed + 2), 0.5), rand(&[], seed + 3));
        let pre = Op::Elementwise {
            program: prologue.clone(),
        };
        let p = cpu(&pre, &[x.clone(), s.clone(), t.clone()], 0);
        let p = Tensor::from_f32(x.shape().clone(), p.iter().map(|&v| v as f32).collect());
        let terms = w_dims[1] * 9 + 2;
        let anchor = Op::Conv(attrs);
        let bound = dot_bound(&cpu(&anchor, &[abs(&p.unwrap()), abs(&w)], 0), terms, 0.0);
        let scale = s.to_f64_vec()[0];
        let bound: Vec<f64> = bound.iter().map(|b| b * scale).collect();
        let op = Op::Fused {
            anchor: Box::new(anchor),
            prologue: Some(Box::new(pre)),
            arity: 2,
            epilogue: epilogue.clone(),
        };
        check_fused(op, vec![x, w, s, t], bound);
    }
}

/// A `Fused` matmul whose element-wise prologue dequantizes its left operand (u8) with a
/// scale and a zero point that are runtime scalars (graph inputs), on the tiled engine
/// (13 rows) and the direct one (3 rows), batched with a broadcast right operand. The
/// dequantized values are exact multiples of the scale (|q - z| ≤ 255, one rounding),
/// so the bound is the product's on them with one term more.
#[test]
fn fused_matmul_prologues_dequantize_the_left_operand() {
    let prologue: Program = "[in0, in1, in2, dequantize{axis=0, block=0}(%0,%1,%2)]"
        .parse()
        .unwrap();
    for (rows, seed) in [(13, 40), (3, 50)] {
        let q = random_tensor(DType::U8, &[2, rows, 37], seed);
        let b = rand(&[37, 19], seed + 1);
        let s = positive(rand(&[], seed + 2), 0.01);
        let z = Tensor::new(Vec::<usize>::new(), kiln_ir::Data::U8(vec![121])).unwrap();
        let pre = Op::Elementwise {
            program: prologue.clone(),
        };
        let a = cpu(&pre, &[q.clone(), s.clone(), z.clone()], 0);
        let a = Tensor::from_f32(q.shape().clone(), a.iter().map(|&v| v as f32).collect());
        let bound = dot_bound(&cpu(&Op::MatMul, &[abs(&a.unwrap()), abs(&b)], 0), 38, 0.0);
        let op = Op::Fused {
            anchor: Box::new(Op::MatMul),
            prologue: Some(Box::new(pre)),
            arity: 2,
            epilogue: Program::identity(),
        };
        check_fused(op, vec![q, b, s, z], bound);
    }
}

/// An epilogue whose steps on single-element runtime operands are computed once per
/// invocation (`k_epilogue_init`) rather than per element: `x0·(s·s + 1) + b` with `s`
/// a graph input, on a matmul (the product engines call the init first thing) and a
/// reduction (its first element does). `t = s·s + 1 ≥ 1` is within 2u of exact, so the
/// product passes the anchor's error on times `t` and adds 3u·|x0·t|.
#[test]
fn epilogue_steps_on_runtime_scalars_are_computed_once() {
    let epilogue: Program =
        "[in0, in1, in1, mul(%1,%2), const(f32 1.0), add(%3,%4), mul(%0,%5), in2, add(%6,%7)]"
            .parse()
            .unwrap();
    let s = rand(&[], 5);
    let t = {
        let v = s.to_f64_vec()[0];
        v * v + 1.0
    };
    let sum = Op::Reduce {
        op: ReduceOp::Sum,
        axes: vec![1],
        keepdims: false,
    };
    let x = rand(&[9, 23], 6);
    let y = rand(&[23, 11], 7);
    // The matmul's engine runs the init first thing; the reduction's `fused` runs it at
    // the first stored value, behind a flag.
    for (anchor, arity, operands, b_dims, k, lazy) in [
        (
            Op::MatMul,
            2,
            vec![x.clone(), y.clone()],
            vec![11usize],
            23,
            false,
        ),
        (sum, 1, vec![x.clone()], vec![9], 23, true),
    ] {
        let abs_operands: Vec<Tensor> = operands.iter().map(abs).collect();
        let magnitude = cpu(&anchor, &abs_operands, 0);
        let value = cpu(&anchor, &operands, 0);
        let bound: Vec<f64> = dot_bound(&magnitude, k, 0.0)
            .iter()
            .zip(&value)
            .map(|(e, v)| e * t + 3.0 * U * (v * t).abs())
            .collect();
        let op = fused(anchor, arity, epilogue.clone());
        let mut inputs = operands;
        inputs.push(s.clone());
        inputs.push(rand(&b_dims, 8));
        let graph = common::op_graph(op.clone(), &inputs);
        let plan = kiln_codegen::build_plan(&graph, &kiln_codegen::Limits::default()).unwrap();
        assert!(
            plan.plan
                .kernels
                .iter()
                .any(|k| k.wgsl.contains("fn k_epilogue_init()")),
            "{}: nothing hoisted",
            op.name()
        );
        let wgsl = &plan.plan.kernels[0].wgsl;
        assert_eq!(
            wgsl.contains("if !k_epi_ready {"),
            lazy,
            "{}: the init's flag tested at every stored value",
            op.name()
        );
        assert_eq!(
            wgsl.matches("k_epilogue_init();").count(),
            1,
            "{}: one call of the init",
            op.name()
        );
        check_fused(op, inputs, bound);
    }
}
