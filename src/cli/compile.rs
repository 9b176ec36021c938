//! `kiln compile`: an ONNX model to a `.kiln` kernel bundle, written atomically.

use super::{args, usage};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct CompileArgs {
    /// The ONNX model file.
    model: PathBuf,
    /// The bundle to write (default: the model's path with the extension `.kiln`).
    #[arg(long, short = 'o', value_name = "OUT.kiln")]
    output: Option<PathBuf>,
    /// Bind an input's symbolic dims, e.g. `data=1x3x224x224`. Repeatable.
    #[arg(long = "shape", value_name = "NAME=DIMS")]
    shapes: Vec<String>,
    /// Input values to specialise on (shape-like integer inputs become constants;
    /// the others only fix their input's shape). Repeatable.
    #[arg(long = "input", short = 'i', value_name = "[NAME=]PATH")]
    inputs: Vec<String>,
    /// Optimisation level; only 0 (one kernel per op) exists yet.
    #[arg(long, value_name = "LEVEL", default_value_t = 0)]
    opt: u8,
}

pub fn run(a: CompileArgs) -> Result<()> {
    kiln::check_opt_level(a.opt).map_err(|e| usage(format!("--opt {}: {e}", a.opt)))?;
    let out = a
        .output
        .clone()
        .unwrap_or_else(|| a.model.with_extension("kiln"));
    if out == a.model {
        return Err(usage(format!(
            "the bundle would overwrite the model {}; choose another path with -o",
            a.model.display()
        )));
    }
    let model = kiln::load_onnx(&a.model)?;
    let mut shapes = args::shapes(&model, &a.shapes)?;
    let given = args::inputs(&model, &a.inputs)?;
    for (name, t) in &given {
        shapes
            .entry(name.clone())
            .or_insert_with(|| t.tensor.shape().dims().to_vec());
    }
    let options = kiln::CompileOptions {
        shapes,
        values: given.into_iter().map(|(n, t)| (n, t.tensor)).collect(),
        opt_level: a.opt,
        ..Default::default()
    };
    let bundle = kiln::compile_bundle(&model, &options, &kiln::Limits::default())?;
    kiln::write_bundle(&bundle, &out)?;
    let bytes = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    let s = kiln::BundleSummary::of(&bundle);
    super::emit(&format!(
        "compiled {} -> {}: {} kernels, {} dispatches, {} buffers ({} bytes), {} weight bytes, \
         {bytes} bytes in all\n",
        a.model.display(),
        out.display(),
        s.kernels,
        s.dispatches,
        s.buffers.count,
        s.buffers.total_bytes,
        s.weight_bytes,
    ))
}
