//! Measuring a loaded bundle's latency (`kiln bench`, `kiln.bench`): the first run's time
//! (kernels some drivers compile at their first dispatch), wall time per run after warm-up
//! (median, min, max, mean), then GPU time per kernel and per op from a few timed runs.

use crate::Result;
use kiln_codegen::bundle::Bundle;
use kiln_codegen::KernelPlan;
use kiln_ir::Tensor;
use kiln_runtime::{Runtime, Session};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

/// Timed runs that the per-kernel table averages over (at most).
pub const TIMED_RUNS: usize = 5;

/// What `kiln bench --json` prints.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// The model as the caller names it (a path).
    pub model: String,
    /// `bundle` or `compiled in memory`.
    pub origin: String,
    /// The adapter, as `--adapter` matches it.
    pub adapter: String,
    /// Measured runs.
    pub iters: usize,
    /// Runs before measuring.
    pub warmup: usize,
    /// Loading the bundle (device, buffers, constants, pipelines), where the caller
    /// timed it (`kiln bench` does).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_ms: Option<f64>,
    /// The session's first run (a warm-up run if any): drivers that compile kernels at
    /// their first dispatch (Mesa's lavapipe and llvmpipe) compile them here.
    pub first_run_ms: f64,
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    pub kernel_count: usize,
    pub dispatch_count: usize,
    /// Inputs filled with seeded random values.
    pub random_inputs: Vec<String>,
    /// How the per-kernel times were measured.
    pub timing_source: String,
    pub timed_runs: usize,
    /// Sum of the per-dispatch times of one run.
    pub gpu_total_ms: f64,
    /// Per kernel, slowest first.
    pub kernels: Vec<KernelTime>,
    /// Per op, slowest first.
    pub ops: Vec<OpTime>,
}

/// One kernel's GPU time per run.
#[derive(Clone, Debug, Serialize)]
pub struct KernelTime {
    pub kernel: String,
    pub op: String,
    pub dispatches: usize,
    /// Per run (mean over the timed runs).
    pub ms: f64,
    pub percent: f64,
}

/// One op's GPU time per run, over its kernels.
#[derive(Clone, Debug, Serialize)]
pub struct OpTime {
    pub op: String,
    pub dispatches: usize,
    pub ms: f64,
    pub percent: f64,
}

/// What is measured and how it is named in the report.
pub struct BenchSetup<'a> {
    /// The model's name in the report.
    pub model: String,
    /// `bundle` or `compiled in memory`.
    pub origin: &'a str,
    /// The adapter's description.
    pub adapter: String,
    /// Inputs filled with random values (named in the report).
    pub random_inputs: Vec<String>,
    /// Measured runs (at least 1).
    pub iters: usize,
    /// Runs before measuring.
    pub warmup: usize,
}

/// Loads `bundle` on `runtime` (the time it takes is the report's `load_ms`) and
/// measures it as [`bench`] does: what `kiln bench` and the Python package run.
pub fn bench_bundle(
    runtime: &Runtime,
    bundle: &Bundle,
    inputs: &[Tensor],
    setup: BenchSetup<'_>,
) -> Result<BenchReport> {
    let start = Instant::now();
    let mut session = crate::load_bundle(runtime, bundle)?;
    let load_ms = start.elapsed().as_secs_f64() * 1e3;
    let mut report = bench(&mut session, &bundle.manifest.plan, inputs, setup)?;
    report.load_ms = Some(load_ms);
    Ok(report)
}

/// Runs `session` (loaded from `plan`) `setup.warmup` times, then `setup.iters` timed
/// runs, then up to [`TIMED_RUNS`] runs with per-dispatch timing. Fails with
/// [`crate::Error::Usage`] when `iters` is 0.
pub fn bench(
    session: &mut Session,
    plan: &KernelPlan,
    inputs: &[Tensor],
    setup: BenchSetup<'_>,
) -> Result<BenchReport> {
    if setup.iters == 0 {
        return Err(crate::Error::Usage("--iters must be at least 1".into()));
    }
    let mut first_run_ms = None;
    for _ in 0..setup.warmup {
        let start = Instant::now();
        session.run(inputs)?;
        first_run_ms.get_or_insert(start.elapsed().as_secs_f64() * 1e3);
    }
    let mut ms = Vec::with_capacity(setup.iters);
    for _ in 0..setup.iters {
        let start = Instant::now();
        session.run(inputs)?;
        let elapsed = start.elapsed().as_secs_f64() * 1e3;
        first_run_ms.get_or_insert(elapsed);
        ms.push(elapsed);
    }
    ms.sort_by(f64::total_cmp);
    let median = if ms.len() % 2 == 1 {
        ms[ms.len() / 2]
    } else {
        (ms[ms.len() / 2 - 1] + ms[ms.len() / 2]) / 2.0
    };

    let op_of: BTreeMap<&str, &str> = plan
        .kernels
        .iter()
        .map(|k| (k.name.as_str(), k.op.as_str()))
        .collect();
    let timed_runs = setup.iters.min(TIMED_RUNS);
    let mut per_kernel: BTreeMap<String, (usize, u64)> = BTreeMap::new();
    let mut source = String::new();
    for run in 0..timed_runs {
        let timed = session.run_timed(inputs)?;
        source = timed.source.to_string();
        for (kernel, ns) in timed.dispatches {
            let entry = per_kernel.entry(kernel).or_default();
            if run == 0 {
                entry.0 += 1;
            }
            entry.1 += ns;
        }
    }
    let runs = timed_runs as f64;
    let total_ms: f64 = per_kernel.values().map(|(_, ns)| *ns as f64).sum::<f64>() / runs / 1e6;
    let percent = |ms: f64| {
        if total_ms > 0.0 {
            100.0 * ms / total_ms
        } else {
            0.0
        }
    };
    let mut kernels: Vec<KernelTime> = per_kernel
        .iter()
        .map(|(name, (dispatches, ns))| {
            let ms = *ns as f64 / runs / 1e6;
            KernelTime {
                kernel: name.clone(),
                op: op_of.get(name.as_str()).unwrap_or(&"?").to_string(),
                dispatches: *dispatches,
                ms,
                percent: percent(ms),
            }
        })
        .collect();
    kernels.sort_by(|x, y| y.ms.total_cmp(&x.ms).then(x.kernel.cmp(&y.kernel)));
    let mut by_op: BTreeMap<&str, (usize, f64)> = BTreeMap::new();
    for k in &kernels {
        let entry = by_op.entry(&k.op).or_default();
        entry.0 += k.dispatches;
        entry.1 += k.ms;
    }
    let mut ops: Vec<OpTime> = by_op
        .into_iter()
        .map(|(op, (dispatches, ms))| OpTime {
            op: op.to_string(),
            dispatches,
            ms,
            percent: percent(ms),
        })
        .collect();
    ops.sort_by(|x, y| y.ms.total_cmp(&x.ms).then(x.op.cmp(&y.op)));

    Ok(BenchReport {
        model: setup.model,
        origin: setup.origin.to_string(),
        adapter: setup.adapter,
        iters: setup.iters,
        warmup: setup.warmup,
        load_ms: None,
        first_run_ms: first_run_ms.unwrap_or(0.0),
        median_ms: median,
        min_ms: ms[0],
        max_ms: ms[ms.len() - 1],
        mean_ms: ms.iter().sum::<f64>() / ms.len() as f64,
        kernel_count: plan.kernels.len(),
        dispatch_count: plan.dispatches.len(),
        random_inputs: setup.random_inputs,
        timing_source: source,
        timed_runs,
        gpu_total_ms: total_ms,
        kernels,
        ops,
    })
}
