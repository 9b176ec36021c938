//! The checks of a plan before any GPU object is created: the plan verifier
//! ([`kiln_codegen::verify_plan`]: every index in range, every byte range inside its
//! buffer or the weights blob, every kernel valid WGSL), then what the device adds:
//! its storage-binding offset alignment.

use crate::RuntimeError;
use kiln_codegen::{verify_plan, KernelPlan};

/// Checks that `plan` is self-consistent, that `weights` is the blob it expects and that
/// its binding offsets are multiples of the storage offset alignment of the device
/// (`adapter`) it will run on.
pub(crate) fn validate_plan(
    plan: &KernelPlan,
    weights: &[u8],
    offset_alignment: u64,
    adapter: &str,
) -> Result<(), RuntimeError> {
    verify_plan(plan, weights.len() as u64)?;
    for (i, dispatch) in plan.dispatches.iter().enumerate() {
        for (j, b) in dispatch.bindings.iter().enumerate() {
            if !b.offset.is_multiple_of(offset_alignment.max(1)) {
                return Err(RuntimeError::Unsupported {
                    adapter: adapter.to_string(),
                    reason: format!(
                        "dispatch {i} binding {j} starts at byte {}, not a multiple of the \
                         device's storage offset alignment {offset_alignment}",
                        b.offset
                    ),
                });
            }
        }
    }
    Ok(())
}
