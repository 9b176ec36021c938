//! What a plan needs from a device, checked against the adapter before anything is
//! created, and the exact features and limits to request.

use crate::RuntimeError;
use kiln_codegen::KernelPlan;

/// How the session can time dispatches on the GPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timestamps {
    /// Timestamp writes between dispatches inside one compute pass.
    InsidePasses,
    /// Timestamp writes at the start and end of a compute pass.
    PerPass,
    None,
}

/// The device to request for a plan.
pub(crate) struct DeviceNeeds {
    pub features: wgpu::Features,
    pub limits: wgpu::Limits,
    pub timestamps: Timestamps,
}

/// Checks `plan` against `adapter` and says what device to request: the plan's
/// features (plus timestamp queries where offered) and, for every limit, the larger
/// of what the plan uses and wgpu's defaults (clamped to the adapter).
///
/// What the plan uses is measured from its kernels, dispatches and buffers as well as
/// read from its declared requirements, so a plan that under-declares is still refused
/// here rather than failing later.
pub(crate) fn device_needs(
    plan: &KernelPlan,
    adapter: &wgpu::Adapter,
    name: &str,
) -> Result<DeviceNeeds, RuntimeError> {
    let have_features = adapter.features();
    let have = adapter.limits();
    let mut missing = Vec::new();

    let mut features = wgpu::Features::empty();
    for feature in &plan.requirements.features {
        let flag = wgpu::Features::from_name(feature).ok_or_else(|| {
            RuntimeError::InvalidPlan(format!("unknown wgpu feature '{feature}'"))
        })?;
        if !have_features.contains(flag) {
            missing.push(format!("feature {feature}"));
        }
        features |= flag;
    }

    let used = Used::measure(plan);
    let mut limits = wgpu::Limits::default().or_worse_values_from(&have);
    let req = &plan.requirements;
    raise(
        &mut missing,
        "max_storage_buffers_per_shader_stage",
        used.storage_buffers
            .max(req.max_storage_buffers_per_shader_stage.into()),
        have.max_storage_buffers_per_shader_stage,
        &mut limits.max_storage_buffers_per_shader_stage,
    );
    raise(
        &mut missing,
        "max_storage_buffer_binding_size",
        used.binding_size.max(req.max_storage_buffer_binding_size),
        have.max_storage_buffer_binding_size,
        &mut limits.max_storage_buffer_binding_size,
    );
    raise(
        &mut missing,
        "max_buffer_size",
        used.buffer_size.max(req.max_buffer_size),
        have.max_buffer_size,
        &mut limits.max_buffer_size,
    );
    raise(
        &mut missing,
        "max_compute_invocations_per_workgroup",
        used.invocations
            .max(req.max_compute_invocations_per_workgroup.into()),
        have.max_compute_invocations_per_workgroup,
        &mut limits.max_compute_invocations_per_workgroup,
    );
    raise(
        &mut missing,
        "max_compute_workgroups_per_dimension",
        used.workgroups
            .max(req.max_compute_workgroups_per_dimension.into()),
        have.max_compute_workgroups_per_dimension,
        &mut limits.max_compute_workgroups_per_dimension,
    );
    raise(
        &mut missing,
        "max_compute_workgroup_storage_size",
        used.workgroup_storage
            .max(req.max_compute_workgroup_storage_size.into()),
        have.max_compute_workgroup_storage_size,
        &mut limits.max_compute_workgroup_storage_size,
    );
    let sizes = [
        (
            "max_compute_workgroup_size_x",
            have.max_compute_workgroup_size_x,
            &mut limits.max_compute_workgroup_size_x,
        ),
        (
            "max_compute_workgroup_size_y",
            have.max_compute_workgroup_size_y,
            &mut limits.max_compute_workgroup_size_y,
        ),
        (
            "max_compute_workgroup_size_z",
            have.max_compute_workgroup_size_z,
            &mut limits.max_compute_workgroup_size_z,
        ),
    ];
    for (axis, (what, offered, limit)) in sizes.into_iter().enumerate() {
        raise(
            &mut missing,
            what,
            used.workgroup_size[axis],
            offered,
            limit,
        );
    }

    if !missing.is_empty() {
        return Err(RuntimeError::Unsupported {
            adapter: name.to_string(),
            reason: format!("the plan needs {}", missing.join(", ")),
        });
    }

    let all = wgpu::Features::TIMESTAMP_QUERY
        | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS
        | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES;
    let timestamps = if have_features.contains(all) {
        features |= all;
        Timestamps::InsidePasses
    } else if have_features.contains(wgpu::Features::TIMESTAMP_QUERY) {
        features |= wgpu::Features::TIMESTAMP_QUERY;
        Timestamps::PerPass
    } else {
        Timestamps::None
    };
    Ok(DeviceNeeds {
        features,
        limits,
        timestamps,
    })
}

/// The limits a plan's own contents use.
/// Raises `limit` to `want` (never lowering it), noting in `missing` when the adapter
/// offers less than `want`.
fn raise<T>(missing: &mut Vec<String>, what: &str, want: u64, offered: T, limit: &mut T)
where
    T: Copy + Into<u64> + TryFrom<u64>,
{
    let offered_wide: u64 = offered.into();
    if want > offered_wide {
        missing.push(format!(
            "{what} >= {want} (the adapter offers {offered_wide})"
        ));
    }
    let raised = want.max((*limit).into());
    *limit = T::try_from(raised).unwrap_or(offered);
}

struct Used {
    storage_buffers: u64,
    binding_size: u64,
    buffer_size: u64,
    invocations: u64,
    workgroups: u64,
    workgroup_size: [u64; 3],
    workgroup_storage: u64,
}

impl Used {
    fn measure(plan: &KernelPlan) -> Used {
        let mut used = Used {
            storage_buffers: 0,
            binding_size: 0,
            buffer_size: plan.buffers.iter().map(|b| b.size).max().unwrap_or(0),
            invocations: 0,
            workgroups: 0,
            workgroup_size: [0; 3],
            workgroup_storage: 0,
        };
        for k in &plan.kernels {
            used.storage_buffers = used.storage_buffers.max(k.bindings.len() as u64);
            used.workgroup_storage = used.workgroup_storage.max(k.workgroup_storage_bytes.into());
            let size = k.workgroup_size.map(u64::from);
            used.invocations = used.invocations.max(size.iter().product());
            for (most, size) in used.workgroup_size.iter_mut().zip(size) {
                *most = (*most).max(size);
            }
        }
        for d in &plan.dispatches {
            used.workgroups = used
                .workgroups
                .max(d.workgroups.iter().copied().max().unwrap_or(0).into());
            for b in &d.bindings {
                let buffer = plan.buffers.get(b.buffer).map_or(0, |buf| buf.size);
                let size = b.size.unwrap_or(buffer.saturating_sub(b.offset));
                used.binding_size = used.binding_size.max(size);
            }
        }
        used
    }
}
