//! The quantization modes (`--quantize w8|w4|f16`) and the stored form each gives a weight.

use std::fmt;
use std::str::FromStr;

/// What `kiln compile --quantize MODE` does to a float model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantMode {
    /// int8 weights, symmetric, one scale per output channel (per row of an embedding
    /// table), scales rounded up to f16 values; activations stay f32.
    W8,
    /// int4 weights, symmetric, one scale per block of [`W4_BLOCK`] along the reduction
    /// axis (along a table's rows for embeddings), scales rounded up to f16 values.
    W4,
    /// f16 weights, and each quantized layer's input activation stored as f16 (rounded
    /// where it is stored, widened where the layer loads it); arithmetic stays f32.
    F16,
    /// int8 weights as [`QuantMode::W8`], and each quantized layer's input activation
    /// quantized to uint8: per tensor with the range the calibration sets give it, or,
    /// without them, per row with the range each row has when the model runs.
    W8A8,
}

/// The block of `w4` scales along the reduction axis (the int4 format of LLM weights).
pub const W4_BLOCK: usize = 32;

impl QuantMode {
    /// Every mode, in the order `--help` lists them.
    pub const ALL: [QuantMode; 4] = [
        QuantMode::W8,
        QuantMode::W4,
        QuantMode::F16,
        QuantMode::W8A8,
    ];

    /// The flag's spelling.
    pub fn name(self) -> &'static str {
        match self {
            QuantMode::W8 => "w8",
            QuantMode::W4 => "w4",
            QuantMode::F16 => "f16",
            QuantMode::W8A8 => "w8a8",
        }
    }

    /// How a layer quantized in this mode is stored, for reports: its weight, and its
    /// input when `input` (the activation quantized with it).
    pub fn form(self, input: bool) -> &'static str {
        match (self, input) {
            (QuantMode::W8, _) => "int8 per channel",
            (QuantMode::W4, _) => "int4 blocks of 32",
            (QuantMode::F16, false) => "f16",
            (QuantMode::F16, true) => "f16 weights and input",
            (QuantMode::W8A8, false) => "int8 per channel",
            (QuantMode::W8A8, true) => "int8 weights and input",
        }
    }

    /// Whether the mode quantizes activations too.
    pub fn activations(self) -> bool {
        matches!(self, QuantMode::W8A8 | QuantMode::F16)
    }
}

impl fmt::Display for QuantMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for QuantMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        QuantMode::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = QuantMode::ALL.iter().map(|m| m.name()).collect();
                format!("no quantization mode '{s}' (modes: {})", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_back_and_unknown_ones_say_what_exists() {
        for m in QuantMode::ALL {
            assert_eq!(m.name().parse::<QuantMode>(), Ok(m));
        }
        assert_eq!(
            "int3".parse::<QuantMode>(),
            Err("no quantization mode 'int3' (modes: w8, w4, f16, w8a8)".to_string())
        );
    }
}
