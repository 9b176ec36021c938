//! kiln's graph IR.
//!
//! A [`Graph`] is a dataflow graph of [`Node`]s over [`Value`]s, both stored in arenas
//! and referenced by typed [`Handle`]s (printed `%v3` for values).
//!
//! - A **value** is one immutable tensor. It is a graph input, a constant, or result
//!   `i` of exactly one node. Its [`TensorType`] (dtype and shape) is always known and
//!   static: symbolic dims of the source model are bound before the IR is built.
//! - A **constant** owns its data through a shared [`Tensor`]; passes move handles,
//!   never copy weights. A splat constant stores one element for its whole shape.
//! - A **node** applies an [`Op`] to operand values. Every attribute that decides a
//!   shape is concrete, so [`infer::infer`] computes each result type from the operand
//!   types and the op alone. Nodes are stored in execution order.
//! - There is no 64-bit integer type: ONNX `int64` is narrowed to `i32` at import, and
//!   a graph port remembers that it was declared `int64`, `uint64` or `double`
//!   ([`Port::wide`], [`Wide`]).
//!
//! The IR knows nothing of ONNX, egg, WGSL or wgpu. It has a text form
//! ([`print`](mod@print)/[`parse`](mod@parse) round-trip exactly), a DOT form, a [`verify`]er, and a CPU
//! reference interpreter ([`interp`]) that defines what every op computes.

mod arena;
mod dtype;
mod graph;
mod op;
mod program;
mod shape;
mod tensor;
mod wide;

pub mod dot;
pub mod extent;
pub mod infer;
pub mod interp;
pub mod json;
pub mod minifloat;
pub mod parse;
pub mod print;
pub mod quant;
pub mod random;
pub mod resize_geometry;
pub mod sparse;
pub mod target;
pub mod verify;

pub use arena::{Arena, Handle, HandlePrefix};
pub use dtype::DType;
pub use extent::Extent;
pub use graph::{Graph, Node, NodeError, Port, Value, ValueDef};
pub use op::*;
pub use program::{Program, Step};
pub use shape::{Shape, TensorType};
pub use target::KernelTarget;
pub use tensor::{Data, ShapeMismatch, Tensor};
pub use wide::{bf16_to_f32, f32_to_bf16, narrow_f64, narrow_u64, Wide};
