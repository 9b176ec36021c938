//! WGSL code generation: lowers an IR graph to a [`KernelPlan`] of naga-validated
//! kernels, verifies plans ([`verify_plan`]), and reads and writes kernel bundles.
//!
//! What other crates may ask of the kernels without restating it: which placements a
//! lowering honours ([`placement_support`]), the binding offset alignment
//! ([`BINDING_ALIGN`]), the most operands one kernel may read
//! ([`MAX_KERNEL_OPERANDS`]) and the output-channel block of a convolution's product
//! ([`conv_output_channel_block`]).

mod build;
pub mod bundle;
mod error;
mod layout;
pub mod lower;
mod plan;
mod requirements;
pub mod storage;
mod validate;
mod verify;

pub use build::{build_plan, build_plan_with, CompiledPlan};
pub use error::CodegenError;
pub use layout::{PlanDecisions, PlanOptions};
pub use lower::{
    conv_output_channel_block, node_placement_support, placement_support, Limits, OperandSet,
    PlacementSupport, MAX_KERNEL_OPERANDS, MAX_STORAGE_BUFFERS,
};
pub use plan::*;
pub use validate::{validate_wgsl, validated_workgroup_storage_bytes};
pub use verify::{verify_plan, PlanError};
