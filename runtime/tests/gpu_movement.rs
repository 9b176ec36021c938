//! GPU data movement (Transpose, Concat, Split, Slice with negative steps, Gather with
//! negative indices and its out-of-range check, Expand, Pad in every mode with negative pads, Tile, DepthToSpace,
//! SpaceToDepth, Shape) against the CPU reference. Moving words is exact: every
//! comparison is bit for bit, on several dtypes (the kernels copy 32-bit words, so one
//! kernel serves all of them).

mod common;

use common::{check_op, compare, gpu, op_graph, random_tensor, Tol};
use kiln_codegen::{build_plan, Limits};
use kiln_ir::{DType, Data, DepthToSpaceMode, Graph, Op, PadMode, Tensor, TensorType};

const DTYPES: [DType; 4] = [DType::F32, DType::F16, DType::I8, DType::Bool];

#[test]
fn transpose_every_permutation() {
    let perms = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for (i, dtype) in DTYPES.into_iter().enumerate() {
        for perm in perms {
            let x = random_tensor(dtype, &[2, 3, 43], i as u64);
            check_op(
                Op::Transpose {
                    perm: perm.to_vec(),
                },
                vec![x],
                Tol::EXACT,
            );
        }
    }
    let x = random_tensor(DType::F32, &[1, 7, 1, 5], 9);
    check_op(
        Op::Transpose {
            perm: vec![3, 2, 1, 0],
        },
        vec![x],
        Tol::EXACT,
    );
}

#[test]
fn slice_with_positive_and_negative_steps() {
    let x = random_tensor(DType::F32, &[5, 7, 4], 10);
    let cases: [(&[usize], &[i64], &[usize]); 5] = [
        (&[0, 0, 0], &[1, 1, 1], &[5, 7, 4]),
        (&[4, 6, 3], &[-1, -1, -1], &[5, 7, 4]),
        (&[1, 6, 0], &[2, -3, 1], &[2, 3, 4]),
        (&[3, 0, 3], &[-2, 2, -2], &[2, 4, 2]),
        (&[2, 1, 1], &[1, 1, 1], &[0, 3, 2]),
    ];
    for (starts, steps, lens) in cases {
        let op = Op::Slice {
            starts: starts.to_vec(),
            steps: steps.to_vec(),
            lens: lens.to_vec(),
        };
        check_op(op, vec![x.clone()], Tol::EXACT);
    }
    let x = random_tensor(DType::I8, &[257], 11);
    let op = Op::Slice {
        starts: vec![256],
        steps: vec![-3],
        lens: vec![86],
    };
    check_op(op, vec![x], Tol::EXACT);
}

#[test]
fn gather_with_negative_indices_on_every_axis() {
    let x = random_tensor(DType::F32, &[4, 5, 6], 20);
    let shapes: [&[usize]; 3] = [&[], &[3], &[2, 2]];
    for axis in 0..3 {
        let n = x.shape().dims()[axis] as i32;
        for (k, dims) in shapes.into_iter().enumerate() {
            let count: usize = dims.iter().product();
            let idx: Vec<i32> = (0..count as i32)
                .map(|j| (j * 3 + k as i32) % (2 * n) - n)
                .collect();
            let indices = Tensor::new(dims, Data::I32(idx)).unwrap();
            check_op(Op::Gather { axis }, vec![x.clone(), indices], Tol::EXACT);
        }
    }
    let x = random_tensor(DType::U8, &[300, 2], 21);
    let idx = Tensor::new(
        [257usize].as_slice(),
        Data::I32((0..257).map(|j| 299 - j).collect()),
    )
    .unwrap();
    check_op(Op::Gather { axis: 0 }, vec![x, idx], Tol::EXACT);
}

#[test]
fn out_of_range_gather_indices_fail_the_run_and_the_next_run_is_clean() {
    let x = random_tensor(DType::F32, &[4, 5, 3], 22);
    let good = Tensor::new([3usize].as_slice(), Data::I32(vec![4, -5, 0])).unwrap();
    let graph = op_graph(Op::Gather { axis: 1 }, &[x.clone(), good.clone()]);
    let compiled = build_plan(&graph, &Limits::default()).unwrap();
    assert_eq!(compiled.plan.checks.len(), 1);
    let mut session = gpu().load(&compiled.plan, &compiled.weights).unwrap();
    let want = kiln_ir::interp::run(&graph, &[x.clone(), good.clone()]).unwrap();
    for bad in [5, -6, i32::MAX, i32::MIN] {
        let indices = Tensor::new([3usize].as_slice(), Data::I32(vec![1, bad, 2])).unwrap();
        // The reference refuses these indices, and so does the GPU run.
        assert!(kiln_ir::interp::run(&graph, &[x.clone(), indices.clone()]).is_err());
        let err = session.run(&[x.clone(), indices]).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("gather 'node': an index is out of range [-5, 5) (got {bad})")
        );
        // Valid indices afterwards: the check words were cleared.
        let got = session.run(&[x.clone(), good.clone()]).unwrap();
        compare(&got[0], &want[0], Tol::EXACT).unwrap();
    }
}

