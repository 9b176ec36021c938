//! The `prune` pass and its masks on small graphs: each mode zeroes what it promises,
//! N:M readers become `sparse_matmul` computing the same as the zeroed dense weights,
//! convolutions N:M cannot store are reported, and the budget leaves layers alone.

use super::masks::{self, Matrix};
use super::*;
use kiln_codegen::Limits;
use kiln_ir::interp::run;
use kiln_ir::random::random_tensor;
use kiln_ir::{ConvAttrs, DType, Op, TensorType};

fn target() -> Limits {
    Limits::default()
}

fn options(mode: &str, budget: Option<f64>) -> PruneOptions {
    PruneOptions {
        mode: mode.parse().unwrap(),
        budget,
        samples: Vec::new(),
    }
}

/// `y = relu(x · w1) · w2` plus a 3×3 conv branch reading `img`, random weights.
fn model() -> Graph {
    let mut g = Graph::new("g");
    let x = g.add_input(
        "x",
        TensorType::new(DType::F32, vec![5, 64]),
        kiln_ir::Wide::No,
    );
    let img = g.add_input(
        "img",
        TensorType::new(DType::F32, vec![1, 8, 6, 6]),
        kiln_ir::Wide::No,
    );
    let w1 = g.add_const(None, random_tensor(DType::F32, &[64, 48], 1));
    let w2 = g.add_const(None, random_tensor(DType::F32, &[48, 32], 2));
    let wc = g.add_const(None, random_tensor(DType::F32, &[16, 8, 3, 3], 3));
    let h = g.add(Op::MatMul, &[x, w1], "mm1").unwrap();
    let r = g
        .add(Op::Unary(kiln_ir::UnaryOp::Relu), &[h], "relu")
        .unwrap();
    let y = g.add(Op::MatMul, &[r, w2], "mm2").unwrap();
    let conv = Op::Conv(ConvAttrs {
        strides: vec![1, 1],
        pads: vec![1, 1, 1, 1],
        dilations: vec![1, 1],
        group: 1,
    });
    let c = g.add(conv, &[img, wc], "conv").unwrap();
    g.add_output("y", y, kiln_ir::Wide::No);
    g.add_output("c", c, kiln_ir::Wide::No);
    g
}

fn floats(t: &Tensor) -> Vec<f32> {
    t.to_f64_vec().iter().map(|&v| v as f32).collect()
}

#[test]
fn modes_parse_and_print_back() {
    for s in [
        "magnitude:0.5",
        "magnitude-global:0.9",
        "blocks:4x4:0.75",
        "2:4",
        "channels:0.5",
    ] {
        let mode: PruneMode = s.parse().unwrap();
        assert_eq!(mode.to_string(), s);
    }
    assert_eq!("2:4".parse::<PruneMode>().unwrap().sparsity(), 0.5);
    for bad in [
        "magnitude:1.5",
        "magnitude",
        "blocks:4:0.5",
        "4:2",
        "0:4",
        "lottery:0.5",
        "channels:0",
    ] {
        let err = bad.parse::<PruneMode>().unwrap_err();
        assert!(
            err.starts_with(&format!("'{bad}'")) && err.contains("modes:"),
            "{err}"
        );
    }
}

