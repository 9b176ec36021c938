//! `kiln run`: run a model (ONNX, compiled in memory, or a `.kiln` bundle) on the GPU or
//! the CPU reference, write and summarise the outputs.

use super::opt::OptArgs;
use super::target::{self, GpuChoice, Missing};
use super::{args, usage};
use anyhow::Result;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// Where a model runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// WGSL kernels on a GPU adapter through wgpu.
    Gpu,
    /// The CPU reference interpreter.
    Cpu,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The model: an ONNX file (compiled in memory) or a `.kiln` bundle.
    model: PathBuf,
    /// Where to run the model (a bundle runs on the GPU only).
    #[arg(long, value_enum, default_value = "gpu")]
    backend: Backend,
    #[command(flatten)]
    gpu: GpuChoice,
    /// An input tensor, `NAME=PATH` or `PATH` (matched to the model's inputs in
    /// order); `.npy` or ONNX TensorProto `.pb`. Repeat for each input.
    #[arg(long = "input", short = 'i', value_name = "[NAME=]PATH")]
    inputs: Vec<String>,
    /// Write the outputs to DIR/output_<i>.npy (in graph output order).
    #[arg(long, short = 'o', value_name = "DIR")]
    output_dir: Option<PathBuf>,
    /// Bind an input's symbolic dims, e.g. `data=1x3x224x224` (ONNX models only).
    /// Repeatable.
    #[arg(long = "shape", value_name = "NAME=DIMS")]
    shapes: Vec<String>,
    #[command(flatten)]
    opt: OptArgs,
    /// With --quantize (an .onnx model, on the GPU): also run the model without
    /// quantization on the same inputs and print how far each output moved (relative
    /// L2, max abs error, cosine, top-1 agreement).
    #[arg(long)]
    compare_f32: bool,
}

pub fn run(a: RunArgs) -> Result<()> {
    match a.backend {
        Backend::Gpu => run_on_gpu(a),
        Backend::Cpu => {
            if kiln::is_bundle_file(&a.model)? {
                return Err(usage(format!(
                    "--backend cpu cannot run {}: a bundle holds GPU kernels, not the model's \
                     graph; run the .onnx model with --backend cpu, or the bundle with --backend gpu",
                    a.model.display()
                )));
            }
            if a.gpu.adapter.is_some() {
                return Err(usage("--adapter applies to --backend gpu"));
            }
            if a.gpu.backend_api.is_some() {
                return Err(usage("--backend-api applies to --backend gpu"));
            }
            if a.compare_f32 {
                return Err(usage("--compare-f32 applies to --backend gpu"));
            }
            run_on_cpu(a)
        }
    }
}

fn run_on_gpu(a: RunArgs) -> Result<()> {
    if a.compare_f32 && !a.opt.quantize_given() {
        return Err(usage(
            "--compare-f32 compares a quantized model with its f32 original: give --quantize \
             MODE (and an .onnx model)",
        ));
    }
    let (model, runtime) = target::load(
        &a.model,
        &a.inputs,
        &a.shapes,
        &a.opt,
        Missing::Error,
        &a.gpu,
        a.compare_f32,
    )?;
    let outputs = kiln::run_gpu(&runtime, &model.bundle, &model.inputs)?;
    if let Some(f32_bundle) = &model.f32 {
        let f32_outputs = kiln::run_gpu(&runtime, f32_bundle, &model.inputs)?;
        let names: Vec<String> = model
            .bundle
            .manifest
            .plan
            .model_outputs()
            .iter()
            .map(|p| p.name.clone())
            .collect();
        println!("quantized against the f32 model on the GPU, same inputs:");
        for o in
            kiln::passes::quantize::compare(&names, &[f32_outputs], std::slice::from_ref(&outputs))
        {
            println!("  {o}");
        }
    }
    let plan = &model.bundle.manifest.plan;
    let ports = plan.model_outputs();
    let written = match &a.output_dir {
        Some(dir) => Some(kiln::write_plan_outputs(dir, plan, &outputs)?),
        None => None,
    };
    let names: Vec<(&str, kiln::Wide)> = ports.iter().map(|p| (p.name.as_str(), p.wide)).collect();
    print_outputs(&names, &outputs, written.as_deref());
    Ok(())
}

fn run_on_cpu(a: RunArgs) -> Result<()> {
    let mut options = kiln::CompileOptions::default();
    a.opt.apply(&mut options)?;
    let model = kiln::load_onnx(&a.model)?;
    options.shapes = args::shapes(&model, &a.shapes)?;
    let given = args::inputs(&model, &a.inputs)?;
    options.specialise(given.into_iter().map(|(n, t)| (n, t.tensor)).collect());
    let graph = kiln::compile_onnx(&model, &options)?;
    if let Some(port) = graph
        .inputs
        .iter()
        .find(|p| !options.values.contains_key(&p.name))
    {
        return Err(anyhow::anyhow!(
            "missing input '{}' ({}{}): give it with --input {}=FILE.npy",
            port.name,
            graph.ty(port.value),
            port.wide.note(),
            port.name
        ));
    }
    let inputs = kiln::bind_inputs(&graph, &options.values)?;
    let outputs = kiln::run_cpu(&graph, &inputs)?;
    let written = match &a.output_dir {
        Some(dir) => Some(kiln::write_outputs(dir, &graph, &outputs)?),
        None => None,
    };
    let names: Vec<(&str, kiln::Wide)> = graph
        .model_outputs()
        .iter()
        .map(|p| (p.name.as_str(), p.wide))
        .collect();
    print_outputs(&names, &outputs, written.as_deref());
    Ok(())
}

/// One line per output: name, type (int64, uint64, double, bfloat16 ports as i64, u64,
/// f64, bf16), value summary, file written.
fn print_outputs(
    ports: &[(&str, kiln::Wide)],
    outputs: &[kiln::Tensor],
    written: Option<&[PathBuf]>,
) {
    for (i, ((name, wide), tensor)) in ports.iter().zip(outputs).enumerate() {
        let dtype = if wide.is_wide() {
            wide.marker().to_string()
        } else {
            tensor.dtype().to_string()
        };
        let file = written
            .and_then(|w| w.get(i))
            .map(|p| format!(" -> {}", p.display()))
            .unwrap_or_default();
        println!(
            "output {i} '{name}': {dtype}{} {}{file}",
            tensor.shape(),
            kiln::summarize(tensor)
        );
    }
}
