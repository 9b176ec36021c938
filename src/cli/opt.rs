//! The optimizer's command-line options, shared by `compile`, `run`, `bench` and
//! `dump`: `--opt`, `--disable-rule`, `--disable-set`, the saturation bounds,
//! `--profile` and `--quantize` (with `--accuracy-budget`, `--calibration`); and
//! `kiln compile --list-rules`.

use super::usage;
use anyhow::Result;
use clap::{Args, ValueEnum};
use kiln::passes::egraph::{list_rules, RuleSet};
use kiln::{CompileOptions, DeviceProfile};
use std::fmt::Write;
use std::time::Duration;

/// Device profiles the cost model prices kernels for: a preset, or a file written by
/// `kiln bench --calibrate --json`.
#[derive(Clone, Debug, PartialEq)]
pub enum ProfileArg {
    Preset(Profile),
    File(std::path::PathBuf),
}

impl std::str::FromStr for ProfileArg {
    type Err = String;

    /// A preset name, else a path (checked when the options are applied).
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match Profile::from_str(s, true) {
            Ok(p) => ProfileArg::Preset(p),
            Err(_) => ProfileArg::File(s.into()),
        })
    }
}

/// The preset device profiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    /// A discrete GPU: fast memory, cheap launches.
    Discrete,
    /// An integrated GPU sharing system memory.
    Integrated,
    /// A CPU Vulkan implementation such as lavapipe (the default).
    CpuEmulation,
}

impl Profile {
    fn device(self) -> DeviceProfile {
        match self {
            Profile::Discrete => DeviceProfile::discrete(),
            Profile::Integrated => DeviceProfile::integrated(),
            Profile::CpuEmulation => DeviceProfile::cpu_emulation(),
        }
    }

