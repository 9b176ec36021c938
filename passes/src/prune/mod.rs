//! Pruning (`--prune`): weights zeroed by magnitude, in blocks or N of every M, or
//! whole channels removed, each layer under the `--accuracy-budget` by measurement
//! (`crate::budget`), with a report of what it cost.
//!
//! Zeroed weights stay dense here: the sparsity phase after this pass
//! (`egraph-sparsity`) offers sparse kernels for them and the cost model picks sparse
//! or dense per layer. N:M weights are stored compressed (`sparse_matmul` with the N:M
//! format) by this pass: on GPUs without sparse units they save bytes, not time, which
//! the cost model does not weigh. Channel pruning ([`channels`]) runs before the
//! optimizer, on the canonical graph, and leaves a smaller dense model.

pub mod channels;
mod channels_pass;
mod layers;
mod masks;
mod mode;
mod report;

pub use channels_pass::prune_channels;
pub use mode::{PruneMode, SPELLINGS};
pub use report::{ModelFigures, PruneReport, PruneRow, Skipped};

use crate::budget::{self, Measure};
use crate::measure::{self, output_names};
use crate::{Pass, PassContext, PassError};
use kiln_ir::{Graph, KernelTarget, Tensor};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What to prune and how much error it may cost.
#[derive(Clone, Debug)]
pub struct PruneOptions {
    pub mode: PruneMode,
    /// Bound on the relative L2 error of every output against the unpruned model;
    /// `None` prunes every layer.
    pub budget: Option<f64>,
    /// Input sets to measure on (as for `--quantize`); empty: seeded random sets.
    pub samples: Vec<BTreeMap<String, Tensor>>,
}

/// The pruning pass: `prune-channels` for `channels:S` (before the optimizer), `prune`
/// for the other modes (after it). It asks `target` the bundle bytes of the weights.
pub struct Prune {
    pub options: PruneOptions,
    pub target: Arc<dyn KernelTarget>,
}

impl Prune {
    /// Whether this is channel pruning, which runs before the optimizer.
    pub fn channels(&self) -> bool {
        matches!(self.options.mode, PruneMode::Channels { .. })
    }
}

impl Pass for Prune {
    fn name(&self) -> &'static str {
        if self.channels() {
            "prune-channels"
        } else {
            "prune"
        }
    }

    fn run(&self, graph: Graph) -> Result<Graph, PassError> {
        self.run_in(graph, &mut PassContext::default())
    }

    fn run_in(&self, graph: Graph, ctx: &mut PassContext) -> Result<Graph, PassError> {
        let pruned = if self.channels() {
            prune_channels(&graph, &self.options, &*self.target)
        } else {
            prune(&graph, &self.options, &*self.target)
        };
        let (graph, report) = pruned.map_err(|m| PassError::failed(self.name(), m))?;
        ctx.prune = Some(report);
        Ok(graph)
    }
}

/// The unpruned model measured: its output names, the input sets (`options`' or, when
/// none are given, seeded random ones) and its outputs on them.
pub(crate) struct Unpruned {
    pub names: Vec<String>,
    pub samples: Vec<Vec<Tensor>>,
    pub random_inputs: bool,
    pub outputs: Vec<Vec<Tensor>>,
    /// Why errors against `outputs` mean nothing ([`measure::unusable_reference`]).
    pub unmeasured: Option<String>,
}

impl Unpruned {
    pub fn of(graph: &Graph, options: &PruneOptions) -> Result<Unpruned, String> {
        let (samples, random_inputs) = measure::samples(graph, &options.samples)?;
        let outputs =
            measure::run_all(graph, &samples).map_err(|e| format!("the unpruned model: {e}"))?;
        let names = output_names(graph);
        let unmeasured = measure::unusable_reference(&names, &outputs, random_inputs);
        if let (Some(why), Some(b)) = (&unmeasured, options.budget) {
            return Err(measure::budget_unmeasurable(b, why));
        }
        Ok(Unpruned {
            names,
            samples,
            random_inputs,
            outputs,
            unmeasured,
        })
    }

    /// What pruned graphs are measured against.
    pub fn measure(&self) -> Measure<'_> {
        Measure {
            names: &self.names,
            samples: &self.samples,
            reference: &self.outputs,
            unmeasured: self.unmeasured.as_deref(),
        }
    }
}

/// `graph` pruned as `options` say (not `channels`), and what was done.
pub fn prune(
    graph: &Graph,
    options: &PruneOptions,
    target: &dyn KernelTarget,
) -> Result<(Graph, PruneReport), String> {
    let (layers, skipped) = layers::find(graph, options.mode, target);
    let unpruned = Unpruned::of(graph, options)?;
    let on = unpruned.measure();
    let apply = |chosen: &[usize]| {
        let chosen: Vec<&layers::Layer> = chosen.iter().map(|&i| &layers[i]).collect();
        layers::apply(graph, &chosen)
    };
    let errors = budget::alone_errors(layers.len(), &apply, &on)?;
    let mut kept: Vec<Option<String>> = vec![None; layers.len()];
    if let Some(b) = options.budget {
        let removed: Vec<f64> = layers
            .iter()
            .map(|l| l.zeros_after.saturating_sub(l.zeros_before) as f64)
            .collect();
        budget::choose(&removed, &errors, b, &mut kept);
    }
    let (pruned, outputs) = budget::fit(&errors, options.budget, &mut kept, "pruned", &apply, &on)?;
    let rows = layers
        .iter()
        .zip(errors)
        .zip(kept)
        .map(|((l, error), kept_because)| {
            let zeros = if kept_because.is_some() {
                l.zeros_before
            } else {
                l.zeros_after
            };
            PruneRow {
                node: l.node.clone(),
                op: l.op,
                dims: l.dims.clone(),
                sparsity: zeros as f64 / l.numel.max(1) as f64,
                format: "dense".to_string(),
                flops_before: l.flops,
                flops_after: l.flops,
                bytes_before: l.f32_bytes,
                bytes_after: l.f32_bytes,
                error,
                kept_because,
            }
        })
        .collect();
    let mut report = PruneReport {
        mode: options.mode,
        budget: options.budget,
        samples: unpruned.samples.len(),
        random_inputs: unpruned.random_inputs,
        unmeasured: unpruned.unmeasured.clone(),
        layers: rows,
        skipped,
        outputs,
        model: None,
    };
    // N:M layers are sparse already; the others are settled after the sparsity phase.
    report.settle(&pruned, target);
    Ok((pruned, report))
}

#[cfg(test)]
mod tests;
