//! `kiln dump`: print the IR after import and after chosen passes of the compiler's
//! pass list (`--list-passes` prints that list for the given options), as text, DOT or
//! JSON.

use super::opt::OptArgs;
use super::{args, usage};
use anyhow::Result;
use clap::{Args, ValueEnum};
use kiln::ir::print::{print_with, PrintOptions};
use kiln::passes::egraph::PASS_NAME as EGRAPH;
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
    let mut pipeline = kiln::pipeline(&options)?;
    let names = pipeline.names();
    if a.list_passes {
        let mut out = names.join("\n");
        out.push('\n');
        return super::emit(&out);
    }
    let Some(model_path) = &a.model else {
        return Err(usage("no model given: kiln dump MODEL.onnx [--after PASS]"));
    };
    let wanted = stages(&a.after, &names, &options)?;
    // Run the passes up to the last one asked for.
    match names.iter().rev().find(|n| wanted.contains(n)) {
        Some(last) => {
            pipeline.truncate_after(last);
        }
        None => pipeline = kiln::passes::PassManager::new(),
    }
    let model = kiln::load_onnx(model_path)?;
    options.shapes = args::shapes(&model, &a.shapes)?;
    options.values = args::inputs(&model, &a.inputs)?
        .into_iter()
        .map(|(name, t)| (name, t.tensor))
        .collect();
    let print_options = PrintOptions {
        elide_constants_over: (!a.full_constants).then_some(16),
    };
    let mut out = String::new();
    let mut json_stages = Vec::new();
    let mut print = |stage: &str, graph: &kiln::Graph| {
        if stage != "import" && !wanted.contains(&stage) {
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
    };
    let graph = kiln::import(&model, &options)?;
    print("import", &graph);
    pipeline.run_with_hook(graph, &mut print)?;
    if a.format == Format::Json {
        out = serde_json::to_string_pretty(&serde_json::json!({ "stages": json_stages }))?;
        out.push('\n');
    }
    super::emit(&out)
}

/// The passes `--after` asks for, checked against `passes` (the list for
/// `options`): `all` is every pass, `egraph` the optimizer's last phase.
fn stages(
    after: &[String],
    passes: &[&'static str],
    options: &kiln::CompileOptions,
) -> Result<Vec<&'static str>> {
    let level = options.opt_level;
    let mut wanted = Vec::new();
    for name in after.iter().map(|s| s.trim()) {
        if name == "all" {
            wanted.extend(passes.iter().copied());
        } else if name == EGRAPH {
            let last = passes.iter().rev().find(|p| p.starts_with("egraph-"));
            let Some(&last) = last else {
                return Err(usage(format!(
                    "--after {EGRAPH}: the e-graph optimizer does not run at --opt {level}"
                )));
            };
            wanted.push(last);
        } else if let Some(&p) = passes.iter().find(|&&p| p == name) {
            wanted.push(p);
        } else if name != "import" {
            let every = kiln::pipeline(&kiln::CompileOptions {
                opt_level: kiln::MAX_OPT_LEVEL,
                egraph: Default::default(),
                ..options.clone()
            })?
            .names();
            return Err(usage(if every.contains(&name) {
                format!(
                    "--after {name}: the pass does not run at --opt {level} with these options \
                     (it runs: {})",
                    passes.join(", ")
                )
            } else {
                format!(
                    "--after '{name}': no such pass (at --opt {level}: {}, or {EGRAPH}, all)",
                    passes.join(", ")
                )
            }));
        }
    }
    Ok(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stages_at(after: &str, opt_level: u8) -> Result<Vec<&'static str>> {
        let options = kiln::CompileOptions {
            opt_level,
            ..Default::default()
        };
        let passes = kiln::pipeline(&options).unwrap().names();
        stages(&[after.to_string()], &passes, &options)
    }

    #[test]
    fn after_names_come_from_the_pass_list() {
        for level in 0..=kiln::MAX_OPT_LEVEL {
            let options = kiln::CompileOptions {
                opt_level: level,
                ..Default::default()
            };
            let passes = kiln::pipeline(&options).unwrap().names();
            assert_eq!(stages_at("all", level).unwrap(), passes);
            for &p in &passes {
                assert_eq!(
                    stages_at(p, level).unwrap(),
                    [p],
                    "every listed pass is accepted"
                );
            }
        }
        assert_eq!(stages_at(EGRAPH, 1).unwrap(), ["egraph-fusion"]);
        let err = stages_at("merge-siblings", 1).unwrap_err().to_string();
        assert!(err.contains("does not run at --opt 1"), "{err}");
        let err = stages_at(EGRAPH, 0).unwrap_err().to_string();
        assert_eq!(
            err,
            "--after egraph: the e-graph optimizer does not run at --opt 0"
        );
        let err = stages_at("fuse", 2).unwrap_err().to_string();
        assert!(err.starts_with("--after 'fuse': no such pass"), "{err}");
    }
}
