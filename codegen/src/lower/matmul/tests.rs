//! Lowering tests for matmul, conv, conv-transpose, pooling and resize: every
//! generated kernel must pass naga validation (the plan builder validates), with the
//! dispatch geometry and bindings the shapes call for.

use crate::lower::Slot;
use crate::{build_plan, KernelPlan, Limits};
use kiln_ir::{
    ConvAttrs, ConvTransposeAttrs, CoordTransform, DType, Graph, NearestMode, Op, PoolAttrs,
    ResizeAttrs, ResizeMode, Tensor, TensorType,
};

/// A graph computing `op` on inputs of `types` (with `consts` as constant operands
/// after them), all results as outputs; lowered to a validated plan.
fn plan_with(
    op: Op,
    types: &[(DType, &[usize])],
    consts: Vec<Tensor>,
    limits: &Limits,
) -> KernelPlan {
    let mut g = Graph::new("t");
    let mut inputs: Vec<_> = types
        .iter()
        .enumerate()
        .map(|(i, (d, s))| g.add_input(format!("x{i}"), TensorType::new(*d, *s), kiln_ir::Wide::No))
        .collect();
    for c in consts {
        inputs.push(g.add_const(None, c));
    }
    let outs = g.add_node(op, &inputs, None, "n").unwrap();
    for (i, o) in outs.into_iter().enumerate() {
        g.add_output(format!("y{i}"), o, kiln_ir::Wide::No);
    }
    build_plan(&g, limits)
        .unwrap_or_else(|e| panic!("{e}"))
        .plan
}

fn plan(op: Op, types: &[(DType, &[usize])]) -> KernelPlan {
    plan_with(op, types, Vec::new(), &Limits::default())
}

const F: DType = DType::F32;

#[test]
fn matmul_variants_validate() {
    let cases: &[(&[usize], &[usize])] = &[
        (&[7, 5], &[5, 257]),
        (&[1, 1], &[1, 1]),
        (&[5], &[5, 3]),
        (&[4, 5], &[5]),
        (&[5], &[5]),
        (&[2, 1, 4, 3], &[5, 3, 7]),
        (&[3, 4, 6], &[6, 2]),
        (&[300, 70], &[70, 90]),
    ];
    for (a, b) in cases {
        let p = plan(Op::MatMul, &[(F, a), (F, b)]);
        assert_eq!(p.dispatches.len(), 1, "{a:?} x {b:?}");
        assert_eq!(p.dispatches[0].bindings.len(), 3);
    }
}

#[test]
fn matmul_of_a_tensor_with_itself_binds_it_once() {
    let mut g = Graph::new("t");
    let x = g.add_input(
        "x",
        TensorType::new(F, [6usize, 6].as_slice()),
        kiln_ir::Wide::No,
    );
    let y = g.add(Op::MatMul, &[x, x], "n").unwrap();
    g.add_output("y", y, kiln_ir::Wide::No);
    // Lowered directly: the node reads one value twice.
    let (node, _) = g.nodes.iter().next().unwrap();
    let limits = Limits::default();
    let lowered = super::lower(&crate::lower::NodeCtx::new(&g, node, &limits)).unwrap();
    let k = &lowered.kernels[0];
    let slots: Vec<_> = k.bindings.iter().map(|b| b.slot).collect();
    assert_eq!(slots, [Slot::Operand(0), Slot::Result(0)]);
    crate::validate_wgsl(&k.wgsl).unwrap();
}

#[test]
fn oversized_weight_is_bound_in_aligned_k_ranges() {
    let limits = Limits {
        max_storage_buffer_binding_size: 64 * 1024,
        ..Limits::default()
    };
    // b is 100 × 300 f32 = 120 000 bytes, over a 64 KiB binding.
    let w = Tensor::from_f32(
        [100usize, 300].as_slice(),
        (0..30000).map(|i| i as f32).collect(),
    )
    .unwrap();
    let p = plan_with(Op::MatMul, &[(F, &[3, 100])], vec![w], &limits);
    assert!(p.dispatches.len() >= 2);
    for d in &p.dispatches {
        let b = d.bindings[1];
        assert_eq!(b.offset % 256, 0);
        assert!(b.size.unwrap() <= 64 * 1024);
    }
}

fn conv(strides: &[usize], pads: &[usize], dilations: &[usize], group: usize) -> Op {
    Op::Conv(ConvAttrs {
        strides: strides.to_vec(),
        pads: pads.to_vec(),
        dilations: dilations.to_vec(),
        group,
    })
}