#[test]
fn masks_zero_what_each_mode_promises() {
    let w0 = floats(&random_tensor(DType::F32, &[12, 10], 4));
    let m = Matrix {
        reduction: 12,
        outputs: 10,
        r_stride: 10,
        o_stride: 1,
    };
    // Magnitude: exactly the 60 smallest.
    let mut w = w0.clone();
    masks::smallest(&mut w, 60);
    let largest_zeroed = w0
        .iter()
        .zip(&w)
        .filter(|(_, b)| **b == 0.0)
        .map(|(a, _)| a.abs())
        .fold(0.0, f32::max);
    let smallest_kept = w
        .iter()
        .filter(|v| **v != 0.0)
        .map(|v| v.abs())
        .fold(f32::MAX, f32::min);
    assert_eq!(w.iter().filter(|v| **v == 0.0).count(), 60);
    assert!(largest_zeroed <= smallest_kept);
    // Blocks of 4×3 (partial at the edges): every block all zero or untouched.
    let mut w = w0.clone();
    masks::blocks(&mut w, m, (4, 3), 0.5);
    let blocks = 3 * 4;
    let mut zero_blocks = 0;
    for b in 0..blocks {
        let (br, bc) = (b / 4, b % 4);
        let cells: Vec<usize> = (br * 4..br * 4 + 4)
            .flat_map(|r| (bc * 3..(bc * 3 + 3).min(10)).map(move |o| r * 10 + o))
            .collect();
        let zeros = cells.iter().filter(|&&i| w[i] == 0.0).count();
        assert!(zeros == 0 || zeros == cells.len(), "block {b} partly zero");
        zero_blocks += usize::from(zeros == cells.len());
    }
    assert_eq!(zero_blocks, 6);
    // 2:4 along the reduction (rows): two of every four per column, the largest.
    let mut w = w0.clone();
    masks::n_of_m(&mut w, m, 2, 4).unwrap();
    for o in 0..10 {
        for g in 0..3 {
            let group: Vec<usize> = (0..4).map(|p| (g * 4 + p) * 10 + o).collect();
            let kept: Vec<usize> = group.iter().copied().filter(|&i| w[i] != 0.0).collect();
            assert_eq!(kept.len(), 2);
            let min_kept = kept.iter().map(|&i| w0[i].abs()).fold(f32::MAX, f32::min);
            assert!(group
                .iter()
                .filter(|i| !kept.contains(i))
                .all(|&i| w0[i].abs() <= min_kept));
        }
    }
    assert!(masks::n_of_m(&mut w, Matrix { reduction: 10, ..m }, 2, 4).is_none());
}

#[test]
fn magnitude_prunes_every_layer_without_a_budget() {
    let g = model();
    let (pruned, report) = prune(&g, &options("magnitude:0.7", None), &target()).unwrap();
    assert_eq!(report.pruned(), 3);
    for row in &report.layers {
        assert!(
            (row.sparsity - 0.7).abs() < 0.01,
            "{}: {}",
            row.node,
            row.sparsity
        );
        assert_eq!(row.format, "dense");
    }
    // The outputs' error is measured and reported, and it is not zero.
    assert!(
        report
            .outputs
            .iter()
            .all(|o| o.rel_l2 > 0.0 && o.rel_l2 < 1.0),
        "{report}"
    );
    assert_eq!(pruned.inputs.len(), g.inputs.len());
}

#[test]
fn n_of_m_stores_products_compressed_and_reports_what_it_cannot() {
    let g = model();
    let (pruned, report) = prune(&g, &options("2:4", None), &target()).unwrap();
    let sparse: Vec<&str> = pruned
        .nodes
        .iter()
        .map(|(_, n)| n.op.name())
        .filter(|n| n.starts_with("sparse_"))
        .collect();
    assert_eq!(sparse, ["sparse_matmul", "sparse_matmul", "sparse_conv"]);
    assert!(report.skipped.is_empty(), "{report}");
    // 3 of 7 cannot group reductions of 64, 48 and 72.
    let (_, odd) = prune(&g, &options("3:7", None), &target()).unwrap();
    assert_eq!(odd.skipped.len(), 3, "{odd}");
    assert!(
        odd.skipped
            .iter()
            .all(|s| s.why.contains("not a multiple of 7")),
        "{odd}"
    );
    for row in &report.layers {
        assert_eq!(row.format, "2:4");
        assert!(
            row.bytes_after as f64 <= 0.6 * row.bytes_before as f64,
            "{report}"
        );
        assert!((row.flops_after / row.flops_before - 0.5).abs() < 1e-9);
    }
    // The sparse products compute what the dense ones of the zeroed weights do.
    let mut zeroed = g.clone();
    for (_, node) in g.nodes.iter().filter(|(_, n)| n.inputs.len() > 1) {
        let w = node.inputs[1];
        let mut v = floats(g.constant(w).unwrap());
        let dims = g.ty(w).shape.dims();
        let m = match node.op.name() {
            "matmul" => Matrix {
                reduction: dims[0],
                outputs: dims[1],
                r_stride: dims[1],
                o_stride: 1,
            },
            "conv" => Matrix {
                reduction: dims[1..].iter().product(),
                outputs: dims[0],
                r_stride: 1,
                o_stride: dims[1..].iter().product(),
            },
            _ => continue,
        };
        masks::n_of_m(&mut v, m, 2, 4).unwrap();
        zeroed.values[w].def =
            kiln_ir::ValueDef::Const(Tensor::from_f32(g.ty(w).shape.clone(), v).unwrap());
    }
    let inputs = measure::random_samples(&g).remove(0);
    let (want, got) = (
        run(&zeroed, &inputs).unwrap(),
        run(&pruned, &inputs).unwrap(),
    );
    for (want, got) in want.iter().zip(&got) {
        for (w, p) in want.to_f64_vec().iter().zip(got.to_f64_vec()) {
            assert!((w - p).abs() <= 1e-4 * (1.0 + w.abs()), "{w} vs {p}");
        }
    }
}

