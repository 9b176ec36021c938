//! What `--prune` did, per layer and for the model: the report `kiln compile --report`
//! prints and `--json` carries.

use super::PruneMode;
use crate::measure::OutputError;
use kiln_ir::{Graph, KernelTarget, Op};
use std::fmt;

/// One pruned (or candidate) layer.
#[derive(Clone, Debug, PartialEq)]
pub struct PruneRow {
    /// The reading node's name (or op and handle), its op and the weight's dims.
    pub node: String,
    pub op: &'static str,
    pub dims: Vec<usize>,
    /// The fraction of its weights that are zero, as it ends up.
    pub sparsity: f64,
    /// How the weights are stored and run: `dense`, `bsr4x4`, `csr`, `2:4`, ...
    pub format: String,
    /// Multiply-adds × 2 per run of its product, before and after.
    pub flops_before: f64,
    pub flops_after: f64,
    /// Bundle bytes of its weights, before and after.
    pub bytes_before: usize,
    pub bytes_after: usize,
    /// The worst output's relative L2 error with this layer alone pruned.
    pub error: f64,
    /// Why it was left unpruned (`None`: pruned).
    pub kept_because: Option<String>,
}

/// A weight (or channel group) that could not be pruned in this mode, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Skipped {
    pub node: String,
    pub op: &'static str,
    pub dims: Vec<usize>,
    pub why: String,
}

/// The report of one `--prune`.
#[derive(Clone, Debug, PartialEq)]
pub struct PruneReport {
    pub mode: PruneMode,
    /// The accuracy budget it was held to (`None`: every layer pruned).
    pub budget: Option<f64>,
    /// Input sets measured on; seeded random ones when no calibration was given.
    pub samples: usize,
    pub random_inputs: bool,
    /// Why no error could be measured ([`crate::measure::unusable_reference`]); the
    /// errors are then NaN and mean nothing.
    pub unmeasured: Option<String>,
    pub layers: Vec<PruneRow>,
    /// Weights (or channel groups) the mode cannot prune.
    pub skipped: Vec<Skipped>,
    /// The pruned model against the unpruned one on the same inputs.
    pub outputs: Vec<OutputError>,
    /// The whole model before and after (channels, where each row's figures are the
    /// model's with that group alone pruned).
    pub model: Option<ModelFigures>,
}

/// Multiply-adds × 2 of every product of a model, and its weights' bundle bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelFigures {
    pub flops_before: f64,
    pub flops_after: f64,
    pub bytes_before: usize,
    pub bytes_after: usize,
}

impl PruneReport {
    /// Layers pruned.
    pub fn pruned(&self) -> usize {
        self.layers
            .iter()
            .filter(|l| l.kept_because.is_none())
            .count()
    }

    /// Totals: (flops before, after, bytes before, after), of the model when the
    /// report has its figures, else summed over the layers.
    pub fn totals(&self) -> (f64, f64, usize, usize) {
        if let Some(m) = self.model {
            return (m.flops_before, m.flops_after, m.bytes_before, m.bytes_after);
        }
        self.layers.iter().fold((0.0, 0.0, 0, 0), |t, l| {
            (
                t.0 + l.flops_before,
                t.1 + l.flops_after,
                t.2 + l.bytes_before,
                t.3 + l.bytes_after,
            )
        })
    }

