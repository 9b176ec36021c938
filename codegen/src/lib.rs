//! WGSL code generation: lowers an IR graph to a [`KernelPlan`] of naga-validated
//! kernels, verifies plans ([`verify_plan`]), and reads and writes kernel bundles.
//!
//! What other crates may ask of the kernels without restating it: which placements a
//! lowering honours ([`placement_support`]), the binding offset alignment
//! ([`BINDING_ALIGN`]); the optimizer asks [`Limits`] through
//! [`kiln_ir::KernelTarget`] (most operands per kernel, epilogue anchors, how often a
//! product engine loads its input), answered in `target.rs` from this crate's code.

mod build;
pub mod bundle;
mod error;
mod layout;
pub mod lower;
mod plan;
mod portable;
mod requirements;
pub mod storage;
mod target;
mod validate;
mod verify;

pub use build::{build_plan, build_plan_with, CompiledPlan};
pub use error::CodegenError;
pub use layout::{PlanDecisions, PlanOptions};
pub use lower::{
    node_placement_support, placement_support, Limits, OperandSet, PlacementSupport,
    MAX_STORAGE_BUFFERS,
};
pub use plan::*;
pub use validate::{validate_wgsl, validated_workgroup_storage_bytes};
pub use verify::{verify_plan, PlanError};
