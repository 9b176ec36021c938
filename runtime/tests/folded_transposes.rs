//! Transposes folded into attention: q, kt and v given as transposed head views of
//! [batch, seq, heads·depth] projections are read through permuted strides, and the
//! heads are merged back by writing the result transposed, with no transpose kernel,
//! in the one-kernel and the three-kernel form of attention.

mod bounds;
mod common;

use bounds::attention_bound;
use common::{compare, gpu, random_tensor, Tol};
use kiln_codegen::{build_plan_with, Limits, PlanOptions};
use kiln_ir::{DType, Graph, Handle, Op, TensorType, Value};

/// Batch, sequence, heads, head depth.
const B: usize = 2;
const S: usize = 5;
const H: usize = 3;
const DH: usize = 4;

/// `[B,S,H·DH]` input `name` as heads `[B,H,S,DH]`, or `[B,H,DH,S]` when `keys`.
fn heads(g: &mut Graph, name: &str, keys: bool) -> Handle<Value> {
    let x = g.add_input(name, TensorType::new(DType::F32, vec![B, S, H * DH]), false);
    let r = g
        .add(
            Op::Reshape {
                shape: vec![B, S, H, DH],
            },
            &[x],
            "split_heads",
        )
        .unwrap();
    let perm = if keys {
        vec![0, 2, 3, 1]
    } else {
        vec![0, 2, 1, 3]
    };
    g.add(Op::Transpose { perm }, &[r], "heads").unwrap()
}

/// Multi-head attention over three projections, merged back to `[B,S,H·DH]`.
fn graph() -> Graph {
    let mut g = Graph::new("mha");
    let q = heads(&mut g, "q", false);
    let kt = heads(&mut g, "k", true);
    let v = heads(&mut g, "v", false);
    let a = g
        .add(Op::Attention { scale: 0.5 }, &[q, kt, v], "attention")
        .unwrap();
    let t = g
        .add(
            Op::Transpose {
                perm: vec![0, 2, 1, 3],
            },
            &[a],
            "merge",
        )
        .unwrap();
    let y = g
        .add(
            Op::Reshape {
                shape: vec![B, S, H * DH],
            },
            &[t],
            "merge_heads",
        )
        .unwrap();
    g.add_output("y", y, false);
    g
}

/// Runs `graph()` under `limits` with and without folding; both match the reference.
/// Returns the dispatch counts (unfolded, folded).
fn run_both(limits: &Limits) -> (usize, usize) {
    let g = graph();
    let inputs: Vec<_> = (0..3)
        .map(|i| random_tensor(DType::F32, &[B, S, H * DH], 40 + i))
        .collect();
    let want = kiln_ir::interp::run(&g, &inputs).unwrap();
    let mut counts = Vec::new();
    for fold_transposes in [false, true] {
        let options = PlanOptions {
            fold_transposes,
            ..Default::default()
        };
        let compiled = build_plan_with(&g, limits, &options).unwrap();
        counts.push(compiled.plan.dispatches.len());
        let mut session = gpu().load(&compiled.plan, &compiled.weights).unwrap();
        let got = session.run(&inputs).unwrap();
        compare(
            &got[0],
            &want[0],
            Tol::new(attention_bound(DH, S, 0.5), 0.0),
        )
        .unwrap_or_else(|e| panic!("folded {fold_transposes}: {e}"));
    }
    (counts[0], counts[1])
}

#[test]
fn head_transposes_fold_into_one_kernel_attention() {
    let (unfolded, folded) = run_both(&Limits::default());
    // q, kt, v and the merged result need no copy: attention is the only kernel.
    assert_eq!(unfolded - folded, 4);
    assert_eq!(folded, 1);
}

#[test]
fn head_transposes_fold_into_three_kernel_attention() {
    // Too little workgroup memory for a row block of scores: the three-kernel form.
    let limits = Limits {
        max_compute_workgroup_storage_size: 16,
        ..Limits::default()
    };
    let (unfolded, folded) = run_both(&limits);
    assert_eq!(unfolded - folded, 4);
    assert_eq!(folded, 3);
}
