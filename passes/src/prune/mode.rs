//! The pruning modes of `--prune` and their spelling.

use std::fmt;
use std::str::FromStr;

/// How `--prune` zeroes or removes weights.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PruneMode {
    /// The smallest |w| of each layer to `sparsity` (or, `global`, below one threshold
    /// over all layers).
    Magnitude { sparsity: f64, global: bool },
    /// Whole `rows × cols` blocks (rows along the reduction axis, columns along the
    /// outputs) with the smallest L2 norm, to `sparsity` of each layer's blocks.
    Blocks {
        rows: usize,
        cols: usize,
        sparsity: f64,
    },
    /// `keep` of every `group` consecutive weights along the reduction axis (`2:4`),
    /// the largest |w| kept; stored compressed.
    NOfM { keep: usize, group: usize },
    /// Output channels of convolutions and matmuls removed by norm, with what depends
    /// on them: a smaller dense model.
    Channels { sparsity: f64 },
}

/// The spellings, for errors and `--help`.
pub const SPELLINGS: &str =
    "magnitude:S, magnitude-global:S, blocks:RxC:S, N:M (e.g. 2:4) or channels:S, with S the fraction removed (0 < S < 1)";

impl PruneMode {
    /// The fraction of weights (or channels) the mode removes; N:M's is `1 - N/M`.
    pub fn sparsity(self) -> f64 {
        match self {
            PruneMode::Magnitude { sparsity, .. }
            | PruneMode::Blocks { sparsity, .. }
            | PruneMode::Channels { sparsity } => sparsity,
            PruneMode::NOfM { keep, group } => 1.0 - keep as f64 / group as f64,
        }
    }
}

impl fmt::Display for PruneMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PruneMode::Magnitude { sparsity, global } => {
                let g = if global { "-global" } else { "" };
                write!(f, "magnitude{g}:{sparsity}")
            }
            PruneMode::Blocks {
                rows,
                cols,
                sparsity,
            } => write!(f, "blocks:{rows}x{cols}:{sparsity}"),
            PruneMode::NOfM { keep, group } => write!(f, "{keep}:{group}"),
            PruneMode::Channels { sparsity } => write!(f, "channels:{sparsity}"),
        }
    }
}

impl FromStr for PruneMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("'{s}': {why} (modes: {SPELLINGS})");
        let fraction = |t: &str| -> Result<f64, String> {
            match t.parse::<f64>() {
                Ok(v) if v > 0.0 && v < 1.0 => Ok(v),
                _ => Err(bad(&format!("'{t}' is not a fraction between 0 and 1"))),
            }
        };
        let parts: Vec<&str> = s.split(':').collect();
        match parts[..] {
            ["magnitude", x] => Ok(PruneMode::Magnitude {
                sparsity: fraction(x)?,
                global: false,
            }),
            ["magnitude-global", x] => Ok(PruneMode::Magnitude {
                sparsity: fraction(x)?,
                global: true,
            }),
            ["channels", x] => Ok(PruneMode::Channels {
                sparsity: fraction(x)?,
            }),
            ["blocks", shape, x] => {
                let dims: Option<Vec<usize>> = shape
                    .split('x')
                    .map(|d| d.parse().ok().filter(|&d: &usize| d > 0))
                    .collect();
                let Some(&[rows, cols]) = dims.as_deref() else {
                    return Err(bad(&format!("'{shape}' is not a block shape like 4x4")));
                };
                Ok(PruneMode::Blocks {
                    rows,
                    cols,
                    sparsity: fraction(x)?,
                })
            }
            [n, m] => match (n.parse::<usize>(), m.parse::<usize>()) {
                (Ok(keep), Ok(group)) if keep > 0 && keep < group && group <= 256 => {
                    Ok(PruneMode::NOfM { keep, group })
                }
                (Ok(_), Ok(_)) => Err(bad("N:M needs 0 < N < M <= 256")),
                _ => Err(bad("unknown mode")),
            },
            _ => Err(bad("unknown mode")),
        }
    }
}
