//! `kiln inspect`: what a `.kiln` bundle holds, as text or JSON.

use anyhow::Result;
use clap::Args;
use kiln::{BundleSummary, PortSummary};
use std::fmt::Write;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The `.kiln` bundle.
    bundle: PathBuf,
    /// Print JSON: `kernels` and `dispatches` counts, `kernel_list`, `dispatch_list`,
    /// `inputs`, `outputs`, `buffers`, `requirements`, `weight_bytes`, `options`,
    /// `decisions`.
    #[arg(long)]
    json: bool,
    /// Also print every kernel's WGSL source (text output).
    #[arg(long, conflicts_with = "json")]
    wgsl: bool,
}

pub fn run(a: InspectArgs) -> Result<()> {
    let bundle = kiln::read_bundle(&a.bundle)?;
    let s = BundleSummary::of(&bundle);
    if a.json {
        let mut text = serde_json::to_string_pretty(&s)?;
        text.push('\n');
        return super::emit(&text);
    }
    let mut out = text(&a.bundle.display().to_string(), &s)?;
    if a.wgsl {
        for k in &bundle.manifest.plan.kernels {
            writeln!(
                out,
                "\n// kernel {} ({}), entry point {}",
                k.name, k.op, k.entry_point
            )?;
            out.push_str(&k.wgsl);
        }
    }
    super::emit(&out)
}

/// Most workgroup counts listed per kernel in the text output.
const MAX_COUNTS: usize = 4;

fn text(path: &str, s: &BundleSummary) -> Result<String> {
    let mut out = String::new();
    writeln!(
        out,
        "bundle {path}: model '{}', written by kiln {}, opt level {}",
        s.model, s.kiln_version, s.options["opt_level"]
    )?;
    let port = |p: &PortSummary| {
        let dims: Vec<String> = p.shape.iter().map(|d| d.to_string()).collect();
        format!(
            "  {} {}[{}] (buffer {})",
            p.name,
            p.dtype,
            dims.join(","),
            p.buffer
        )
    };
    writeln!(out, "inputs:")?;
    for p in &s.inputs {
        writeln!(out, "{}", port(p))?;
    }
    writeln!(out, "outputs:")?;
    for p in &s.outputs {
        writeln!(out, "{}", port(p))?;
    }
    writeln!(
        out,
        "kernels: {} distinct, {} dispatches per run",
        s.kernels, s.dispatches
    )?;
    let width = s
        .kernel_list
        .iter()
        .map(|k| k.name.len())
        .max()
        .unwrap_or(4);
    let op_width = s.kernel_list.iter().map(|k| k.op.len()).max().unwrap_or(2);
    writeln!(
        out,
        "  {:>4}  {:width$}  {:op_width$}  {:>13}  {:>10}  workgroups",
        "#", "name", "op", "workgroup", "dispatches"
    )?;
    for k in &s.kernel_list {
        let mut counts: Vec<String> = k
            .workgroups
            .iter()
            .take(MAX_COUNTS)
            .map(|w| format!("{}x{}x{}", w[0], w[1], w[2]))
            .collect();
        if k.workgroups.len() > MAX_COUNTS {
            counts.push(format!("... (+{})", k.workgroups.len() - MAX_COUNTS));
        }
        let size = k.workgroup_size;
        writeln!(
            out,
            "  {:>4}  {:width$}  {:op_width$}  {:>13}  {:>10}  {}",
            k.index,
            k.name,
            k.op,
            format!("{}x{}x{}", size[0], size[1], size[2]),
            k.dispatches,
            counts.join(", ")
        )?;
    }
    // Sparse products name their kernels by weight format (`sparse_matmul_bsr4x4_3`).
    let mut sparse: std::collections::BTreeMap<String, usize> = Default::default();
    for k in &s.kernel_list {
        if let Some(rest) = k.name.strip_prefix("sparse_matmul_") {
            let format = rest.rsplit_once('_').map_or(rest, |(f, _)| f);
            *sparse.entry(format.replace("of", ":")).or_default() += k.dispatches;
        }
    }
    if !sparse.is_empty() {
        let formats: Vec<String> = sparse
            .iter()
            .map(|(f, n)| format!("{f} ({n} dispatches)"))
            .collect();
        writeln!(
            out,
            "sparse weights: {} (only stored weights are multiplied)",
            formats.join(", ")
        )?;
    }
    let b = &s.buffers;
    writeln!(out, "buffers: {}, {} bytes in all", b.count, b.total_bytes)?;
    for k in &b.by_kind {
        let note = match k.kind {
            "intermediate" => " (after liveness-based reuse)",
            "packed constant" => " (low-bit, packed in the bundle, widened when uploaded)",
            "dequantized constant" => {
                " (f32, computed when uploaded from low-bit weights packed in the bundle)"
            }
            _ => "",
        };
        writeln!(
            out,
            "  {:<20} {:>5} buffers {:>12} bytes{note}",
            k.kind, k.count, k.bytes
        )?;
    }
    let r = &s.requirements;
    let features = if r.features.is_empty() {
        "none".to_string()
    } else {
        r.features.join(", ")
    };
    writeln!(out, "requirements: features {features}")?;
    writeln!(
        out,
        "  storage buffers per stage {}, binding size {}, buffer size {}, invocations per \
         workgroup {}, workgroups per dimension {}, workgroup storage {}",
        r.max_storage_buffers_per_shader_stage,
        r.max_storage_buffer_binding_size,
        r.max_buffer_size,
        r.max_compute_invocations_per_workgroup,
        r.max_compute_workgroups_per_dimension,
        r.max_compute_workgroup_storage_size
    )?;
    writeln!(out, "weights: {} bytes", s.weight_bytes)?;
    writeln!(out, "layout decisions: {}", s.decisions)?;
    Ok(out)
}
