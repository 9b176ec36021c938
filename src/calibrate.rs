//! Device calibration: measures the three figures of a cost-model [`DeviceProfile`]
//! (memory bandwidth, arithmetic rate, per-dispatch cost) on a GPU adapter by running
//! kiln's own kernels, so the profile prices what kiln's kernels actually achieve.
//!
//! - bandwidth: an element-wise `neg` over 4 Mi f32 (16 MiB read, 16 MiB written),
//!   timed per dispatch;
//! - arithmetic: a 384×384×384 f32 matmul through the tiled engine, timed per dispatch,
//!   and the same product as an exact integer product (u8 × i8 with zero points: what
//!   quantized models run), for the integer rate, on both integer engines (exact f32
//!   arithmetic; bytes packed for `dot4I8Packed`);
//! - sparse kernels: a 256-row product with 1024×1024 weights stored in 4×4 blocks (a
//!   tenth kept), CSR (a tenth of the weights) and 2:4, per stored weight;
//! - dispatch cost: the wall time of a chain of 201 dependent one-element kernels minus
//!   that of a chain of 1, per extra dispatch (what a kernel boundary costs a run);
//! - f16 arithmetic, where the adapter has `SHADER_F16`: a 16-step f16 element-wise
//!   chain over 1 Mi elements computed in f32 (rounded after each step) and in f16.
//!
//! Each time is the least of [`RUNS`] measurements after warm-up runs: other work on a
//! shared machine only ever adds time, so the minimum is the device's own figure.

use crate::{Error, Result};
use kiln_codegen::{build_plan_with, KernelPlan, PlanOptions};
use kiln_ir::{
    BinaryOp, DType, Graph, Handle, Op, Program, ReduceOp, SparseFormat, Step, Tensor, TensorType,
    UnaryOp, Value,
};
use kiln_passes::egraph::{DeviceProfile, SPARSE_SHARE};
use kiln_runtime::{Runtime, Session};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// Measured runs per figure (the least time is kept).
const RUNS: usize = 9;
/// Runs before measuring (pipelines compiled, buffers resident).
const WARMUP: usize = 2;
/// Elements of the bandwidth kernel's operand.
const STREAM_ELEMENTS: usize = 4 << 20;
/// Side of the matmul timed for the arithmetic rate.
const MATMUL_SIDE: usize = 384;
/// Extra dispatches in the long chain of the dispatch-cost measurement.
const CHAIN: usize = 200;
/// Side of the square weight matrix the sparse kernels are timed on.
const SPARSE_SIDE: usize = 1024;
/// Steps of the f16 element-wise chain timed for [`Calibration::f16_speedup`].
const F16_STEPS: usize = 16;

/// A measured device profile and how it was measured; the JSON form of it is what
/// `--profile FILE` reads back.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Calibration {
    /// Profile name shown in optimizer reports (the adapter's description).
    pub name: String,
    /// Sustained memory bandwidth, GB/s.
    pub bandwidth_gbs: f64,
    /// Sustained f32 arithmetic rate of the matmul engine, GFLOP/s.
    pub gflops: f64,
    /// Sustained rate of the integer matmul engine, G multiply-adds ×2 per second.
    /// Files written before this field have none: the f32 rate stands in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub int_gops: Option<f64>,
    /// Sustained rate of the packed 8-bit engine (`dot4I8Packed`), G multiply-adds ×2
    /// per second. Files written before this field have none: the integer rate stands
    /// in (the packed engine is then never chosen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dot4_gops: Option<f64>,
    /// Sustained rates of the sparse kernels per stored weight, G/s: 4×4 blocks, CSR,
    /// 2:4. Files written before this field have none: lavapipe's shares of the f32
    /// rate stand in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparse_gops: Option<[f64; 3]>,
    /// Cost of one more dispatch in a run, microseconds.
    pub launch_us: f64,
    /// Time of an f16 element-wise chain computed in f32 (each step rounded to f16)
    /// over its time computed in f16; none where the adapter has no `SHADER_F16` (and
    /// in files written before this field). Above 1, f16 steps compute in f16.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub f16_speedup: Option<f64>,
    /// How kernel times were taken (GPU timestamps or host wall clock).
    #[serde(default)]
    pub timing: String,
    /// Whether the adapter is a CPU driver (kernels are then shaped for one). Files
    /// written before this field have none: the adapter description says it
    /// (`... [Vulkan, Cpu]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<bool>,
}

