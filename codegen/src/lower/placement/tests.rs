//! Unit tests of placement support: the declarations the layout decisions ask, and the
//! dispatcher's refusal of a placement a lowering does not honour.

use crate::lower::elementwise::tests::{one_node, ty};
use crate::lower::{
    lower_node, node_placement_support, placement_support, NodeCtx, OperandSet, Placement,
};
use crate::{CodegenError, Limits};
use kiln_ir::{ConvAttrs, DType, Handle, Op, Program, UnaryOp};

const F: DType = DType::F32;

fn conv() -> Op {
    Op::Conv(ConvAttrs {
        strides: vec![1, 1],
        pads: vec![0, 0, 0, 0],
        dilations: vec![1, 1],
        group: 1,
    })
}

#[test]
fn operand_sets_hold_what_they_say() {
    assert!(OperandSet::ALL.contains(0) && OperandSet::ALL.contains(100));
    assert!(!OperandSet::NONE.contains(0));
    let first = OperandSet::first(3);
    assert!(first.contains(2) && !first.contains(3));
    let tail = OperandSet::from(2);
    assert!(!tail.contains(1) && tail.contains(2) && tail.contains(70));
    assert_eq!(OperandSet::ALL.below(2), OperandSet::first(2));
    let both = OperandSet::first(1).union(OperandSet::from(4));
    assert!(both.contains(0) && !both.contains(2) && both.contains(4));
    assert_eq!(both.from_on(1), OperandSet::from(4));
}

#[test]
fn families_declare_what_their_kernels_honour() {
    let conv = placement_support(&conv());
    assert!(conv.reads_at_offset(0) && !conv.reads_at_offset(1));
    assert!(conv.reads_shuffled(0) && !conv.reads_strided(0));
    assert!(conv.writes_at_offset() && !conv.writes_strided());
    let relu = placement_support(&Op::Unary(UnaryOp::Relu));
    assert!(relu.reads_strided(0) && !relu.reads_at_offset(0) && !relu.writes_at_offset());
    let softmax = placement_support(&Op::Softmax { axis: 1 });
    assert!(!softmax.reads_strided(0) && !softmax.reads_at_offset(0));
    // A fused conv: the anchor's support for its operands, strided epilogue operands.
    let epilogue: Program = "[in0, in1, add(%0,%1)]".parse().unwrap();
    let fused = placement_support(&Op::Fused {
        anchor: Box::new(Op::Conv(ConvAttrs {
            strides: vec![1, 1],
            pads: vec![0, 0, 0, 0],
            dilations: vec![1, 1],
            group: 1,
        })),
        prologue: None,
        arity: 2,
        epilogue,
    });
    assert!(fused.reads_at_offset(0) && !fused.reads_at_offset(2));
    assert!(!fused.reads_strided(1) && fused.reads_strided(2));
    assert!(fused.writes_at_offset());
}

#[test]
fn a_product_split_over_bindings_reads_no_strided_operand() {
    let small = one_node(Op::MatMul, &[ty(F, &[8, 16]), ty(F, &[16, 4])]);
    let whole = node_placement_support(&small, Handle::new(0), &Limits::default());
    assert!(whole.reads_strided(0) && whole.reads_strided(1));
    let tiny = Limits {
        max_storage_buffer_binding_size: 256,
        ..Limits::default()
    };
    let big = one_node(Op::MatMul, &[ty(F, &[64, 64]), ty(F, &[64, 64])]);
    let split = node_placement_support(&big, Handle::new(0), &tiny);
    assert!(!split.reads_strided(0) && !split.reads_strided(1));
}

/// Lowers node n0 of `g` with `operands` and `result` placements.
fn lower_placed(
    g: &kiln_ir::Graph,
    operands: &[Placement],
    result: Placement,
) -> Result<crate::lower::Lowered, CodegenError> {
    let limits = Limits::default();
    let ctx = NodeCtx {
        graph: g,
        node: Handle::new(0),
        limits: &limits,
        operand_places: operands,
        result_place: result,
        packed_dot: false,
        f16_arithmetic: false,
        fold_range: false,
    };
    lower_node(&ctx)
}

#[test]
fn an_unsupported_placement_is_refused_naming_the_node() {
    let g = one_node(Op::Softmax { axis: 1 }, &[ty(F, &[2, 8])]);
    let at_offset = Placement {
        base: 3,
        ..Placement::default()
    };
    let err = lower_placed(&g, std::slice::from_ref(&at_offset), Placement::default()).unwrap_err();
    assert!(
        matches!(&err, CodegenError::Placement { node, name, .. } if node.index() == 0 && name == "n"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "internal: node n0 'n' (softmax) cannot honour its placement: operand 0 is placed at \
         element 3 of its binding, which its kernels do not read at"
    );
    // A result written through strides by an op that stores row-major.
    let strided = Placement {
        strides: Some(vec![1, 2]),
        ..Placement::default()
    };
    let err = lower_placed(&g, &[], strided).unwrap_err();
    assert!(err.to_string().contains("node n0 'n'"), "{err}");
    // A channel shuffle handed to an element-wise op, which reads strided but not
    // shuffled.
    let relu = one_node(Op::Unary(UnaryOp::Relu), &[ty(F, &[1, 4, 2, 2])]);
    let shuffled = Placement {
        shuffle: Some((2, 2)),
        ..Placement::default()
    };
    let err = lower_placed(&relu, &[shuffled], Placement::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("operand 0 is placed through a channel shuffle"),
        "{err}"
    );
}

#[test]
fn a_supported_placement_reaches_the_kernel() {
    let g = one_node(conv(), &[ty(F, &[1, 4, 6, 6]), ty(F, &[8, 4, 1, 1])]);
    let at_offset = Placement {
        base: 5,
        ..Placement::default()
    };
    let lowered = lower_placed(&g, std::slice::from_ref(&at_offset), at_offset.clone()).unwrap();
    let wgsl = &lowered.kernels[0].wgsl;
    assert!(wgsl.contains("const X_BASE: u32 = 5u;"), "{wgsl}");
    assert!(wgsl.contains("const Y_BASE: u32 = 5u;"), "{wgsl}");
}

#[test]
fn prologue_evaluations_follow_the_engines_tile() {
    use kiln_ir::{ConvAttrs, DType, KernelTarget, Op, TensorType};
    // A 1×1 conv over a 1×8×16×16 input: 256 output columns, `m` output channels.
    let evaluations = |m: usize, cpu_driver: bool| {
        let x = TensorType::new(DType::F32, vec![1, 8, 16, 16]);
        let w = TensorType::new(DType::F32, vec![m, 8, 1, 1]);
        let conv = Op::Conv(ConvAttrs {
            strides: vec![1, 1],
            pads: vec![0; 4],
            dilations: vec![1, 1],
            group: 1,
        });
        let limits = Limits {
            cpu_driver,
            ..Limits::default()
        };
        limits.prologue_evaluations(&conv, &[&x, &w])
    };
    // The direct engine (fewer than 4 rows) loads the input once per row block of up
    // to 4 rows; the tiled engines once per tile of rows: 16 (≤ 16 rows), 32, 64 or
    // 128 on a CPU driver, 32 or 64 on a GPU.
    let cpu: Vec<usize> = [3, 16, 17, 48, 128, 512]
        .iter()
        .map(|&m| evaluations(m, true))
        .collect();
    assert_eq!(cpu, [1, 1, 1, 1, 1, 4]);
    let gpu: Vec<usize> = [16, 33, 64, 512]
        .iter()
        .map(|&m| evaluations(m, false))
        .collect();
    assert_eq!(gpu, [1, 1, 1, 8]);
}
