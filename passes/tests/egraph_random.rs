//! Property test: random small graphs of element-wise, matmul, reduce and layout ops,
//! with a max-pool → 1×1 conv chain on the side, compute the same outputs before and after the optimizer (reference interpreter).

mod common;

use kiln_ir::{BinaryOp, Graph, Handle, Op, ReduceOp, Tensor, UnaryOp, Value};
use kiln_passes::egraph::{optimize, EgraphOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn random_graph(seed: u64) -> Graph {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut g = Graph::new(format!("random{seed}"));
    let x = g.add_input(
        "x",
        kiln_ir::TensorType::new(kiln_ir::DType::F32, vec![2, 3, 4]),
        kiln_ir::Wide::No,
    );
    let w = g.add_input(
        "w",
        kiln_ir::TensorType::new(kiln_ir::DType::F32, vec![4, 4]),
        kiln_ir::Wide::No,
    );
    let pw = g.add_input(
        "pw",
        kiln_ir::TensorType::new(kiln_ir::DType::F32, vec![3, 3, 1]),
        kiln_ir::Wide::No,
    );
    let mut pool: Vec<Handle<Value>> = vec![x];
    let consts = [0.0f32, 1.0, 2.0, 0.5, -1.5];
    for i in 0..rng.gen_range(3..12) {
        let a = pool[rng.gen_range(0..pool.len())];
        let b = pool[rng.gen_range(0..pool.len())];
        let name = format!("n{i}");
        let v = match rng.gen_range(0..9) {
            0 | 1 => {
                let u = [
                    UnaryOp::Relu,
                    UnaryOp::Neg,
                    UnaryOp::Sigmoid,
                    UnaryOp::Tanh,
                    UnaryOp::Abs,
                ][rng.gen_range(0..5)];
                g.add(Op::Unary(u), &[a], name)
            }
            2 | 3 => {
                let op = [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Max]
                    [rng.gen_range(0..4)];
                g.add(Op::Binary(op), &[a, b], name)
            }
            4 => {
                let c = g.add_const(
                    None,
                    Tensor::scalar(kiln_ir::Data::F32(vec![consts[rng.gen_range(0..5)]])).unwrap(),
                );
                let op = [BinaryOp::Add, BinaryOp::Mul][rng.gen_range(0..2)];
                g.add(Op::Binary(op), &[a, c], name)
            }
            5 => g.add(Op::MatMul, &[a, w], name),
            6 => g.add(
                Op::Reduce {
                    op: ReduceOp::Sum,
                    axes: vec![2],
                    keepdims: true,
                },
                &[a],
                name,
            ),
            7 => {
                let t = g
                    .add(
                        Op::Transpose {
                            perm: vec![1, 0, 2],
                        },
                        &[a],
                        format!("{name}a"),
                    )
                    .unwrap();
                let t = g
                    .add(
                        Op::Transpose {
                            perm: vec![1, 0, 2],
                        },
                        &[t],
                        format!("{name}b"),
                    )
                    .unwrap();
                g.add(Op::Unary(UnaryOp::Relu), &[t], name)
            }
            _ => {
                let shape = g.ty(a).shape.dims().to_vec();
                let n: usize = shape.iter().product();
                let r = g
                    .add(Op::Reshape { shape: vec![n] }, &[a], format!("{name}a"))
                    .unwrap();
                g.add(Op::Reshape { shape }, &[r], name)
            }
        };
        if let Ok(v) = v {
            pool.push(v);
        }
    }
    let last = *pool.last().unwrap();
    g.add_output("y", last, kiln_ir::Wide::No);
    let other = pool[rng.gen_range(0..pool.len())];
    g.add_output("z", other, kiln_ir::Wide::No);
    // On its own stream, so the graphs above stay as they were.
    let mut rng = StdRng::seed_from_u64(seed ^ 0x9e37_79b9);
    let from = pool[rng.gen_range(0..pool.len())];
    let p = pool_conv(&mut g, &mut rng, from, pw);
    g.add_output("p", p, kiln_ir::Wide::No);
    g
}

/// A shape-keeping 1-d max pool of `a` read by a 1×1 conv with weights `pw` (a
/// prologue candidate), then maybe a relu.
fn pool_conv(
    g: &mut Graph,
    rng: &mut StdRng,
    a: Handle<Value>,
    pw: Handle<Value>,
) -> Handle<Value> {
    let (kernel, pads) =
        [(3, vec![1, 1]), (2, vec![0, 1]), (2, vec![1, 0])][rng.gen_range(0..3)].clone();
    let attrs = kiln_ir::PoolAttrs {
        kernel: vec![kernel],
        strides: vec![1],
        pads,
        dilations: vec![1],
        ceil_mode: false,
        count_include_pad: false,
        storage_order: 0,
    };
    let p = g.add(Op::MaxPool(attrs), &[a], "pool").unwrap();
    let conv = kiln_ir::ConvAttrs {
        strides: vec![1],
        pads: vec![0, 0],
        dilations: vec![1],
        group: 1,
    };
    let c = g.add(Op::Conv(conv), &[p, pw], "conv").unwrap();
    if rng.gen_bool(0.5) {
        g.add(Op::Unary(UnaryOp::Relu), &[c], "relu").unwrap()
    } else {
        c
    }
}

#[test]
fn random_graphs_keep_their_outputs() {
    let mut prologues = 0;
    for seed in 0..300 {
        let g = random_graph(seed);
        kiln_ir::verify::verify(&g).expect("random graph verifies");
        let (out, report) = optimize(&g, &EgraphOptions::default(), &common::target())
            .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{}", kiln_ir::print::print(&g)));
        assert!(report.kernels_after <= report.kernels_before, "seed {seed}");
        common::assert_same_outputs(&g, &out, seed, 1e-4);
        prologues += out
            .nodes
            .iter()
            .filter(|(_, n)| {
                matches!(
                    &n.op,
                    Op::Fused {
                        prologue: Some(_),
                        ..
                    }
                )
            })
            .count();
    }
    // A pool whose only user is the conv is fused into it as a prologue.
    assert!(prologues > 100, "{prologues} prologues fused in 300 graphs");
}

#[test]
fn an_anchor_used_twice_is_not_recomputed() {
    let text = r#"graph "t" {
  input %v0 "x" : f32[4,8]
  input %v1 "w" : f32[8,3]
  %v2 = matmul(%v0, %v1) : f32[4,3]
  %v3 "y" = relu(%v2) : f32[4,3]
  %v4 "z" = sigmoid(%v2) : f32[4,3]
  output "y" = %v3
  output "z" = %v4
}"#;
    let g = kiln_ir::parse::parse(text).unwrap();
    let (out, _) = optimize(&g, &EgraphOptions::default(), &common::target()).unwrap();
    let matmuls = out
        .nodes
        .iter()
        .filter(|(_, n)| {
            matches!(&n.op, Op::MatMul)
                || matches!(&n.op, Op::Fused { anchor, .. } if **anchor == Op::MatMul)
        })
        .count();
    assert_eq!(matmuls, 1, "{}", kiln_ir::print::print(&out));
    common::assert_same_outputs(&g, &out, 3, 1e-5);
}

#[test]
fn saturation_stops_by_its_bounds_and_says_why() {
    let g = random_graph(11);
    let options = EgraphOptions {
        iter_limit: 1,
        ..EgraphOptions::default()
    };
    let (_, report) = optimize(&g, &options, &common::target()).unwrap();
    for p in &report.phases {
        assert!(
            p.stop_reason == "saturated" || p.stop_reason == "iteration limit 1",
            "{}",
            p.stop_reason
        );
    }
    let text = report.to_string();
    assert!(text.contains("stopped:"), "{text}");
}

#[test]
fn unknown_rule_names_are_errors() {
    let g = random_graph(1);
    let options = EgraphOptions {
        disabled_rules: vec!["no-such-rule".into()],
        ..EgraphOptions::default()
    };
    let err = optimize(&g, &options, &common::target())
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown rule 'no-such-rule'"), "{err}");
}