    /// Fills in each pruned layer's format, flops and bytes from the final graph: a
    /// layer whose product became a sparse one (its node: the layer's name, weights of
    /// its size, each node settling one layer) runs only its stored weights.
    pub fn settle(&mut self, graph: &Graph, target: &dyn KernelTarget) {
        let mut settled = vec![false; graph.nodes.len()];
        for row in self.layers.iter_mut().filter(|l| l.kept_because.is_none()) {
            let weights: usize = row.dims.iter().product();
            let found = graph.nodes.iter().find_map(|(h, node)| {
                let (format, n, k) = match node.op.anchor() {
                    Op::SparseMatMul { format, k, n, .. } => (*format, *n, *k),
                    Op::SparseConv {
                        format, kernel, n, ..
                    } => {
                        let channels = graph.ty(node.inputs[0]).shape.dims().get(1).copied();
                        (*format, *n, channels? * kernel.iter().product::<usize>())
                    }
                    _ => return None,
                };
                let fits = !settled[h.index()] && node.name == row.node && k * n == weights;
                fits.then_some((h, node, format, n))
            });
            if let Some((h, node, format, n)) = found {
                settled[h.index()] = true;
                let arrays: Vec<&kiln_ir::Tensor> = node.inputs[1..=format.arrays()]
                    .iter()
                    .filter_map(|&v| graph.constant(v))
                    .collect();
                let stored = arrays.first().map_or(0, |t| t.numel()) as f64;
                let rows = graph.ty(node.outputs[0]).shape.numel() as f64 / n.max(1) as f64;
                row.format = format.label();
                row.flops_after = 2.0 * rows * stored;
                row.bytes_after = target.bundle_bytes(None, &arrays);
            }
        }
    }
}

impl fmt::Display for PruneReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (fb, fa, bb, ba) = self.totals();
        let budget = match self.budget {
            Some(b) => format!("accuracy budget {b} (relative L2 of each output)"),
            None => "no accuracy budget".to_string(),
        };
        let inputs = if self.random_inputs {
            "seeded random inputs (give --calibration DIR for real ones)"
        } else {
            "calibration inputs"
        };
        let (what, whose) = match self.model {
            Some(_) => ("channel groups", "the model's weights"),
            None => ("layers", "their weights"),
        };
        writeln!(
            f,
            "pruning {}: {} of {} {what} pruned; {whose} {bb} -> {ba} bytes, products {} -> {} \
             MFLOP ({:.3} of it); {budget}; measured on {} {inputs} with the CPU reference",
            self.mode,
            self.pruned(),
            self.layers.len(),
            mflop(fb),
            mflop(fa),
            fa / fb.max(1.0),
            self.samples
        )?;
        if self.model.is_some() {
            writeln!(f, "  (per group: the model with that group alone pruned)")?;
        }
        crate::measure::write_outputs(f, &self.outputs, self.unmeasured.as_deref())?;
        let width = self.layers.iter().map(|l| l.node.len()).max().unwrap_or(4);
        for l in &self.layers {
            let dims: Vec<String> = l.dims.iter().map(|d| d.to_string()).collect();
            write!(
                f,
                "  {:width$}  {:6} [{}] {:.1}% zero, {}: alone {}, {} -> {} MFLOP, {} -> {} bytes",
                l.node,
                l.op,
                dims.join(","),
                100.0 * l.sparsity,
                l.format,
                crate::measure::Figure(l.error),
                mflop(l.flops_before),
                mflop(l.flops_after),
                l.bytes_before,
                l.bytes_after
            )?;
            if let Some(why) = &l.kept_because {
                write!(f, " (kept: {why})")?;
            }
            writeln!(f)?;
        }
        // Skipped weights, one line per reason.
        let mut reasons: Vec<&str> = self.skipped.iter().map(|s| s.why.as_str()).collect();
        reasons.sort_unstable();
        reasons.dedup();
        for why in reasons {
            let nodes: Vec<&str> = self
                .skipped
                .iter()
                .filter(|s| s.why == why)
                .map(|s| s.node.as_str())
                .collect();
            let shown = nodes.iter().take(3).copied().collect::<Vec<_>>().join(", ");
            let more = nodes.len().saturating_sub(3);
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            writeln!(
                f,
                "  {} weights not pruned ({shown}{more}): {why}",
                nodes.len()
            )?;
        }
        Ok(())
    }
}

/// `flops` in MFLOP, three significant decimals.
fn mflop(flops: f64) -> String {
    format!("{:.3}", flops / 1e6)
}
