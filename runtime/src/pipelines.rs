//! Compiling a plan's kernels into compute pipelines: once per session, on several
//! threads where the device has cores to spare (wgpu devices are shared across
//! threads; a driver that compiles inside pipeline creation then compiles in
//! parallel, one that serialises or defers it loses nothing).

use kiln_codegen::{Access, Kernel, KernelPlan};

/// One pipeline per kernel, each with an explicit layout from its bindings' access, in
/// kernel order. Errors a worker thread raises reach the device's uncaptured-error
/// sink (error scopes are per thread), which the caller's scope checks.
pub(crate) fn create_pipelines(
    device: &wgpu::Device,
    plan: &KernelPlan,
) -> (Vec<wgpu::ComputePipeline>, Vec<wgpu::BindGroupLayout>) {
    let kernels = &plan.kernels;
    // In the browser wgpu's objects stay on the thread that made them.
    #[cfg(not(target_arch = "wasm32"))]
    {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(kernels.len());
        if threads > 1 {
            return create_in_parallel(device, kernels, threads);
        }
    }
    kernels.iter().map(|k| create_pipeline(device, k)).unzip()
}

/// [`create_pipelines`] on `threads` scoped threads.
#[cfg(not(target_arch = "wasm32"))]
fn create_in_parallel(
    device: &wgpu::Device,
    kernels: &[Kernel],
    threads: usize,
) -> (Vec<wgpu::ComputePipeline>, Vec<wgpu::BindGroupLayout>) {
    // Interleaved, so that the large kernels (often neighbours) spread over threads.
    let made: Vec<Vec<(usize, (wgpu::ComputePipeline, wgpu::BindGroupLayout))>> =
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    scope.spawn(move || {
                        (t..kernels.len())
                            .step_by(threads)
                            .map(|i| (i, create_pipeline(device, &kernels[i])))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
    let mut all: Vec<_> = made.into_iter().flatten().collect();
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, made)| made).unzip()
}

/// The bind group layout and pipeline of one kernel.
fn create_pipeline(
    device: &wgpu::Device,
    kernel: &Kernel,
) -> (wgpu::ComputePipeline, wgpu::BindGroupLayout) {
    let entries: Vec<wgpu::BindGroupLayoutEntry> = kernel
        .bindings
        .iter()
        .enumerate()
        .map(|(i, access)| wgpu::BindGroupLayoutEntry {
            binding: i as u32,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage {
                    read_only: *access == Access::Read,
                },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        })
        .collect();
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(&kernel.name),
        entries: &entries,
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(&kernel.name),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(&kernel.name),
        source: wgpu::ShaderSource::Wgsl(kernel.wgsl.as_str().into()),
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(&kernel.name),
        layout: Some(&pipeline_layout),
        module: &module,
        entry_point: Some(&kernel.entry_point),
        compilation_options: wgpu::PipelineCompilationOptions {
            // Every kiln kernel writes the workgroup memory it reads (tiles, reduction
            // partials, attention scores) before a barrier, so WGSL's zero-initialization
            // is dead work. On GL it was also most of a first run: naga writes it as one
            // array constructor per variable, and Mesa's llvmpipe took 4-14 s to compile
            // each matrix-product kernel with it (0.2 s without).
            zero_initialize_workgroup_memory: false,
            ..Default::default()
        },
        cache: None,
    });
    (pipeline, layout)
}
