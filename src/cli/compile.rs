//! `kiln compile`: an ONNX model to a `.kiln` kernel bundle, written atomically;
//! `--report` prints what the optimizer (and `--quantize`) did, `--json` the bundle's
//! figures and the quantization report as JSON, `--list-rules` the optimizer's rules.

use super::opt::{self, OptArgs};
use super::{args, usage};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct CompileArgs {
    /// The ONNX model file.
    #[arg(required_unless_present = "list_rules")]
    model: Option<PathBuf>,
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
    #[command(flatten)]
    opt: OptArgs,
    /// Print the optimizer's report: per rule set, the rules that fired and how often,
    /// e-graph size, why saturation stopped, time, cost and kernels before and after.
    #[arg(long)]
    report: bool,
    /// Print the bundle's figures and, with --prune and --quantize, their reports
    /// (per output and per layer) as one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// List every rewrite rule (name, set, identity) and exit; needs no model.
    #[arg(long, conflicts_with_all = ["output", "shapes", "inputs", "report", "json"])]
    list_rules: bool,
}

pub fn run(a: CompileArgs) -> Result<()> {
    if a.list_rules {
        if a.model.is_some() || a.opt.any_given() {
            return Err(usage(
                "--list-rules takes no model and no optimizer options",
            ));
        }
        return super::emit(&opt::rule_list()?);
    }
    let Some(model_path) = a.model.clone() else {
        return Err(usage(
            "no model given: kiln compile MODEL.onnx [-o OUT.kiln]",
        ));
    };
    let mut options = kiln::CompileOptions::default();
    a.opt.apply(&mut options)?;
    let out = a
        .output
        .clone()
        .unwrap_or_else(|| model_path.with_extension("kiln"));
    if out == model_path {
        return Err(usage(format!(
            "the bundle would overwrite the model {}; choose another path with -o",
            model_path.display()
        )));
    }
    let model = kiln::load_onnx(&model_path)?;
    options.shapes = args::shapes(&model, &a.shapes)?;
    let given = args::inputs(&model, &a.inputs)?;
    options.specialise(given.into_iter().map(|(n, t)| (n, t.tensor)).collect());
    // The unquantized twin is bundled only for the figures that compare with it.
    let compiled = if a.report || a.json {
        kiln::compile_bundle_and_f32(&model, &options)?
    } else {
        let (bundle, reports) = kiln::compile_bundle_with_reports(&model, &options)?;
        kiln::QuantizedBundle {
            bundle,
            reports,
            f32: None,
        }
    };
    let bundle = &compiled.bundle;
    kiln::write_bundle(bundle, &out)?;
    let bytes = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0) as usize;
    if a.json {
        let mut v = kiln::compile_report_json(&compiled, &options, bytes)?;
        v["model"] = model_path.display().to_string().into();
        v["bundle"] = out.display().to_string().into();
        return super::emit(&format!("{}\n", serde_json::to_string_pretty(&v)?));
    }
    let s = kiln::BundleSummary::of(bundle);
    let mut text = format!(
        "compiled {} -> {}: {} kernels, {} dispatches, {} buffers ({} bytes), {} weight bytes, \
         {bytes} bytes in all\n",
        model_path.display(),
        out.display(),
        s.kernels,
        s.dispatches,
        s.buffers.count,
        s.buffers.total_bytes,
        s.weight_bytes,
    );
    if a.report {
        text.push_str(&kiln::compile_report_text(&compiled, &options, bytes)?);
    }
    super::emit(&text)
}
