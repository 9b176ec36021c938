//! Helpers shared by the integration tests: finding the generated test data, loading
//! ONNX test cases, compiling and running them on the CPU or the GPU at an optimisation
//! level, comparing outputs, and turning panics into failures.
#![allow(
    dead_code,
    unused_imports,
    reason = "each test binary uses a different part of these helpers"
)]

pub mod cli;

use kiln_ir::{Data, Graph, Tensor};
use kiln_onnx::NamedTensor;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once, OnceLock};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub use kiln_testdata::{data_dir, show};

/// One ONNX test case: `model.onnx` and `test_data_set_0/{input,output}_<i>.pb`.
pub struct Case {
    pub name: String,
    pub model: PathBuf,
    pub inputs: Vec<NamedTensor>,
    pub outputs: Vec<NamedTensor>,
}

/// The first input and output of each `test_data_set_<i>` of `dir` (a model with one
/// input and one output and several test sets).
pub fn sets(dir: &Path) -> Result<Vec<(Tensor, Tensor)>, String> {
    let mut sets = Vec::new();
    for i in 0.. {
        let data = dir.join(format!("test_data_set_{i}"));
        if !data.is_dir() {
            break;
        }
        let (mut input, mut output) = (read_pbs(&data, "input")?, read_pbs(&data, "output")?);
        if input.is_empty() || output.is_empty() {
            return Err(format!("{}: no input_0.pb or output_0.pb", data.display()));
        }
        sets.push((input.swap_remove(0).tensor, output.swap_remove(0).tensor));
    }
    Ok(sets)
}

/// Reads the `.pb` files `prefix_0.pb`, `prefix_1.pb`, ... of `dir`, in order.
pub fn read_pbs(dir: &Path, prefix: &str) -> Result<Vec<NamedTensor>, String> {
    let mut tensors = Vec::new();
    for i in 0.. {
        let path = dir.join(format!("{prefix}_{i}.pb"));
        if !path.exists() {
            break;
        }
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let tensor =
            kiln_onnx::decode_tensor(&bytes).map_err(|e| format!("{prefix}_{i}.pb: {e}"))?;
        tensors.push(tensor);
    }
    Ok(tensors)
}

/// Loads the test case in folder `dir`.
pub fn load_case(dir: &Path) -> Result<Case, String> {
    let data = dir.join("test_data_set_0");
    Ok(Case {
        name: dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        model: dir.join("model.onnx"),
        inputs: read_pbs(&data, "input")?,
        outputs: read_pbs(&data, "output")?,
    })
}

/// The given inputs keyed by the model's input names: input `i` of the case is the
/// model's `i`-th input (how the ONNX test runner feeds them, and what `kiln run` does
/// with unnamed inputs).
pub fn input_map(model: &kiln_onnx::Model, inputs: &[NamedTensor]) -> BTreeMap<String, Tensor> {
    model
        .inputs()
        .iter()
        .zip(inputs)
        .map(|(info, t)| (info.name.clone(), t.tensor.clone()))
        .collect()
}

/// Where a compiled test runs, and at which optimisation level (`--opt`).
#[derive(Clone)]
pub enum Backend {
    /// The CPU reference interpreter.
    Cpu,
    /// A bundle compiled in memory, loaded and run on this adapter.
    Gpu(Arc<kiln::Runtime>),
}

impl Backend {
    /// `cpu`, `gpu`, or `gl` for an adapter reached through OpenGL, for file names and
    /// titles.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Gpu(runtime) if runtime.backend_api() == Some(kiln::BackendApi::Gl) => "gl",
            Backend::Gpu(_) => "gpu",
        }
    }
}

/// The compile options `kiln run` uses for a model given these inputs: each given
/// input binds its dims and its value (shape-like integer inputs become constants).
pub fn run_options(
    model: &kiln_onnx::Model,
    inputs: &[NamedTensor],
    opt_level: u8,
) -> kiln::CompileOptions {
    let values = input_map(model, inputs);
    kiln::CompileOptions {
        shapes: values
            .iter()
            .map(|(k, t)| (k.clone(), t.shape().dims().to_vec()))
            .collect(),
        values,
        opt_level,
        ..Default::default()
    }
}

