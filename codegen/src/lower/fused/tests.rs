//! Unit tests of the fused lowerings (`Elementwise` programs, `Fused` nodes on every
//! anchor family, `Attention`): kernels validate with naga, bind no buffer twice and
//! respect the binding limit.

use crate::lower::elementwise::tests::{lower_all, one_node, ty};
use crate::lower::Slot;
use crate::{build_plan, CodegenError, Limits};
use kiln_ir::{
    BinaryOp, ConvAttrs, ConvTransposeAttrs, DType, Graph, Op, PoolAttrs, Program, ReduceOp, Step,
    Tensor, TensorType, UnaryOp,
};

const F: DType = DType::F32;

/// `relu(x0 + x1)`: a typical bias-and-activation epilogue.
fn add_relu() -> Program {
    "[in0, in1, add(%0,%1), relu(%2)]".parse().unwrap()
}

/// `x0 * 0.5 + x1`, with a constant step.
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

/// Lowers the one-node graph (validating every kernel, checking bindings) and returns
/// the kernel count.
fn kernels(op: Op, types: &[TensorType]) -> usize {
    let g = one_node(op, types);
    let lowered = lower_all(&g);
    build_plan(&g, &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
    lowered.iter().map(|l| l.kernels.len()).sum()
}

#[test]
fn elementwise_program_with_broadcast_where_and_cast_validates() {
    // where(x0 < x1, silu(x0), cast(x2 to f32)) over [2, 3, 5] with broadcasting.
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
    let types = [ty(F, &[2, 3, 5]), ty(F, &[3, 1]), ty(DType::I8, &[5])];
    assert_eq!(kernels(Op::Elementwise { program: p }, &types), 1);
    // Integer and bool programs too.
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
    let types = [ty(DType::I32, &[4, 7]), ty(DType::Bool, &[7])];
    assert_eq!(kernels(Op::Elementwise { program: p }, &types), 1);
}

#[test]
fn elementwise_program_inlines_constant_scalars_and_skips_unread_operands() {
    let mut g = Graph::new("t");
    let x = g.add_input("x", ty(F, &[3, 4]), kiln_ir::Wide::No);
    let unused = g.add_input("u", ty(F, &[3, 4]), kiln_ir::Wide::No);
    let c = g.add_const(
        None,
        Tensor::from_f32([1usize].as_slice(), vec![2.5]).unwrap(),
    );
    let p = Program {
        steps: vec![
            Step::Input(0),
            Step::Input(2),
            Step::Binary(BinaryOp::Sub, 0, 1),
        ],
    };
    let y = g
        .add(Op::Elementwise { program: p }, &[x, unused, c], "e")
        .unwrap();
    g.add_output("y", y, kiln_ir::Wide::No);
    let lowered = lower_all(&g);
    let k = &lowered[0].kernels[0];
    let slots: Vec<Slot> = k.bindings.iter().map(|b| b.slot).collect();
    assert_eq!(slots, [Slot::Operand(0), Slot::Result(0)]);
    assert!(k.wgsl.contains("2.5"), "{}", k.wgsl);
}

#[test]
fn fused_matmul_and_convolutions_validate() {
    // matmul + bias row + relu.
    let op = fused(Op::MatMul, 2, add_relu());
    assert_eq!(
        kernels(op, &[ty(F, &[2, 7, 5]), ty(F, &[5, 9]), ty(F, &[9])]),
        1
    );
    // Batched, both operands broadcast; epilogue ends in a comparison (bool result).
    let cmp = Program {
        steps: vec![
            Step::Input(0),
            Step::Input(1),
            Step::Binary(BinaryOp::Greater, 0, 1),
        ],
    };
    let op = fused(Op::MatMul, 2, cmp);
    kernels(
        op,
        &[
            ty(F, &[3, 1, 4, 6]),
            ty(F, &[2, 6, 5]),
            ty(F, &[3, 2, 4, 5]),
        ],
    );
    let conv = ConvAttrs {
        strides: vec![1, 1],
        pads: vec![1, 1, 1, 1],
        dilations: vec![1, 1],
        group: 1,
    };
    let op = fused(Op::Conv(conv.clone()), 3, add_relu());
    kernels(
        op,
        &[
            ty(F, &[2, 3, 5, 6]),
            ty(F, &[8, 3, 3, 3]),
            ty(F, &[8]),
            ty(F, &[1, 8, 1, 1]),
        ],
    );
    // Depthwise (direct engine), no bias.
    let dw = ConvAttrs { group: 4, ..conv };
    kernels(
        fused(Op::Conv(dw), 2, half_plus()),
        &[ty(F, &[1, 4, 5, 5]), ty(F, &[4, 1, 3, 3]), ty(F, &[5])],
    );
    let ct = ConvTransposeAttrs {
        strides: vec![2],
        pads: vec![0, 0],
        dilations: vec![1],
        output_padding: vec![1],
        group: 1,
    };
    kernels(
        fused(Op::ConvTranspose(ct), 3, add_relu()),
        &[
            ty(F, &[1, 3, 5]),
            ty(F, &[3, 4, 3]),
            ty(F, &[4]),
            ty(F, &[4, 12]),
        ],
    );
}

#[test]
fn residual_operand_read_again_is_bound_once() {
    // x + relu(conv(x, w, b)): the epilogue reads x and b through the anchor's bindings.
    let mut g = Graph::new("t");
    let x = g.add_input("x", ty(F, &[1, 4, 5, 5]), kiln_ir::Wide::No);
    let w = g.add_input("w", ty(F, &[4, 4, 3, 3]), kiln_ir::Wide::No);
    let b = g.add_input("b", ty(F, &[4]), kiln_ir::Wide::No);
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
    let conv = ConvAttrs {
        strides: vec![1, 1],
        pads: vec![1, 1, 1, 1],
        dilations: vec![1, 1],
        group: 1,
    };
    let b4 = g.add_input("b4", ty(F, &[4, 1, 1]), kiln_ir::Wide::No);
    let y = g
        .add(fused(Op::Conv(conv), 3, epilogue), &[x, w, b, x, b4], "f")
        .unwrap();
    g.add_output("y", y, kiln_ir::Wide::No);
    let lowered = lower_all(&g);
    let slots: Vec<Slot> = lowered[0].kernels[0]
        .bindings
        .iter()
        .map(|b| b.slot)
        .collect();
    assert_eq!(
        slots,
        [
            Slot::Operand(0),
            Slot::Operand(1),
            Slot::Result(0),
            Slot::Operand(2),
            Slot::Operand(4)
        ]
    );
}

#[test]
fn fused_reductions_pools_and_norms_validate() {
    let x = ty(F, &[2, 3, 5, 7]);
    let reduce = Op::Reduce {
        op: ReduceOp::Mean,
        axes: vec![1, 3],
        keepdims: true,
    };
    kernels(
        fused(reduce, 1, add_relu()),
        &[x.clone(), ty(F, &[2, 1, 5, 1])],
    );
    let sum = Op::Reduce {
        op: ReduceOp::Sum,
        axes: vec![2],
        keepdims: false,
    };
    kernels(fused(sum, 1, half_plus()), &[x.clone(), ty(F, &[7])]);
    for op in [Op::Softmax { axis: 3 }, Op::LogSoftmax { axis: 1 }] {
        kernels(fused(op, 1, half_plus()), &[x.clone(), ty(F, &[5, 7])]);
    }
    let pool = PoolAttrs {
        kernel: vec![3, 3],
        strides: vec![2, 2],
        pads: vec![1, 1, 1, 1],
        dilations: vec![1, 1],
        ceil_mode: false,
        count_include_pad: false,
        storage_order: 0,
    };
    kernels(
        fused(Op::MaxPool(pool.clone()), 1, add_relu()),
        &[x.clone(), ty(F, &[3, 1, 1])],
    );
    kernels(
        fused(Op::AveragePool(pool), 1, half_plus()),
        &[x.clone(), ty(F, &[4])],
    );
    let c = ty(F, &[3]);
    kernels(
        fused(Op::BatchNorm { epsilon: 1e-5 }, 5, add_relu()),
        &[
            x.clone(),
            c.clone(),
            c.clone(),
            c.clone(),
            c.clone(),
            ty(F, &[7]),
        ],
    );
    kernels(
        fused(Op::InstanceNorm { epsilon: 1e-5 }, 3, add_relu()),
        &[x.clone(), c.clone(), c.clone(), x.clone()],
    );
    let ln = Op::LayerNorm {
        axis: 2,
        epsilon: 1e-5,
    };
    let s = ty(F, &[5, 7]);
    kernels(
        fused(ln, 3, half_plus()),
        &[x.clone(), s.clone(), s.clone(), s],
    );
    let lrn = Op::Lrn {
        size: 3,
        alpha: 1e-4,
        beta: 0.75,
        bias: 1.0,
    };
    kernels(fused(lrn, 1, add_relu()), &[x.clone(), x]);
}

#[test]
fn fused_elementwise_anchor_composes_into_one_program() {
    let anchor = Op::Elementwise {
        program: Program {
            steps: vec![
                Step::Input(0),
                Step::Input(1),
                Step::Binary(BinaryOp::Mul, 0, 1),
            ],
        },
    };
    assert_eq!(
        kernels(
            fused(anchor, 2, add_relu()),
            &[ty(F, &[3, 4]), ty(F, &[4]), ty(F, &[3, 1])]
        ),
        1
    );
    // A unary anchor with an epilogue that returns its input unchanged.
    assert_eq!(
        kernels(
            fused(Op::Unary(UnaryOp::Tanh), 1, Program::identity()),
            &[ty(F, &[5])]
        ),
        1
    );
}

#[test]
fn composition_maps_inputs_and_results() {
    use crate::lower::program::compose;
    let anchor = Program {
        steps: vec![Step::Input(0), Step::Unary(UnaryOp::Exp, 0)],
    };
    let p = compose(&anchor, 1, &add_relu());
    assert_eq!(
        p.steps,
        vec![
            Step::Input(0),
            Step::Unary(UnaryOp::Exp, 0),
            Step::Input(1),
            Step::Binary(BinaryOp::Add, 1, 2),
            Step::Unary(UnaryOp::Relu, 3),
        ]
    );
    let ret_extra = Program {
        steps: vec![Step::Input(1), Step::Input(0)],
    };
    let p = compose(&anchor, 1, &ret_extra);
    assert_eq!(p.steps.last(), Some(&Step::Unary(UnaryOp::Exp, 0)));
}

#[test]
fn attention_chooses_one_kernel_when_scores_fit_and_three_otherwise() {
    let types = [
        ty(F, &[2, 3, 7, 5]),
        ty(F, &[2, 3, 5, 9]),
        ty(F, &[2, 3, 9, 6]),
        ty(F, &[1, 7, 9]),
    ];
    assert_eq!(kernels(Op::Attention { scale: 0.4 }, &types), 1);
    assert_eq!(kernels(Op::Attention { scale: 0.4 }, &types[..3]), 1);
    // 5000 keys per row do not fit in 16 KiB of workgroup memory.
    let long = [
        ty(F, &[1, 3, 4]),
        ty(F, &[1, 4, 5000]),
        ty(F, &[1, 5000, 2]),
        ty(F, &[5000]),
    ];
    assert_eq!(kernels(Op::Attention { scale: 0.5 }, &long), 3);
    let epi = fused(Op::Attention { scale: 0.5 }, 4, add_relu());
    let mut with_extra = long.to_vec();
    with_extra.push(ty(F, &[2]));
    assert_eq!(kernels(epi, &with_extra), 3);
    // Fused, one kernel, batch broadcast across q, kt and v.
    let epi = fused(Op::Attention { scale: 0.5 }, 3, half_plus());
    kernels(
        epi,
        &[
            ty(F, &[3, 1, 2, 4]),
            ty(F, &[2, 4, 6]),
            ty(F, &[1, 2, 6, 5]),
            ty(F, &[3, 2, 2, 5]),
        ],
    );
}

#[test]
fn too_many_distinct_operands_are_refused_clearly() {
    // matmul a, b, result + 6 distinct epilogue operands = 9 storage buffers.
    let mut steps = vec![Step::Input(0)];
    for j in 1..=6 {
        steps.push(Step::Input(j));
        let n = steps.len();
        steps.push(Step::Binary(BinaryOp::Add, n - 2, n - 1));
    }
    let op = fused(Op::MatMul, 2, Program { steps });
    let mut types = vec![ty(F, &[4, 5]), ty(F, &[5, 6])];
    types.extend((0..6).map(|_| ty(F, &[4, 6])));
    let err = build_plan(&one_node(op, &types), &Limits::default()).unwrap_err();
    match err {
        CodegenError::Node { op, reason, .. } => {
            assert_eq!(op, "fused");
            assert!(reason.contains("needs 9 storage buffers"), "{reason}");
        }
        e => panic!("{e}"),
    }
}

#[test]
fn split_matmul_with_non_float_epilogue_is_refused() {
    let limits = Limits {
        max_storage_buffer_binding_size: 4096,
        ..Limits::default()
    };
    let cmp = Program {
        steps: vec![
            Step::Input(0),
            Step::Const {
                dtype: F,
                value: 0.0,
            },
            Step::Binary(BinaryOp::Less, 0, 1),
        ],
    };
    let g = one_node(
        fused(Op::MatMul, 2, cmp),
        &[ty(F, &[1, 600]), ty(F, &[600, 4])],
    );
    let err = build_plan(&g, &limits).unwrap_err().to_string();
    assert!(err.contains("split along K"), "{err}");
}

/// A 3×3 max pool with stride `stride`, padding 1.
fn max_pool_3x3(stride: usize) -> Op {
    Op::MaxPool(PoolAttrs {
        kernel: vec![3, 3],
        strides: vec![stride, stride],
        pads: vec![1, 1, 1, 1],
        dilations: vec![1, 1],
        ceil_mode: true,
        count_include_pad: false,
        storage_order: 0,
    })
}

fn with_prologue(conv: ConvAttrs, arity: usize, epilogue: Program) -> Op {
    Op::Fused {
        anchor: Box::new(Op::Conv(conv)),
        prologue: Some(Box::new(max_pool_3x3(2))),
        arity,
        epilogue,
    }
}

#[test]
fn max_pool_prologue_on_a_pointwise_conv_is_one_kernel_reading_the_pre_pool_input() {
    let conv = ConvAttrs {
        strides: vec![1, 1],
        pads: vec![0, 0, 0, 0],
        dilations: vec![1, 1],
        group: 1,
    };
    // x [1,5,11,13] pools to [1,5,6,7]; the conv's operand 0 is the pre-pool x.
    let types = [
        ty(F, &[1, 5, 11, 13]),
        ty(F, &[6, 5, 1, 1]),
        ty(F, &[6]),
        ty(F, &[1, 6, 6, 7]),
    ];
    let g = one_node(with_prologue(conv, 3, add_relu()), &types);
    let lowered = lower_all(&g);
    assert_eq!(lowered.len(), 1);
    let kernel = &lowered[0].kernels[..];
    assert_eq!(kernel.len(), 1);
    assert_eq!(kernel[0].bindings[0].slot, Slot::Operand(0));
    // Straight per-axis window code with literal extents: 11 rows, 13 columns.
    assert!(kernel[0].wgsl.contains("c0 < 11"), "{}", kernel[0].wgsl);
    assert!(kernel[0].wgsl.contains("c1 < 13"), "{}", kernel[0].wgsl);
    assert!(!kernel[0].wgsl.contains("array<u32,"), "{}", kernel[0].wgsl);
    build_plan(&g, &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn max_pool_prologue_on_a_spatial_conv_is_refused_clearly() {
    let conv = ConvAttrs {
        strides: vec![1, 1],
        pads: vec![1, 1, 1, 1],
        dilations: vec![1, 1],
        group: 1,
    };
    let types = [ty(F, &[1, 5, 11, 13]), ty(F, &[6, 5, 3, 3])];
    let relu = Program {
        steps: vec![Step::Input(0), Step::Unary(UnaryOp::Relu, 0)],
    };
    let g = one_node(with_prologue(conv, 2, relu), &types);
    let err = build_plan(&g, &Limits::default()).unwrap_err().to_string();
    assert!(
        err.contains("a prologue needs a 1×1, stride-1, unpadded conv"),
        "{err}"
    );
}