#[test]
fn the_budget_leaves_sensitive_layers_alone() {
    let g = model();
    let budget = 0.05;
    let (_, report) = prune(&g, &options("magnitude:0.8", Some(budget)), &target()).unwrap();
    assert!(report.pruned() < report.layers.len(), "{report}");
    assert!(
        report.outputs.iter().all(|o| o.rel_l2 <= budget),
        "{report}"
    );
    for row in report.layers.iter().filter(|r| r.kept_because.is_some()) {
        assert!(row.sparsity < 0.1, "{report}");
    }
}

/// The report finds each layer's final form by its reader: unnamed readers get their
/// layer's name, and two layers of one name each settle on their own node.
#[test]
fn the_report_settles_unnamed_and_same_named_layers() {
    let mut g = Graph::new("g");
    let x = g.add_input(
        "x",
        TensorType::new(DType::F32, vec![3, 64]),
        kiln_ir::Wide::No,
    );
    let w1 = g.add_const(None, random_tensor(DType::F32, &[64, 32], 5));
    let w2 = g.add_const(None, random_tensor(DType::F32, &[32, 64], 6));
    let w3 = g.add_const(None, random_tensor(DType::F32, &[64, 48], 7));
    let h = g.add(Op::MatMul, &[x, w1], "").unwrap();
    let h = g.add(Op::MatMul, &[h, w2], "same").unwrap();
    let y = g.add(Op::MatMul, &[h, w3], "same").unwrap();
    g.add_output("y", y, kiln_ir::Wide::No);
    let (pruned, report) = prune(&g, &options("2:4", None), &target()).unwrap();
    assert_eq!(report.layers.len(), 3, "{report}");
    for row in &report.layers {
        assert_eq!(row.format, "2:4", "{report}");
        assert!(
            (row.flops_after / row.flops_before - 0.5).abs() < 1e-9,
            "{report}"
        );
    }
    assert!(pruned.nodes.iter().all(|(_, n)| !n.name.is_empty()));
}

#[test]
fn a_budget_is_refused_when_the_unpruned_model_gives_nan() {
    let mut g = model();
    // log of the conv's output: NaN wherever it is negative.
    let c = g.outputs[1].value;
    let l = g
        .add(Op::Unary(kiln_ir::UnaryOp::Log), &[c], "log")
        .unwrap();
    g.outputs[1].value = l;
    let err = prune(&g, &options("magnitude:0.5", Some(0.1)), &target()).unwrap_err();
    assert!(
        err.starts_with(
            "accuracy budget 0.1: no error can be measured, the float model's output 'c' is NaN"
        ),
        "{err}"
    );
    let (_, report) = prune(&g, &options("magnitude:0.5", None), &target()).unwrap();
    assert!(report.unmeasured.is_some() && report.layers.iter().all(|l| l.error.is_nan()));
    assert!(report.to_string().contains("alone n/a"), "{report}");
}
