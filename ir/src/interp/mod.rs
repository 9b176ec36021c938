//! The CPU reference interpreter: what every op computes, written for clarity.

use crate::{Graph, Op, Tensor, TensorType};

/// Why evaluation failed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A graph input does not fit its port (count, dtype or shape).
    #[error("{0}")]
    Input(String),
    /// A node could not be evaluated (bad data such as an out-of-range index).
    #[error("node '{node}' ({op}): {reason}")]
    Node { node: String, op: &'static str, reason: String },
}

/// Evaluates one op on host tensors; `out_types` are the node's result types.
pub fn eval_op(op: &Op, inputs: &[&Tensor], out_types: &[TensorType]) -> Result<Vec<Tensor>, String> {
    let _ = (op, inputs, out_types);
    Err("interpreter not written yet".into())
}

/// Runs `graph` on `inputs` (one per graph input, in order) and returns the graph
/// outputs in order. Ports declared `int64` hold `i32` data here.
pub fn run(graph: &Graph, inputs: &[Tensor]) -> Result<Vec<Tensor>, EvalError> {
    let _ = (graph, inputs);
    Err(EvalError::Input("interpreter not written yet".into()))
}
