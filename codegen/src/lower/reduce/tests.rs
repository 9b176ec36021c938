//! Unit tests of the reduction lowering: generated WGSL validates for every kind,
//! dtype and axis set; row geometry, and when long rows split into chunks.

use super::lanes_per_row;
use crate::lower::elementwise::tests::{accepted, compile, one_node, ty};
use crate::Limits;
use kiln_ir::{ArgOp, DType, Op, ReduceOp};

const KINDS: [ReduceOp; 7] = [
    ReduceOp::Sum,
    ReduceOp::Mean,
    ReduceOp::Max,
    ReduceOp::Min,
    ReduceOp::Prod,
    ReduceOp::L2,
    ReduceOp::SumSquare,
];

#[test]
fn every_kind_dtype_and_axis_set_validates() {
    let x = [2usize, 3, 5];
    let axis_sets: [&[usize]; 5] = [&[], &[0], &[1], &[0, 2], &[0, 1, 2]];
    for op in KINDS {
        for dtype in DType::ALL {
            for axes in axis_sets {
                for keepdims in [false, true] {
                    let r = Op::Reduce {
                        op,
                        axes: axes.to_vec(),
                        keepdims,
                    };
                    if !accepted(&r, &[ty(dtype, &x)]) {
                        continue;
                    }
                    compile(r, &[ty(dtype, &x)]).unwrap_or_else(|e| panic!("{op:?} {dtype}: {e}"));
                }
            }
        }
    }
}

#[test]
fn empty_reductions_and_large_rows_validate() {
    let p = compile(
        Op::Reduce {
            op: ReduceOp::Mean,
            axes: vec![1],
            keepdims: true,
        },
        &[ty(DType::F32, &[3, 0])],
    )
    .unwrap();
    assert!(
        p.plan.kernels[0].wgsl.contains("0x7fc00000u"),
        "mean of nothing is NaN"
    );
    let p = compile(
        Op::Reduce {
            op: ReduceOp::Sum,
            axes: vec![0],
            keepdims: false,
        },
        &[ty(DType::F32, &[100_000, 3])],
    )
    .unwrap();
    // Three rows of 100 000: each split into 24 chunks of about 4167 (72 workgroups of
    // partial sums), then one workgroup combines them (32 lanes to a row's 24 partials).
    assert_eq!(p.plan.kernels[0].workgroup_size, [256, 1, 1]);
    assert_eq!(p.plan.dispatches.len(), 2);
    assert_eq!(p.plan.dispatches[0].workgroups, [72, 1, 1]);
    assert!(p.plan.kernels[0].wgsl.contains("const CHUNKS: u32 = 24u;"));
    assert_eq!(p.plan.dispatches[1].workgroups, [1, 1, 1]);
    // A CPU driver keeps one pass (the split costs it more than it gains).
    let cpu = Limits {
        cpu_driver: true,
        ..Limits::default()
    };
    let g = one_node(
        Op::Reduce {
            op: ReduceOp::Sum,
            axes: vec![0],
            keepdims: false,
        },
        &[ty(DType::F32, &[100_000, 3])],
    );
    let p = crate::build_plan(&g, &cpu).unwrap();
    assert_eq!(p.plan.dispatches.len(), 1);
    // Many rows keep the device busy: one pass.
    let p = compile(
        Op::Reduce {
            op: ReduceOp::Sum,
            axes: vec![1],
            keepdims: false,
        },
        &[ty(DType::F32, &[300, 100_000])],
    )
    .unwrap();
    assert_eq!(p.plan.dispatches.len(), 1);
}

#[test]
fn arg_reduce_and_softmax_validate() {
    for dtype in DType::ALL {
        for op in [ArgOp::Max, ArgOp::Min] {
            for last in [false, true] {
                let a = Op::ArgReduce {
                    op,
                    axis: 1,
                    keepdims: true,
                    select_last_index: last,
                };
                if accepted(&a, &[ty(dtype, &[2, 7, 3])]) {
                    compile(a, &[ty(dtype, &[2, 7, 3])]).unwrap();
                }
            }
        }
    }
    for axis in 0..3 {
        for dtype in [DType::F32, DType::F16] {
            compile(Op::Softmax { axis }, &[ty(dtype, &[2, 300, 3])]).unwrap();
            compile(Op::LogSoftmax { axis }, &[ty(dtype, &[2, 300, 3])]).unwrap();
        }
    }
}

#[test]
fn lanes_are_a_power_of_two_within_the_workgroup() {
    assert_eq!(lanes_per_row(0, 256), 1);
    assert_eq!(lanes_per_row(1, 256), 1);
    assert_eq!(lanes_per_row(7, 256), 8);
    assert_eq!(lanes_per_row(257, 256), 256);
}
