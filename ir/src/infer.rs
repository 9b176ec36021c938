//! Shape and dtype inference: the result types of an op from its operand types.

use crate::{Op, TensorType};

/// Operands that do not fit an op (wrong count, dtype, rank or extents).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct InferError(pub String);

/// The types of every result `op` defines (including optional ones, in order), given
/// its operand types. Fails, never panics, when the operands do not fit the op.
pub fn infer(op: &Op, inputs: &[&TensorType]) -> Result<Vec<TensorType>, InferError> {
    let _ = (op, inputs);
    Err(InferError("shape inference not written yet".into()))
}
