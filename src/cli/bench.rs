//! `kiln bench`: wall time per run on a GPU adapter after warm-up (median, min, max),
//! and GPU time per kernel and per op from timed runs; or, with `--calibrate`, the
//! adapter's device profile for the optimizer's cost model.

use super::opt::OptArgs;
use super::target::{self, GpuChoice, Missing};
use super::usage;
use anyhow::Result;
use clap::Args;
use std::fmt::Write;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The model: an ONNX file (compiled in memory) or a `.kiln` bundle.
    #[arg(required_unless_present = "calibrate")]
    model: Option<PathBuf>,
    /// Measure the adapter's device profile (bandwidth, arithmetic rate, dispatch cost)
    /// instead of a model. With --json, prints the profile `--profile FILE` reads.
    #[arg(long, conflicts_with_all = ["model", "inputs", "shapes"])]
    calibrate: bool,
    /// Measured runs.
    #[arg(long, default_value_t = 20)]
    iters: usize,
    /// Runs before measuring (pipelines warm, buffers resident).
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Print JSON (`load_ms`, `first_run_ms`, `median_ms`, `min_ms`, `max_ms`, `iters`,
    /// `adapter`, `kernels`, `ops`, ...).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    gpu: GpuChoice,
    /// An input tensor, as for `kiln run`; inputs not given are seeded random
    /// values of the declared type (never zero). Repeatable.
    #[arg(long = "input", short = 'i', value_name = "[NAME=]PATH")]
    inputs: Vec<String>,
    /// Bind an input's symbolic dims (ONNX models only). Repeatable.
    #[arg(long = "shape", value_name = "NAME=DIMS")]
    shapes: Vec<String>,
    /// Kernels listed in the text output (all are in the JSON).
    #[arg(long, default_value_t = 10)]
    top: usize,
    #[command(flatten)]
    opt: OptArgs,
}

pub fn run(a: BenchArgs) -> Result<()> {
    let Some(path) = a.model.as_ref().filter(|_| !a.calibrate) else {
        return calibrate(&a);
    };
    if a.iters == 0 {
        return Err(usage("--iters must be at least 1"));
    }
    let (model, runtime) = target::load(
        path,
        &a.inputs,
        &a.shapes,
        &a.opt,
        Missing::Random,
        &a.gpu,
        false,
    )?;
    let setup = kiln::BenchSetup {
        model: path.display().to_string(),
        origin: model.origin,
        adapter: runtime.describe(),
        random_inputs: model.random,
        iters: a.iters,
        warmup: a.warmup,
    };
    let report = kiln::bench_bundle(&runtime, &model.bundle, &model.inputs, setup)?;
    if a.json {
        let mut text = serde_json::to_string_pretty(&report)?;
        text.push('\n');
        return super::emit(&text);
    }
    super::emit(&text(&report, a.top)?)
}