#[test]
fn conv_variants_validate() {
    // 2-D, tiled (16 output channels) with bias.
    let p = plan(
        conv(&[2, 1], &[1, 0, 1, 2], &[1, 2], 1),
        &[(F, &[2, 3, 9, 8]), (F, &[16, 3, 3, 3]), (F, &[16])],
    );
    assert_eq!(p.dispatches[0].bindings.len(), 4);
    // Depthwise (direct engine), 1-D, 3-D and grouped.
    plan(
        conv(&[1, 1], &[1, 1, 1, 1], &[1, 1], 8),
        &[(F, &[1, 8, 7, 7]), (F, &[8, 1, 3, 3])],
    );
    plan(
        conv(&[3], &[2, 1], &[2], 1),
        &[(F, &[2, 4, 17]), (F, &[5, 4, 3])],
    );
    plan(
        conv(&[1, 2, 1], &[0, 1, 0, 0, 1, 0], &[1, 1, 1], 1),
        &[(F, &[1, 2, 4, 5, 6]), (F, &[4, 2, 2, 3, 2])],
    );
    plan(
        conv(&[1, 1], &[0, 0, 0, 0], &[1, 1], 2),
        &[(F, &[1, 8, 5, 5]), (F, &[16, 4, 1, 1])],
    );
}

#[test]
fn conv_transpose_variants_validate() {
    let ct = |s: &[usize], p: &[usize], d: &[usize], op: &[usize], group| {
        Op::ConvTranspose(ConvTransposeAttrs {
            strides: s.to_vec(),
            pads: p.to_vec(),
            dilations: d.to_vec(),
            output_padding: op.to_vec(),
            group,
        })
    };
    plan(
        ct(&[2, 2], &[1, 1, 1, 1], &[1, 1], &[1, 1], 1),
        &[(F, &[1, 3, 4, 5]), (F, &[3, 8, 3, 3]), (F, &[8])],
    );
    plan(
        ct(&[3], &[0, 0], &[2], &[0], 2),
        &[(F, &[2, 4, 6]), (F, &[4, 1, 3])],
    );
}

fn pool(kernel: &[usize], strides: &[usize], pads: &[usize], ceil: bool) -> PoolAttrs {
    PoolAttrs {
        kernel: kernel.to_vec(),
        strides: strides.to_vec(),
        pads: pads.to_vec(),
        dilations: vec![1; kernel.len()],
        ceil_mode: ceil,
        count_include_pad: true,
        storage_order: 1,
    }
}

#[test]
fn pool_variants_validate() {
    let p = plan(
        Op::MaxPool(pool(&[3, 3], &[2, 2], &[1, 1, 1, 1], true)),
        &[(F, &[1, 3, 8, 7])],
    );
    assert_eq!(p.dispatches[0].bindings.len(), 3, "indices result bound");
    plan(
        Op::MaxPool(pool(&[2], &[1], &[0, 0], false)),
        &[(DType::I32, &[2, 3, 9])],
    );
    plan(
        Op::MaxPool(pool(&[2], &[1], &[0, 0], false)),
        &[(DType::U8, &[2, 3, 9])],
    );
    plan(
        Op::AveragePool(pool(&[2, 2, 2], &[1, 2, 1], &[0, 1, 0, 1, 0, 1], true)),
        &[(F, &[1, 2, 5, 5, 5])],
    );
}

#[test]
fn resize_variants_validate() {
    let base = ResizeAttrs {
        mode: ResizeMode::Nearest,
        coord: CoordTransform::Asymmetric,
        nearest: NearestMode::RoundPreferFloor,
        cubic_coeff_a: -0.75,
        exclude_outside: false,
        extrapolation_value: 0.0,
        antialias: false,
        sizes: vec![1, 2, 7, 9],
        scales: vec![1.0, 1.0, 7.0 / 4.0, 9.0 / 5.0],
        roi: Vec::new(),
    };
    plan(Op::Resize(base.clone()), &[(F, &[1, 2, 4, 5])]);
    plan(Op::Resize(base.clone()), &[(DType::U8, &[1, 2, 4, 5])]);
    let linear = ResizeAttrs {
        mode: ResizeMode::Linear,
        coord: CoordTransform::HalfPixel,
        ..base.clone()
    };
    let p = plan(Op::Resize(linear.clone()), &[(F, &[1, 2, 4, 5])]);
    // The taps live in a constant table buffer, not in WGSL arrays indexed at run time:
    // 7 + 9 output coordinates, 2 taps each, an index and a weight per tap.
    let wgsl = &p.kernels[0].wgsl;
    assert!(
        !wgsl.contains("array<i32,") && !wgsl.contains("array<f32,"),
        "{wgsl}"
    );
    let table = &p.buffers[p.dispatches[0].bindings[2].buffer];
    assert_eq!(table.size, ((7 + 9) * 2 * 2 * 4) as u64);
    let cubic = ResizeAttrs {
        mode: ResizeMode::Cubic,
        exclude_outside: true,
        ..linear.clone()
    };
    plan(Op::Resize(cubic), &[(F, &[1, 2, 4, 5])]);
    let down = ResizeAttrs {
        antialias: true,
        sizes: vec![1, 2, 3, 2],
        scales: vec![1.0, 1.0, 3.0 / 8.0, 2.0 / 7.0],
        ..linear
    };
    plan(Op::Resize(down), &[(F, &[1, 2, 8, 7])]);
    let crop = ResizeAttrs {
        coord: CoordTransform::TfCropAndResize,
        extrapolation_value: 10.0,
        roi: vec![0.0, 0.0, 0.4, 0.6, 1.0, 1.0, 1.2, 1.7],
        ..base
    };
    plan(Op::Resize(crop), &[(F, &[1, 2, 4, 5])]);
}
