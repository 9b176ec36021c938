//! A synthetic transformer block, written as ONNX in Rust and imported: token embedding
//! `Gather`, LayerNorm spelled out (ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add),
//! attention with Softmax spelled out (MatMul q·kᵀ, Mul by scale, Add mask,
//! Exp(x - ReduceMax)/ReduceSum, MatMul ·v), GELU in its erf form and residual Adds.
//! At `--opt 2` it compiles to the composite ops (`layer_norm`, `attention`, `gelu`)
//! with at most half the dispatches of `--opt 0`, and computes the same on the CPU
//! reference and on the GPU.
//!
//! The spelled-out forms are the ones the composite rules match
//! (`passes/src/egraph/rules/composite.rs`); [`gelu_as_pytorch_exports_it`] checks the
//! operand order PyTorch's exporter writes for GELU.

mod common;
mod onnx_build;

use kiln::ir::Graph;
use kiln::{CompileOptions, Tensor};
use kiln_onnx::proto::data_type::{FLOAT, INT64};
use onnx_build::{random, Attr, OnnxBuilder};

/// Sequence length, model width, heads, head width, vocabulary, feed-forward width.
const S: i64 = 8;
const D: i64 = 32;
const H: i64 = 2;
const DH: i64 = 16;
const V: i64 = 50;
const F: i64 = 64;

/// How GELU's `1 + erf(x/√2)` is spelled.
#[derive(Clone, Copy)]
enum GeluForm {
    /// `Add(1, Erf(..))`: the order the composite rules match.
    OneFirst,
    /// `Add(Erf(..), 1)`: the order PyTorch's exporter writes.
    ErfFirst,
}

struct Block {
    b: OnnxBuilder,
    seed: u64,
}

impl Block {
    fn weights(&mut self, dims: &[i64], scale: f32) -> String {
        self.seed += 1;
        let n = dims.iter().product::<i64>() as usize;
        self.b.f32s(dims, random(n, scale, self.seed))
    }

    /// `x·W + b` over the last axis.
    fn linear(&mut self, x: &str, inputs: i64, outputs: i64) -> String {
        let w = self.weights(&[inputs, outputs], 1.0 / (inputs as f32).sqrt());
        let bias = self.weights(&[outputs], 0.1);
        let m = self.b.node("MatMul", &[x, &w], &[]);
        self.b.node("Add", &[&m, &bias], &[])
    }

    /// LayerNorm over the last axis, spelled out as exporters without the
    /// LayerNormalization op write it.
    fn layer_norm(&mut self, x: &str) -> String {
        let axes = self.b.i64s(&[-1]);
        let keep = || [("keepdims", Attr::Int(1))];
        let mean = self.b.node("ReduceMean", &[x, &axes], &keep());
        let d = self.b.node("Sub", &[x, &mean], &[]);
        let two = self.b.scalar(2.0);
        let sq = self.b.node("Pow", &[&d, &two], &[]);
        let var = self.b.node("ReduceMean", &[&sq, &axes], &keep());
        let eps = self.b.scalar(1e-5);
        let ve = self.b.node("Add", &[&var, &eps], &[]);
        let sd = self.b.node("Sqrt", &[&ve], &[]);
        let n = self.b.node("Div", &[&d, &sd], &[]);
        self.seed += 1;
        let gamma: Vec<f32> = random(D as usize, 0.2, self.seed)
            .iter()
            .map(|r| 1.0 + r)
            .collect();
        let gamma = self.b.f32s(&[D], gamma);
        let beta = self.weights(&[D], 0.1);
        let scaled = self.b.node("Mul", &[&n, &gamma], &[]);
        self.b.node("Add", &[&scaled, &beta], &[])
    }

    /// Softmax over the last axis, spelled out.
    fn softmax(&mut self, z: &str) -> String {
        let axes = self.b.i64s(&[-1]);
        let keep = || [("keepdims", Attr::Int(1))];
        let max = self.b.node("ReduceMax", &[z, &axes], &keep());
        let shifted = self.b.node("Sub", &[z, &max], &[]);
        let e = self.b.node("Exp", &[&shifted], &[]);
        let sum = self.b.node("ReduceSum", &[&e, &axes], &keep());
        self.b.node("Div", &[&e, &sum], &[])
    }