/// Compiles the model as `kiln run --backend cpu` does (at `--opt 0`): the given input
/// values specialise shape-like integer inputs into constants, then the standard passes
/// run. Returns the graph and the inputs by name.
pub fn compile(
    model_path: &Path,
    inputs: &[NamedTensor],
) -> Result<(Graph, BTreeMap<String, Tensor>), String> {
    let model = kiln::load_onnx(model_path).map_err(|e| e.to_string())?;
    let options = run_options(&model, inputs, 0);
    let graph = kiln::compile_onnx(&model, &options).map_err(|e| e.to_string())?;
    Ok((graph, options.values))
}

/// Runs `graph` on the CPU backend, feeding each graph input by name from `values`.
pub fn run(graph: &Graph, values: &BTreeMap<String, Tensor>) -> Result<Vec<Tensor>, String> {
    let inputs = kiln::bind_inputs(graph, values).map_err(|e| e.to_string())?;
    kiln::run_cpu(graph, &inputs).map_err(|e| e.to_string())
}

/// Compiles and runs a case on the CPU at `--opt 0`; returns each output with its
/// declared width ([`kiln_ir::Wide`]).
pub fn compile_and_run(case: &Case) -> Result<Vec<(Tensor, kiln_ir::Wide)>, String> {
    run_case(case, &Backend::Cpu, 0).map(|ran| ran.outputs)
}

/// What [`run_case`] ran: the outputs, and the size of the compiled graph.
pub struct Ran {
    /// Each output with its declared width ([`kiln_ir::Wide`]).
    pub outputs: Vec<(Tensor, kiln_ir::Wide)>,
    /// Ops in the compiled graph (each is one kernel or more on the GPU; reshapes none).
    pub ops: usize,
    /// Of those, ops the optimizer made: `Elementwise` programs, `Fused` kernels,
    /// `Attention`.
    pub fused: usize,
    /// GPU: the bundle's dispatches.
    pub dispatches: Option<usize>,
    /// GPU: the weights the bundle keeps packed on the device.
    pub packed_weights: usize,
    /// GPU: the integer products the bundle runs on packed dot products.
    pub packed_products: usize,
    /// GPU: the 8- and 16-bit tensors the bundle stores narrow, several to a word.
    pub narrow_tensors: usize,
}

/// Compiles a case as `kiln run --backend B --opt L` does (specialised on the case's
/// inputs) and runs it: on the CPU, the compiled graph on the reference interpreter; on
/// the GPU, a bundle compiled in memory for WebGPU's default limits, loaded on the
/// shared adapter and run once.
pub fn run_case(case: &Case, backend: &Backend, opt_level: u8) -> Result<Ran, String> {
    run_case_for(case, backend, opt_level, true)
}

/// [`run_case`] with the GPU bundle compiled for a CPU driver (`cpu_driver`, as `kiln`
/// compiles for lavapipe) or for a GPU (other kernel shapes, quantized weights kept
/// packed on the device, priced as `--profile discrete`: 8-bit integer products on
/// packed dot products).
pub fn run_case_for(
    case: &Case,
    backend: &Backend,
    opt_level: u8,
    cpu_driver: bool,
) -> Result<Ran, String> {
    let model = kiln::load_onnx(&case.model).map_err(|e| e.to_string())?;
    let mut options = run_options(&model, &case.inputs, opt_level);
    options.target.cpu_driver = cpu_driver;
    if !cpu_driver {
        // Compiled for a GPU, priced as one (`--profile discrete`).
        options.egraph.profile = kiln::DeviceProfile::discrete();
    }
    let graph = kiln::compile_onnx(&model, &options).map_err(|e| e.to_string())?;
    let ops = graph.nodes.len();
    let fused = graph
        .nodes
        .iter()
        .filter(|(_, n)| {
            matches!(
                n.op,
                kiln_ir::Op::Elementwise { .. }
                    | kiln_ir::Op::Fused { .. }
                    | kiln_ir::Op::Attention { .. }
            )
        })
        .count();
    let (mut dispatches, mut packed_weights, mut packed_products) = (None, 0, 0);
    let mut narrow_tensors = 0;
    let outputs = match backend {
        Backend::Cpu => {
            let outputs = run(&graph, &options.values)?;
            outputs
                .into_iter()
                .zip(graph.outputs.iter().map(|p| p.wide))
                .collect()
        }
        Backend::Gpu(runtime) => {
            let bundle = kiln::bundle_graph(&graph, &options, None)
                .map_err(|e| format!("compiling for the GPU: {e}"))?;
            let plan = &bundle.manifest.plan;
            dispatches = Some(plan.dispatches.len());
            packed_weights = bundle.manifest.decisions.packed_weights;
            packed_products = bundle.manifest.decisions.packed_products;
            narrow_tensors = bundle.manifest.decisions.narrow_tensors;
            let inputs =
                kiln::bind_plan_inputs(plan, &options.values).map_err(|e| e.to_string())?;
            let outputs = kiln::run_gpu(runtime, &bundle, &inputs).map_err(|e| e.to_string())?;
            outputs
                .into_iter()
                .zip(plan.outputs.iter().map(|p| p.wide))
                .collect()
        }
    };
    Ok(Ran {
        outputs,
        ops,
        fused,
        dispatches,
        packed_weights,
        packed_products,
        narrow_tensors,
    })
}

