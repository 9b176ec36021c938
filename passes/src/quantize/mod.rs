//! `quantize`: kiln quantizes a float model (`--quantize w8|w4|f16`). Every large
//! constant a convolution, matmul or embedding gather reads as its weight
//! ([`layers`]) gets a stored form ([`weights`]): int8 with one scale per output
//! channel, int4 in blocks of 32 along the reduction axis, or f16. The bundle keeps
//! that form and the runtime widens it to f32 when it uploads the plan, so kernels and
//! their speed stay those of the f32 model while the bundle shrinks.
//!
//! What quantizing costs is measured, not guessed: the pass runs the float model and
//! the model with each layer quantized alone on the CPU reference, over calibration
//! inputs or seeded random ones ([`measure`]), and keeps a layer f32 when the
//! `--accuracy-budget` (a bound on every output's relative L2 error) cannot afford it.
//! The layers that save the most bytes per unit of error go first; the combined model
//! is measured again and layers are dropped, worst first, until it is within the
//! budget. The [`QuantReport`] says per layer what was chosen and why.

mod activations;
mod layers;
mod mode;
mod report;
mod weights;

pub use crate::measure::{compare, output_names, worst, OutputError, RANDOM_SAMPLES};
pub use mode::{QuantMode, W4_BLOCK};
pub use report::{LayerRow, QuantReport};
pub use weights::{is_weight, MIN_WEIGHT_ELEMENTS};

use crate::budget::{self, Measure};
use crate::measure;
use crate::{Pass, PassContext, PassError};
use kiln_ir::{Graph, KernelTarget, Tensor};
use layers::Layer;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What to quantize and how much error it may cost.
#[derive(Clone, Debug)]
pub struct QuantizeOptions {
    pub mode: QuantMode,
    /// Bound on the relative L2 error of every output against the float model; `None`
    /// quantizes every layer.
    pub budget: Option<f64>,
    /// Input sets to measure on (`--calibration`), each a tensor per graph input by
    /// name (or `input_<i>` for the `i`-th input, as ONNX test sets name them); empty:
    /// [`RANDOM_SAMPLES`] seeded random sets.
    pub samples: Vec<BTreeMap<String, Tensor>>,
}

/// The `quantize` pass. It asks `target` how many bytes the bundle stores for each
/// weight's stored form.
pub struct Quantize {
    pub options: QuantizeOptions,
    pub target: Arc<dyn KernelTarget>,
}

impl Pass for Quantize {
    fn name(&self) -> &'static str {
        "quantize"
    }

    fn run(&self, graph: Graph) -> Result<Graph, PassError> {
        self.run_in(graph, &mut PassContext::default())
    }

    fn run_in(&self, graph: Graph, ctx: &mut PassContext) -> Result<Graph, PassError> {
        let (graph, report) = quantize(&graph, &self.options, &*self.target)
            .map_err(|m| PassError::failed(self.name(), m))?;
        ctx.quantize = Some(report);
        Ok(graph)
    }
}

/// Checks an accuracy budget is a relative error above 0; `Err` says what is expected.
pub fn check_budget(budget: f64) -> Result<(), String> {
    if budget.is_finite() && budget > 0.0 {
        Ok(())
    } else {
        Err("expected a relative error above 0, e.g. 0.01".to_string())
    }
}

/// Whether `act` is quantized to a range the calibration sets fix (`w8a8`'s uint8),
/// rather than rounded to f16.
fn ranged(act: &activations::Activation) -> bool {
    !matches!(act.range, activations::Range::Half)
}

/// `graph` quantized as `options` say, and what was done.
pub fn quantize(
    graph: &Graph,
    options: &QuantizeOptions,
    target: &dyn KernelTarget,
) -> Result<(Graph, QuantReport), String> {
    if let Some(b) = options.budget {
        check_budget(b).map_err(|why| format!("accuracy budget {b}: {why}"))?;
    }
    let mut layers = layers::find(graph, options.mode, target)?;
    let (samples, random_inputs) = measure::samples(graph, &options.samples)?;
    // Calibration sets fix the activations' ranges (read in the same runs as the
    // reference outputs); without them each row's range is computed when the model runs.
    let probes: Vec<_> = if random_inputs {
        Vec::new()
    } else {
        layers
            .iter()
            .filter_map(|l| l.activation.as_ref())
            .filter(|a| ranged(a))
            .map(|a| a.value)
            .collect()
    };
    let (reference, probed) = measure::run_probed(graph, &probes, &samples)
        .map_err(|e| format!("the float model: {e}"))?;
    let mut ranges = activations::ranges(&probed).into_iter();
    let acts = layers.iter_mut().filter_map(|l| l.activation.as_mut());
    for act in acts.filter(|a| ranged(a)) {
        if let Some(range) = ranges.next() {
            let (scale, zero) = activations::params(range);
            act.range = activations::Range::Fixed { scale, zero };
        }
    }
    let names = output_names(graph);
    let unmeasured = measure::unusable_reference(&names, &reference, random_inputs);
    if let (Some(why), Some(b)) = (&unmeasured, options.budget) {
        return Err(measure::budget_unmeasurable(b, why));
    }
    let on = Measure {
        names: &names,
        samples: &samples,
        reference: &reference,
        unmeasured: unmeasured.as_deref(),
    };
    let apply = |chosen: &[usize]| {
        let chosen: Vec<&Layer> = chosen.iter().map(|&i| &layers[i]).collect();
        layers::apply(graph, &chosen)
    };
    let errors = budget::alone_errors(layers.len(), &apply, &on)?;
    let mut kept: Vec<Option<String>> = vec![None; layers.len()];
    if let Some(b) = options.budget {
        let saved: Vec<f64> = layers
            .iter()
            .map(|l| l.f32_bytes.saturating_sub(l.stored_bytes) as f64)
            .collect();
        budget::choose(&saved, &errors, b, &mut kept);
    }
    let (quantized, outputs) =
        budget::fit(&errors, options.budget, &mut kept, "quantized", &apply, &on)?;
    let rows = layers
        .iter()
        .zip(errors)
        .zip(kept)
        .map(|((l, error), kept_because)| LayerRow {
            node: l.node.clone(),
            op: l.op,
            dims: l.dims.clone(),
            form: if kept_because.is_some() {
                "f32"
            } else {
                options.mode.form(l.activation.is_some())
            },
            error,
            bytes_before: l.f32_bytes,
            bytes_after: if kept_because.is_some() {
                l.f32_bytes
            } else {
                l.stored_bytes
            },
            kept_because,
        })
        .collect();
    let report = QuantReport {
        mode: options.mode,
        budget: options.budget,
        samples: samples.len(),
        random_inputs,
        unmeasured,
        layers: rows,
        outputs,
    };
    Ok((quantized, report))
}

#[cfg(test)]
mod tests;
