//! Channel pruning (`--prune channels:S`, the `prune-channels` pass): each prunable channel group
//! ([`channels::groups`]) loses the fraction `S` of its channels, the smallest by
//! weight norm, when the accuracy budget affords it; the result is a smaller dense
//! model. Runs on the canonical graph, before the optimizer folds batch norms and
//! fuses what the groups are made of.

use super::channels::{self, ChannelGroup};
use super::{ModelFigures, PruneMode, PruneOptions, PruneReport, PruneRow, Skipped, Unpruned};
use crate::budget;
use kiln_ir::{Graph, KernelTarget, Tensor};

/// Bundle bytes of every constant of `graph`.
fn weight_bytes(graph: &Graph, target: &dyn KernelTarget) -> usize {
    let constants: Vec<&Tensor> = graph
        .values
        .iter()
        .filter_map(|(v, _)| graph.constant(v))
        .collect();
    target.bundle_bytes(None, &constants)
}

/// `graph` with its channel groups pruned as `options` say, and what was done.
pub fn prune_channels(
    graph: &Graph,
    options: &PruneOptions,
    target: &dyn KernelTarget,
) -> Result<(Graph, PruneReport), String> {
    let PruneMode::Channels { sparsity } = options.mode else {
        return Err(format!("{} is not channel pruning", options.mode));
    };
    let groups = channels::groups(graph);
    // Each group's cut: the channels it keeps, the most important, in index order. A
    // group whose count rounds back to all its channels has nothing to cut.
    let (cuts, whole): (Vec<_>, Vec<_>) = groups
        .iter()
        .map(|g| {
            let mut keep = channels::ranked(graph, g);
            keep.truncate(channels::keep_count(g.channels, sparsity));
            keep.sort_unstable();
            (g, keep)
        })
        .partition(|(g, keep)| keep.len() < g.channels);
    let cuts: Vec<(&ChannelGroup, Vec<usize>)> = cuts;
    let skipped = whole
        .iter()
        .map(|(g, _)| {
            let why = format!(
                "channels are kept in multiples of 4: {} of {} would all stay",
                channels::keep_count(g.channels, sparsity),
                g.channels
            );
            Skipped {
                node: g.name.clone(),
                op: "channels",
                dims: vec![g.channels],
                why,
            }
        })
        .collect();
    let apply = |chosen: &[usize]| {
        let picked: Vec<(&ChannelGroup, Vec<usize>)> = chosen
            .iter()
            .map(|&i| (cuts[i].0, cuts[i].1.clone()))
            .collect();
        channels::prune(graph, &picked)
    };
    let unpruned = Unpruned::of(graph, options)?;
    let on = unpruned.measure();
    let errors = budget::alone_errors(cuts.len(), &apply, &on)?;
    let (flops, bytes) = (channels::flops(graph) as f64, weight_bytes(graph, target));
    let alone: Vec<(f64, usize)> = (0..cuts.len())
        .map(|i| {
            let g = apply(&[i])?;
            Ok((channels::flops(&g) as f64, weight_bytes(&g, target)))
        })
        .collect::<Result<_, String>>()?;
    let mut kept: Vec<Option<String>> = vec![None; cuts.len()];
    if let Some(b) = options.budget {
        let saved: Vec<f64> = alone.iter().map(|(f, _)| flops - f).collect();
        budget::choose(&saved, &errors, b, &mut kept);
    }
    let (pruned, outputs) = budget::fit(&errors, options.budget, &mut kept, "pruned", &apply, &on)?;
    let rows = cuts
        .iter()
        .zip(&alone)
        .zip(errors)
        .zip(kept)
        .map(|((((group, keep), &(f, b)), error), kept_because)| {
            let pruned = kept_because.is_none();
            PruneRow {
                node: group.name.clone(),
                op: "channels",
                dims: vec![group.channels],
                sparsity: if pruned {
                    1.0 - keep.len() as f64 / group.channels.max(1) as f64
                } else {
                    0.0
                },
                format: if pruned {
                    format!("{} -> {} channels", group.channels, keep.len())
                } else {
                    "unchanged".to_string()
                },
                flops_before: flops,
                flops_after: if pruned { f } else { flops },
                bytes_before: bytes,
                bytes_after: if pruned { b } else { bytes },
                error,
                kept_because,
            }
        })
        .collect();
    let report = PruneReport {
        mode: options.mode,
        budget: options.budget,
        samples: unpruned.samples.len(),
        random_inputs: unpruned.random_inputs,
        unmeasured: unpruned.unmeasured.clone(),
        layers: rows,
        skipped,
        outputs,
        model: Some(ModelFigures {
            flops_before: flops,
            flops_after: channels::flops(&pruned) as f64,
            bytes_before: bytes,
            bytes_after: weight_bytes(&pruned, target),
        }),
    };
    Ok((pruned, report))
}
