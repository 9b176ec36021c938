//! Shared GPU test helpers: one runtime per test binary, and checks of GPU results
//! against the CPU reference interpreter.
//!
//! Use from a test file in `runtime/tests/` with `mod common;` (or from another crate's
//! tests with `#[path = ".../runtime/tests/common/mod.rs"] mod common;`). A missing
//! adapter makes every GPU test *fail* with the fix in the message; tests never skip.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use kiln_codegen::{build_plan_with, Limits, PlanOptions};
use kiln_ir::{DType, Data, Graph, Op, Shape, Tensor};
use kiln_runtime::{Runtime, RuntimeOptions};
use rand::{Rng, SeedableRng};
use std::sync::OnceLock;

/// Tolerance of a float comparison: `|gpu - cpu| <= abs + rel * |cpu|`.
/// Integer and bool outputs are always compared exactly.
#[derive(Clone, Copy, Debug)]
pub struct Tol {
    pub abs: f64,
    pub rel: f64,
}

impl Tol {
    /// Bit-for-bit equal values (NaN equals NaN).
    pub const EXACT: Tol = Tol { abs: 0.0, rel: 0.0 };
    /// What plain f32 arithmetic in a different order needs.
    pub const F32: Tol = Tol {
        abs: 1e-5,
        rel: 1e-5,
    };
    /// Sums of many products (matmul, conv, reductions) and transcendental functions.
    pub const LOOSE: Tol = Tol {
        abs: 1e-4,
        rel: 1e-4,
    };

    pub const fn new(abs: f64, rel: f64) -> Tol {
        Tol { abs, rel }
    }
}

/// The test binary's shared runtime (adapter chosen as `kiln` would, honouring
/// `WGPU_BACKEND` and `KILN_ADAPTER`). Panics with the fix when there is no adapter.
pub fn gpu() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        private_runtime_dir();
        let options = RuntimeOptions {
            adapter: std::env::var("KILN_ADAPTER").ok(),
            ..Default::default()
        };
        match Runtime::new(&options) {
            Ok(rt) => {
                eprintln!("GPU tests run on {}", rt.describe());
                rt
            }
            Err(e) => panic!("GPU tests need a wgpu adapter and found none usable: {e}"),
        }
    })
}

/// Mesa warns when `XDG_RUNTIME_DIR` is unset; point it at a private folder.
fn private_runtime_dir() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return;
    }
    let dir = std::env::temp_dir().join("kiln-xdg-runtime");
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    if builder.create(&dir).is_ok() {
        std::env::set_var("XDG_RUNTIME_DIR", dir);
    }
}

/// Runs `graph` on the CPU reference and on the GPU (planned for WebGPU's default
/// limits) and asserts that every output matches: same dtype and shape, floats within
/// `tol` (NaN matches NaN), integers and bools exactly.
pub fn check_graph(graph: &Graph, inputs: &[Tensor], tol: Tol) {
    check_graph_with(graph, inputs, tol, &Limits::default());
}

/// [`check_graph`] with the plan built for `limits` (small limits exercise splitting).
pub fn check_graph_with(graph: &Graph, inputs: &[Tensor], tol: Tol, limits: &Limits) {
    check_graph_planned(graph, inputs, tol, limits, &PlanOptions::default());
}

/// [`check_graph`] with the plan built for `limits` with `options`.
pub fn check_graph_planned(
    graph: &Graph,
    inputs: &[Tensor],
    tol: Tol,
    limits: &Limits,
    options: &PlanOptions,
) {
    let want = kiln_ir::interp::run(graph, inputs)
        .unwrap_or_else(|e| panic!("CPU reference failed on graph '{}': {e}", graph.name));
    let got = run_gpu_planned(graph, inputs, limits, options);
    assert_eq!(
        got.len(),
        want.len(),
        "graph '{}': GPU returned {} outputs, CPU {}",
        graph.name,
        got.len(),
        want.len()
    );
    let mut failures = Vec::new();
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let name = graph.outputs.get(i).map_or("?", |p| p.name.as_str());
        if let Err(msg) = compare(g, w, tol) {
            failures.push(format!("output {i} '{name}': {msg}"));
        }
    }
    assert!(
        failures.is_empty(),
        "graph '{}': GPU and CPU disagree\n{}",
        graph.name,
        failures.join("\n")
    );
}

/// Compiles and runs `graph` on the shared GPU runtime; panics with the error on failure.
pub fn run_gpu(graph: &Graph, inputs: &[Tensor]) -> Vec<Tensor> {
    run_gpu_with(graph, inputs, &Limits::default())
}

/// [`run_gpu`] with the plan built for `limits`.
pub fn run_gpu_with(graph: &Graph, inputs: &[Tensor], limits: &Limits) -> Vec<Tensor> {
    run_gpu_planned(graph, inputs, limits, &PlanOptions::default())
}

/// [`run_gpu`] with the plan built for `limits` with `options`.
pub fn run_gpu_planned(
    graph: &Graph,
    inputs: &[Tensor],
    limits: &Limits,
    options: &PlanOptions,
) -> Vec<Tensor> {
    let compiled = build_plan_with(graph, limits, options)
        .unwrap_or_else(|e| panic!("graph '{}' does not compile: {e}", graph.name));
    let mut session = gpu()
        .load(&compiled.plan, &compiled.weights)
        .unwrap_or_else(|e| panic!("graph '{}' does not load: {e}", graph.name));
    session
        .run(inputs)
        .unwrap_or_else(|e| panic!("graph '{}' fails on the GPU: {e}", graph.name))
}

