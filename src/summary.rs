//! What a bundle holds, summarised for `kiln inspect`: ports, kernels and their
//! dispatches, buffers by kind, requirements, weight bytes and the plan builder's
//! layout decisions (serde for `--json`).

use kiln_codegen::bundle::Bundle;
use kiln_codegen::{BufferKind, PlanDecisions, PlanPort, Requirements};
use serde::Serialize;

/// A bundle's contents in numbers.
#[derive(Clone, Debug, Serialize)]
pub struct BundleSummary {
    pub kiln_version: String,
    pub model: String,
    /// The compile options recorded in the manifest.
    pub options: serde_json::Value,
    pub inputs: Vec<PortSummary>,
    pub outputs: Vec<PortSummary>,
    /// Number of distinct kernels (shader modules).
    pub kernels: usize,
    /// Number of dispatches per run.
    pub dispatches: usize,
    pub kernel_list: Vec<KernelSummary>,
    pub dispatch_list: Vec<DispatchSummary>,
    pub buffers: BufferSummary,
    pub requirements: Requirements,
    pub weight_bytes: u64,
    /// The plan builder's layout decisions.
    pub decisions: PlanDecisions,
}

/// A graph input or output.
#[derive(Clone, Debug, Serialize)]
pub struct PortSummary {
    pub name: String,
    /// The dtype as the model declares it (`i64`, `u64`, `f64` for int64, uint64 and
    /// double ports, computed as i32, u32 and f32).
    pub dtype: String,
    pub shape: Vec<usize>,
    pub buffer: usize,
}

/// One kernel and how the plan uses it.
#[derive(Clone, Debug, Serialize)]
pub struct KernelSummary {
    pub index: usize,
    pub name: String,
    pub op: String,
    pub entry_point: String,
    pub workgroup_size: [u32; 3],
    pub bindings: usize,
    pub workgroup_storage_bytes: u32,
    pub wgsl_bytes: usize,
    /// How many dispatches run this kernel.
    pub dispatches: usize,
    /// The workgroup counts of those dispatches, in dispatch order.
    pub workgroups: Vec<[u32; 3]>,
}

/// One dispatch.
#[derive(Clone, Debug, Serialize)]
pub struct DispatchSummary {
    pub index: usize,
    pub kernel: String,
    pub op: String,
    pub workgroups: [u32; 3],
    /// The buffers bound, by binding.
    pub buffers: Vec<usize>,
}

/// The plan's buffers.
#[derive(Clone, Debug, Serialize)]
pub struct BufferSummary {
    pub count: usize,
    pub total_bytes: u64,
    /// Bytes of the buffers kernels write, after liveness-based reuse.
    pub intermediate_bytes: u64,
    /// Count and bytes (on the device) per kind: input, constant, packed constant and
    /// dequantized constant (when present), splat, intermediate.
    pub by_kind: Vec<KindSummary>,
}

/// Buffers of one kind.
#[derive(Clone, Debug, Serialize)]
pub struct KindSummary {
    pub kind: &'static str,
    pub count: usize,
    pub bytes: u64,
}

/// The name of a buffer kind.
pub fn kind_name(kind: &BufferKind) -> &'static str {
    match kind {
        BufferKind::Input(_) => "input",
        BufferKind::Constant { .. } => "constant",
        BufferKind::Packed { .. } => "packed constant",
        BufferKind::Dequantized(_) => "dequantized constant",
        BufferKind::Splat { .. } => "splat",
        BufferKind::Intermediate => "intermediate",
    }
}

impl BundleSummary {
    /// Summarises `bundle`.
    pub fn of(bundle: &Bundle) -> BundleSummary {
        let plan = &bundle.manifest.plan;
        let port = |p: &PlanPort| PortSummary {
            name: p.name.clone(),
            dtype: if p.wide.is_wide() {
                p.wide.marker().to_string()
            } else {
                p.dtype.to_string()
            },
            shape: p.shape.clone(),
            buffer: p.buffer,
        };
        let kernel_list = plan
            .kernels
            .iter()
            .enumerate()
            .map(|(index, k)| {
                let workgroups: Vec<[u32; 3]> = plan
                    .dispatches
                    .iter()
                    .filter(|d| d.kernel == index)
                    .map(|d| d.workgroups)
                    .collect();
                KernelSummary {
                    index,
                    name: k.name.clone(),
                    op: k.op.clone(),
                    entry_point: k.entry_point.clone(),
                    workgroup_size: k.workgroup_size,
                    bindings: k.bindings.len(),
                    workgroup_storage_bytes: k.workgroup_storage_bytes,
                    wgsl_bytes: k.wgsl.len(),
                    dispatches: workgroups.len(),
                    workgroups,
                }
            })
            .collect();
        let dispatch_list = plan
            .dispatches
            .iter()
            .enumerate()
            .map(|(index, d)| {
                let kernel = plan.kernels.get(d.kernel);
                DispatchSummary {
                    index,
                    kernel: kernel.map(|k| k.name.clone()).unwrap_or_default(),
                    op: kernel.map(|k| k.op.clone()).unwrap_or_default(),
                    workgroups: d.workgroups,
                    buffers: d.bindings.iter().map(|b| b.buffer).collect(),
                }
            })
            .collect();
        // The low-bit kinds only when the plan has them.
        let by_kind = [
            "input",
            "constant",
            "packed constant",
            "dequantized constant",
            "splat",
            "intermediate",
        ]
        .into_iter()
        .map(|kind| {
            let of_kind = plan.buffers.iter().filter(|b| kind_name(&b.kind) == kind);
            KindSummary {
                kind,
                count: of_kind.clone().count(),
                bytes: of_kind.map(|b| b.size).sum(),
            }
        })
        .filter(|k| k.count > 0 || !k.kind.ends_with(" constant"))
        .collect::<Vec<_>>();
        let buffers = BufferSummary {
            count: plan.buffers.len(),
            total_bytes: plan.buffers.iter().map(|b| b.size).sum(),
            intermediate_bytes: by_kind
                .iter()
                .filter(|k| k.kind == "intermediate")
                .map(|k| k.bytes)
                .sum(),
            by_kind,
        };
        BundleSummary {
            kiln_version: bundle.manifest.kiln_version.clone(),
            model: bundle.manifest.model.clone(),
            options: bundle.manifest.options.clone(),
            inputs: plan.inputs.iter().map(port).collect(),
            outputs: plan.outputs.iter().map(port).collect(),
            kernels: plan.kernels.len(),
            dispatches: plan.dispatches.len(),
            kernel_list,
            dispatch_list,
            buffers,
            requirements: plan.requirements.clone(),
            weight_bytes: bundle.weights.len() as u64,
            decisions: bundle.manifest.decisions.clone(),
        }
    }
}
