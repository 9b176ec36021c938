//! What `--quantize` did, for `kiln compile --report`: per layer the form chosen, the
//! error quantizing it alone adds, and its bytes; per output the error of the whole
//! quantized model against the float model on the same inputs.

use super::QuantMode;
use crate::measure::OutputError;
use std::fmt;

/// One weight's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerRow {
    /// The node that reads the weight.
    pub node: String,
    /// Its op.
    pub op: &'static str,
    /// The weight's dims.
    pub dims: Vec<usize>,
    /// How it is stored: the mode's form, or `f32` when it was kept.
    pub form: &'static str,
    /// Relative L2 error (worst output) that quantizing this layer alone adds.
    pub error: f64,
    /// Bytes in the bundle as f32 and as chosen.
    pub bytes_before: usize,
    pub bytes_after: usize,
    /// Why a layer stayed f32.
    pub kept_because: Option<String>,
}

/// The outcome of the `quantize` pass.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantReport {
    pub mode: QuantMode,
    /// `--accuracy-budget`: bound on the worst output's relative L2.
    pub budget: Option<f64>,
    /// Input sets measured on, and whether they were seeded random ones.
    pub samples: usize,
    pub random_inputs: bool,
    /// Why no error could be measured ([`crate::measure::unusable_reference`]); the
    /// errors are then NaN and mean nothing.
    pub unmeasured: Option<String>,
    pub layers: Vec<LayerRow>,
    /// The whole quantized model against the float model.
    pub outputs: Vec<OutputError>,
}

impl QuantReport {
    /// Weight bytes of every candidate layer, as f32 and as chosen.
    pub fn weight_bytes(&self) -> (usize, usize) {
        self.layers
            .iter()
            .fold((0, 0), |(b, a), l| (b + l.bytes_before, a + l.bytes_after))
    }

    /// Layers stored in the mode's form.
    pub fn quantized(&self) -> usize {
        self.layers
            .iter()
            .filter(|l| l.kept_because.is_none())
            .count()
    }
}

impl fmt::Display for QuantReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (before, after) = self.weight_bytes();
        let budget = match self.budget {
            Some(b) => format!("accuracy budget {b} (relative L2 of each output)"),
            None => "no accuracy budget".to_string(),
        };
        let inputs = if self.random_inputs {
            "seeded random inputs (give --calibration DIR for real ones)"
        } else {
            "calibration inputs"
        };
        writeln!(
            f,
            "quantization {}: {} of {} weights quantized, {before} -> {after} weight bytes; \
             {budget}; measured on {} {inputs} with the CPU reference",
            self.mode,
            self.quantized(),
            self.layers.len(),
            self.samples
        )?;
        crate::measure::write_outputs(f, &self.outputs, self.unmeasured.as_deref())?;
        let width = self.layers.iter().map(|l| l.node.len()).max().unwrap_or(4);
        for l in &self.layers {
            let dims: Vec<String> = l.dims.iter().map(|d| d.to_string()).collect();
            write!(
                f,
                "  {:width$}  {:6} [{}] {}: alone {}, {} -> {} bytes",
                l.node,
                l.op,
                dims.join(","),
                l.form,
                crate::measure::Figure(l.error),
                l.bytes_before,
                l.bytes_after
            )?;
            if let Some(why) = &l.kept_because {
                write!(f, " (kept: {why})")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
