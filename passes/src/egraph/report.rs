//! What a run of the optimizer did, per phase: rules fired, e-graph size, why
//! saturation stopped, time, cost and kernel count before and after.

use super::analysis::KilnAnalysis;
use super::cost::DeviceProfile;
use super::lang::Kiln;
use egg::{Runner, StopReason};
use std::fmt;
use std::time::Duration;

/// One phase (rule sets saturated together).
#[derive(Clone, Debug, Default)]
pub struct PhaseReport {
    /// The phase's pass name (`egraph-algebra`, ...).
    pub name: String,
    /// The rule sets it saturated, joined by `+`.
    pub sets: String,
    /// Rules that fired, with how many e-classes each changed, most first.
    pub fired: Vec<(String, usize)>,
    pub iterations: usize,
    pub enodes: usize,
    pub eclasses: usize,
    /// Why saturation stopped: `saturated`, `iteration limit 32`, `node limit ...`,
    /// `time limit ...`.
    pub stop_reason: String,
    /// The wall-time bound stopped saturation (the result depends on machine speed).
    pub time_limited: bool,
    pub time: Duration,
    /// Cost (µs) and kernel count of the best program before and after the phase.
    pub cost_before: f64,
    pub cost_after: f64,
    pub kernels_before: usize,
    pub kernels_after: usize,
}

/// What the optimizer's phases did in one pipeline run.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub profile: DeviceProfile,
    pub phases: Vec<PhaseReport>,
    pub cost_before: f64,
    pub cost_after: f64,
    pub kernels_before: usize,
    pub kernels_after: usize,
    /// Exact integer products (`matmul_integer`, `conv_integer`, fused or not) in the
    /// input and after extraction: the others run as their exact f32 form, which the
    /// cost model found faster on this device (`integer-product-in-f32`).
    pub integer_products_before: usize,
    pub integer_products_after: usize,
    pub extract_time: Duration,
    pub total_time: Duration,
}

impl Report {
    /// The report before any phase has run: `cost` and `kernels` of the graph.
    pub fn start(profile: DeviceProfile, cost: f64, kernels: usize, products: usize) -> Self {
        Report {
            profile,
            cost_before: cost,
            cost_after: cost,
            kernels_before: kernels,
            kernels_after: kernels,
            integer_products_before: products,
            integer_products_after: products,
            ..Report::default()
        }
    }

    /// The phases the wall-time bound stopped: their result depends on the machine's
    /// speed, so two compiles may differ (the bundle manifest records them).
    pub fn time_limited(&self) -> Vec<&str> {
        self.phases
            .iter()
            .filter(|p| p.time_limited)
            .map(|p| p.name.as_str())
            .collect()
    }
}

fn stop_text(reason: Option<&StopReason>) -> String {
    match reason {
        None => "not run".into(),
        Some(StopReason::Saturated) => "saturated".into(),
        Some(StopReason::IterationLimit(n)) => format!("iteration limit {n}"),
        Some(StopReason::NodeLimit(n)) => format!("node limit {n}"),
        Some(StopReason::TimeLimit(s)) => format!("time limit {s:.2} s"),
        Some(StopReason::Other(s)) => s.clone(),
    }
}

impl PhaseReport {
    /// The counts and stop reason of a finished runner.
    pub(super) fn from_runner(
        name: &str,
        sets: String,
        runner: &Runner<Kiln, KilnAnalysis>,
    ) -> Self {
        let mut fired: Vec<(String, usize)> = Vec::new();
        for it in &runner.iterations {
            for (rule, &n) in &it.applied {
                match fired.iter_mut().find(|(r, _)| r == rule.as_str()) {
                    Some((_, c)) => *c += n,
                    None => fired.push((rule.to_string(), n)),
                }
            }
        }
        fired.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        PhaseReport {
            name: name.to_string(),
            sets,
            fired,
            iterations: runner.iterations.len(),
            enodes: runner.egraph.total_number_of_nodes(),
            eclasses: runner.egraph.number_of_classes(),
            stop_reason: stop_text(runner.stop_reason.as_ref()),
            time_limited: matches!(runner.stop_reason, Some(StopReason::TimeLimit(_))),
            ..PhaseReport::default()
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "egraph optimizer, cost model {}", self.profile)?;
        for p in &self.phases {
            writeln!(
                f,
                "  phase {} ({}): {} iterations, {} e-nodes in {} e-classes, stopped: {}, {:.1} ms",
                p.name,
                p.sets,
                p.iterations,
                p.enodes,
                p.eclasses,
                p.stop_reason,
                p.time.as_secs_f64() * 1e3
            )?;
            writeln!(
                f,
                "    cost {:.1} µs -> {:.1} µs, kernels {} -> {}",
                p.cost_before, p.cost_after, p.kernels_before, p.kernels_after
            )?;
            if p.fired.is_empty() {
                writeln!(f, "    no rule fired")?;
            }
            for (rule, n) in &p.fired {
                writeln!(f, "    {rule:<24} {n}")?;
            }
        }
        writeln!(
            f,
            "  total: cost {:.1} µs -> {:.1} µs, kernels {} -> {}, extraction {:.1} ms, {:.1} ms in all",
            self.cost_before,
            self.cost_after,
            self.kernels_before,
            self.kernels_after,
            self.extract_time.as_secs_f64() * 1e3,
            self.total_time.as_secs_f64() * 1e3
        )?;
        if self.integer_products_before > 0 || self.integer_products_after > 0 {
            let (before, after) = (self.integer_products_before, self.integer_products_after);
            writeln!(
                f,
                "  integer products: {before} in the graph, {after} integer kernels after extraction{}{} \
                 (priced at {} G int ops/s, {} G packed 8-bit ops/s, against {} GFLOP/s)",
                if self.profile.packed_dot() {
                    " (8-bit ones on packed dot products)"
                } else {
                    ""
                },
                // More after than before: products of dequantized 8-bit values made
                // integer (`dequantized-product-as-integer`), or one fused into two
                // consumers.
                if before > after {
                    format!(", {} in exact f32", before - after)
                } else {
                    String::new()
                },
                self.profile.int_gops,
                self.profile.dot4_gops,
                self.profile.gflops
            )?;
        }
        let limited = self.time_limited();
        if !limited.is_empty() {
            writeln!(
                f,
                "  note: the time limit stopped phase {}: the result depends on this \
                 machine's speed (the bundle manifest records it); raise --time-limit to \
                 let the iteration and node limits decide",
                limited.join(", ")
            )?;
        }
        Ok(())
    }
}
