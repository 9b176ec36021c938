//! The optimizer's options as a user gives them (`--opt`, `--disable-rule`, `--profile`,
//! `--quantize`, ...: the CLI's flags and the Python package's keyword arguments),
//! checked and written into [`CompileOptions`] with one set of messages.

use crate::{CompileOptions, DeviceProfile, Error, Result};
use kiln_passes::egraph::{list_rules, RuleSet};
use std::path::PathBuf;
use std::time::Duration;

/// The preset device profiles `--profile` names.
pub const PROFILE_PRESETS: [&str; 3] = ["discrete", "integrated", "cpu-emulation"];

/// The preset device profile `name` (ignoring case) and whether it is a CPU driver.
pub fn profile_preset(name: &str) -> Option<(DeviceProfile, bool)> {
    match name.to_ascii_lowercase().as_str() {
        "discrete" => Some((DeviceProfile::discrete(), false)),
        "integrated" => Some((DeviceProfile::integrated(), false)),
        "cpu-emulation" => Some((DeviceProfile::cpu_emulation(), true)),
        _ => None,
    }
}

/// The optimizer's options as given, unchecked. `None` and empty lists leave
/// [`CompileOptions`]' defaults alone. A bad value is an [`Error::Usage`] whose message
/// names the CLI flag (`--opt 3: ...`).
#[derive(Clone, Debug, Default)]
pub struct OptimizerOptions {
    /// `--opt`: the optimisation level (default [`crate::DEFAULT_OPT_LEVEL`]).
    pub opt: Option<u8>,
    /// `--disable-rule`: rewrite rules switched off.
    pub disable_rules: Vec<String>,
    /// `--disable-set`: rule sets switched off.
    pub disable_sets: Vec<String>,
    /// `--iter-limit`: saturation iterations per phase.
    pub iter_limit: Option<usize>,
    /// `--node-limit`: e-nodes in the e-graph.
    pub node_limit: Option<usize>,
    /// `--time-limit`: saturation wall time over all phases, in seconds.
    pub time_limit: Option<f64>,
    /// `--profile`: a preset ([`PROFILE_PRESETS`]) or a file written by
    /// `kiln bench --calibrate --json`.
    pub profile: Option<String>,
    /// `--quantize`: `w8`, `w4`, `f16` or `w8a8`.
    pub quantize: Option<String>,
    /// `--prune`: `magnitude:S`, `magnitude-global:S`, `blocks:RxC:S`, `N:M` or
    /// `channels:S`.
    pub prune: Option<String>,
    /// `--accuracy-budget`: with `quantize` or `prune`, the largest relative L2 error.
    pub accuracy_budget: Option<f64>,
    /// `--calibration`: with `quantize` or `prune`, a folder of input sets.
    pub calibration: Option<PathBuf>,
}

impl OptimizerOptions {
    /// Whether any option was given (they do not apply to a bundle).
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

    /// The optimisation level asked for (the default when not given).
    pub fn level(&self) -> u8 {
        self.opt.unwrap_or(crate::DEFAULT_OPT_LEVEL)
    }

    /// Checks the options and writes them into `options`.
    pub fn apply(&self, options: &mut CompileOptions) -> Result<()> {
        let usage = |m: String| Error::Usage(m);
        let level = self.level();
        crate::check_opt_level(level).map_err(|e| usage(format!("--opt {level}: {e}")))?;
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
        if let Some(profile) = &self.profile {
            let path = std::path::Path::new(profile);
            if let Some((device, cpu_driver)) = profile_preset(profile) {
                e.profile = device;
                options.target.cpu_driver = cpu_driver;
            } else if path.is_file() {
                let calibration = crate::Calibration::read(path)?;
                e.profile = calibration.profile();
                options.target.cpu_driver = calibration.cpu_driver();
            } else {
                return Err(usage(format!(
                    "--profile {profile}: neither a preset (discrete, integrated, cpu-emulation) \
                     nor a file; write one with 'kiln bench --calibrate --json > FILE'"
                )));
            }
        }
        let quantize: Option<crate::QuantMode> = match &self.quantize {
            Some(mode) => Some(
                mode.parse()
                    .map_err(|e: String| usage(format!("--quantize {mode}: {e}")))?,
            ),
            None => None,
        };
        let prune: Option<crate::PruneMode> = match &self.prune {
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
            kiln_passes::quantize::check_budget(b)
                .map_err(|why| usage(format!("--accuracy-budget {b}: {why}")))?;
        }
        let samples = match &self.calibration {
            Some(dir) => crate::read_input_sets(dir)?,
            None => Vec::new(),
        };
        if let Some(mode) = prune {
            options.prune = Some(crate::PruneOptions {
                mode,
                budget: self.accuracy_budget,
                samples: samples.clone(),
            });
        }
        if let Some(mode) = quantize {
            options.quantize = Some(crate::QuantizeOptions {
                mode,
                budget: self.accuracy_budget,
                samples,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(opt: Option<u8>) -> OptimizerOptions {
        OptimizerOptions {
            opt,
            ..Default::default()
        }
    }

    #[test]
    fn options_are_checked_and_applied() {
        let mut options = CompileOptions::default();
        let a = OptimizerOptions {
            opt: Some(1),
            disable_rules: vec!["fuse-epilogue".into()],
            disable_sets: vec!["layout".into()],
            iter_limit: Some(3),
            node_limit: Some(1000),
            time_limit: Some(0.5),
            profile: Some("Discrete".into()),
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
        assert!(!options.target.cpu_driver);

        assert!(!at(None).any_given());
        assert_eq!(at(None).level(), 2);
        let err = at(Some(3))
            .apply(&mut CompileOptions::default())
            .unwrap_err();
        assert!(matches!(err, Error::Usage(_)));
        let err = err.to_string();
        assert!(
            err.starts_with("--opt 3: optimisation level 3 does not exist"),
            "{err}"
        );
        let no_profile = OptimizerOptions {
            profile: Some("tpu".into()),
            ..Default::default()
        };
        let err = no_profile
            .apply(&mut CompileOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--profile tpu: neither a preset"), "{err}");
        let bad_rule = OptimizerOptions {
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
        let bad_time = OptimizerOptions {
            time_limit: Some(-1.0),
            ..Default::default()
        };
        assert!(bad_time.apply(&mut CompileOptions::default()).is_err());
        let budget_alone = OptimizerOptions {
            accuracy_budget: Some(0.01),
            ..Default::default()
        };
        let err = budget_alone
            .apply(&mut CompileOptions::default())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "--accuracy-budget applies to --quantize or --prune; give one of them"
        );
    }
}
