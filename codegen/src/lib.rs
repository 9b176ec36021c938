//! WGSL code generation: lowers an IR graph to a [`KernelPlan`] of naga-validated
//! kernels, and reads and writes kernel bundles.

mod build;
pub mod bundle;
mod error;
mod layout;
pub mod lower;
mod plan;
pub mod storage;
mod target;
mod validate;

pub use build::{build_plan, build_plan_with, CompiledPlan, PlanOptions};
pub use error::CodegenError;
pub use layout::PlanDecisions;
pub use lower::Limits;
pub use plan::*;
pub use validate::{validate_wgsl, workgroup_storage_bytes};