impl Calibration {
    /// The cost-model profile.
    pub fn profile(&self) -> DeviceProfile {
        DeviceProfile {
            name: self.name.clone(),
            bandwidth_gbs: self.bandwidth_gbs,
            gflops: self.gflops,
            int_gops: self.int_gops.unwrap_or(self.gflops),
            dot4_gops: self.dot4_gops.or(self.int_gops).unwrap_or(self.gflops),
            sparse_gops: self
                .sparse_gops
                .unwrap_or(SPARSE_SHARE.map(|s| s * self.gflops)),
            launch_us: self.launch_us,
            f16_arithmetic: self.f16_speedup.is_some_and(|r| r > 1.0),
        }
    }

    /// Whether the adapter measured is a CPU driver (codegen shapes kernels for one:
    /// [`crate::Limits::cpu_driver`]).
    pub fn cpu_driver(&self) -> bool {
        self.cpu.unwrap_or_else(|| self.name.ends_with(", Cpu]"))
    }

    /// Reads a profile written by `kiln bench --calibrate --json`; every figure must be
    /// a positive, finite number.
    pub fn read(path: &Path) -> Result<Calibration> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::file(path, format!("cannot read device profile: {e}")))?;
        let c: Calibration = serde_json::from_str(&text).map_err(|e| {
            Error::file(
                path,
                format!(
                    "not a device profile ({e}); write one with 'kiln bench --calibrate --json'"
                ),
            )
        })?;
        for (what, v) in [
            ("bandwidth_gbs", c.bandwidth_gbs),
            ("gflops", c.gflops),
            ("int_gops", c.int_gops.unwrap_or(c.gflops)),
            ("dot4_gops", c.dot4_gops.unwrap_or(c.gflops)),
            ("launch_us", c.launch_us),
            ("f16_speedup", c.f16_speedup.unwrap_or(1.0)),
        ]
        .into_iter()
        .chain(
            c.sparse_gops
                .unwrap_or([1.0; 3])
                .map(|v| ("sparse_gops", v)),
        ) {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::file(
                    path,
                    format!("device profile: {what} must be a positive number, got {v}"),
                ));
            }
        }
        Ok(c)
    }
}