/// Runs `case` on `backend` at `opt_level` and measures each output's relative L2 to the
/// case's expected outputs. A failure to run, a missing output or an error above
/// `tolerance` is pushed to `failures` (as `label: ...`). Returns the run and the errors
/// when it ran.
pub fn run_within(
    case: &Case,
    (backend, opt_level): (&Backend, u8),
    tolerance: f64,
    label: &str,
    failures: &mut Vec<String>,
) -> Option<(Ran, Vec<f64>)> {
    let ran = match run_case(case, backend, opt_level) {
        Ok(ran) => ran,
        Err(e) => {
            failures.push(format!("{label}: {e}"));
            return None;
        }
    };
    let errors: Vec<f64> = ran
        .outputs
        .iter()
        .zip(&case.outputs)
        .map(|((got, _), want)| relative_l2(got, &want.tensor))
        .collect();
    if errors.len() != case.outputs.len() || errors.iter().any(|e| e.is_nan() || *e > tolerance) {
        failures.push(format!("{label}: relative L2 {errors:?} > {tolerance}"));
    }
    Some((ran, errors))
}

/// The GPU adapter the GPU tests share, picked once per test binary, or `None` (with a
/// message saying how to get one) when this machine has none. A missing adapter is a
/// failure when `KILN_REQUIRE_GPU=1` (CI sets it), so CI never passes by skipping.
pub fn gpu(test: &str) -> Option<Arc<kiln::Runtime>> {
    static RUNTIME: OnceLock<Result<Arc<kiln::Runtime>, String>> = OnceLock::new();
    let picked = RUNTIME.get_or_init(|| pick(&[]));
    available(picked, test)
}

/// Like [`gpu`], among the adapters of one graphics API (the GL tests: `gl`).
pub fn gpu_on(api: kiln::BackendApi, test: &str) -> Option<Arc<kiln::Runtime>> {
    type Picked = Result<Arc<kiln::Runtime>, String>;
    static RUNTIMES: std::sync::Mutex<Vec<(kiln::BackendApi, Picked)>> =
        std::sync::Mutex::new(Vec::new());
    let picked = {
        let mut runtimes = RUNTIMES.lock().unwrap_or_else(|e| e.into_inner());
        match runtimes.iter().find(|(a, _)| *a == api) {
            Some((_, picked)) => picked.clone(),
            None => {
                let picked = pick(&[api]);
                runtimes.push((api, picked.clone()));
                picked
            }
        }
    };
    available(&picked, test)
}

/// The adapter `kiln` picks among `apis` (none: all, or those `WGPU_BACKEND` names).
fn pick(apis: &[kiln::BackendApi]) -> Result<Arc<kiln::Runtime>, String> {
    let runtime = kiln::gpu_runtime_on(None, apis).map_err(|e| e.to_string())?;
    show(&format!("GPU tests use {}", runtime.describe()));
    Ok(Arc::new(runtime))
}

/// The runtime picked, or `None` after saying the test is skipped; a failure when
/// `KILN_REQUIRE_GPU=1`.
fn available(
    picked: &Result<Arc<kiln::Runtime>, String>,
    test: &str,
) -> Option<Arc<kiln::Runtime>> {
    match picked {
        Ok(runtime) => Some(runtime.clone()),
        Err(e) => {
            if std::env::var("KILN_REQUIRE_GPU").is_ok_and(|v| v == "1") {
                panic!("{test}: {e} (KILN_REQUIRE_GPU=1: a missing adapter is a failure)");
            }
            show(&format!("SKIPPED {test}: {e}"));
            None
        }
    }
}

