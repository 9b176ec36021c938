//! `kiln` with no arguments: the built-in example model, end to end — import, dump,
//! canonicalize, fuse with the e-graph optimizer, run on the CPU reference interpreter, compile to a kernel bundle and
//! run that on the GPU, comparing the two — saying what it does. Without a GPU adapter
//! it says so (with the fix) and keeps the CPU reference result.

use anyhow::{Context, Result};
use kiln::ir::print::{print_with, PrintOptions};
use kiln::runtime::RuntimeError;
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
        "  see 'kiln --help' for 'kiln compile', 'kiln run', 'kiln bench' on your own models\n"
    )?;

    let model = kiln::load_onnx_bytes(model_bytes).context("built-in example")?;
    let print_options = PrintOptions {
        elide_constants_over: Some(16),
    };
    let options = kiln::CompileOptions::default();
    let passes = kiln::pipeline(&options)?.names();
    let last = passes.last().copied().unwrap_or("import");
    let mut stages = String::new();
    let mut sizes = Vec::new();
    let (graph, report) = kiln::compile_onnx_with_report(&model, &options, &mut |stage, graph| {
        sizes.push((stage.to_string(), graph.nodes.len(), graph.values.len()));
        if stage == "import" || stage == last {
            let _ = writeln!(stages, "// after {stage}");
            stages.push_str(&print_with(graph, &print_options));
            stages.push('\n');
        }
    })?;
    writeln!(
        out,
        "1. imported, canonicalized and optimized the model (--opt {}: fused kernels):",
        kiln::DEFAULT_OPT_LEVEL
    )?;
    for (stage, nodes, values) in &sizes {
        writeln!(
            out,
            "   after {stage:<16} {nodes:>3} nodes, {values:>3} values"
        )?;
    }
    writeln!(
        out,
        "\n2. the IR after import and after the last pass, {last} (large constants elided):\n"
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
    let outputs = kiln::run_cpu(&graph, std::slice::from_ref(&input))?;
    for (port, tensor) in graph.outputs.iter().zip(&outputs) {
        writeln!(
            out,
            "   output '{}': {} {}",
            port.name,
            tensor.ty(),
            kiln::summarize(tensor)
        )?;
        writeln!(out, "   top classes: {}", top_classes(tensor))?;
    }

    let bundle = kiln::bundle_graph(&graph, &options, report.as_ref())?;
    let bytes = bundle.to_bytes();
    let bundle = kiln::Bundle::from_bytes(&bytes)?;
    let summary = kiln::BundleSummary::of(&bundle);
    let ops: Vec<&str> = summary.kernel_list.iter().map(|k| k.op.as_str()).collect();
    writeln!(
        out,
        "\n4. compiled it to a kernel bundle (in memory; 'kiln compile' writes one to disk):"
    )?;
    writeln!(
        out,
        "   {} WGSL kernels ({}), {} dispatches, {} buffers, {} weight bytes, {} bytes in all",
        summary.kernels,
        ops.join(", "),
        summary.dispatches,
        summary.buffers.count,
        summary.weight_bytes,
        bytes.len()
    )?;

    let runtime = match kiln::gpu_runtime(None) {
        Ok(runtime) => runtime,
        Err(kiln::Error::Runtime(e @ RuntimeError::NoAdapter { .. })) => {
            writeln!(out, "\n5. {e}; the CPU reference result above stands")?;
            return super::emit(&out);
        }
        Err(e) => return Err(e.into()),
    };
    let gpu = kiln::run_gpu(&runtime, &bundle, &[input])?;
    writeln!(
        out,
        "\n5. ran the bundle on the GPU adapter {}:",
        runtime.describe()
    )?;
    for ((port, cpu), gpu) in graph.outputs.iter().zip(&outputs).zip(&gpu) {
        let diff = cpu
            .to_f64_vec()
            .iter()
            .zip(gpu.to_f64_vec())
            .map(|(c, g)| (c - g).abs())
            .fold(0.0, f64::max);
        writeln!(
            out,
            "   output '{}': {} {}",
            port.name,
            gpu.ty(),
            kiln::summarize(gpu)
        )?;
        writeln!(out, "   top classes: {}", top_classes(gpu))?;
        writeln!(
            out,
            "   largest difference from the CPU reference: {diff:.2e}{}",
            if diff <= TOLERANCE { " (agrees)" } else { "" }
        )?;
        if diff.is_nan() || diff > TOLERANCE {
            super::emit(&out)?;
            anyhow::bail!(
                "the GPU result of output '{}' differs from the CPU reference by {diff:.2e} \
                 (more than {TOLERANCE:e})",
                port.name
            );
        }
    }
    super::emit(&out)
}

/// Largest accepted difference between GPU and CPU probabilities: both compute in f32,
/// in different summation orders over at most 144 terms.
const TOLERANCE: f64 = 1e-5;

/// `class 3 (0.2100), class 7 (0.1500), ...` for the three most likely classes.
fn top_classes(tensor: &kiln::Tensor) -> String {
    let mut ranked: Vec<(usize, f64)> = tensor.to_f64_vec().into_iter().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let top: Vec<String> = ranked
        .iter()
        .take(3)
        .map(|(c, p)| format!("class {c} ({p:.4})"))
        .collect();
    top.join(", ")
}