/// Measures the profile of `runtime`'s adapter.
pub fn calibrate(runtime: &Runtime) -> Result<Calibration> {
    let f32_ty = |dims: Vec<usize>| TensorType::new(DType::F32, dims);

    // Bandwidth: expand a scalar to STREAM_ELEMENTS, negate (the timed kernel), sum.
    let mut g = Graph::new("calibrate_bandwidth");
    let x = g.add_input("x", f32_ty(vec![1]), kiln_ir::Wide::No);
    let wide = add(
        &mut g,
        Op::Expand {
            shape: vec![STREAM_ELEMENTS],
        },
        &[x],
    )?;
    let neg = add(&mut g, Op::Unary(UnaryOp::Neg), &[wide])?;
    let sum = add(
        &mut g,
        Op::Reduce {
            op: ReduceOp::Sum,
            axes: vec![0],
            keepdims: false,
        },
        &[neg],
    )?;
    g.add_output("y", sum, kiln_ir::Wide::No);
    let (stream_ns, timing) = kernel_ns(runtime, &g, "neg", &[scalar()], &PlanOptions::default())?;
    let bandwidth_gbs = (8 * STREAM_ELEMENTS) as f64 / stream_ns;

    // Arithmetic: one square matmul.
    let n = MATMUL_SIDE;
    let mut g = Graph::new("calibrate_matmul");
    let a = g.add_input("a", f32_ty(vec![n, n]), kiln_ir::Wide::No);
    let b = g.add_input("b", f32_ty(vec![n, n]), kiln_ir::Wide::No);
    let c = add(&mut g, Op::MatMul, &[a, b])?;
    g.add_output("c", c, kiln_ir::Wide::No);
    let inputs = [
        crate::random_tensor(DType::F32, &[n, n], 1),
        crate::random_tensor(DType::F32, &[n, n], 2),
    ];
    let (matmul_ns, _) = kernel_ns(runtime, &g, "matmul", &inputs, &PlanOptions::default())?;
    let gflops = (2 * n * n * n) as f64 / matmul_ns;

    // Integer arithmetic: the same product of u8 × i8 with zero points.
    let mut g = Graph::new("calibrate_matmul_integer");
    let ty = |dtype, dims: Vec<usize>| TensorType::new(dtype, dims);
    let a = g.add_input("a", ty(DType::U8, vec![n, n]), kiln_ir::Wide::No);
    let b = g.add_input("b", ty(DType::I8, vec![n, n]), kiln_ir::Wide::No);
    let za = g.add_input("za", ty(DType::U8, vec![]), kiln_ir::Wide::No);
    let zb = g.add_input("zb", ty(DType::I8, vec![]), kiln_ir::Wide::No);
    let c = add(&mut g, Op::MatMulInteger, &[a, b, za, zb])?;
    g.add_output("c", c, kiln_ir::Wide::No);
    let inputs = [
        crate::random_tensor(DType::U8, &[n, n], 3),
        crate::random_tensor(DType::I8, &[n, n], 4),
        crate::random_tensor(DType::U8, &[], 5),
        crate::random_tensor(DType::I8, &[], 6),
    ];
    let (int_ns, _) = kernel_ns(
        runtime,
        &g,
        "matmul_integer",
        &inputs,
        &PlanOptions::default(),
    )?;
    let int_gops = Some((2 * n * n * n) as f64 / int_ns);
    // The same product on the packed 8-bit engine.
    let packed = PlanOptions {
        packed_dot: true,
        ..PlanOptions::default()
    };
    let (dot4_ns, _) = kernel_ns(runtime, &g, "matmul_integer", &inputs, &packed)?;
    let dot4_gops = Some((2 * n * n * n) as f64 / dot4_ns);

    // Sparse kernels: rows × k·k weights, a tenth stored, per format.
    let sparse_gops = Some(sparse_rates(runtime)?);

    // Dispatch cost: a long and a short chain of one-element kernels.
    let chain = |len: usize| -> Result<f64> {
        let mut g = Graph::new("calibrate_dispatch");
        let mut v = g.add_input("x", f32_ty(vec![1]), kiln_ir::Wide::No);
        for _ in 0..len {
            v = add(&mut g, Op::Unary(UnaryOp::Neg), &[v])?;
        }
        g.add_output("y", v, kiln_ir::Wide::No);
        let (mut session, _) = load(runtime, &g, &PlanOptions::default())?;
        wall_ns(&mut session, &[scalar()])
    };
    let long = chain(CHAIN + 1)?;
    let short = chain(1)?;
    // A noisy host can make the difference tiny or negative; a dispatch costs something.
    let launch_us = ((long - short) / CHAIN as f64 / 1e3).max(0.1);

    let f16_speedup = if runtime.has_f16() {
        Some(f16_speedup(runtime)?)
    } else {
        None
    };

    Ok(Calibration {
        name: runtime.describe(),
        bandwidth_gbs,
        gflops,
        int_gops,
        dot4_gops,
        sparse_gops,
        launch_us,
        timing,
        cpu: Some(runtime.is_cpu()),
        f16_speedup,
    })
}

/// Time of an f16 element-wise chain ([`F16_STEPS`] products and differences over
/// [`STREAM_ELEMENTS`] / 4 elements) computed in f32 and rounded after each step, over
/// its time computed in f16 (`PlanOptions::f16_arithmetic`).
fn f16_speedup(runtime: &Runtime) -> Result<f64> {
    let n = STREAM_ELEMENTS / 4;
    let mut g = Graph::new("calibrate_f16");
    let x = g.add_input("x", TensorType::new(DType::F16, vec![n]), kiln_ir::Wide::No);
    let mut steps = vec![Step::Input(0)];
    for _ in 0..F16_STEPS / 2 {
        let s = steps.len() - 1;
        steps.push(Step::Binary(BinaryOp::Mul, s, 0));
        steps.push(Step::Binary(BinaryOp::Sub, s + 1, 0));
    }
    let program = Program { steps };
    let y = add(&mut g, Op::Elementwise { program }, &[x])?;
    g.add_output("y", y, kiln_ir::Wide::No);
    let input = [crate::random_tensor(DType::F16, &[n], 9)];
    let time = |f16_arithmetic| {
        let options = PlanOptions {
            f16_arithmetic,
            ..PlanOptions::default()
        };
        kernel_ns(runtime, &g, "elementwise", &input, &options).map(|(ns, _)| ns)
    };
    Ok(time(false)? / time(true)?)
}

