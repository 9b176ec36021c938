//! What a plan asks of a device: the features and limits its kernels, buffers and dispatches
//! actually use (never below WebGPU's defaults).

use crate::lower::Limits;
use crate::plan::{KernelPlan, Requirements};

/// The wgpu feature a kernel computing in f16 needs.
pub const SHADER_F16: &str = "SHADER_F16";

/// Whether the kernel source `wgsl` enables f16 arithmetic.
pub fn enables_f16(wgsl: &str) -> bool {
    wgsl.starts_with("enable f16;")
}

/// The features and limits the plan actually uses (never below WebGPU's defaults).
pub(crate) fn requirements(plan: &KernelPlan) -> Requirements {
    let defaults = Limits::default();
    let max_bindings = plan
        .kernels
        .iter()
        .map(|k| k.bindings.len() as u32)
        .max()
        .unwrap_or(0);
    let max_binding = plan
        .dispatches
        .iter()
        .flat_map(|d| {
            d.bindings
                .iter()
                .map(|b| b.size.unwrap_or(plan.buffers[b.buffer].size - b.offset))
        })
        .max()
        .unwrap_or(0);
    let max_buffer = plan.buffers.iter().map(|b| b.size).max().unwrap_or(0);
    let max_invocations = plan
        .kernels
        .iter()
        .map(|k| k.workgroup_size.iter().product::<u32>())
        .max()
        .unwrap_or(0);
    let max_groups = plan
        .dispatches
        .iter()
        .flat_map(|d| d.workgroups)
        .max()
        .unwrap_or(0);
    let max_shared = plan
        .kernels
        .iter()
        .map(|k| k.workgroup_storage_bytes)
        .max()
        .unwrap_or(0);
    // Kernels computing in f16 enable it (`lower/elementwise/half.rs`).
    let f16 = plan.kernels.iter().any(|k| enables_f16(&k.wgsl));
    Requirements {
        features: if f16 {
            vec![SHADER_F16.to_string()]
        } else {
            Vec::new()
        },
        max_storage_buffers_per_shader_stage: max_bindings
            .max(defaults.max_storage_buffers_per_shader_stage),
        max_storage_buffer_binding_size: max_binding.max(defaults.max_storage_buffer_binding_size),
        max_buffer_size: max_buffer.max(defaults.max_buffer_size),
        max_compute_invocations_per_workgroup: max_invocations
            .max(defaults.max_compute_invocations_per_workgroup),
        max_compute_workgroups_per_dimension: max_groups
            .max(defaults.max_compute_workgroups_per_dimension),
        max_compute_workgroup_storage_size: max_shared
            .max(defaults.max_compute_workgroup_storage_size),
    }
}
