//! WGSL code generation: lowers an IR graph to a [`KernelPlan`] of naga-validated
//! kernels, and reads and writes kernel bundles.

mod build;
pub mod bundle;
mod error;
mod layout;
pub mod lower;
mod plan;
pub mod storage;
mod validate;
mod verify;

pub use build::{build_plan, build_plan_with, CompiledPlan, PlanOptions};
pub use error::CodegenError;
pub use layout::PlanDecisions;
pub use lower::{
    conv_output_channel_block, node_placement_support, placement_support, Limits, OperandSet,
    PlacementSupport, MAX_KERNEL_OPERANDS,
};
pub use plan::*;
pub use validate::{validate_wgsl, validated_workgroup_storage_bytes};
pub use verify::{verify_plan, PlanError};