/// Rates of the sparse kernels per stored weight: `[blocks, csr, n_of_m]` on a
/// [`SPARSE_SIDE`]² weight matrix and 256 rows; a tenth of the 4×4 blocks stored, a tenth
/// of the weights (CSR), two of every four (2:4).
fn sparse_rates(runtime: &Runtime) -> Result<[f64; 3]> {
    let (k, rows) = (SPARSE_SIDE, 256);
    let dense = crate::random_tensor(DType::F32, &[k, k], 7).to_f64_vec();
    let formats = [
        (SparseFormat::Blocks { rows: 4, cols: 4 }, 10usize),
        (SparseFormat::Blocks { rows: 1, cols: 1 }, 10),
        (SparseFormat::NOfM { keep: 2, group: 4 }, 2),
    ];
    let mut rates = [0.0; 3];
    for (rate, (format, every)) in rates.iter_mut().zip(formats) {
        // Keep one in `every` blocks (or weights; for 2:4, the first two of a group).
        let w: Vec<f32> = (0..k * k)
            .map(|i| {
                let (r, c) = (i / k, i % k);
                let kept = match format {
                    SparseFormat::Blocks { rows: 4, .. } => (r / 4 * 7 + c / 4 * 3) % every == 0,
                    SparseFormat::NOfM { .. } => r % 4 < 2,
                    _ => (i * 7 + 3) % every == 0,
                };
                if kept {
                    dense[i] as f32
                } else {
                    0.0
                }
            })
            .collect();
        let arrays = kiln_ir::sparse::encode(format, &w, k, k)
            .ok_or_else(|| Error::Unsupported("calibration weights do not fit".into()))?;
        let stored = arrays[0].numel();
        let mut g = Graph::new("calibrate_sparse");
        let a = g.add_input(
            "a",
            TensorType::new(DType::F32, vec![rows, k]),
            kiln_ir::Wide::No,
        );
        let mut operands = vec![a];
        operands.extend(arrays.into_iter().map(|t| g.add_const(None, t)));
        let op = Op::SparseMatMul {
            format,
            axis: 1,
            k,
            n: k,
        };
        let y = add(&mut g, op, &operands)?;
        g.add_output("y", y, kiln_ir::Wide::No);
        let input = crate::random_tensor(DType::F32, &[rows, k], 8);
        let (ns, _) = kernel_ns(
            runtime,
            &g,
            "sparse_matmul",
            &[input],
            &PlanOptions::default(),
        )?;
        *rate = (2 * rows * stored) as f64 / ns;
    }
    Ok(rates)
}

/// Adds `op` to a calibration graph (which kiln builds itself: an error is a bug).
fn add(g: &mut Graph, op: Op, inputs: &[Handle<Value>]) -> Result<Handle<Value>> {
    let name = op.name();
    g.add(op, inputs, name)
        .map_err(|e| Error::Unsupported(format!("calibration graph: {e}")))
}

/// The one-element input of the bandwidth and dispatch graphs.
fn scalar() -> Tensor {
    Tensor::from_f32(vec![1usize], vec![0.5]).expect("one element fits shape [1]")
}

/// Compiles `graph` one kernel per node with `options` and loads it on `runtime`.
fn load(runtime: &Runtime, graph: &Graph, options: &PlanOptions) -> Result<(Session, KernelPlan)> {
    let compiled = build_plan_with(graph, &runtime.limits(), options)?;
    let session = runtime.load(&compiled.plan, &compiled.weights)?;
    Ok((session, compiled.plan))
}

