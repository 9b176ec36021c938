//! The one list of passes kiln runs for a set of options ([`pipeline`]): compile,
//! `--report`, `kiln dump --after` and `--list-passes` all take it from here, and a
//! new pass family joins the compiler by being added here and nowhere else.

use crate::egraph::{self, EgraphOptions};
use crate::prune::{Prune, PruneOptions};
use crate::quantize::{Quantize, QuantizeOptions};
use crate::{
    Dce, FoldConstants, FoldShapes, MergeMinMax, MergeSiblings, Pass, PassError, PassManager,
};
use crate::{PassOptions, RemoveIdentity};
use kiln_ir::KernelTarget;
use std::sync::Arc;

/// The highest optimisation level.
pub const MAX_OPT_LEVEL: u8 = 2;

/// What decides the pass list.
#[derive(Clone, Debug)]
pub struct PipelineOptions {
    /// 0: canonicalize only (one kernel per op); 1: and the e-graph optimizer's
    /// algebra, layout and fusion phases; 2: and its composite phase, then
    /// `merge-siblings`.
    pub opt_level: u8,
    /// Settings of the canonicalization passes.
    pub pass_options: PassOptions,
    /// The e-graph optimizer's bounds, disabled rules and sets, and cost profile (its
    /// `level` is replaced by `opt_level`).
    pub egraph: EgraphOptions,
    /// `--quantize`: the `quantize` pass runs last (at every level).
    pub quantize: Option<QuantizeOptions>,
    /// `--prune`: `prune-channels` runs before the optimizer, the other modes' `prune`
    /// after `merge-siblings` (at every level).
    pub prune: Option<PruneOptions>,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            opt_level: MAX_OPT_LEVEL,
            pass_options: PassOptions::default(),
            egraph: EgraphOptions::default(),
            quantize: None,
            prune: None,
        }
    }
}

/// Checks an optimisation level is one the pipeline has (0, 1 or 2); the error says
/// what each level does.
pub fn check_opt_level(level: u8) -> Result<(), String> {
    if level > MAX_OPT_LEVEL {
        return Err(format!(
            "optimisation level {level} does not exist: 0 compiles one kernel per op, 1 adds \
             algebra, layout and fusion rewriting, 2 (the default) adds composite ops"
        ));
    }
    Ok(())
}

/// The canonicalization passes, in order: `remove-identity`, `fold-shapes`,
/// `fold-constants`, `dce`.
pub fn canonical_passes(options: &PassOptions) -> Vec<Box<dyn Pass>> {
    vec![
        Box::new(RemoveIdentity),
        Box::new(FoldShapes),
        Box::new(FoldConstants {
            max_elements: options.fold_max_elements,
        }),
        Box::new(Dce),
    ]
}

/// The passes kiln runs after import for `options`, asking `target` what its kernels
/// can do. Fails on an optimisation level that does not exist or a disabled rule or
/// set with an unknown name (at every level, so a typo is never silently ignored).
pub fn pipeline(
    options: &PipelineOptions,
    target: &Arc<dyn KernelTarget>,
) -> Result<PassManager, PassError> {
    check_opt_level(options.opt_level).map_err(|m| PassError::failed("pipeline", m))?;
    let egraph = EgraphOptions {
        level: options.opt_level,
        ..options.egraph.clone()
    };
    egraph.check()?;
    // Canonical form: no identities, shapes and constants folded, nothing dead.
    let mut manager = PassManager::from_iter(canonical_passes(&options.pass_options));
    // Whole channels go first: the optimizer then fuses the smaller dense model.
    let prune = options.prune.as_ref().map(|p| Prune {
        options: p.clone(),
        target: target.clone(),
    });
    let (early, late) = match prune {
        Some(p) if p.channels() => (Some(p), None),
        p => (None, p),
    };
    if let Some(p) = early {
        manager.add(Box::new(p));
    }
    // The e-graph optimizer, one pass per phase (levels 1 and 2); the sparsity phase
    // waits for the final weights.
    let (sparsity, phases): (Vec<_>, Vec<_>) = egraph::phase_passes(&egraph, target)
        .into_iter()
        .partition(|p| p.name() == egraph::SPARSITY_PHASE);
    manager.extend(phases);
    // Sibling convolutions over one input become one (level 2); the fusion phase then
    // runs again: over the merged products, and over what one e-graph run leaves (its
    // rules fuse a value into its only reader, and every e-node reading a class counts,
    // alternatives that extraction dropped included).
    if options.opt_level >= 2 {
        manager.add(Box::new(MergeSiblings {
            target: target.clone(),
        }));
        manager.extend(
            egraph::phase_passes(&egraph, target)
                .into_iter()
                .filter(|p| p.name() == egraph::FUSION_PHASE),
        );
    }
    // Weights zeroed on the final weights (batch norms folded, siblings merged), then
    // sparse kernels where constant weights hold enough zero blocks (level 2).
    if let Some(p) = late {
        manager.add(Box::new(p));
    }
    manager.extend(sparsity);
    // Weights stored smaller, last: the optimizer has folded batch norms and merged
    // siblings into the constant weights, which are final here.
    if let Some(quantize) = &options.quantize {
        manager.add(Box::new(Quantize {
            options: quantize.clone(),
            target: target.clone(),
        }));
        // Quantized activations are element-wise steps: fusion folds them into the
        // layers' prologues and their producers' epilogues. Where integer products are
        // faster, the algebra phase first offers each layer's product of quantized
        // input and weights as an integer product (`dequantized-product-as-integer`).
        if quantize.mode.activations() {
            let algebra = egraph.profile.integer_faster() && egraph.level >= 1;
            let phases = egraph::phase_passes(&egraph, target)
                .into_iter()
                .filter(|p| {
                    p.name() == egraph::FUSION_PHASE || algebra && p.name() == "egraph-algebra"
                });
            manager.extend(phases);
        }
    }
    // A min and a max of one value read it once (level 1 and up), last: dynamic
    // quantization's pairs come from import and from `--quantize w8a8`.
    if options.opt_level >= 1 {
        manager.add(Box::new(MergeMinMax));
    }
    Ok(manager)
}
