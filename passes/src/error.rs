//! The error type of passes and of the pass manager.

use kiln_ir::verify::VerifyError;

/// Why a pass or a pipeline failed. Every variant names the pass involved.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// A pass could not transform the graph.
    #[error("pass {pass}: {message}")]
    Failed { pass: String, message: String },
    /// A pass produced a graph that breaks an IR invariant (a bug in the pass).
    #[error("the IR is invalid after pass {pass}: {source}")]
    Verify {
        pass: String,
        #[source]
        source: VerifyError,
    },
}

impl PassError {
    /// A [`PassError::Failed`] for `pass`.
    pub fn failed(pass: &str, message: impl Into<String>) -> Self {
        PassError::Failed {
            pass: pass.to_string(),
            message: message.into(),
        }
    }
}