    /// `(x·(1 + erf(x/√2)))·½`.
    fn gelu(&mut self, x: &str, form: GeluForm) -> String {
        let root2 = self.b.scalar(std::f32::consts::SQRT_2);
        let scaled = self.b.node("Div", &[x, &root2], &[]);
        let erf = self.b.node("Erf", &[&scaled], &[]);
        let one = self.b.scalar(1.0);
        let plus = match form {
            GeluForm::OneFirst => self.b.node("Add", &[&one, &erf], &[]),
            GeluForm::ErfFirst => self.b.node("Add", &[&erf, &one], &[]),
        };
        let xp = self.b.node("Mul", &[x, &plus], &[]);
        let half = self.b.scalar(0.5);
        self.b.node("Mul", &[&xp, &half], &[])
    }

    /// `[1,S,D]` to heads `[1,H,S,DH]` (or `[1,H,DH,S]` with `transposed`).
    fn heads(&mut self, x: &str, transposed: bool) -> String {
        let shape = self.b.i64s(&[1, S, H, DH]);
        let r = self.b.node("Reshape", &[x, &shape], &[]);
        let perm = if transposed {
            vec![0, 2, 3, 1]
        } else {
            vec![0, 2, 1, 3]
        };
        self.b
            .node("Transpose", &[&r], &[("perm", Attr::Ints(perm))])
    }

    fn attention(&mut self, h: &str) -> String {
        let q = self.linear(h, D, D);
        let k = self.linear(h, D, D);
        let v = self.linear(h, D, D);
        let (q, kt, v) = (
            self.heads(&q, false),
            self.heads(&k, true),
            self.heads(&v, false),
        );
        let scores = self.b.node("MatMul", &[&q, &kt], &[]);
        let scale = self.b.scalar(1.0 / (DH as f32).sqrt());
        let scaled = self.b.node("Mul", &[&scores, &scale], &[]);
        // Causal mask: 0 on and below the diagonal, -10000 above.
        let mask: Vec<f32> = (0..S * S)
            .map(|i| if i % S > i / S { -10000.0 } else { 0.0 })
            .collect();
        let mask = self.b.f32s(&[1, 1, S, S], mask);
        let masked = self.b.node("Add", &[&scaled, &mask], &[]);
        let p = self.softmax(&masked);
        let ctx = self.b.node("MatMul", &[&p, &v], &[]);
        let ctx = self.b.node(
            "Transpose",
            &[&ctx],
            &[("perm", Attr::Ints(vec![0, 2, 1, 3]))],
        );
        let shape = self.b.i64s(&[1, S, D]);
        let ctx = self.b.node("Reshape", &[&ctx, &shape], &[]);
        self.linear(&ctx, D, D)
    }
}

/// The block's ONNX bytes: `ids: int64[1,S]` in, `y: f32[1,S,D]` out.
fn transformer_block(form: GeluForm) -> Vec<u8> {
    let mut t = Block {
        b: OnnxBuilder::new("transformer-block"),
        seed: 100,
    };
    let ids = t.b.input("ids", INT64, &[1, S]);
    let table = t.weights(&[V, D], 1.0);
    let tokens =
        t.b.node("Gather", &[&table, &ids], &[("axis", Attr::Int(0))]);
    let positions = t.weights(&[S, D], 0.5);
    let x0 = t.b.node("Add", &[&tokens, &positions], &[]);
    let h1 = t.layer_norm(&x0);
    let attn = t.attention(&h1);
    let x1 = t.b.node("Add", &[&x0, &attn], &[]);
    let h2 = t.layer_norm(&x1);
    let up = t.linear(&h2, D, F);
    let act = t.gelu(&up, form);
    let down = t.linear(&act, F, D);
    let y = t.b.node("Add", &[&x1, &down], &[]);
    t.b.output(&y, FLOAT, &[1, S, D]);
    t.b.encode(18)
}

fn ids() -> Tensor {
    Tensor::from_i32(vec![1, S as usize], vec![3, 14, 15, 9, 26, 5, 35, 8]).unwrap()
}

fn compile(bytes: &[u8], opt_level: u8) -> (Graph, Option<kiln::Report>) {
    let model = kiln::load_onnx_bytes(bytes).unwrap();
    let options = CompileOptions {
        opt_level,
        ..Default::default()
    };
    kiln::compile_onnx_with_report(&model, &options, &mut |_, _| {}).unwrap()
}

