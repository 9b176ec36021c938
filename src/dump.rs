//! The IR after import and after chosen passes of the compiler's pass list, as text,
//! DOT or JSON (`kiln dump`, `kiln.dump`).

use crate::{CompileOptions, Error, Graph, Model, Result};
use kiln_ir::print::{print_with, PrintOptions};
use kiln_passes::egraph::PASS_NAME as EGRAPH;

/// How [`dump`] prints each stage's graph.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DumpFormat {
    /// kiln's IR text (parses back when constants are printed in full).
    #[default]
    Text,
    /// Graphviz DOT.
    Dot,
    /// JSON: `{"stages": [{"after": STAGE, "graph": ...}, ...]}`.
    Json,
}

/// The IR of `model` after import and after each pass `after` names (a name of
/// [`crate::pipeline`]'s list for `options`, `egraph` for the e-graph optimizer's last
/// phase, `all`, or `import`), running the passes up to the last one asked for. With
/// `full_constants`, every constant is printed (text); otherwise dense constants of
/// more than 16 elements are elided, which does not parse back. An unknown or
/// not-running pass is an [`Error::Usage`].
pub fn dump(
    model: &Model,
    options: &CompileOptions,
    after: &[String],
    format: DumpFormat,
    full_constants: bool,
) -> Result<String> {
    let mut pipeline = crate::pipeline(options)?;
    let names = pipeline.names();
    let wanted = stages(after, &names, options)?;
    match names.iter().rev().find(|n| wanted.contains(n)) {
        Some(last) => {
            pipeline.truncate_after(last);
        }
        None => pipeline = kiln_passes::PassManager::new(),
    }
    let print_options = PrintOptions {
        elide_constants_over: (!full_constants).then_some(16),
    };
    let mut out = String::new();
    let mut json_stages = Vec::new();
    let mut print = |stage: &str, graph: &Graph| {
        if stage != "import" && !wanted.contains(&stage) {
            return;
        }
        match format {
            DumpFormat::Text => {
                out.push_str(&format!("// after {stage}\n"));
                out.push_str(&print_with(graph, &print_options));
            }
            DumpFormat::Dot => {
                out.push_str(&format!("// after {stage}\n"));
                out.push_str(&kiln_ir::dot::to_dot(graph));
            }
            DumpFormat::Json => json_stages.push(serde_json::json!({
                "after": stage,
                "graph": kiln_ir::json::to_json(graph),
            })),
        }
    };
    let graph = crate::import(model, options)?;
    print("import", &graph);
    pipeline.run_with_hook(graph, &mut print)?;
    if format == DumpFormat::Json {
        out = serde_json::to_string_pretty(&serde_json::json!({ "stages": json_stages }))
            .map_err(|e| Error::Unsupported(format!("cannot print the JSON: {e}")))?;
        out.push('\n');
    }
    Ok(out)
}

/// The passes `after` asks for, checked against `passes` (the list for `options`):
/// `all` is every pass, `egraph` the optimizer's last phase.
pub fn dump_stages(
    after: &[String],
    passes: &[&'static str],
    options: &CompileOptions,
) -> Result<Vec<&'static str>> {
    stages(after, passes, options)
}

fn stages(
    after: &[String],
    passes: &[&'static str],
    options: &CompileOptions,
) -> Result<Vec<&'static str>> {
    let level = options.opt_level;
    let mut wanted = Vec::new();
    for name in after.iter().map(|s| s.trim()) {
        if name == "all" {
            wanted.extend(passes.iter().copied());
        } else if name == EGRAPH {
            let last = passes.iter().rev().find(|p| p.starts_with("egraph-"));
            let Some(&last) = last else {
                return Err(Error::Usage(format!(
                    "--after {EGRAPH}: the e-graph optimizer does not run at --opt {level}"
                )));
            };
            wanted.push(last);
        } else if let Some(&p) = passes.iter().find(|&&p| p == name) {
            wanted.push(p);
        } else if name != "import" {
            let every = crate::pipeline(&CompileOptions {
                opt_level: crate::MAX_OPT_LEVEL,
                egraph: Default::default(),
                ..options.clone()
            })?
            .names();
            return Err(Error::Usage(if every.contains(&name) {
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
        let options = CompileOptions {
            opt_level,
            ..Default::default()
        };
        let passes = crate::pipeline(&options).unwrap().names();
        stages(&[after.to_string()], &passes, &options)
    }

    #[test]
    fn after_names_come_from_the_pass_list() {
        for level in 0..=crate::MAX_OPT_LEVEL {
            let options = CompileOptions {
                opt_level: level,
                ..Default::default()
            };
            let passes = crate::pipeline(&options).unwrap().names();
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

    #[test]
    fn dump_prints_import_and_the_passes_asked_for() {
        let model = crate::load_onnx_bytes(crate::EXAMPLE_ONNX).unwrap();
        let options = CompileOptions::default();
        let text = dump(&model, &options, &["dce".into()], DumpFormat::Text, false).unwrap();
        let heads: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("// after "))
            .collect();
        assert_eq!(heads, ["// after import", "// after dce"]);
        let json = dump(&model, &options, &[], DumpFormat::Json, false).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["stages"][0]["after"], "import");
    }
}