/// Least nanoseconds of the dispatches of `graph`'s kernels computing `op`, and how
/// they were timed.
fn kernel_ns(
    runtime: &Runtime,
    graph: &Graph,
    op: &str,
    inputs: &[Tensor],
    options: &PlanOptions,
) -> Result<(f64, String)> {
    let (mut session, plan) = load(runtime, graph, options)?;
    let names = kernels_of(&plan, op);
    for _ in 0..WARMUP {
        session.run(inputs)?;
    }
    let mut times = Vec::with_capacity(RUNS);
    let mut source = String::new();
    for _ in 0..RUNS {
        let timed = session.run_timed(inputs)?;
        source = timed.source.to_string();
        let ns: u64 = timed
            .dispatches
            .iter()
            .filter(|(k, _)| names.contains(k))
            .map(|(_, ns)| ns)
            .sum();
        times.push(ns.max(1) as f64);
    }
    Ok((least(times), source))
}

/// Least wall-clock nanoseconds of one run of `session`.
fn wall_ns(session: &mut Session, inputs: &[Tensor]) -> Result<f64> {
    for _ in 0..WARMUP {
        session.run(inputs)?;
    }
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        session.run(inputs)?;
        times.push(start.elapsed().as_nanos() as f64);
    }
    Ok(least(times))
}

/// Names of the plan's kernels that compute `op`.
fn kernels_of(plan: &KernelPlan, op: &str) -> Vec<String> {
    plan.kernels
        .iter()
        .filter(|k| k.op == op)
        .map(|k| k.name.clone())
        .collect()
}

fn least(v: Vec<f64>) -> f64 {
    v.into_iter().fold(f64::INFINITY, f64::min)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn a_written_profile_reads_back() {
        let c = Calibration {
            name: "test adapter".into(),
            bandwidth_gbs: 2.5,
            gflops: 12.0,
            int_gops: Some(7.5),
            dot4_gops: Some(30.0),
            sparse_gops: Some([4.0, 1.5, 3.0]),
            launch_us: 21.0,
            timing: "GPU timestamps".into(),
            cpu: Some(true),
            f16_speedup: Some(1.6),
        };
        let f = write(&serde_json::to_string(&c).unwrap());
        let read = Calibration::read(f.path()).unwrap();
        let back = read.profile();
        assert_eq!(back.name, "test adapter");
        assert_eq!(
            (
                back.bandwidth_gbs,
                back.gflops,
                back.int_gops,
                back.dot4_gops,
                back.launch_us,
                read.cpu_driver(),
                back.f16_arithmetic
            ),
            (2.5, 12.0, 7.5, 30.0, 21.0, true, true)
        );
        // Files from before the `cpu` and `int_gops` fields: the adapter description
        // says the first, the f32 rate stands in for the second.
        for (name, cpu) in [("llvmpipe (LLVM 15) [Vulkan, Cpu]", true), ("x", false)] {
            let text =
                format!(r#"{{"name": "{name}", "bandwidth_gbs": 1, "gflops": 2, "launch_us": 1}}"#);
            let f = write(&text);
            let c = Calibration::read(f.path()).unwrap();
            assert_eq!(c.cpu_driver(), cpu);
            assert_eq!(c.profile().int_gops, 2.0);
            assert!(!c.profile().packed_dot());
            assert!(!c.profile().f16_arithmetic);
        }
    }

    #[test]
    fn bad_profiles_are_refused_with_the_reason() {
        let f = write(r#"{"name": "x", "bandwidth_gbs": 0, "gflops": 1, "launch_us": 1}"#);
        let err = Calibration::read(f.path()).unwrap_err().to_string();
        assert!(
            err.contains("bandwidth_gbs must be a positive number"),
            "{err}"
        );
        let f = write(
            r#"{"name": "x", "bandwidth_gbs": 1, "gflops": 1, "launch_us": 1, "f16_speedup": -2}"#,
        );
        let err = Calibration::read(f.path()).unwrap_err().to_string();
        assert!(
            err.contains("f16_speedup must be a positive number"),
            "{err}"
        );
        let f = write("not json");
        let err = Calibration::read(f.path()).unwrap_err().to_string();
        assert!(err.contains("not a device profile"), "{err}");
        let err = Calibration::read(Path::new("/nonexistent/p.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot read device profile"), "{err}");
    }
}
