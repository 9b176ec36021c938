//! The optimizer's command-line options, shared by `compile`, `run`, `bench` and
//! `dump`: `--opt`, `--disable-rule`, `--disable-set`, the saturation bounds,
//! `--profile` and `--quantize` (with `--accuracy-budget`, `--calibration`); and
//! `kiln compile --list-rules`.

use anyhow::Result;
use clap::Args;
use kiln::passes::egraph::{list_rules, RuleSet};
use kiln::CompileOptions;
use std::fmt::Write;

#[derive(Args, Debug, Default)]
pub struct OptArgs {
    /// Optimisation level: 0 one kernel per op; 1 algebra, layout and fusion
    /// rewriting; 2 also composite ops (GELU, LayerNorm, attention, ...) [default: 2]
    #[arg(long, value_name = "LEVEL")]
    opt: Option<u8>,
    /// Switch off one rewrite rule (`kiln compile --list-rules` lists them). Repeatable.
    #[arg(long = "disable-rule", value_name = "NAME")]
    disable_rules: Vec<String>,
    /// Switch off a rule set: algebra, layout, composite, fusion or sparsity (sparse kernels for weights with enough zero blocks). Repeatable.
    #[arg(long = "disable-set", value_name = "NAME")]
    disable_sets: Vec<String>,
    /// Saturation bound: iterations per phase.
    #[arg(long, value_name = "N")]
    iter_limit: Option<usize>,
    /// Saturation bound: e-nodes in the e-graph.
    #[arg(long, value_name = "N")]
    node_limit: Option<usize>,
    /// Saturation bound: wall time over all phases, in seconds.
    #[arg(long, value_name = "SECS")]
    time_limit: Option<f64>,
    /// The device the cost model prices and the engines shape kernels for: `discrete`,
    /// `integrated`, `cpu-emulation` (lavapipe), or a JSON file written by
    /// `kiln bench --calibrate --json`. Default: the adapter's kind for `run` and
    /// `bench`, `cpu-emulation` for `compile`
    #[arg(long, value_name = "DEVICE|FILE")]
    profile: Option<String>,
    /// Store the weights smaller: `w8` (int8, a scale per output channel), `w4` (int4,
    /// a scale per block of 32 along the reduction axis), `f16`, or `w8a8` (int8
    /// weights and each layer's input as uint8: ranges from --calibration, else each
    /// row's at run time). Every conv,
    /// matmul and gemm weight and embedding table of 1024 or more elements; layers the
    /// accuracy budget cannot afford stay f32 (`kiln compile --report` says which)
    #[arg(long, value_name = "MODE")]
    quantize: Option<String>,
    /// Prune weights: `magnitude:S` (the smallest |w| of each layer, S the fraction
    /// zeroed), `magnitude-global:S` (one threshold over all layers), `blocks:RxC:S`
    /// (whole RxC blocks by norm), `N:M` (e.g. 2:4: N of every M along the reduction
    /// axis kept, stored compressed; matmul weights) or `channels:S` (output channels
    /// of convs and matmuls removed with what depends on them: a smaller dense model).
    /// Conv and matmul weights of 1024 or more elements; layers the accuracy budget
    /// cannot afford are left alone (`kiln compile --report` says which). At --opt 2
    /// zeroed weights run on sparse kernels where the cost model finds them faster
    #[arg(long, value_name = "MODE")]
    prune: Option<String>,
    /// With --quantize or --prune: the largest relative L2 error any output may get,
    /// measured against the model without them on the calibration inputs (e.g. 0.01);
    /// with both, each is held to it on its own
    #[arg(long, value_name = "ERROR")]
    accuracy_budget: Option<f64>,
    /// With --quantize or --prune: a folder of input sets (one folder per set, one .npy
    /// or .pb file per model input) to measure the error on; default: 4 seeded random
    /// sets
    #[arg(long, value_name = "DIR")]
    calibration: Option<std::path::PathBuf>,
}

impl OptArgs {
    /// The options as the library takes them.
    pub fn options(&self) -> kiln::OptimizerOptions {
        kiln::OptimizerOptions {
            opt: self.opt,
            disable_rules: self.disable_rules.clone(),
            disable_sets: self.disable_sets.clone(),
            iter_limit: self.iter_limit,
            node_limit: self.node_limit,
            time_limit: self.time_limit,
            profile: self.profile.clone(),
            quantize: self.quantize.clone(),
            prune: self.prune.clone(),
            accuracy_budget: self.accuracy_budget,
            calibration: self.calibration.clone(),
        }
    }

    /// Whether any optimizer option was given (they do not apply to a bundle).
    pub fn any_given(&self) -> bool {
        self.options().any_given()
    }

    /// Whether `--quantize` was given.
    pub fn quantize_given(&self) -> bool {
        self.quantize.is_some()
    }

    /// Whether `--profile` was given.
    pub fn profile_given(&self) -> bool {
        self.profile.is_some()
    }

    /// Checks the options and writes them into `options` (a bad one is a
    /// [`kiln::Error::Usage`], exit status 2).
    pub fn apply(&self, options: &mut CompileOptions) -> Result<()> {
        Ok(self.options().apply(options)?)
    }
}

/// `kiln compile --list-rules`: every rule, grouped by set in phase order, with its
/// identity.
pub fn rule_list() -> Result<String> {
    let rules = list_rules();
    let width = rules.iter().map(|r| r.name.len()).max().unwrap_or(4);
    let mut out = String::new();
    writeln!(
        out,
        "{} rewrite rules in {} sets (switch one off with --disable-rule NAME, a set with \
         --disable-set SET):",
        rules.len(),
        RuleSet::ALL.len()
    )?;
    for set in RuleSet::ALL {
        let level = if set == RuleSet::Composite { 2 } else { 1 };
        writeln!(out, "\n{set} (--opt {level} and up):")?;
        for r in rules.iter().filter(|r| r.set == set) {
            writeln!(out, "  {:width$}  {}", r.name, r.identity)?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_options_are_usage_errors() {
        let a = OptArgs {
            opt: Some(3),
            ..Default::default()
        };
        assert!(a.any_given());
        let err = a.apply(&mut CompileOptions::default()).unwrap_err();
        assert!(matches!(
            err.downcast_ref::<kiln::Error>(),
            Some(kiln::Error::Usage(_))
        ));
        assert!(
            err.to_string()
                .starts_with("--opt 3: optimisation level 3 does not exist"),
            "{err}"
        );
        let a = OptArgs {
            profile: Some("discrete".into()),
            ..Default::default()
        };
        let mut options = CompileOptions::default();
        a.apply(&mut options).unwrap();
        assert_eq!(options.egraph.profile.name, "discrete");
        assert!(!OptArgs::default().any_given());
    }

    #[test]
    fn rule_list_names_every_rule_under_its_set() {
        let text = rule_list().unwrap();
        for r in list_rules() {
            let line = text
                .lines()
                .find(|l| l.split_whitespace().next() == Some(r.name))
                .unwrap_or_else(|| panic!("{} missing from:\n{text}", r.name));
            assert!(line.contains(r.identity), "{line}");
        }
        assert!(text.contains("\ncomposite (--opt 2 and up):\n"), "{text}");
    }
}
