//! Running a loaded plan: check and write the inputs, record every dispatch into one
//! compute pass, read the outputs back.

use crate::scope::scoped_async;
use crate::session::{port_bytes, Session};
use crate::RuntimeError;
use futures_channel::oneshot;
use kiln_codegen::storage::{from_words, to_words};
use kiln_ir::{Shape, Tensor, TensorType};

impl Session {
    /// Runs the plan on `inputs` (one per plan input, in order, of exactly its dtype and
    /// shape) and returns the outputs in order. Ports declared int64 hold i32 data.
    /// Blocks until the outputs are read: native only (the browser runs
    /// [`Session::run_async`]).
    pub fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>, RuntimeError> {
        let _turn = crate::gl_turn::turn(self.backend);
        pollster::block_on(self.run_async(inputs))
    }

    /// [`Session::run`] as a future: the path the browser takes, where reading a buffer
    /// back is asynchronous; native code shares it (its device answers at once).
    pub async fn run_async(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>, RuntimeError> {
        self.check_inputs(inputs)?;
        scoped_async(&self.device, &self.sink, "running", || {
            self.write_inputs(inputs);
            let mut encoder = self.device.create_command_encoder(&Default::default());
            self.record_clears(&mut encoder);
            {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                for d in &self.dispatches {
                    self.record(&mut pass, d);
                }
            }
            self.record_readback(&mut encoder);
            self.queue.submit([encoder.finish()]);
            Ok(())
        })
        .await?;
        let outputs = self.read_outputs().await;
        self.sink.check("running")?;
        outputs
    }

    pub(crate) fn check_inputs(&self, inputs: &[Tensor]) -> Result<(), RuntimeError> {
        if inputs.len() != self.inputs.len() {
            return Err(RuntimeError::Input(format!(
                "expected {} inputs, got {}",
                self.inputs.len(),
                inputs.len()
            )));
        }
        for (port, t) in self.inputs.iter().zip(inputs) {
            let want = TensorType {
                dtype: port.dtype,
                shape: Shape(port.shape.clone()),
            };
            if t.ty() != want {
                return Err(RuntimeError::Input(format!(
                    "input '{}': expected {want}, got {}",
                    port.name,
                    t.ty()
                )));
            }
        }
        Ok(())
    }

    /// Records clearing every device check's words and every buffer the plan zeroes
    /// into `encoder`, ahead of the run's dispatches (commands, not a staged write per
    /// buffer: a dynamically quantized model zeroes one pair of range words per layer).
    pub(crate) fn record_clears(&self, encoder: &mut wgpu::CommandEncoder) {
        let checks = self.checks.iter().map(|c| c.buffer);
        let zeroed = self.zeroed.iter().copied();
        for buffer in checks.chain(zeroed) {
            encoder.clear_buffer(&self.buffers[buffer], 0, None);
        }
    }

    /// Writes the inputs (before any dispatch of the run, which is submitted after
    /// these writes).
    pub(crate) fn write_inputs(&self, inputs: &[Tensor]) {
        for (port, t) in self.inputs.iter().zip(inputs) {
            if t.numel() > 0 {
                self.queue.write_buffer(
                    &self.buffers[port.buffer],
                    0,
                    bytemuck::cast_slice(&to_words(t)),
                );
            }
        }
    }

    pub(crate) fn record(&self, pass: &mut wgpu::ComputePass<'_>, d: &crate::session::Prepared) {
        pass.set_pipeline(&self.pipelines[d.kernel]);
        pass.set_bind_group(0, &d.bind_group, &[]);
        let [x, y, z] = d.workgroups;
        pass.dispatch_workgroups(x, y, z);
    }

    /// Copies every output, and every device check's words, into its staging buffer.
    pub(crate) fn record_readback(&self, encoder: &mut wgpu::CommandEncoder) {
        let check_staging = &self.staging[self.outputs.len()..];
        for (check, staging) in self.checks.iter().zip(check_staging) {
            encoder.copy_buffer_to_buffer(&self.buffers[check.buffer], 0, staging, 0, 8);
        }
        for (port, staging) in self.outputs.iter().zip(&self.staging) {
            let bytes = port_bytes(port);
            if bytes > 0 {
                encoder.copy_buffer_to_buffer(&self.buffers[port.buffer], 0, staging, 0, bytes);
            }
        }
    }

    /// Waits for the submitted work and converts the staging buffers to tensors; fails
    /// with the first device check that did not hold.
    pub(crate) async fn read_outputs(&self) -> Result<Vec<Tensor>, RuntimeError> {
        let mut mapped = map_all_async(&self.device, &self.staging, "reading outputs").await?;
        let checked = mapped.split_off(self.outputs.len());
        if let Some((check, w)) = self.checks.iter().zip(&checked).find(|(_, w)| w[0] != 0) {
            return Err(RuntimeError::Check {
                node: check.node.clone(),
                op: check.op.clone(),
                message: check.what.replace("{value}", &(w[1] as i32).to_string()),
            });
        }
        let outputs = self
            .outputs
            .iter()
            .zip(mapped)
            .map(|(port, words)| {
                let words = &words[..port.shape.iter().product::<usize>()];
                from_words(words, port.dtype, Shape(port.shape.clone()))
            })
            .collect();
        // Outputs of data-dependent length cut to their counts, the counts dropped.
        kiln_ir::extent::finish(&self.extents, outputs).map_err(|message| RuntimeError::Gpu {
            stage: "reading outputs",
            message,
        })
    }
}

/// Maps every buffer for reading, waits, and returns each one's words (native only).
pub(crate) fn map_all(
    device: &wgpu::Device,
    buffers: &[wgpu::Buffer],
    stage: &'static str,
) -> Result<Vec<Vec<u32>>, RuntimeError> {
    pollster::block_on(map_all_async(device, buffers, stage))
}

/// [`map_all`] as a future. A native device finishes the work in the blocking poll,
/// which runs every mapping's callback; in the browser the poll returns at once and the
/// awaits wait for the browser's answers.
pub(crate) async fn map_all_async(
    device: &wgpu::Device,
    buffers: &[wgpu::Buffer],
    stage: &'static str,
) -> Result<Vec<Vec<u32>>, RuntimeError> {
    let answers: Vec<_> = buffers
        .iter()
        .map(|b| {
            let (tx, rx) = oneshot::channel();
            b.slice(..).map_async(wgpu::MapMode::Read, move |r| {
                let _ = tx.send(r);
            });
            rx
        })
        .collect();
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| RuntimeError::Gpu {
            stage,
            message: e.to_string(),
        })?;
    let mut failed = None;
    for (i, answer) in answers.into_iter().enumerate() {
        // Natively the poll has run every callback there will be: never wait on one.
        #[cfg(not(target_arch = "wasm32"))]
        let answer = {
            let mut answer = answer;
            answer.try_recv().ok().flatten()
        };
        #[cfg(target_arch = "wasm32")]
        let answer = answer.await.ok();
        let message = match answer {
            Some(Ok(())) => continue,
            Some(Err(e)) => e.to_string(),
            None => "the device never answered".to_string(),
        };
        failed.get_or_insert(format!("mapping buffer {i}: {message}"));
    }
    let mut out = Vec::with_capacity(buffers.len());
    for b in buffers {
        if failed.is_none() {
            match b.slice(..).get_mapped_range() {
                Ok(view) => out.push(bytemuck::pod_collect_to_vec::<u8, u32>(&view)),
                Err(e) => failed = Some(e.to_string()),
            }
        }
        b.unmap();
    }
    match failed {
        Some(message) => Err(RuntimeError::Gpu { stage, message }),
        None => Ok(out),
    }
}