/// The dtype name a test sees: `int64` (`uint64`, `double`) for an i32 (u32, f32)
/// tensor the model declares so.
pub fn dtype_name(tensor: &Tensor, wide: kiln_ir::Wide) -> &'static str {
    wide.declared_name(tensor.dtype())
}

/// Checks shape and dtype, then values: floats within `|got - want| <= atol + rtol * |want|`
/// (NaN matches NaN, an infinity only itself), integers and bools exactly.
pub fn compare(
    got: &Tensor,
    got_wide: kiln_ir::Wide,
    want: &NamedTensor,
    atol: f64,
    rtol: f64,
) -> Result<(), String> {
    compare_ulps(got, got_wide, want, atol, rtol, 0.0)
}

/// The spacing of f16 values at `x` (its unit in the last place; 2^-24 below 2^-14).
pub fn f16_ulp(x: f64) -> f64 {
    let e = x.abs().log2().floor().clamp(-14.0, 15.0);
    (e - 10.0).exp2()
}

/// [`compare`], also accepting an f16 element within `f16_ulps` f16 ulps of the
/// expected value.
pub fn compare_ulps(
    got: &Tensor,
    got_wide: kiln_ir::Wide,
    want: &NamedTensor,
    atol: f64,
    rtol: f64,
    f16_ulps: f64,
) -> Result<(), String> {
    let ulps = if got.dtype() == kiln_ir::DType::F16 {
        f16_ulps
    } else {
        0.0
    };
    if got.shape() != want.tensor.shape() {
        return Err(format!(
            "shape {} but expected {}",
            got.shape(),
            want.tensor.shape()
        ));
    }
    let (gd, wd) = (
        dtype_name(got, got_wide),
        dtype_name(&want.tensor, want.wide),
    );
    if gd != wd {
        return Err(format!("dtype {gd} but expected {wd}"));
    }
    let (g, w) = (got.data(), want.tensor.data());
    // Minifloats compare as the floats they hold (NaN matches NaN, as numpy's
    // `assert_allclose` in ONNX's runner does); their values are exact either way.
    let exact = !(g.dtype().is_float() || g.dtype().is_minifloat());
    let (g, w) = (g.to_f64_vec(), w.to_f64_vec());
    let mut bad = 0;
    let mut first = None;
    for (i, (&a, &b)) in g.iter().zip(&w).enumerate() {
        let ok = if exact {
            a == b
        } else {
            // `rtol * inf` is inf: without `is_finite`, any finite value would match an
            // infinity.
            a == b
                || (a.is_nan() && b.is_nan())
                || (b.is_finite()
                    && (a - b).abs() <= (atol + rtol * b.abs()).max(ulps * f16_ulp(b)))
        };
        if !ok {
            bad += 1;
            first.get_or_insert((i, a, b));
        }
    }
    match first {
        None => Ok(()),
        Some((i, a, b)) => Err(format!(
            "{bad} of {} elements differ; first at flat index {i}: got {a}, expected {b}",
            g.len()
        )),
    }
}

/// `||got - want|| / ||want||` over all elements, as f64.
pub fn relative_l2(got: &Tensor, want: &Tensor) -> f64 {
    let (g, w) = (got.to_f64_vec(), want.to_f64_vec());
    let diff: f64 = g.iter().zip(&w).map(|(a, b)| (a - b) * (a - b)).sum();
    let norm: f64 = w.iter().map(|b| b * b).sum();
    (diff / norm.max(f64::MIN_POSITIVE)).sqrt()
}

/// A tensor's elements as f32 (for building inputs in tests).
pub fn f32s(tensor: &Tensor) -> Vec<f32> {
    match &*tensor.data() {
        Data::F32(v) => v.clone(),
        other => other.to_f64_vec().into_iter().map(|x| x as f32).collect(),
    }
}

thread_local! {
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f`, turning a panic into `Err("PANIC: message at file:line")`. The panic is
/// not printed (a conformance run would otherwise print hundreds of them).
pub fn catch<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CATCHING.with(Cell::get) {
                let payload = info.payload();
                let msg = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(non-string payload)".into());
                let at = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{msg}{at}")));
            } else {
                default(info);
            }
        }));
    });
    CATCHING.with(|c| c.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(false));
    result.unwrap_or_else(|_| {
        let msg = LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_default();
        Err(format!("PANIC: {msg}"))
    })
}