    /// Whether the device is a CPU driver (codegen shapes its kernels for it).
    fn cpu_driver(self) -> bool {
        self == Profile::CpuEmulation
    }
}

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
    profile: Option<ProfileArg>,
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
    /// Whether any optimizer option was given (they do not apply to a bundle).
    pub fn any_given(&self) -> bool {
        self.opt.is_some()
            || !self.disable_rules.is_empty()
            || !self.disable_sets.is_empty()
            || self.iter_limit.is_some()
            || self.node_limit.is_some()
            || self.time_limit.is_some()
            || self.profile.is_some()
            || self.quantize.is_some()
            || self.prune.is_some()
    }

    /// Whether `--quantize` was given.
    pub fn quantize_given(&self) -> bool {
        self.quantize.is_some()
    }

    /// Whether `--profile` was given.
    pub fn profile_given(&self) -> bool {
        self.profile.is_some()
    }

    /// The optimisation level asked for (the default when not given).
    pub fn level(&self) -> u8 {
        self.opt.unwrap_or(kiln::DEFAULT_OPT_LEVEL)
    }

    /// Checks the options and writes them into `options`.
    pub fn apply(&self, options: &mut CompileOptions) -> Result<()> {
        let level = self.level();
        kiln::check_opt_level(level).map_err(|e| usage(format!("--opt {level}: {e}")))?;
        options.opt_level = level;
        let rules = list_rules();
        for name in &self.disable_rules {
            if !rules.iter().any(|r| r.name == name) {
                return Err(usage(format!(
                    "--disable-rule '{name}': no such rule; 'kiln compile --list-rules' lists \
                     the {} rules",
                    rules.len()
                )));
            }
        }
        for name in &self.disable_sets {
            if RuleSet::from_name(name).is_none() {
                let sets: Vec<&str> = RuleSet::ALL.iter().map(|s| s.name()).collect();
                return Err(usage(format!(
                    "--disable-set '{name}': no such rule set (sets: {})",
                    sets.join(", ")
                )));
            }
        }
        let e = &mut options.egraph;
        e.disabled_rules.extend(self.disable_rules.iter().cloned());
        e.disabled_sets.extend(self.disable_sets.iter().cloned());
        if let Some(n) = self.iter_limit {
            e.iter_limit = n;
        }
        if let Some(n) = self.node_limit {
            e.node_limit = n;
        }
        if let Some(secs) = self.time_limit {
            e.time_limit = Duration::try_from_secs_f64(secs).map_err(|_| {
                usage(format!(
                    "--time-limit {secs}: expected a number of seconds, 0 or more"
                ))
            })?;
        }
        match &self.profile {
            Some(ProfileArg::Preset(p)) => {
                e.profile = p.device();
                options.target.cpu_driver = p.cpu_driver();
            }
            Some(ProfileArg::File(path)) if path.is_file() => {
                let calibration = kiln::Calibration::read(path)?;
                e.profile = calibration.profile();
                options.target.cpu_driver = calibration.cpu_driver();
            }
            Some(ProfileArg::File(path)) => {
                return Err(usage(format!(
                    "--profile {}: neither a preset (discrete, integrated, cpu-emulation) nor \
                     a file; write one with 'kiln bench --calibrate --json > FILE'",
                    path.display()
                )));
            }
            None => {}
        }
        let quantize: Option<kiln::QuantMode> = match &self.quantize {
            Some(mode) => Some(
                mode.parse()
                    .map_err(|e: String| usage(format!("--quantize {mode}: {e}")))?,
            ),
            None => None,
        };
        let prune: Option<kiln::PruneMode> = match &self.prune {
            Some(mode) => Some(
                mode.parse()
                    .map_err(|e: String| usage(format!("--prune {e}")))?,
            ),
            None => None,
        };
        let approximated = quantize.is_some() || prune.is_some();
        for (given, flag) in [
            (self.accuracy_budget.is_some(), "--accuracy-budget"),
            (self.calibration.is_some(), "--calibration"),
        ] {
            if given && !approximated {
                return Err(usage(format!(
                    "{flag} applies to --quantize or --prune; give one of them"
                )));
            }
        }
        if let Some(b) = self.accuracy_budget {
            kiln::passes::quantize::check_budget(b)
                .map_err(|why| usage(format!("--accuracy-budget {b}: {why}")))?;
        }
        let samples = match &self.calibration {
            Some(dir) => kiln::read_input_sets(dir)?,
            None => Vec::new(),
        };
        if let Some(mode) = prune {
            options.prune = Some(kiln::PruneOptions {
                mode,
                budget: self.accuracy_budget,
                samples: samples.clone(),
            });
        }
        if let Some(mode) = quantize {
            options.quantize = Some(kiln::QuantizeOptions {
                mode,
                budget: self.accuracy_budget,
                samples,
            });
        }
        Ok(())
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

    fn args(opt: Option<u8>) -> OptArgs {
        OptArgs {
            opt,
            ..Default::default()
        }
    }

    #[test]
    fn options_are_checked_and_applied() {
        let mut options = CompileOptions::default();
        let a = OptArgs {
            opt: Some(1),
            disable_rules: vec!["fuse-epilogue".into()],
            disable_sets: vec!["layout".into()],
            iter_limit: Some(3),
            node_limit: Some(1000),
            time_limit: Some(0.5),
            profile: Some(ProfileArg::Preset(Profile::Discrete)),
            ..Default::default()
        };
        assert!(a.any_given());
        a.apply(&mut options).unwrap();
        assert_eq!(options.opt_level, 1);
        assert_eq!(options.egraph.disabled_rules, ["fuse-epilogue"]);
        assert_eq!(options.egraph.disabled_sets, ["layout"]);
        assert_eq!(options.egraph.iter_limit, 3);
        assert_eq!(options.egraph.node_limit, 1000);
        assert_eq!(options.egraph.time_limit, Duration::from_millis(500));
        assert_eq!(options.egraph.profile.name, "discrete");

        assert!(!args(None).any_given());
        assert_eq!(args(None).level(), 2);
        let err = args(Some(3))
            .apply(&mut CompileOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("--opt 3: optimisation level 3 does not exist"),
            "{err}"
        );
        let no_profile = OptArgs {
            profile: Some("tpu".parse().unwrap()),
            ..Default::default()
        };
        let err = no_profile
            .apply(&mut CompileOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--profile tpu: neither a preset"), "{err}");
        let bad_rule = OptArgs {
            disable_rules: vec!["fuse-everything".into()],
            ..Default::default()
        };
        let err = bad_rule
            .apply(&mut CompileOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "--disable-rule 'fuse-everything': no such rule; 'kiln compile --list-rules'"
            ),
            "{err}"
        );
        let bad_time = OptArgs {
            time_limit: Some(-1.0),
            ..Default::default()
        };
        assert!(bad_time.apply(&mut CompileOptions::default()).is_err());
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