/// [`check_graph`] on a one-node graph: `inputs` become graph inputs, every result of
/// `op` a graph output.
pub fn check_op(op: Op, inputs: Vec<Tensor>, tol: Tol) {
    let graph = op_graph(op, &inputs);
    check_graph(&graph, &inputs, tol);
}

/// A graph applying `op` to inputs typed like `inputs`, with all its results as outputs.
pub fn op_graph(op: Op, inputs: &[Tensor]) -> Graph {
    let mut graph = Graph::new(format!("{}_test", op.name()));
    let args: Vec<_> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| graph.add_input(format!("x{i}"), t.ty(), kiln_ir::Wide::No))
        .collect();
    let name = op.name();
    let results = graph
        .add_node(op, &args, None, "node")
        .unwrap_or_else(|e| panic!("cannot build the {name} test graph: {e}"));
    for (i, r) in results.into_iter().enumerate() {
        graph.add_output(format!("y{i}"), r, kiln_ir::Wide::No);
    }
    graph
}

/// Where `got` and `want` differ beyond `tol`, described with the first mismatches.
pub fn compare(got: &Tensor, want: &Tensor, tol: Tol) -> Result<(), String> {
    if got.dtype() != want.dtype() || got.shape() != want.shape() {
        return Err(format!("GPU gave {}, CPU {}", got.ty(), want.ty()));
    }
    let float = matches!(want.dtype(), DType::F32 | DType::F16);
    let (g, w) = (got.to_f64_vec(), want.to_f64_vec());
    let bad: Vec<usize> = (0..w.len())
        .filter(|&i| {
            let (a, b) = (g[i], w[i]);
            if float {
                !(a.to_bits() == b.to_bits()
                    || (a.is_nan() && b.is_nan())
                    || (a - b).abs() <= tol.abs + tol.rel * b.abs())
            } else {
                // Minifloats decode to NaN in more than one pattern.
                a != b && !(a.is_nan() && b.is_nan())
            }
        })
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    let mut msg = format!(
        "{} of {} elements of {} differ (tol abs {} rel {})",
        bad.len(),
        w.len(),
        want.ty(),
        tol.abs,
        tol.rel
    );
    for &i in bad.iter().take(8) {
        let at = unravel(i, want.shape());
        msg += &format!(
            "\n  at {at:?}: gpu {} cpu {} (diff {:e})",
            g[i],
            w[i],
            (g[i] - w[i]).abs()
        );
    }
    Err(msg)
}

fn unravel(mut flat: usize, shape: &Shape) -> Vec<usize> {
    let mut index = vec![0; shape.rank()];
    for (axis, &dim) in shape.dims().iter().enumerate().rev() {
        index[axis] = flat % dim.max(1);
        flat /= dim.max(1);
    }
    index
}

/// A dense tensor of fresh random data: floats uniform in [-2, 2) and never exactly
/// zero, signed integers in [-9, 9] without 0, unsigned in [1, 9], bools random.
pub fn random_tensor(dtype: DType, shape: &[usize], seed: u64) -> Tensor {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let mut float = || loop {
        let x: f32 = rng.gen_range(-2.0..2.0);
        if half::f16::from_f32(x).to_f32() != 0.0 {
            break x;
        }
    };
    let data = match dtype {
        DType::F32 => Data::F32((0..n).map(|_| float()).collect()),
        DType::F16 => Data::F16((0..n).map(|_| half::f16::from_f32(float())).collect()),
        DType::I32 => Data::I32((0..n).map(|_| signed(&mut rng)).collect()),
        DType::I8 => Data::I8((0..n).map(|_| signed(&mut rng) as i8).collect()),
        DType::U32 => Data::U32((0..n).map(|_| rng.gen_range(1..=9)).collect()),
        DType::U8 => Data::U8((0..n).map(|_| rng.gen_range(1..=9)).collect()),
        DType::Bool => Data::Bool((0..n).map(|_| rng.gen()).collect()),
        // Narrower integers: any value of the type but 0.
        d if d.is_int() => {
            let (lo, hi) = d.int_range().expect("an integer type");
            let v: Vec<i64> = (0..n)
                .map(|_| loop {
                    let x = rng.gen_range(lo.max(-9)..=hi.min(9));
                    if x != 0 {
                        break x;
                    }
                })
                .collect();
            Data::from_i64s(d, v.into_iter()).expect("an integer type")
        }
        // Minifloats: any finite bit pattern.
        d => {
            let f = kiln_ir::minifloat::Format::of(d).expect("a minifloat");
            let bits = (0..n)
                .map(|_| loop {
                    let b: u8 = rng.gen_range(0..=((1u16 << d.bits()) - 1) as u8);
                    if f.decode(b).is_finite() {
                        break b;
                    }
                })
                .collect();
            Data::minifloats(d, bits).expect("a minifloat")
        }
    };
    Tensor::new(shape, data).expect("data has one element per index")
}

fn signed(rng: &mut impl Rng) -> i32 {
    let x = rng.gen_range(1..=9);
    if rng.gen() {
        x
    } else {
        -x
    }
}
