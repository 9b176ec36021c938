//! `kiln dump`: print the IR after import and after chosen passes (the canonicalization
//! passes, then `egraph`, the optimizer's fused program, and `merge-siblings`), as
//! text, DOT or JSON.

use super::opt::OptArgs;
use super::{args, usage};
use anyhow::Result;
use clap::{Args, ValueEnum};
use kiln::ir::print::{print_with, PrintOptions};
use kiln::passes::egraph::PASS_NAME as EGRAPH;
use kiln::passes::merge_siblings::PASS_NAME as MERGE;
use kiln::passes::PASS_NAMES;
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
    model: PathBuf,
    /// Also print the IR after this pass: a canonicalization pass, `egraph` (the
    /// optimizer's result at --opt 1 and 2), `merge-siblings` (--opt 2) or `all`
    /// for every one. Repeatable or
    /// comma-separated. The IR after import is always printed.
    #[arg(long, value_name = "PASS|all", value_delimiter = ',')]
    after: Vec<String>,
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
    let wanted = stages(&a.after, options.opt_level)?;
    let model = kiln::load_onnx(&a.model)?;
    let shapes = args::shapes(&model, &a.shapes)?;
    let values = args::inputs(&model, &a.inputs)?
        .into_iter()
        .map(|(name, t)| (name, t.tensor))
        .collect();
    options.shapes = shapes;
    options.values = values;
    if !wanted.iter().any(|w| w == EGRAPH || w == MERGE) {
        // Run the passes up to the last one asked for, and not the optimizer.
        let last = PASS_NAMES
            .iter()
            .rposition(|p| wanted.iter().any(|w| w == p));
        let passes = last.map(|i| PASS_NAMES[..=i].iter().map(|s| s.to_string()).collect());
        options.passes = Some(passes.unwrap_or_default());
        options.opt_level = 0;
    }
    let print_options = PrintOptions {
        elide_constants_over: (!a.full_constants).then_some(16),
    };
    let mut out = String::new();
    let mut json_stages = Vec::new();
    kiln::compile_onnx_with_hook(&model, &options, &mut |stage, graph| {
        if stage != "import" && !wanted.iter().any(|w| w == stage) {
            return;
        }
        match a.format {
            Format::Text => {
                out.push_str(&format!("// after {stage}\n"));
                out.push_str(&print_with(graph, &print_options));
            }
            Format::Dot => {
                out.push_str(&format!("// after {stage}\n"));
                out.push_str(&kiln::ir::dot::to_dot(graph));
            }
            Format::Json => json_stages.push(serde_json::json!({
                "after": stage,
                "graph": kiln::ir::json::to_json(graph),
            })),
        }
    })?;
    if a.format == Format::Json {
        out = serde_json::to_string_pretty(&serde_json::json!({ "stages": json_stages }))?;
        out.push('\n');
    }
    super::emit(&out)
}

/// The stages `--after` asks for (`all` expands to every pass, and `egraph` at
/// `--opt` 1 and 2), checked.
fn stages(after: &[String], opt_level: u8) -> Result<Vec<String>> {
    let mut wanted = Vec::new();
    for name in after.iter().map(|s| s.trim()) {
        if name == "all" {
            wanted.extend(PASS_NAMES.iter().map(|s| s.to_string()));
            if opt_level >= 1 {
                wanted.push(EGRAPH.to_string());
            }
            if opt_level >= 2 {
                wanted.push(MERGE.to_string());
            }
        } else if name == EGRAPH {
            if opt_level == 0 {
                return Err(usage(
                    "--after egraph: the e-graph optimizer does not run at --opt 0",
                ));
            }
            wanted.push(name.to_string());
        } else if name == MERGE {
            if opt_level < 2 {
                return Err(usage(format!(
                    "--after {MERGE}: sibling convolutions are merged at --opt 2 only"
                )));
            }
            wanted.push(name.to_string());
        } else if PASS_NAMES.contains(&name) {
            wanted.push(name.to_string());
        } else if name != "import" {
            return Err(usage(format!(
                "--after '{name}': no such pass (passes: {}, {EGRAPH}, {MERGE}, or all)",
                PASS_NAMES.join(", ")
            )));
        }
    }
    Ok(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_includes_the_optimizer_from_level_one() {
        let all = ["all".to_string()];
        assert_eq!(stages(&all, 0).unwrap(), PASS_NAMES);
        let at2 = stages(&all, 2).unwrap();
        assert_eq!(at2[PASS_NAMES.len()..], [EGRAPH, MERGE]);
        let at1 = stages(&all, 1).unwrap();
        assert_eq!(at1.last().map(String::as_str), Some(EGRAPH));
        assert_eq!(at1.len(), PASS_NAMES.len() + 1);
        let err = stages(&[MERGE.to_string()], 1).unwrap_err().to_string();
        assert!(err.contains("--opt 2 only"), "{err}");
        let err = stages(&[EGRAPH.to_string()], 0).unwrap_err().to_string();
        assert_eq!(
            err,
            "--after egraph: the e-graph optimizer does not run at --opt 0"
        );
        let err = stages(&["fuse".to_string()], 2).unwrap_err().to_string();
        assert!(err.starts_with("--after 'fuse': no such pass"), "{err}");
    }
}
