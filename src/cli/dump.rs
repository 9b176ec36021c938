//! `kiln dump`: print the IR after import and after chosen passes of the compiler's
//! pass list (`--list-passes` prints that list for the given options), as text, DOT or
//! JSON.

use super::opt::OptArgs;
use super::{args, usage};
use anyhow::Result;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// Output formats of `kiln dump`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// kiln's IR text (parses back when constants are printed in full).
    Text,
    /// Graphviz DOT.
    Dot,
    /// JSON: `{"stages": [{"after": STAGE, "graph": ...}, ...]}`.
    Json,
}

#[derive(Args, Debug)]
pub struct DumpArgs {
    /// The ONNX model file.
    #[arg(required_unless_present = "list_passes")]
    model: Option<PathBuf>,
    /// Also print the IR after this pass: a name `--list-passes` prints, `egraph` (the
    /// IR after the e-graph optimizer's last phase, --opt 1 and 2) or `all` for every
    /// pass. Repeatable or comma-separated. The IR after import is always printed.
    #[arg(long, value_name = "PASS|all", value_delimiter = ',')]
    after: Vec<String>,
    /// Print the passes the compiler runs for the given options, one per line, in
    /// order, and exit (the list depends on the options, not on the model).
    #[arg(long, conflicts_with_all = ["after", "format", "full_constants", "shapes", "inputs"])]
    list_passes: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Print every constant in full (text); by default dense constants of more than
    /// 16 elements are elided, which does not parse back.
    #[arg(long)]
    full_constants: bool,
    /// Bind an input's symbolic dims, e.g. `data=1x3x224x224`. Repeatable.
    #[arg(long = "shape", value_name = "NAME=DIMS")]
    shapes: Vec<String>,
    /// Input values to specialise on, as for `kiln run`. Repeatable.
    #[arg(long = "input", short = 'i', value_name = "[NAME=]PATH")]
    inputs: Vec<String>,
    #[command(flatten)]
    opt: OptArgs,
}

pub fn run(a: DumpArgs) -> Result<()> {
    let mut options = kiln::CompileOptions::default();
    a.opt.apply(&mut options)?;
    let names = kiln::pipeline(&options)?.names();
    if a.list_passes {
        let mut out = names.join("\n");
        out.push('\n');
        return super::emit(&out);
    }
    let Some(model_path) = &a.model else {
        return Err(usage("no model given: kiln dump MODEL.onnx [--after PASS]"));
    };
    // Bad pass names are reported before the model is read.
    kiln::dump_stages(&a.after, &names, &options)?;
    let model = kiln::load_onnx(model_path)?;
    options.shapes = args::shapes(&model, &a.shapes)?;
    options.values = args::inputs(&model, &a.inputs)?
        .into_iter()
        .map(|(name, t)| (name, t.tensor))
        .collect();
    let format = match a.format {
        Format::Text => kiln::DumpFormat::Text,
        Format::Dot => kiln::DumpFormat::Dot,
        Format::Json => kiln::DumpFormat::Json,
    };
    let out = kiln::dump(&model, &options, &a.after, format, a.full_constants)?;
    super::emit(&out)
}
