//! Loading a plan onto a device: buffers, constants, pipelines and bind groups,
//! created once per session.

use crate::pipelines::create_pipelines;
use crate::requirements::{device_needs, Timestamps};
use crate::scope::{scoped_async, ErrorSink};
use crate::validate::validate_plan;
use crate::{Runtime, RuntimeError};
use futures_channel::oneshot;
use kiln_codegen::{BufferKind, KernelPlan, PlanPort};
use std::num::NonZeroU64;
use std::sync::Arc;

/// A plan loaded on its own device, ready to run any number of times.
pub struct Session {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    pub(crate) sink: Arc<ErrorSink>,
    pub(crate) buffers: Vec<wgpu::Buffer>,
    pub(crate) inputs: Vec<PlanPort>,
    pub(crate) outputs: Vec<PlanPort>,
    /// One mappable buffer per output, sized to it, then one per device check (its
    /// two words), so a run maps them all at once.
    pub(crate) staging: Vec<wgpu::Buffer>,
    /// The plan's device checks.
    pub(crate) checks: Vec<kiln_codegen::Check>,
    /// The buffers zeroed before every run (`KernelPlan::zeroed`).
    pub(crate) zeroed: Vec<usize>,
    /// The plan's outputs of data-dependent length ([`kiln_ir::Extent`]).
    pub(crate) extents: Vec<kiln_ir::Extent>,
    pub(crate) pipelines: Vec<wgpu::ComputePipeline>,
    pub(crate) kernel_names: Vec<String>,
    pub(crate) dispatches: Vec<Prepared>,
    pub(crate) timestamps: Timestamps,
    /// The adapter's backend (sessions on GL take turns: [`crate::gl_turn`]).
    pub(crate) backend: wgpu::Backend,
}

/// A dispatch with its bind group.
pub(crate) struct Prepared {
    pub kernel: usize,
    pub workgroups: [u32; 3],
    pub bind_group: wgpu::BindGroup,
}

/// Bytes of the words of a tensor of `shape` (0 for an empty tensor).
pub(crate) fn port_bytes(port: &PlanPort) -> u64 {
    port.shape.iter().product::<usize>() as u64 * 4
}

impl Runtime {
    /// Loads `plan` with the constant data `weights` it points into.
    ///
    /// Refuses, before creating anything, a plan whose features or limits the adapter
    /// lacks or whose indices and byte ranges are inconsistent. Then creates a device
    /// with exactly the limits the plan needs, uploads the constants once and compiles
    /// every kernel. Blocks until the device is ready: native only (the browser runs
    /// [`Runtime::load_async`]).
    pub fn load(&self, plan: &KernelPlan, weights: &[u8]) -> Result<Session, RuntimeError> {
        let _turn = crate::gl_turn::turn(self.info.backend);
        pollster::block_on(self.load_async(plan, weights))
    }

    /// [`Runtime::load`] as a future: requesting a device and learning whether a stage
    /// failed are asynchronous in the browser.
    pub async fn load_async(
        &self,
        plan: &KernelPlan,
        weights: &[u8],
    ) -> Result<Session, RuntimeError> {
        let name = self.describe();
        let needs = device_needs(plan, &self.adapter, &name)?;
        validate_plan(
            plan,
            weights,
            needs.limits.min_storage_buffer_offset_alignment.into(),
            &name,
        )?;
        let desc = wgpu::DeviceDescriptor {
            label: Some("kiln"),
            required_features: needs.features,
            required_limits: needs.limits,
            ..Default::default()
        };
        let (device, queue) =
            self.adapter
                .request_device(&desc)
                .await
                .map_err(|e| RuntimeError::RequestDevice {
                    adapter: name,
                    reason: e.to_string(),
                })?;
        let sink = ErrorSink::attach(&device);
        let buffers = scoped_async(&device, &sink, "creating buffers", || {
            Ok(create_buffers(&device, &queue, plan, weights))
        })
        .await?;
        let staging = scoped_async(&device, &sink, "creating buffers", || {
            let outputs = plan.outputs.iter().map(port_bytes);
            let checks = plan.checks.iter().map(|_| 8);
            Ok(outputs
                .chain(checks)
                .map(|bytes| staging_buffer(&device, bytes))
                .collect())
        })
        .await?;
        let (pipelines, layouts) = scoped_async(&device, &sink, "compiling kernels", || {
            Ok(create_pipelines(&device, plan))
        })
        .await?;
        let dispatches = scoped_async(&device, &sink, "binding buffers", || {
            Ok(plan
                .dispatches
                .iter()
                .map(|d| {
                    let entries: Vec<wgpu::BindGroupEntry<'_>> = d
                        .bindings
                        .iter()
                        .enumerate()
                        .map(|(i, b)| wgpu::BindGroupEntry {
                            binding: i as u32,
                            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                buffer: &buffers[b.buffer],
                                offset: b.offset,
                                size: b.size.and_then(NonZeroU64::new),
                            }),
                        })
                        .collect();
                    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                        label: None,
                        layout: &layouts[d.kernel],
                        entries: &entries,
                    });
                    Prepared {
                        kernel: d.kernel,
                        workgroups: d.workgroups,
                        bind_group,
                    }
                })
                .collect())
        })
        .await?;
        let session = Session {
            device,
            queue,
            sink,
            buffers,
            inputs: plan.inputs.clone(),
            outputs: plan.outputs.clone(),
            staging,
            checks: plan.checks.clone(),
            zeroed: plan.zeroed.clone(),
            extents: plan.extents.clone(),
            pipelines,
            kernel_names: plan.kernels.iter().map(|k| k.name.clone()).collect(),
            dispatches,
            timestamps: needs.timestamps,
            backend: self.info.backend,
        };
        session.flush_async("uploading constants").await?;
        Ok(session)
    }
}

