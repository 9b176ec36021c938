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
}

/// The keywords `compile`, `Session`, `bench` and `dump` accept besides their own.
pub const KEYWORDS: [&str; 12] = [
    "opt",
    "shapes",
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
        self.optimizer.any_given() || !self.shapes.is_empty()
    }

    /// Refuses the keywords for a bundle, whose options were fixed when it was compiled.
    pub fn refuse_for_bundle(&self) -> PyResult<()> {
        if self.any_given() {
            return Err(Kind::Option.err(
                "the compile options (opt, shapes, profile, quantize, prune, ...) apply to \
                 .onnx models; a bundle was optimized by kiln.compile",
            ));
        }
        Ok(())
    }

    /// The compile options for `model`: the optimizer's options checked and applied,
    /// the symbolic dims bound (each name must be a model input).
    pub fn options(&self, model: &kiln::Model) -> Result<kiln::CompileOptions, kiln::Error> {
        let mut options = kiln::CompileOptions::default();
        self.optimizer.apply(&mut options)?;
        options.shapes = kiln::model_shapes(model, self.shapes.clone())?;
        Ok(options)
    }
}

/// A `str` or an `os.PathLike` as a string.
fn path_or_str(value: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = value.extract::<String>() {
        return Ok(s);
    }
    let path: PathBuf = value.extract()?;
    Ok(path.display().to_string())
}
