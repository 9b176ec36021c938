//! `kiln run`: compile a model, run it on a backend, write and summarise the outputs.

use super::{args, usage};
use anyhow::Result;
use clap::{Args, ValueEnum};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where a model runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// The CPU reference interpreter.
    Cpu,
    /// WGSL kernels on a GPU (not built yet).
    Gpu,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The ONNX model file.
    model: PathBuf,
    /// Where to run the model.
    #[arg(long, value_enum, default_value = "cpu")]
    backend: Backend,
    /// An input tensor, `NAME=PATH` or `PATH` (matched to the model's inputs in
    /// order); `.npy` or ONNX TensorProto `.pb`. Repeat for each input.
    #[arg(long = "input", short = 'i', value_name = "[NAME=]PATH")]
    inputs: Vec<String>,
    /// Write the outputs to DIR/output_<i>.npy (in graph output order).
    #[arg(long, short = 'o', value_name = "DIR")]
    output_dir: Option<PathBuf>,
    /// Bind an input's symbolic dims, e.g. `data=1x3x224x224`. Repeatable.
    #[arg(long = "shape", value_name = "NAME=DIMS")]
    shapes: Vec<String>,
}

pub fn run(a: RunArgs) -> Result<()> {
    if a.backend == Backend::Gpu {
        return Err(usage(
            "--backend gpu: the GPU backend is not built yet; use --backend cpu",
        ));
    }
    let model = kiln::load_onnx(&a.model)?;
    let mut shapes = args::shapes(&model, &a.shapes)?;
    let given = args::inputs(&model, &a.inputs)?;
    let values: BTreeMap<String, kiln::Tensor> = given
        .iter()
        .map(|(name, t)| (name.clone(), t.tensor.clone()))
        .collect();
    for (name, t) in &given {
        shapes
            .entry(name.clone())
            .or_insert_with(|| t.tensor.shape().dims().to_vec());
    }
    let options = kiln::CompileOptions {
        shapes,
        values,
        ..Default::default()
    };
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
            if port.i64 { ", int64" } else { "" },
            port.name
        ));
    }
    let inputs = kiln::bind_inputs(&graph, &options.values)?;
    let outputs = kiln::run_cpu(&graph, &inputs)?;
    let written = match &a.output_dir {
        Some(dir) => Some(kiln::write_outputs(dir, &graph, &outputs)?),
        None => None,
    };
    for (i, (port, tensor)) in graph.outputs.iter().zip(&outputs).enumerate() {
        let dtype = if port.i64 {
            "i64".to_string()
        } else {
            tensor.dtype().to_string()
        };
        let file = written
            .as_ref()
            .map(|w| format!(" -> {}", w[i].display()))
            .unwrap_or_default();
        println!(
            "output {i} '{}': {dtype}{} {}{file}",
            port.name,
            tensor.shape(),
            kiln::summarize(tensor)
        );
    }
    Ok(())
}