fn bundle(graph: &Graph, opt_level: u8) -> kiln::Bundle {
    let options = CompileOptions {
        opt_level,
        ..Default::default()
    };
    kiln::bundle_graph(graph, &options, None).unwrap()
}

/// The IR text with large constants elided.
fn text(graph: &Graph) -> String {
    let options = kiln::ir::print::PrintOptions {
        elide_constants_over: Some(16),
    };
    kiln::ir::print::print_with(graph, &options)
}

/// How many times `op` (an IR op name or an epilogue function) appears in the IR text.
fn count(graph: &Graph, op: &str) -> usize {
    let text = text(graph);
    text.matches(&format!("{op}{{")).count() + text.matches(&format!("{op}(")).count()
}

#[test]
fn block_compiles_to_composite_ops_with_half_the_dispatches() {
    let bytes = transformer_block(GeluForm::OneFirst);
    let (g0, _) = compile(&bytes, 0);
    let (g2, report) = compile(&bytes, 2);
    let report = report.unwrap();
    let text = text(&g2);
    common::show(&format!("transformer block at --opt 2:\n{text}\n{report}"));
    assert_eq!(count(&g2, "layer_norm"), 2, "{text}");
    assert_eq!(count(&g2, "attention"), 1, "{text}");
    assert_eq!(count(&g2, "gelu"), 1, "{text}");
    for spelled in [
        "reduce_mean",
        "reduce_max",
        "reduce_sum",
        "erf",
        "sqrt",
        "exp",
    ] {
        assert_eq!(count(&g2, spelled), 0, "{spelled} is left:\n{text}");
    }
    assert!(count(&g0, "reduce_mean") == 4 && count(&g0, "erf") == 1);

    let (b0, b2) = (bundle(&g0, 0), bundle(&g2, 2));
    let (d0, d2) = (
        b0.manifest.plan.dispatches.len(),
        b2.manifest.plan.dispatches.len(),
    );
    common::show(&format!(
        "transformer block: {d0} dispatches at --opt 0, {d2} at --opt 2 ({:.0}%)",
        100.0 * d2 as f64 / d0 as f64
    ));
    assert!(2 * d2 <= d0, "{d2} dispatches at --opt 2, {d0} at --opt 0");

    let cpu0 = kiln::run_cpu(&g0, &[ids()]).unwrap();
    let cpu2 = kiln::run_cpu(&g2, &[ids()]).unwrap();
    assert_eq!(cpu0[0].shape().dims(), [1, S as usize, D as usize]);
    let spread = cpu0[0].to_f64_vec().iter().map(|x| x.abs()).sum::<f64>();
    assert!(spread > 1.0, "the block's output is not trivially small");
    let err = common::relative_l2(&cpu2[0], &cpu0[0]);
    assert!(err <= 1e-5, "CPU --opt 2 vs --opt 0: relative L2 {err:.2e}");

    let Some(runtime) = common::gpu("transformer block on the GPU") else {
        return;
    };
    for (level, b) in [(0, &b0), (2, &b2)] {
        let plan = &b.manifest.plan;
        let inputs = kiln::bind_plan_inputs(plan, &[("ids".to_string(), ids())].into()).unwrap();
        let gpu = kiln::run_gpu(&runtime, b, &inputs).unwrap();
        let err = common::relative_l2(&gpu[0], &cpu0[0]);
        common::show(&format!(
            "transformer block: GPU --opt {level} vs CPU --opt 0: relative L2 {err:.2e}"
        ));
        assert!(err <= 1e-4, "GPU --opt {level}: relative L2 {err:.2e}");
    }
}

/// PyTorch writes GELU's `1 + erf(..)` as `Add(Erf(..), 1)`, erf first.
#[test]
fn gelu_as_pytorch_exports_it() {
    let (g2, _) = compile(&transformer_block(GeluForm::ErfFirst), 2);
    let text = text(&g2);
    let matched = count(&g2, "gelu") == 1;
    common::show(&format!(
        "GELU spelled Add(Erf, 1) (PyTorch's order) {} by the composite rules",
        if matched {
            "is matched"
        } else {
            "is NOT matched"
        }
    ));
    assert!(matched, "{text}");
}
