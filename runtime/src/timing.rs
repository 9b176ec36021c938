//! Timed runs: per-dispatch GPU time from timestamp queries where the adapter has
//! them, wall-clock time per submitted dispatch otherwise.

use crate::requirements::Timestamps;
use crate::run::map_all;
use crate::scope::scoped;
use crate::session::{staging_buffer, Session};
use crate::RuntimeError;
use kiln_ir::Tensor;
use std::time::Instant;

/// How [`TimedRun::dispatches`] was measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimingSource {
    /// GPU timestamps written around each dispatch inside the run's one compute pass.
    GpuTimestamps,
    /// GPU timestamps at the start and end of a compute pass per dispatch (the adapter
    /// cannot write timestamps inside a pass); includes each pass's own overhead.
    GpuTimestampsPerPass,
    /// Host wall-clock time of submitting each dispatch alone and waiting for it; includes
    /// submission overhead, so small kernels look slower than they are.
    WallClock,
}

impl std::fmt::Display for TimingSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimingSource::GpuTimestamps => "GPU timestamps",
            TimingSource::GpuTimestampsPerPass => "GPU timestamps, one pass per dispatch",
            TimingSource::WallClock => "wall clock, one submit per dispatch",
        })
    }
}

/// The outputs of a timed run and the time each dispatch took.
#[derive(Clone, Debug)]
pub struct TimedRun {
    pub outputs: Vec<Tensor>,
    /// `(kernel name, nanoseconds)` per dispatch, in dispatch order.
    pub dispatches: Vec<(String, u64)>,
    pub source: TimingSource,
}

/// Most timestamps one query set may hold (wgpu's `QUERY_SET_MAX_QUERIES`).
const QUERIES_PER_SET: usize = 4096;

impl Session {
    /// How [`Session::run_timed`] measures on this device.
    pub fn timing_source(&self) -> TimingSource {
        match self.timestamps {
            Timestamps::InsidePasses => TimingSource::GpuTimestamps,
            Timestamps::PerPass => TimingSource::GpuTimestampsPerPass,
            Timestamps::None => TimingSource::WallClock,
        }
    }

    /// Like [`Session::run`], also measuring every dispatch (see [`TimingSource`]).
    pub fn run_timed(&mut self, inputs: &[Tensor]) -> Result<TimedRun, RuntimeError> {
        self.check_inputs(inputs)?;
        let _turn = crate::gl_turn::turn(self.backend);
        let source = self.timing_source();
        let (outputs, ns) = match source {
            TimingSource::WallClock => self.run_wall_clock(inputs)?,
            _ => self.run_timestamps(inputs, source == TimingSource::GpuTimestamps)?,
        };
        let dispatches = self
            .dispatches
            .iter()
            .zip(ns)
            .map(|(d, ns)| (self.kernel_names[d.kernel].clone(), ns))
            .collect();
        Ok(TimedRun {
            outputs,
            dispatches,
            source,
        })
    }

    fn run_timestamps(
        &self,
        inputs: &[Tensor],
        inside_pass: bool,
    ) -> Result<(Vec<Tensor>, Vec<u64>), RuntimeError> {
        let queries = 2 * self.dispatches.len();
        scoped(&self.device, &self.sink, "running with timestamps", || {
            let sets: Vec<wgpu::QuerySet> = (0..queries.div_ceil(QUERIES_PER_SET))
                .map(|s| {
                    let count = (queries - s * QUERIES_PER_SET).min(QUERIES_PER_SET) as u32;
                    self.device.create_query_set(&wgpu::QuerySetDescriptor {
                        label: Some("timestamps"),
                        ty: wgpu::QueryType::Timestamp,
                        count,
                    })
                })
                .collect();
            let bytes = (queries.max(1) * 8) as u64;
            let resolved = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps"),
                size: bytes,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let readable = staging_buffer(&self.device, bytes);
            let slot = |q: usize| (&sets[q / QUERIES_PER_SET], (q % QUERIES_PER_SET) as u32);

            self.write_inputs(inputs);
            let mut encoder = self.device.create_command_encoder(&Default::default());
            self.record_clears(&mut encoder);
            if inside_pass {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                for (i, d) in self.dispatches.iter().enumerate() {
                    let (set, q) = slot(2 * i);
                    pass.write_timestamp(set, q);
                    self.record(&mut pass, d);
                    let (set, q) = slot(2 * i + 1);
                    pass.write_timestamp(set, q);
                }
            } else {
                for (i, d) in self.dispatches.iter().enumerate() {
                    let (set, q) = slot(2 * i);
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: None,
                        timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                            query_set: set,
                            beginning_of_pass_write_index: Some(q),
                            end_of_pass_write_index: Some(q + 1),
                        }),
                    });
                    self.record(&mut pass, d);
                }
            }
            for (s, set) in sets.iter().enumerate() {
                let count = (queries - s * QUERIES_PER_SET).min(QUERIES_PER_SET) as u32;
                encoder.resolve_query_set(
                    set,
                    0..count,
                    &resolved,
                    (s * QUERIES_PER_SET * 8) as u64,
                );
            }
            encoder.copy_buffer_to_buffer(&resolved, 0, &readable, 0, bytes);
            self.record_readback(&mut encoder);
            self.queue.submit([encoder.finish()]);
            let outputs = pollster::block_on(self.read_outputs())?;
            let words = map_all(
                &self.device,
                std::slice::from_ref(&readable),
                "reading timestamps",
            )?
            .remove(0);
            let period = f64::from(self.queue.get_timestamp_period());
            let ticks: Vec<u64> = words
                .chunks_exact(2)
                .map(|w| u64::from(w[0]) | (u64::from(w[1]) << 32))
                .collect();
            let ns = (0..self.dispatches.len())
                .map(|i| {
                    (ticks[2 * i + 1].saturating_sub(ticks[2 * i]) as f64 * period).round() as u64
                })
                .collect();
            Ok((outputs, ns))
        })
    }

    fn run_wall_clock(&self, inputs: &[Tensor]) -> Result<(Vec<Tensor>, Vec<u64>), RuntimeError> {
        scoped(&self.device, &self.sink, "running timed", || {
            self.write_inputs(inputs);
            let mut encoder = self.device.create_command_encoder(&Default::default());
            self.record_clears(&mut encoder);
            self.queue.submit([encoder.finish()]);
            self.wait("running timed")?;
            let mut ns = Vec::with_capacity(self.dispatches.len());
            for d in &self.dispatches {
                let start = Instant::now();
                let mut encoder = self.device.create_command_encoder(&Default::default());
                {
                    let mut pass = encoder.begin_compute_pass(&Default::default());
                    self.record(&mut pass, d);
                }
                self.queue.submit([encoder.finish()]);
                self.wait("running timed")?;
                ns.push(start.elapsed().as_nanos() as u64);
            }
            let mut encoder = self.device.create_command_encoder(&Default::default());
            self.record_readback(&mut encoder);
            self.queue.submit([encoder.finish()]);
            Ok((pollster::block_on(self.read_outputs())?, ns))
        })
    }
}
