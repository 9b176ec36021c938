//! A decoder block as modern exports write it, in opset 23 (`transformer23/`, built with
//! seeded random weights by `scripts/make-transformer-data.py`, outputs from onnxruntime):
//! RMSNormalization, grouped-query Q/K/V projections, RotaryEmbedding with position ids
//! after a 5-position KV cache, the opset-23 `Attention` (causal, past_key/past_value in,
//! present_key/present_value out), the output projection, a SiLU feed-forward and two
//! residual Adds. On the CPU and the GPU at `--opt 0` and `--opt 2` each output must
//! match onnxruntime within relative L2 1e-3 (f32 arithmetic in another order; measured
//! about 2e-7), and at `--opt 2` the block must compile to kiln's fused attention
//! kernel: one `attention` op in the graph, one attention kernel in the bundle.

mod common;

use common::{data_dir, gpu, load_case, run_options, run_within, show, Backend};

const TOLERANCE: f64 = 1e-3;

#[test]
fn opset23_block_matches_onnxruntime_and_fuses_attention() {
    let test = "transformer23";
    let Some(dir) = data_dir("transformer23", test) else {
        return;
    };
    let case = load_case(&dir).unwrap();
    let mut backends = vec![Backend::Cpu];
    backends.extend(gpu(test).map(Backend::Gpu));
    let mut failures = Vec::new();
    for backend in &backends {
        for opt in [0, 2] {
            let label = format!("{} --opt {opt}", backend.name());
            let run = (backend, opt);
            let Some((ran, errors)) = run_within(&case, run, TOLERANCE, &label, &mut failures)
            else {
                continue;
            };
            let shown: Vec<String> = errors.iter().map(|e| format!("{e:.2e}")).collect();
            show(&format!(
                "{test} {} --opt {opt}: relative L2 {} (y, present_key, present_value); {} \
                 ops, {} dispatches",
                backend.name(),
                shown.join(", "),
                ran.ops,
                ran.dispatches.map_or("-".into(), |d| d.to_string())
            ));
        }
    }
    assert!(failures.is_empty(), "{test}:\n{}", failures.join("\n"));

    let model = kiln::load_onnx(&case.model).unwrap();
    let options = run_options(&model, &case.inputs, 2);
    let graph = kiln::compile_onnx(&model, &options).unwrap();
    let attention = graph
        .nodes
        .iter()
        .filter(|(_, n)| matches!(n.op, kiln_ir::Op::Attention { .. }))
        .count();
    assert_eq!(attention, 1, "{test}: attention ops at --opt 2");
    let bundle = kiln::bundle_graph(&graph, &options, None).unwrap();
    let kernels: Vec<&str> = bundle
        .manifest
        .plan
        .kernels
        .iter()
        .map(|k| k.op.as_str())
        .collect();
    assert_eq!(
        kernels.iter().filter(|op| **op == "attention").count(),
        1,
        "{test}: kernels {kernels:?}"
    );
}
