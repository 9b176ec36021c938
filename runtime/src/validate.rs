//! Structural checks of a plan and its weights before any GPU object is created:
//! every index in range, every byte range inside its buffer or the weights blob.

use crate::RuntimeError;
use kiln_codegen::{BufferKind, KernelPlan, PlanPort};

/// Checks that `plan` is self-consistent and that `weights` is the blob it expects.
/// `offset_alignment` is the device's storage-binding offset alignment.
pub(crate) fn validate_plan(
    plan: &KernelPlan,
    weights: &[u8],
    offset_alignment: u64,
) -> Result<(), RuntimeError> {
    let bad = |msg: String| Err(RuntimeError::InvalidPlan(msg));
    if weights.len() as u64 != plan.weights_len {
        return bad(format!(
            "the weights are {} bytes, the plan expects {}",
            weights.len(),
            plan.weights_len
        ));
    }
    for (i, buffer) in plan.buffers.iter().enumerate() {
        if buffer.size == 0 || buffer.size % 4 != 0 {
            return bad(format!(
                "buffer {i} has size {}, not a positive multiple of 4",
                buffer.size
            ));
        }
        match buffer.kind {
            BufferKind::Input(port) => match plan.inputs.get(port) {
                Some(p) if p.buffer == i => {}
                _ => {
                    return bad(format!(
                        "buffer {i} claims to hold input {port}, which does not use it"
                    ))
                }
            },
            BufferKind::Constant { offset } => {
                let end = offset.checked_add(buffer.size);
                if end.is_none_or(|end| end > plan.weights_len) {
                    return bad(format!(
                        "constant buffer {i} reads weights bytes {offset}..{offset}+{}, beyond the {}-byte blob",
                        buffer.size, plan.weights_len
                    ));
                }
            }
            BufferKind::Splat { .. } | BufferKind::Intermediate => {}
        }
    }
    for (i, check) in plan.checks.iter().enumerate() {
        match plan.buffers.get(check.buffer) {
            Some(b) if b.size >= 8 && b.kind == BufferKind::Intermediate => {}
            _ => {
                return bad(format!(
                    "check {i} ({} '{}') reports into buffer {}, which is not an intermediate \
                     buffer of at least 8 bytes",
                    check.op, check.node, check.buffer
                ))
            }
        }
    }
    for (what, ports) in [("input", &plan.inputs), ("output", &plan.outputs)] {
        for (i, port) in ports.iter().enumerate() {
            check_port(plan, what, i, port)?;
        }
    }
    for (i, port) in plan.inputs.iter().enumerate() {
        if plan.buffers[port.buffer].kind != BufferKind::Input(i) {
            return bad(format!(
                "input {i} '{}' lives in buffer {}, which is not its input buffer",
                port.name, port.buffer
            ));
        }
    }
    for (i, kernel) in plan.kernels.iter().enumerate() {
        if kernel.workgroup_size.contains(&0) {
            return bad(format!(
                "kernel {i} '{}' has workgroup size {:?}",
                kernel.name, kernel.workgroup_size
            ));
        }
    }
    for (i, dispatch) in plan.dispatches.iter().enumerate() {
        let Some(kernel) = plan.kernels.get(dispatch.kernel) else {
            return bad(format!(
                "dispatch {i} runs kernel {}, the plan has {}",
                dispatch.kernel,
                plan.kernels.len()
            ));
        };
        if dispatch.bindings.len() != kernel.bindings.len() {
            return bad(format!(
                "dispatch {i} binds {} buffers, kernel '{}' has {} bindings",
                dispatch.bindings.len(),
                kernel.name,
                kernel.bindings.len()
            ));
        }
        for (j, b) in dispatch.bindings.iter().enumerate() {
            let Some(buffer) = plan.buffers.get(b.buffer) else {
                return bad(format!("dispatch {i} binding {j}: no buffer {}", b.buffer));
            };
            let size = b.size.unwrap_or(buffer.size.saturating_sub(b.offset));
            let fits = b
                .offset
                .checked_add(size)
                .is_some_and(|end| end <= buffer.size);
            if size == 0 || size % 4 != 0 || !fits || b.offset % offset_alignment != 0 {
                return bad(format!(
                    "dispatch {i} binding {j}: bytes {}..+{size} of the {}-byte buffer {} (offsets must be \
                     multiples of {offset_alignment}, sizes positive multiples of 4)",
                    b.offset, buffer.size, b.buffer
                ));
            }
        }
    }
    Ok(())
}

fn check_port(
    plan: &KernelPlan,
    what: &str,
    i: usize,
    port: &PlanPort,
) -> Result<(), RuntimeError> {
    let Some(buffer) = plan.buffers.get(port.buffer) else {
        return Err(RuntimeError::InvalidPlan(format!(
            "{what} {i} '{}': no buffer {}",
            port.name, port.buffer
        )));
    };
    let bytes = port
        .shape
        .iter()
        .try_fold(4u64, |acc, &d| acc.checked_mul(d as u64));
    if bytes.is_none_or(|bytes| bytes > buffer.size) {
        return Err(RuntimeError::InvalidPlan(format!(
            "{what} {i} '{}' of shape {:?} does not fit its {}-byte buffer {}",
            port.name, port.shape, buffer.size, port.buffer
        )));
    }
    Ok(())
}
