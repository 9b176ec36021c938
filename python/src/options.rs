//! The compile keywords every entry point takes (`opt`, `shapes`, `profile`,
//! `quantize`, `prune`, ...) read from Python into the library's
//! [`kiln::OptimizerOptions`] and symbolic-dim bindings.

use crate::errors::Kind;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The keywords, as given.
#[derive(Clone, Debug, Default)]
pub struct CompileArgs {
    pub optimizer: kiln::OptimizerOptions,
    /// Dims for inputs with symbolic dims, by input name.
    pub shapes: BTreeMap<String, Vec<usize>>,
    /// Input values to specialise on (`kiln compile --input`), by input name.
    pub values: BTreeMap<String, kiln::Tensor>,
}

/// The keywords `compile`, `Session`, `bench` and `dump` accept besides their own.
pub const KEYWORDS: [&str; 13] = [
    "opt",
    "shapes",
    "values",
    "profile",
    "quantize",
    "prune",
    "accuracy_budget",
    "calibration",
    "disable_rules",
    "disable_sets",
    "iter_limit",
    "node_limit",
    "time_limit",
];

impl CompileArgs {
    /// Reads `kwargs`; an unknown keyword is a `TypeError` as Python raises for one.
    pub fn from_kwargs(function: &str, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let mut args = CompileArgs::default();
        let Some(kwargs) = kwargs else {
            return Ok(args);
        };
        let o = &mut args.optimizer;
        for (key, value) in kwargs.iter() {
            let key: String = key.extract()?;
            // `None` leaves a known keyword at its default.
            if value.is_none() && KEYWORDS.contains(&key.as_str()) {
                continue;
            }
            match key.as_str() {
                "opt" => o.opt = Some(value.extract()?),
                "shapes" => args.shapes = value.extract()?,
                "values" => args.values = read_values(&value)?,
                "profile" => o.profile = Some(path_or_str(&value)?),
                "quantize" => o.quantize = Some(value.extract()?),
                "prune" => o.prune = Some(value.extract()?),
                "accuracy_budget" => o.accuracy_budget = Some(value.extract()?),
                "calibration" => o.calibration = Some(PathBuf::from(path_or_str(&value)?)),
                "disable_rules" => o.disable_rules = value.extract()?,
                "disable_sets" => o.disable_sets = value.extract()?,
                "iter_limit" => o.iter_limit = Some(value.extract()?),
                "node_limit" => o.node_limit = Some(value.extract()?),
                "time_limit" => o.time_limit = Some(value.extract()?),
                _ => {
                    return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                        "{function}() got an unexpected keyword argument '{key}'"
                    )))
                }
            }
        }
        Ok(args)
    }

    /// Whether any compile keyword was given (they do not apply to a bundle).
    pub fn any_given(&self) -> bool {
        self.optimizer.any_given() || !self.shapes.is_empty() || !self.values.is_empty()
    }

    /// Refuses the keywords for a bundle, whose options were fixed when it was compiled.
    pub fn refuse_for_bundle(&self) -> PyResult<()> {
        if self.any_given() {
            return Err(Kind::Option.err(
                "the compile options (opt, shapes, values, profile, quantize, prune, ...) apply to \
                 .onnx models; a bundle was optimized by kiln.compile",
            ));
        }
        Ok(())
    }

    /// The compile options for `model`: the optimizer's options checked and applied,
    /// the symbolic dims bound and the given values specialised on (each name must be
    /// a model input).
    pub fn options(&self, model: &kiln::Model) -> Result<kiln::CompileOptions, kiln::Error> {
        let mut options = kiln::CompileOptions::default();
        self.optimizer.apply(&mut options)?;
        options.shapes = kiln::model_shapes(model, self.shapes.clone())?;
        let names: Vec<String> = model.inputs().into_iter().map(|i| i.name).collect();
        if let Some(name) = self.values.keys().find(|n| !names.contains(n)) {
            return Err(kiln::Error::Usage(format!(
                "values names '{name}', which is not an input of the model (inputs: {})",
                names.join(", ")
            )));
        }
        options.specialise(self.values.clone());
        Ok(options)
    }
}

/// `{name: array}` as tensors in the dtypes kiln computes (int64, uint64 and double
/// narrowed, as `kiln compile --input` reads a file).
fn read_values(value: &Bound<'_, PyAny>) -> PyResult<BTreeMap<String, kiln::Tensor>> {
    let dict = value
        .cast::<PyDict>()
        .map_err(|_| Kind::Option.err("values must be a dict of input name to numpy array"))?;
    let mut out = BTreeMap::new();
    for (key, array) in dict.iter() {
        let name: String = key
            .extract()
            .map_err(|_| Kind::Option.err("values: input names must be strings"))?;
        let (host, shape) = crate::arrays::read_array(&name, &array)?;
        let (data, _) = host
            .narrow()
            .map_err(|why| Kind::BadInput.err(format!("input '{name}': {why}")))?;
        let tensor = kiln::Tensor::new(shape, data)
            .map_err(|e| Kind::BadInput.err(format!("input '{name}': {e}")))?;
        out.insert(name, tensor);
    }
    Ok(out)
}

/// A `str` or an `os.PathLike` as a string.
fn path_or_str(value: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = value.extract::<String>() {
        return Ok(s);
    }
    let path: PathBuf = value.extract()?;
    Ok(path.display().to_string())
}
