//! Codegen errors.

/// Why a graph could not be lowered to kernels.
#[derive(Debug, thiserror::Error)]
pub enum CodegenError {
    /// A node the GPU path cannot compute (yet), or attributes it does not support.
    #[error("node '{node}' ({op}): {reason}")]
    Node {
        node: String,
        op: &'static str,
        reason: String,
    },
    /// A tensor or dispatch beyond what the device limits allow.
    #[error("{0}")]
    TooLarge(String),
    /// A template and the code filling it disagree (a kiln bug).
    #[error("internal: WGSL template: {0}")]
    Template(String),
    /// A generated shader naga rejects (a kiln bug).
    #[error("internal: kernel '{kernel}' does not validate: {message}")]
    Invalid { kernel: String, message: String },
}
