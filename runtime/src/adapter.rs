//! Choosing a wgpu adapter: among the chosen graphics APIs (or those `WGPU_BACKEND`
//! names), an optional name filter, preferring real GPUs over software ones.

use crate::backend_api::{backends, BackendApi};
use crate::RuntimeError;

/// How to pick an adapter.
#[derive(Clone, Debug, Default)]
pub struct RuntimeOptions {
    /// Use an adapter whose description (name, backend, device type; see
    /// [`describe`]) contains this text, ignoring case. `None`: the best one present.
    pub adapter: Option<String>,
    /// Only adapters of these graphics APIs. Empty: those `WGPU_BACKEND` names (an
    /// unknown name there is an error), or every API when it is unset.
    pub backend_apis: Vec<BackendApi>,
}

/// An adapter chosen to run kernel plans on. Cheap to share across threads; each
/// [`Runtime::load`](crate::Runtime::load) creates its own device.
pub struct Runtime {
    pub(crate) adapter: wgpu::Adapter,
    pub(crate) info: wgpu::AdapterInfo,
    _instance: wgpu::Instance,
}

impl Runtime {
    /// Picks an adapter among those of `options.backend_apis` (else of the APIs
    /// `WGPU_BACKEND` names, else of all): the first whose description matches
    /// `options.adapter`, else by kind — discrete GPU, integrated, virtual, CPU — and
    /// native APIs before OpenGL. Native only (the browser runs [`Runtime::new_async`]).
    pub fn new(options: &RuntimeOptions) -> Result<Runtime, RuntimeError> {
        pollster::block_on(Runtime::new_async(options))
    }

    /// [`Runtime::new`] as a future. In the browser the one adapter is the one
    /// `navigator.gpu` offers (high-performance preferred).
    pub async fn new_async(options: &RuntimeOptions) -> Result<Runtime, RuntimeError> {
        let backends = backends(&options.backend_apis)?;
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        desc.backends = backends;
        let instance = wgpu::Instance::new(desc);
        let mut adapters = instance.enumerate_adapters(backends).await;
        if adapters.is_empty() {
            return Err(RuntimeError::NoAdapter {
                backends: format!("{backends:?}"),
            });
        }
        adapters.sort_by_key(|a| rank(&a.get_info()));
        let chosen = match &options.adapter {
            None => adapters.into_iter().next(),
            Some(wanted) => {
                let needle = wanted.to_lowercase();
                let found = adapters
                    .iter()
                    .position(|a| describe(&a.get_info()).to_lowercase().contains(&needle));
                match found {
                    Some(i) => Some(adapters.swap_remove(i)),
                    None => {
                        let available = adapters.iter().map(|a| describe(&a.get_info())).collect();
                        return Err(RuntimeError::AdapterNotFound {
                            wanted: wanted.clone(),
                            available,
                        });
                    }
                }
            }
        };
        let adapter = chosen.ok_or_else(|| RuntimeError::NoAdapter {
            backends: format!("{backends:?}"),
        })?;
        let info = adapter.get_info();
        Ok(Runtime {
            adapter,
            info,
            _instance: instance,
        })
    }

    /// What wgpu reports about the chosen adapter.
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    /// One line naming the adapter, its backend and kind, for logs and `--adapter`.
    pub fn describe(&self) -> String {
        describe(&self.info)
    }

    /// The graphics API the adapter is reached through (`None` for one kiln does not
    /// name, such as wgpu's no-op backend).
    pub fn backend_api(&self) -> Option<BackendApi> {
        BackendApi::of(self.info.backend)
    }

    /// The adapter's limits in the terms code generation plans for.
    pub fn limits(&self) -> kiln_codegen::Limits {
        let l = self.adapter.limits();
        kiln_codegen::Limits {
            max_storage_buffers_per_shader_stage: l.max_storage_buffers_per_shader_stage,
            max_storage_buffer_binding_size: l.max_storage_buffer_binding_size,
            max_buffer_size: l.max_buffer_size,
            max_compute_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
            max_compute_workgroups_per_dimension: l.max_compute_workgroups_per_dimension,
            max_compute_workgroup_storage_size: l.max_compute_workgroup_storage_size,
            cpu_driver: self.is_cpu(),
        }
    }

    /// Whether the adapter is a CPU driver (lavapipe, llvmpipe, WARP, ...).
    pub fn is_cpu(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// Whether the adapter is an integrated GPU (sharing system memory).
    pub fn is_integrated(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::IntegratedGpu
    }

    /// Whether the adapter computes in f16 (`SHADER_F16`): plans built with
    /// `PlanOptions::f16_arithmetic` ask for it.
    pub fn has_f16(&self) -> bool {
        self.adapter.features().contains(wgpu::Features::SHADER_F16)
    }

    /// Whether the adapter can time each dispatch on the GPU (see [`crate::TimingSource`]).
    pub fn has_timestamps(&self) -> bool {
        self.adapter
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY)
    }
}

/// The adapters of the graphics APIs `apis` (else those `WGPU_BACKEND` names, parsed
/// as [`Runtime::new`] parses it, else all), best first (the order [`Runtime::new`]
/// picks in), each as [`describe`] names it; empty when there is none.
pub fn adapters(apis: &[BackendApi]) -> Result<Vec<String>, RuntimeError> {
    let backends = backends(apis)?;
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = backends;
    let instance = wgpu::Instance::new(desc);
    let mut infos: Vec<wgpu::AdapterInfo> =
        pollster::block_on(instance.enumerate_adapters(backends))
            .iter()
            .map(|a| a.get_info())
            .collect();
    infos.sort_by_key(rank);
    Ok(infos.iter().map(describe).collect())
}

/// `llvmpipe (LLVM 15.0.6, 256 bits) [Vulkan, Cpu]`.
pub fn describe(info: &wgpu::AdapterInfo) -> String {
    format!("{} [{:?}, {:?}]", info.name, info.backend, info.device_type)
}

/// Sort key: smaller is preferred.
fn rank(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    };
    let api = match info.backend {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
        _ => 1,
    };
    (kind, api)
}