/// `kiln bench --calibrate`: measures and prints the adapter's device profile.
fn calibrate(a: &BenchArgs) -> Result<()> {
    if a.opt.any_given() {
        return Err(usage(
            "--calibrate measures the adapter; optimizer options do not apply to it",
        ));
    }
    let runtime = target::runtime(&a.gpu)?;
    let c = kiln::calibrate(&runtime)?;
    if a.json {
        let mut text = serde_json::to_string_pretty(&c)?;
        text.push('\n');
        return super::emit(&text);
    }
    let preset = kiln::DeviceProfile::cpu_emulation();
    let mut out = String::new();
    writeln!(out, "device profile of {} ({}):", c.name, c.timing)?;
    writeln!(
        out,
        "  bandwidth   {:>10.2} GB/s     (preset cpu-emulation: {})",
        c.bandwidth_gbs, preset.bandwidth_gbs
    )?;
    writeln!(
        out,
        "  arithmetic  {:>10.2} GFLOP/s  (preset cpu-emulation: {})",
        c.gflops, preset.gflops
    )?;
    if let Some(int_gops) = c.int_gops {
        writeln!(
            out,
            "  integer     {:>10.2} G ops/s  (preset cpu-emulation: {}; exact integer products)",
            int_gops, preset.int_gops
        )?;
    }
    if let Some(dot4_gops) = c.dot4_gops {
        let chosen = if c.profile().packed_dot() {
            "faster: 8-bit integer products run packed"
        } else {
            "not faster: 8-bit integer products stay exact f32 arithmetic"
        };
        writeln!(
            out,
            "  packed dot  {:>10.2} G ops/s  (preset cpu-emulation: {}; dot4I8Packed, {chosen})",
            dot4_gops, preset.dot4_gops
        )?;
    }
    if let Some([blocks, csr, nm]) = c.sparse_gops {
        let [pb, pc, pn] = preset.sparse_gops;
        writeln!(
            out,
            "  sparse      {blocks:>10.2} / {csr:.2} / {nm:.2} G/s per stored weight, 4×4 blocks / CSR / 2:4 \
             (preset cpu-emulation: {pb:.1} / {pc:.1} / {pn:.1})"
        )?;
    }
    writeln!(
        out,
        "  dispatch    {:>10.2} µs       (preset cpu-emulation: {})",
        c.launch_us, preset.launch_us
    )?;
    let f16 = match c.f16_speedup {
        Some(r) if c.profile().f16_arithmetic => {
            format!("{r:>10.2}× in f16 (faster: f16 element-wise steps compute in f16)")
        }
        Some(r) => format!("{r:>10.2}× in f16 (not faster: f16 steps compute in f32)"),
        None => format!("{:>10} (no SHADER_F16: f16 steps compute in f32)", "-"),
    };
    writeln!(out, "  f16 steps   {f16}")?;
    writeln!(
        out,
        "save it with 'kiln bench --calibrate --json > FILE' and compile with '--profile FILE'"
    )?;
    super::emit(&out)
}

fn text(r: &kiln::BenchReport, top: usize) -> Result<String> {
    let mut out = String::new();
    writeln!(
        out,
        "{} ({}): {} kernels, {} dispatches per run, on {}",
        r.model, r.origin, r.kernel_count, r.dispatch_count, r.adapter
    )?;
    if !r.random_inputs.is_empty() {
        writeln!(
            out,
            "inputs {}: seeded random values (give real ones with --input)",
            r.random_inputs.join(", ")
        )?;
    }
    writeln!(
        out,
        "load {:.1} ms, first run {:.1} ms (kernels compiled at their first dispatch count here)",
        r.load_ms.unwrap_or(0.0),
        r.first_run_ms
    )?;
    writeln!(
        out,
        "wall time per run ({} runs after {} warm-up): median {:.3} ms, min {:.3} ms, max {:.3} ms",
        r.iters, r.warmup, r.median_ms, r.min_ms, r.max_ms
    )?;
    writeln!(
        out,
        "GPU time per kernel ({}; mean of {} timed runs): {:.3} ms in all",
        r.timing_source, r.timed_runs, r.gpu_total_ms
    )?;
    let width = r.kernels.iter().map(|k| k.kernel.len()).max().unwrap_or(6);
    writeln!(
        out,
        "  {:width$}  {:<18}  {:>10}  {:>10}  {:>6}",
        "kernel", "op", "dispatches", "ms", "%"
    )?;
    for k in r.kernels.iter().take(top) {
        writeln!(
            out,
            "  {:width$}  {:<18}  {:>10}  {:>10.4}  {:>5.1}%",
            k.kernel, k.op, k.dispatches, k.ms, k.percent
        )?;
    }
    if r.kernels.len() > top {
        writeln!(out, "  ... {} more kernels", r.kernels.len() - top)?;
    }
    let ops: Vec<String> = r
        .ops
        .iter()
        .map(|o| format!("{} {:.1}%", o.op, o.percent))
        .collect();
    writeln!(out, "by op: {}", ops.join(", "))?;
    Ok(out)
}
