//! What a caller passes as a model: a path (`str` or `os.PathLike`) to an `.onnx` file
//! or a `.kiln` bundle, the bytes of either, an `onnx.ModelProto`, or a `kiln.Bundle`.

use crate::bundle::Bundle;
use crate::errors::{to_py, Kind};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::path::PathBuf;

/// A model, read (without the GIL).
pub enum Source {
    /// An ONNX model and how to name it in reports.
    Onnx(Box<kiln::Model>, String),
    /// A compiled bundle and how to name it.
    Bundle(Box<kiln::Bundle>, String),
}

impl Source {
    /// Reads `model` (see the module doc).
    pub fn read(py: Python<'_>, model: &Bound<'_, PyAny>) -> PyResult<Source> {
        if let Ok(bundle) = model.cast::<Bundle>() {
            let b = bundle.borrow();
            return Ok(Source::Bundle(Box::new(b.inner.clone()), b.name.clone()));
        }
        if let Ok(bytes) = model.cast::<PyBytes>() {
            return Source::from_bytes(py, bytes.as_bytes().to_vec());
        }
        if model.hasattr("SerializeToString")? {
            let bytes: Vec<u8> = model.call_method0("SerializeToString")?.extract()?;
            return Source::from_bytes(py, bytes);
        }
        let Ok(path) = model.extract::<PathBuf>() else {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "model must be a path, bytes, an onnx.ModelProto or a kiln.Bundle, not {}",
                model.get_type().name()?
            )));
        };
        py.detach(|| {
            let name = path.display().to_string();
            if kiln::is_bundle_file(&path)? {
                Ok(Source::Bundle(Box::new(kiln::read_bundle(&path)?), name))
            } else {
                Ok(Source::Onnx(Box::new(kiln::load_onnx(&path)?), name))
            }
        })
        .map_err(|e| match e {
            // The model file itself cannot be read.
            kiln::Error::File { .. } => Kind::BadModel.err(kiln::describe_error(&e)),
            e => to_py(e),
        })
    }

    fn from_bytes(py: Python<'_>, bytes: Vec<u8>) -> PyResult<Source> {
        let name = "<bytes>".to_string();
        py.detach(|| {
            if bytes.starts_with(kiln::codegen::bundle::MAGIC) {
                let bundle = kiln::Bundle::from_bytes(&bytes)?;
                Ok(Source::Bundle(Box::new(bundle), name))
            } else {
                Ok(Source::Onnx(Box::new(kiln::load_onnx_bytes(&bytes)?), name))
            }
        })
        .map_err(to_py)
    }

    /// The ONNX model, or an `OptionError` saying `what` needs one.
    pub fn onnx(self, what: &str) -> PyResult<(kiln::Model, String)> {
        match self {
            Source::Onnx(model, name) => Ok((*model, name)),
            Source::Bundle(_, name) => Err(Kind::Option.err(format!(
                "{what} takes an ONNX model; {name} is a compiled bundle"
            ))),
        }
    }
}
