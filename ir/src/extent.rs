//! Graph outputs whose length is known only at run time (NonZero, Compress): the op
//! writes an upper-bound tensor and a count, and the boundary — the CPU interpreter's
//! caller, the runtime — returns the first `count` entries along one axis.
//!
//! The count is a graph output of its own (a scalar `i32`), so every pass keeps it alive
//! and remaps it like any output; count outputs come after every model output, and
//! [`Graph::model_outputs`] is the list a user sees.

use crate::{Graph, Port, Shape, Tensor};

/// Output `output` holds, along `axis`, only as many entries as the scalar `i32` graph
/// output `count` says; the rest of its (upper-bound) shape is padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Extent {
    pub output: usize,
    pub axis: usize,
    pub count: usize,
}

impl Graph {
    /// The outputs the model declares: every output but the counts of [`Extent`]s
    /// (which come last).
    pub fn model_outputs(&self) -> &[Port] {
        let counts = self.extents.len();
        &self.outputs[..self.outputs.len().saturating_sub(counts)]
    }

    /// The model's outputs from the values of every graph output (see [`finish`]).
    pub fn finish_outputs(&self, all: Vec<Tensor>) -> Result<Vec<Tensor>, String> {
        finish(&self.extents, all)
    }
}

/// The model's outputs from the values of every output, in order, `extents` (whose
/// counts come last) applied: each output with an extent cut to its count, the counts
/// dropped. Shared by the CPU path and the runtime.
pub fn finish(extents: &[Extent], mut all: Vec<Tensor>) -> Result<Vec<Tensor>, String> {
    let model = all.len().saturating_sub(extents.len());
    for e in extents {
        let count = all
            .get(e.count)
            .and_then(|t| t.data().to_i64_vec())
            .and_then(|v| v.first().copied())
            .ok_or_else(|| format!("output {}: its count is not an integer", e.output))?;
        let t = all
            .get(e.output)
            .ok_or_else(|| format!("output {} is missing", e.output))?;
        all[e.output] = truncate(t, e.axis, count)?;
    }
    all.truncate(model);
    Ok(all)
}

/// The dims a model output may have: `dims`, or along its extent's axis any length up
/// to that dim.
pub fn fits(extents: &[Extent], output: usize, dims: &[usize], got: &[usize]) -> bool {
    match extents.iter().find(|e| e.output == output) {
        None => dims == got,
        Some(e) => {
            dims.len() == got.len()
                && dims
                    .iter()
                    .zip(got)
                    .enumerate()
                    .all(|(a, (d, g))| if a == e.axis { g <= d } else { g == d })
        }
    }
}

/// The first `count` entries of `t` along `axis` (a count past the upper bound, or
/// negative, is an error: the kernel that wrote it broke its contract).
pub fn truncate(t: &Tensor, axis: usize, count: i64) -> Result<Tensor, String> {
    let dims = t.shape().dims();
    let bound = *dims
        .get(axis)
        .ok_or_else(|| format!("axis {axis} out of range for {}", t.shape()))?;
    let count = usize::try_from(count)
        .ok()
        .filter(|&c| c <= bound)
        .ok_or_else(|| format!("count {count} outside 0..={bound}"))?;
    let outer: usize = dims[..axis].iter().product();
    let inner: usize = dims[axis + 1..].iter().product();
    let indices: Vec<usize> = (0..outer)
        .flat_map(|o| (0..count * inner).map(move |i| o * bound * inner + i))
        .collect();
    let mut shape = dims.to_vec();
    shape[axis] = count;
    Tensor::new(Shape(shape), t.data().take(&indices)).map_err(|e| e.to_string())
}
