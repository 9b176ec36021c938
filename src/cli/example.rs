//! `kiln` with no arguments: the built-in example model, end to end — import, dump,
//! canonicalize, run on the CPU reference interpreter — saying what it does.

use anyhow::{Context, Result};
use kiln::ir::print::{print_with, PrintOptions};
use std::fmt::Write;

pub fn run() -> Result<()> {
    let mut out = String::new();
    let model_bytes = kiln::EXAMPLE_ONNX;
    writeln!(
        out,
        "kiln: no command given, so running the built-in example model"
    )?;
    writeln!(
        out,
        "  (a {} byte ONNX classifier made by scripts/make-example.py: conv -> relu -> max_pool ->",
        model_bytes.len()
    )?;
    writeln!(
        out,
        "   flatten -> dropout -> gemm -> softmax, 8x8 image in, 10 class probabilities out)"
    )?;
    writeln!(
        out,
        "  see 'kiln --help' for 'kiln run' and 'kiln dump' on your own models\n"
    )?;

    let model = kiln::load_onnx_bytes(model_bytes).context("built-in example")?;
    let print_options = PrintOptions {
        elide_constants_over: Some(16),
    };
    let mut stages = String::new();
    let mut sizes = Vec::new();
    let graph = kiln::compile_onnx_with_hook(&model, &Default::default(), &mut |stage, graph| {
        sizes.push((stage.to_string(), graph.nodes.len(), graph.values.len()));
        if stage == "import" || stage == "dce" {
            let _ = writeln!(stages, "// after {stage}");
            stages.push_str(&print_with(graph, &print_options));
            stages.push('\n');
        }
    })?;
    writeln!(out, "1. imported and canonicalized the model:")?;
    for (stage, nodes, values) in &sizes {
        writeln!(
            out,
            "   after {stage:<16} {nodes:>3} nodes, {values:>3} values"
        )?;
    }
    writeln!(
        out,
        "\n2. the IR after import and after the last pass (large constants elided):\n"
    )?;
    out.push_str(&stages);

    let input = kiln::example_input();
    writeln!(
        out,
        "3. ran it on the CPU reference interpreter with a deterministic input image {}:",
        input.ty()
    )?;
    writeln!(
        out,
        "   x[i] = ((i * 37) % 64) / 64 - 0.5, {}",
        kiln::summarize(&input)
    )?;
    let outputs = kiln::run_cpu(&graph, &[input])?;
    for (port, tensor) in graph.outputs.iter().zip(&outputs) {
        writeln!(
            out,
            "   output '{}': {} {}",
            port.name,
            tensor.ty(),
            kiln::summarize(tensor)
        )?;
        let probs = tensor.to_f64_vec();
        let mut ranked: Vec<(usize, f64)> = probs.iter().copied().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        let top: Vec<String> = ranked
            .iter()
            .take(3)
            .map(|(c, p)| format!("class {c} ({p:.4})"))
            .collect();
        writeln!(out, "   top classes: {}", top.join(", "))?;
    }
    super::emit(&out)
}
