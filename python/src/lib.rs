//! The `kiln._native` extension module: kiln's compiler and runtime for Python
//! (`python/kiln/` is the package around it). Every entry point reuses the library
//! functions the CLI calls, releases the GIL while it compiles, reads or runs, and
//! raises `kiln.KilnError` subclasses with the CLI's one-line messages.

mod arrays;
mod bundle;
mod errors;
mod options;
mod session;
mod source;

use errors::{to_py, Kind};
use options::CompileArgs;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use source::Source;

/// The bundle `model` is or compiles to for the adapter `adapter` names (the best
/// one when `None`), its name, where it came from (`bundle` or `compiled in memory`,
/// as `kiln bench` says), and the runtime on that adapter. An ONNX model is
/// compiled in memory, priced and shaped for the adapter unless `profile` is given,
/// as `kiln run` does; the compile keywords are refused for a bundle.
type GpuBundle = (kiln::Bundle, String, &'static str, kiln::Runtime);

fn gpu_bundle(
    py: Python<'_>,
    model: &Bound<'_, PyAny>,
    adapter: Option<&str>,
    args: &CompileArgs,
) -> PyResult<GpuBundle> {
    match Source::read(py, model)? {
        Source::Bundle(bundle, name) => {
            args.refuse_for_bundle()?;
            let runtime = py.detach(|| kiln::gpu_runtime(adapter)).map_err(to_py)?;
            Ok((*bundle, name, "bundle", runtime))
        }
        Source::Onnx(model, name) => py
            .detach(|| {
                // Bad options are reported before the adapter is opened.
                let mut options = args.options(&model)?;
                let runtime = kiln::gpu_runtime(adapter)?;
                if args.optimizer.profile.is_none() {
                    kiln::target_adapter(&mut options, &runtime);
                }
                let bundle = kiln::compile_bundle(&model, &options)?;
                Ok((bundle, name, "compiled in memory", runtime))
            })
            .map_err(to_py),
    }
}

/// A JSON value as Python objects (through the `json` module).
fn json_to_py<'py>(py: Python<'py>, value: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    let text = value.to_string();
    py.import("json")?.call_method1("loads", (text,))
}

/// Measures a model's latency on a GPU adapter as `kiln bench --json` does: `warmup`
/// runs, then `iters` timed runs (median, min, max, mean in ms), then GPU time per
/// kernel and per op. `model` is a path, bytes, an `onnx.ModelProto` or a `Bundle`
/// (an ONNX model is compiled for the adapter with the compile keywords); `inputs`
/// (`{name: array}`) not given are seeded random values. Returns the report as a dict.
#[pyfunction]
#[pyo3(name = "bench", signature = (model, *, inputs=None, iters=20, warmup=3, adapter=None, **options))]
fn bench_model<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyAny>,
    inputs: Option<&Bound<'py, PyDict>>,
    iters: usize,
    warmup: usize,
    adapter: Option<String>,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let args = CompileArgs::from_kwargs("bench", options)?;
    if iters == 0 {
        return Err(Kind::Option.err("iters must be at least 1"));
    }
    let (bundle, name, origin, runtime) = gpu_bundle(py, model, adapter.as_deref(), &args)?;
    let plan = &bundle.manifest.plan;
    let ports: Vec<session::Port> = plan
        .inputs
        .iter()
        .map(|p| session::Port {
            name: p.name.clone(),
            ty: kiln::port_type(p),
            wide: p.wide,
        })
        .collect();
    let mut values = match inputs {
        Some(feed) => session::read_feed(&ports, feed)?,
        None => Default::default(),
    };
    let report = py
        .detach(|| -> kiln::Result<_> {
            let random = kiln::fill_random_inputs(plan, &mut values);
            let inputs = kiln::bind_plan_inputs(plan, &values)?;
            let setup = kiln::BenchSetup {
                model: name,
                origin,
                adapter: runtime.describe(),
                random_inputs: random,
                iters,
                warmup,
            };
            kiln::bench_bundle(&runtime, &bundle, &inputs, setup)
        })
        .map_err(to_py)?;
    let json = serde_json::to_value(&report).map_err(|e| Kind::Other.err(e.to_string()))?;
    json_to_py(py, &json)
}

/// The GPU adapters present, best first (the one a `Session` picks by default comes
/// first), each as `adapter=` matches it: `llvmpipe (LLVM 15.0.6, 256 bits) [Vulkan, Cpu]`.
#[pyfunction]
fn adapters(py: Python<'_>) -> PyResult<Vec<String>> {
    py.detach(|| kiln::adapters(&[])).map_err(to_py)
}

/// The IR of an ONNX model after import and after the passes `after` names (a pass of
/// the pipeline, `egraph` for the optimizer's last phase, or `all`; a list or a
/// comma-separated string), as `kiln dump` prints it: `format` is `text`, `dot` or
/// `json`; `full_constants` prints every constant (text). Takes the compile keywords.
#[pyfunction]
#[pyo3(signature = (model, *, after=None, format="text", full_constants=false, **options))]
fn dump(
    py: Python<'_>,
    model: &Bound<'_, PyAny>,
    after: Option<&Bound<'_, PyAny>>,
    format: &str,
    full_constants: bool,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<String> {
    let args = CompileArgs::from_kwargs("dump", options)?;
    let after: Vec<String> = match after {
        None => Vec::new(),
        Some(a) if a.is_none() => Vec::new(),
        Some(a) => match a.extract::<String>() {
            Ok(s) => s.split(',').map(str::to_string).collect(),
            Err(_) => a.extract()?,
        },
    };
    let format = match format {
        "text" => kiln::DumpFormat::Text,
        "dot" => kiln::DumpFormat::Dot,
        "json" => kiln::DumpFormat::Json,
        other => {
            return Err(Kind::Option.err(format!(
                "format '{other}': expected 'text', 'dot' or 'json'"
            )))
        }
    };
    let (model, _) = Source::read(py, model)?.onnx("kiln.dump")?;
    py.detach(|| {
        let options = args.options(&model)?;
        kiln::dump(&model, &options, &after, format, full_constants)
    })
    .map_err(to_py)
}

#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("KilnError", py.get_type::<errors::KilnError>())?;
    m.add("BadModelError", py.get_type::<errors::BadModelError>())?;
    m.add(
        "UnsupportedOpError",
        py.get_type::<errors::UnsupportedOpError>(),
    )?;
    m.add("BadInputError", py.get_type::<errors::BadInputError>())?;
    m.add("DeviceError", py.get_type::<errors::DeviceError>())?;
    m.add("OptionError", py.get_type::<errors::OptionError>())?;
    m.add_class::<bundle::Bundle>()?;
    m.add_class::<session::Session>()?;
    m.add_class::<session::NodeArg>()?;
    m.add_function(wrap_pyfunction!(bundle::compile, m)?)?;
    m.add_function(wrap_pyfunction!(bundle::load, m)?)?;
    m.add_function(wrap_pyfunction!(bench_model, m)?)?;
    m.add_function(wrap_pyfunction!(adapters, m)?)?;
    m.add_function(wrap_pyfunction!(dump, m)?)?;
    Ok(())
}
