//! `kiln.compile`, `kiln.load` and `kiln.Bundle`: a compiled kernel bundle, what
//! compiling it did, and its contents.

use crate::errors::to_py;
use crate::options::CompileArgs;
use crate::source::Source;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::path::PathBuf;

/// A compiled kernel bundle (`.kiln`): the model's kernels, buffers, weights and the
/// options it was compiled with. Make one with `kiln.compile` or `kiln.load`; run it
/// with `kiln.Session`.
#[pyclass(module = "kiln", frozen)]
pub struct Bundle {
    pub inner: kiln::Bundle,
    /// How the model was named (its path, or `<bytes>`).
    pub name: String,
    /// `kiln compile --json`'s figures and `--report`'s text, when compiled here.
    report: Option<(serde_json::Value, String)>,
}

impl Bundle {
    /// A bundle read from a file or bytes (no compile report).
    pub fn loaded(inner: kiln::Bundle, name: String) -> Bundle {
        Bundle {
            inner,
            name,
            report: None,
        }
    }
}

#[pymethods]
impl Bundle {
    /// Writes the bundle to `path` atomically (deterministic bytes).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| kiln::write_bundle(&self.inner, &path))
            .map_err(to_py)
    }

    /// The bundle's bytes, as `save` writes them.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let bytes = py.detach(|| self.inner.to_bytes());
        PyBytes::new(py, &bytes)
    }

    /// A bundle from the bytes `to_bytes` (or a `.kiln` file) holds; checksum, format
    /// and plan are checked (`BadModelError`).
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<Bundle> {
        let data = data.to_vec();
        let inner = py
            .detach(|| kiln::Bundle::from_bytes(&data))
            .map_err(|e| to_py(e.into()))?;
        Ok(Bundle::loaded(inner, "<bytes>".into()))
    }

    /// What compiling did, as a dict: `kiln compile --json`'s figures (`bytes`,
    /// `kernels`, `dispatches`, `weight_bytes`, `passes`, and `prune` / `quantize`
    /// when they ran) and `text`, the `--report` text (the optimizer's phases, rules
    /// fired, costs, layout decisions). `None` for a bundle read from a file.
    #[getter]
    fn report<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some((json, text)) = &self.report else {
            return Ok(None);
        };
        let dict = crate::json_to_py(py, json)?;
        dict.set_item("text", text)?;
        Ok(Some(dict))
    }

    /// What the bundle holds, as `kiln inspect --json` prints it: `inputs`, `outputs`,
    /// `kernels`, `dispatches`, `kernel_list`, `dispatch_list`, `buffers`,
    /// `requirements`, `weight_bytes`, `options`, `decisions`, ...
    fn inspect<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let summary = kiln::BundleSummary::of(&self.inner);
        let json = serde_json::to_value(&summary)
            .map_err(|e| crate::errors::Kind::Other.err(e.to_string()))?;
        crate::json_to_py(py, &json)
    }

    /// The WGSL source of every kernel, by kernel name.
    fn wgsl<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for k in &self.inner.manifest.plan.kernels {
            out.set_item(&k.name, &k.wgsl)?;
        }
        Ok(out)
    }

    fn __repr__(&self) -> String {
        let plan = &self.inner.manifest.plan;
        format!(
            "<kiln.Bundle '{}': {} kernels, {} dispatches>",
            self.inner.manifest.model,
            plan.kernels.len(),
            plan.dispatches.len()
        )
    }
}

/// Compiles an ONNX model (a path, bytes or an `onnx.ModelProto`) to a `Bundle`, as
/// `kiln compile` does, with the same bytes. Keywords, the CLI's flags: `opt` (0, 1, 2),
/// `shapes` (`{input: dims}`), `profile` (`discrete`, `integrated`, `cpu-emulation` (the
/// default) or a calibration file), `quantize` (`w8`, `w4`, `f16`, `w8a8`), `prune`,
/// `accuracy_budget`, `calibration` (a folder of input sets), `disable_rules`,
/// `disable_sets`, `iter_limit`, `node_limit`, `time_limit`.
#[pyfunction]
#[pyo3(signature = (model, **options))]
pub fn compile(
    py: Python<'_>,
    model: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Bundle> {
    let args = CompileArgs::from_kwargs("compile", options)?;
    let (model, name) = Source::read(py, model)?.onnx("kiln.compile")?;
    let (inner, report) = py
        .detach(|| -> kiln::Result<_> {
            let options = args.options(&model)?;
            let compiled = kiln::compile_bundle_and_f32(&model, &options)?;
            let bytes = compiled.bundle.to_bytes().len();
            let json = kiln::compile_report_json(&compiled, &options, bytes)?;
            let text = kiln::compile_report_text(&compiled, &options, bytes)?;
            Ok((compiled.bundle, (json, text)))
        })
        .map_err(to_py)?;
    Ok(Bundle {
        inner,
        name,
        report: Some(report),
    })
}

/// Reads a `.kiln` bundle; magic, format, checksum and plan are checked
/// (`BadModelError`).
#[pyfunction]
pub fn load(py: Python<'_>, path: PathBuf) -> PyResult<Bundle> {
    let inner = py.detach(|| kiln::read_bundle(&path)).map_err(to_py)?;
    Ok(Bundle::loaded(inner, path.display().to_string()))
}