impl Session {
    /// Submits queued writes and waits for the device to finish them: natively the
    /// blocking poll waits, in the browser the queue's work-done answer.
    pub(crate) async fn flush_async(&self, stage: &'static str) -> Result<(), RuntimeError> {
        let (done, answer) = oneshot::channel();
        scoped_async(&self.device, &self.sink, stage, || {
            self.queue.submit([]);
            self.queue.on_submitted_work_done(move || {
                let _ = done.send(());
            });
            self.wait(stage)
        })
        .await?;
        #[cfg(target_arch = "wasm32")]
        answer.await.map_err(|_| RuntimeError::Gpu {
            stage,
            message: "the device never finished the submitted work".to_string(),
        })?;
        #[cfg(not(target_arch = "wasm32"))]
        drop(answer);
        Ok(())
    }

    /// Blocks until all submitted work is done (returns at once in the browser, which
    /// polls by itself).
    pub(crate) fn wait(&self, stage: &'static str) -> Result<(), RuntimeError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| RuntimeError::Gpu {
                stage,
                message: e.to_string(),
            })
    }

    /// The names of the plan's kernels, by kernel index.
    pub fn kernel_names(&self) -> &[String] {
        &self.kernel_names
    }
}

/// Largest chunk written at once when filling a splat buffer.
const FILL_CHUNK: u64 = 1 << 22;

fn create_buffers(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    plan: &KernelPlan,
    weights: &[u8],
) -> Vec<wgpu::Buffer> {
    let usage =
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
    plan.buffers
        .iter()
        .enumerate()
        .map(|(i, desc)| {
            let label = format!("buffer {i}");
            let buffer = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(&label),
                size: desc.size,
                usage,
                mapped_at_creation: false,
            });
            match desc.kind {
                BufferKind::Constant { offset } => {
                    // In range: `validate_plan` checked it.
                    let bytes = &weights[offset as usize..(offset + desc.size) as usize];
                    queue.write_buffer(&buffer, 0, bytes);
                }
                BufferKind::Packed {
                    offset,
                    bits,
                    signed,
                    half,
                } => {
                    // In range: `validate_plan` checked it.
                    let count = (desc.size / 4) as usize;
                    let len = kiln_codegen::storage::packed_len(bits, count as u64) as usize;
                    let packed = &weights[offset as usize..offset as usize + len];
                    let mut words =
                        kiln_codegen::storage::unpack_words(packed, bits, signed, count);
                    if half {
                        kiln_codegen::storage::widen_halves(&mut words);
                    }
                    queue.write_buffer(&buffer, 0, bytemuck::cast_slice(&words));
                }
                BufferKind::Dequantized(ref d) => {
                    // Consistent: `validate_plan` checked it.
                    let words = kiln_codegen::storage::dequantized_words(d, weights)
                        .expect("validate_plan checked every part of it");
                    queue.write_buffer(&buffer, 0, bytemuck::cast_slice(&words));
                }
                BufferKind::Splat { word } => {
                    let chunk: Vec<u8> = std::iter::repeat_n(
                        word.to_le_bytes(),
                        (desc.size.min(FILL_CHUNK) / 4) as usize,
                    )
                    .flatten()
                    .collect();
                    let mut at = 0;
                    while at < desc.size {
                        let n = (desc.size - at).min(FILL_CHUNK);
                        queue.write_buffer(&buffer, at, &chunk[..n as usize]);
                        at += n;
                    }
                }
                BufferKind::Input(_) | BufferKind::Intermediate => {}
            }
            buffer
        })
        .collect()
}

/// A host-readable buffer of `bytes` (at least 4).
pub(crate) fn staging_buffer(device: &wgpu::Device, bytes: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("staging"),
        size: bytes.max(4),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}
