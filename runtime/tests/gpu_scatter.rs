//! GPU `scatter_nd` against the CPU reference: every reduction, index tuples of one to
//! all data axes, duplicate and negative indices, several dtypes, odd sizes; and an
//! out-of-range index failing the run through its device check. Exact: each result
//! element folds the same updates in the same order on both sides (f32 `+ *` are
//! correctly rounded, integers wrap, max/min select).

mod common;

use common::{check_graph, compare, gpu, random_tensor, Tol};
use kiln_codegen::{build_plan, Limits};
use kiln_ir::{DType, Data, Graph, Op, ScatterReduction, Tensor};

const REDUCTIONS: [ScatterReduction; 5] = [
    ScatterReduction::None,
    ScatterReduction::Add,
    ScatterReduction::Mul,
    ScatterReduction::Max,
    ScatterReduction::Min,
];

/// One `scatter_nd` per reduction of `updates` into `data` at `indices`.
fn scatter_graph(data: &Tensor, indices: &Tensor, updates: &Tensor, all: bool) -> Graph {
    let mut g = Graph::new("scatter");
    let d = g.add_input("data", data.ty(), kiln_ir::Wide::No);
    let i = g.add_input("indices", indices.ty(), kiln_ir::Wide::No);
    let u = g.add_input("updates", updates.ty(), kiln_ir::Wide::No);
    let reductions = if all {
        &REDUCTIONS[..]
    } else {
        &REDUCTIONS[..1]
    };
    for (k, &reduction) in reductions.iter().enumerate() {
        let y = g
            .add(Op::ScatterNd { reduction }, &[d, i, u], format!("n{k}"))
            .unwrap();
        g.add_output(format!("y{k}"), y, kiln_ir::Wide::No);
    }
    g
}

fn i32s(dims: &[usize], v: Vec<i32>) -> Tensor {
    Tensor::new(dims.to_vec(), Data::I32(v)).unwrap()
}

#[test]
fn scatter_nd_matches_the_reference() {
    // data [5, 3, 7]; tuples of 1, 2 and 3 components, with duplicates and negatives.
    let cases: [(Vec<usize>, Vec<i32>); 3] = [
        (vec![4, 1], vec![2, -1, 2, 0]),
        (vec![2, 3, 2], vec![0, 1, 4, 2, 0, 1, -5, -3, 3, 0, 0, 1]),
        (
            vec![6, 3],
            vec![1, 1, 1, 4, 2, 6, 1, 1, 1, 0, 0, 0, -1, -1, -1, 1, 1, -6],
        ),
    ];
    for (seed, dtype) in [
        (500u64, DType::F32),
        (510, DType::I32),
        (520, DType::U8),
        (530, DType::F16),
    ] {
        let data = random_tensor(dtype, &[5, 3, 7], seed);
        for (k, (idims, idx)) in cases.iter().enumerate() {
            let m = idims[idims.len() - 1];
            let mut udims = idims[..idims.len() - 1].to_vec();
            udims.extend_from_slice(&[5, 3, 7][m..]);
            let updates = random_tensor(dtype, &udims, seed + 1 + k as u64);
            let indices = i32s(idims, idx.clone());
            let g = scatter_graph(&data, &indices, &updates, true);
            check_graph(&g, &[data.clone(), indices, updates], Tol::EXACT);
        }
    }
    // Bool data takes plain replacement.
    let data = random_tensor(DType::Bool, &[4, 9], 540);
    let updates = random_tensor(DType::Bool, &[3, 9], 541);
    let indices = i32s(&[3, 1], vec![3, 0, 3]);
    let g = scatter_graph(&data, &indices, &updates, false);
    check_graph(&g, &[data, indices, updates], Tol::EXACT);
}

#[test]
fn an_index_out_of_range_fails_the_run() {
    let data = random_tensor(DType::F32, &[4, 5], 550);
    let updates = random_tensor(DType::F32, &[2, 5], 551);
    let good = i32s(&[2, 1], vec![1, -4]);
    let g = scatter_graph(&data, &good, &updates, false);
    let compiled = build_plan(&g, &Limits::default()).unwrap();
    assert_eq!(compiled.plan.checks.len(), 1);
    let mut session = gpu().load(&compiled.plan, &compiled.weights).unwrap();
    for bad in [4, -5] {
        let bad = i32s(&[2, 1], vec![1, bad]);
        let inputs = [data.clone(), bad, updates.clone()];
        assert!(kiln_ir::interp::run(&g, &inputs).is_err());
        let err = session.run(&inputs).unwrap_err().to_string();
        assert!(err.contains("scatter index is out of range"), "{err}");
    }
    let inputs = [data, good, updates];
    let want = kiln_ir::interp::run(&g, &inputs).unwrap();
    let got = session.run(&inputs).unwrap();
    compare(&got[0], &want[0], Tol::EXACT).unwrap();
}
