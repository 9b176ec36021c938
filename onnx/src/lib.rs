//! ONNX import: decodes models with `prost` and lowers them to kiln's IR.
//!
//! [`Model::decode`]/[`Model::load`] read the protobuf; [`import`] lowers the graph to
//! a [`kiln_ir::Graph`] with static shapes: symbolic dims are bound from
//! [`ImportOptions::shapes`], shape-deciding operands (reshape targets, slice bounds,
//! axes, pads, resize sizes, ...) must be constants, computable from constants and
//! shapes, or given input values ([`ImportOptions::values`]), and every op is
//! normalised across opsets 7–28 into kiln's opset-free ops. ONNX int64 is computed
//! as i32; values that do not fit are an error.

mod bf16;
mod builder;
mod control;
mod error;
mod fold;
mod import;
mod known;
mod model;
mod ops;
pub mod proto;
mod scan;
mod specialise;
mod tensor_proto;

pub use error::ImportError;
pub use import::{import, ImportOptions, MAX_OPSET};
pub use model::{decode_tensor, Dim, InputInfo, Model, NamedTensor, OutputInfo};
pub use ops::supported_ops;
