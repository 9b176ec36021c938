//! The import error type: every way an ONNX file can fail to become a kiln graph.

use std::path::PathBuf;

/// Why a model could not be decoded or imported. Messages name the node, op, input or
/// tensor at fault and, where there is one, the fix.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The bytes are not a decodable ONNX protobuf message.
    #[error("not an ONNX model: {0}")]
    Decode(String),
    /// A file (the model or its external data) could not be read.
    #[error("cannot read '{path}': {reason}")]
    Io { path: PathBuf, reason: String },
    /// The model as a whole is malformed or unsupported (missing graph, opset, ...).
    #[error("{0}")]
    Model(String),
    /// A graph input's type or shape cannot be used.
    #[error("input '{input}': {reason}")]
    Input { input: String, reason: String },
    /// A tensor (initializer, constant, given input value, `.pb` file) is malformed or
    /// holds an unsupported dtype or out-of-range values.
    #[error("tensor '{name}': {reason}")]
    Tensor { name: String, reason: String },
    /// A node cannot be lowered: unsupported op, opset, attribute or operands.
    #[error("node '{node}' ({op}): {reason}")]
    Node {
        node: String,
        op: String,
        reason: String,
    },
}

impl ImportError {
    /// A [`ImportError::Tensor`] error.
    pub(crate) fn tensor(name: &str, reason: impl Into<String>) -> Self {
        ImportError::Tensor {
            name: display_name(name),
            reason: reason.into(),
        }
    }
}

/// Shows an empty name as `<unnamed>`.
pub(crate) fn display_name(name: &str) -> String {
    if name.is_empty() {
        "<unnamed>".to_string()
    } else {
        name.to_string()
    }
}
