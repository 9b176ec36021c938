//! Unit tests of the data-movement lowering: generated WGSL validates, dispatch counts.

use crate::lower::elementwise::tests::{compile, lower_all, ty};
use crate::lower::Slot;
use kiln_ir::{DType, DepthToSpaceMode, Op, PadMode};

#[test]
fn strided_copies_validate() {
    let x = ty(DType::F32, &[2, 3, 4]);
    let cases = [
        Op::Transpose {
            perm: vec![2, 0, 1],
        },
        Op::Slice {
            starts: vec![1, 2, 3],
            steps: vec![-1, -2, -1],
            lens: vec![2, 2, 3],
        },
        Op::Expand {
            shape: vec![5, 2, 3, 4],
        },
        Op::Tile {
            repeats: vec![2, 1, 3],
        },
    ];
    for op in cases {
        let p =
            compile(op.clone(), std::slice::from_ref(&x)).unwrap_or_else(|e| panic!("{op:?}: {e}"));
        assert_eq!(p.plan.dispatches.len(), 1);
    }
}

#[test]
fn slice_with_negative_steps_bakes_wrapped_strides() {
    let p = compile(
        Op::Slice {
            starts: vec![4],
            steps: vec![-2],
            lens: vec![3],
        },
        &[ty(DType::I8, &[5])],
    )
    .unwrap();
    let w = &p.plan.kernels[0].wgsl;
    assert!(w.contains(&format!("4u + c0 * {}u", (-2i64) as u32)), "{w}");
}

#[test]
fn concat_and_split_take_one_dispatch_per_part() {
    let parts: Vec<_> = (0..11).map(|i| ty(DType::U8, &[2, i % 3, 5])).collect();
    let p = compile(Op::Concat { axis: 1 }, &parts).unwrap();
    // Empty operands need no dispatch.
    assert_eq!(
        p.plan.dispatches.len(),
        parts.iter().filter(|t| t.shape.numel() > 0).count()
    );
    assert!(p.plan.dispatches.iter().all(|d| d.bindings.len() == 2));
    let p = compile(
        Op::Split {
            axis: 2,
            sizes: vec![1, 3, 1],
        },
        &[ty(DType::F16, &[2, 3, 5])],
    )
    .unwrap();
    assert_eq!(p.plan.dispatches.len(), 3);
}

#[test]
fn depth_space_pad_gather_shape_validate() {
    let x = ty(DType::F32, &[1, 8, 2, 3]);
    for mode in [DepthToSpaceMode::Dcr, DepthToSpaceMode::Crd] {
        compile(
            Op::DepthToSpace { blocksize: 2, mode },
            std::slice::from_ref(&x),
        )
        .unwrap();
    }
    compile(
        Op::SpaceToDepth { blocksize: 2 },
        &[ty(DType::F32, &[1, 2, 4, 6])],
    )
    .unwrap();
    for mode in [
        PadMode::Constant,
        PadMode::Reflect,
        PadMode::Edge,
        PadMode::Wrap,
    ] {
        let pads = vec![0, 2, -1, 1, 0, -1, 3, 2];
        compile(Op::Pad { mode, pads }, std::slice::from_ref(&x))
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
    }
    let p = compile(
        Op::Pad {
            mode: PadMode::Constant,
            pads: vec![1, 1],
        },
        &[ty(DType::I32, &[3]), ty(DType::I32, &[])],
    )
    .unwrap();
    assert_eq!(p.plan.dispatches[0].bindings.len(), 3);
    compile(
        Op::Gather { axis: 1 },
        &[x.clone(), ty(DType::I32, &[2, 2])],
    )
    .unwrap();
    compile(Op::Shape { start: 1, end: 4 }, &[x]).unwrap();
}

#[test]
fn gather_with_itself_as_indices_binds_once() {
    let mut g = kiln_ir::Graph::new("t");
    let x = g.add_input("x", ty(DType::I32, &[4]), kiln_ir::Wide::No);
    let y = g.add(Op::Gather { axis: 0 }, &[x, x], "g").unwrap();
    g.add_output("y", y, kiln_ir::Wide::No);
    let lowered = lower_all(&g);
    // x once, the result, and the index check's words.
    let slots: Vec<Slot> = lowered[0].kernels[0]
        .bindings
        .iter()
        .map(|b| b.slot)
        .collect();
    assert_eq!(slots, [Slot::Operand(0), Slot::Result(0), Slot::Check(0)]);
}