#[test]
fn constant_gather_indices_are_checked_when_compiling() {
    let mut g = Graph::new("g");
    let x = g.add_input(
        "x",
        TensorType::new(DType::F32, vec![4, 5]),
        kiln_ir::Wide::No,
    );
    let idx = g.add_const(
        None,
        Tensor::new([2usize].as_slice(), Data::I32(vec![0, 4])).unwrap(),
    );
    let y = g.add(Op::Gather { axis: 0 }, &[x, idx], "pick").unwrap();
    g.add_output("y", y, kiln_ir::Wide::No);
    let err = build_plan(&g, &Limits::default()).unwrap_err().to_string();
    assert!(err.contains("index 4 is out of range [-4, 4)"), "{err}");
}

#[test]
fn expand_and_tile() {
    for (i, dtype) in DTYPES.into_iter().enumerate() {
        let x = random_tensor(dtype, &[3, 1], 30 + i as u64);
        check_op(
            Op::Expand {
                shape: vec![2, 3, 7],
            },
            vec![x.clone()],
            Tol::EXACT,
        );
        check_op(
            Op::Tile {
                repeats: vec![2, 3],
            },
            vec![x],
            Tol::EXACT,
        );
    }
    let x = random_tensor(DType::F32, &[2, 3, 5], 35);
    check_op(
        Op::Tile {
            repeats: vec![1, 4, 2],
        },
        vec![x.clone()],
        Tol::EXACT,
    );
    check_op(
        Op::Expand {
            shape: vec![2, 3, 5],
        },
        vec![x],
        Tol::EXACT,
    );
    let x = random_tensor(DType::I32, &[], 36);
    check_op(Op::Expand { shape: vec![257] }, vec![x], Tol::EXACT);
}

#[test]
fn pad_every_mode_with_negative_pads() {
    let x = random_tensor(DType::F32, &[3, 4, 5], 40);
    let pads: [&[i64]; 4] = [
        &[0, 1, 2, 0, 2, 1],
        &[1, 0, -1, 2, 3, 0],
        &[-1, 2, 4, 0, -1, -2],
        &[0, 0, 0, 0, 0, 0],
    ];
    for mode in [
        PadMode::Constant,
        PadMode::Reflect,
        PadMode::Edge,
        PadMode::Wrap,
    ] {
        for p in pads {
            check_op(
                Op::Pad {
                    mode,
                    pads: p.to_vec(),
                },
                vec![x.clone()],
                Tol::EXACT,
            );
        }
    }
    // Constant mode with a fill value operand, on other dtypes.
    for (i, dtype) in [DType::F32, DType::I8, DType::F16].into_iter().enumerate() {
        let x = random_tensor(dtype, &[7], 41 + i as u64);
        let value = random_tensor(dtype, &[], 45 + i as u64);
        check_op(
            Op::Pad {
                mode: PadMode::Constant,
                pads: vec![3, -2],
            },
            vec![x, value],
            Tol::EXACT,
        );
    }
    // Reflect on an axis of one element.
    let x = random_tensor(DType::F32, &[1, 3], 48);
    check_op(
        Op::Pad {
            mode: PadMode::Reflect,
            pads: vec![2, 1, 1, 2],
        },
        vec![x],
        Tol::EXACT,
    );
}

#[test]
fn concat_and_split_many_parts() {
    for axis in 0..3 {
        // Eleven operands: more than fit the storage-buffer limit at once.
        let parts: Vec<Tensor> = (0..11)
            .map(|k| {
                let mut dims = vec![2usize, 3, 4];
                dims[axis] = k % 3 + 1;
                random_tensor(DType::F32, &dims, 50 + k as u64)
            })
            .collect();
        check_op(Op::Concat { axis }, parts, Tol::EXACT);
    }
    let parts = vec![
        random_tensor(DType::Bool, &[3, 0], 61),
        random_tensor(DType::Bool, &[3, 5], 62),
    ];
    check_op(Op::Concat { axis: 1 }, parts, Tol::EXACT);
    for axis in 0..3 {
        let x = random_tensor(DType::I8, &[6, 5, 7], 70 + axis as u64);
        let n = x.shape().dims()[axis];
        let sizes = vec![1, n - 3, 2];
        check_op(Op::Split { axis, sizes }, vec![x], Tol::EXACT);
    }
}

#[test]
fn depth_to_space_and_back() {
    let x = random_tensor(DType::F32, &[2, 12, 3, 5], 80);
    for mode in [DepthToSpaceMode::Dcr, DepthToSpaceMode::Crd] {
        check_op(
            Op::DepthToSpace { blocksize: 2, mode },
            vec![x.clone()],
            Tol::EXACT,
        );
    }
    let x = random_tensor(DType::F16, &[1, 2, 6, 9], 81);
    check_op(Op::SpaceToDepth { blocksize: 3 }, vec![x], Tol::EXACT);
}

#[test]
fn shape_of_an_operand() {
    let x = random_tensor(DType::F32, &[2, 3, 5, 7], 90);
    for (start, end) in [(0, 4), (1, 3), (3, 4)] {
        check_op(Op::Shape { start, end }, vec![x.clone()], Tol::EXACT);
    }
}
