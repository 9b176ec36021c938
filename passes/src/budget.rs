//! Approximate changes (a layer quantized, a layer pruned) chosen under an accuracy
//! budget, by measurement: the error each candidate adds alone, on the CPU reference
//! over the measuring inputs; candidates taken in order of benefit per unit of error
//! while their errors added in quadrature (independent errors) fit the budget; then the
//! combination measured, and the worst candidate dropped until it fits.

use crate::measure::{self, compare, worst, OutputError};
use kiln_ir::{Graph, Tensor};

/// Builds the graph with the candidates at the given indices applied.
pub type Apply<'a> = dyn Fn(&[usize]) -> Result<Graph, String> + Sync + 'a;

/// What the model is measured on: its output names, the input sets and the float
/// model's outputs on them.
pub struct Measure<'a> {
    pub names: &'a [String],
    pub samples: &'a [Vec<Tensor>],
    pub reference: &'a [Vec<Tensor>],
    /// Why errors against `reference` mean nothing ([`measure::unusable_reference`]).
    pub unmeasured: Option<&'a str>,
}

impl Measure<'_> {
    /// The output errors of `graph` against the reference.
    pub fn outputs(&self, graph: &Graph) -> Result<Vec<OutputError>, String> {
        Ok(compare(
            self.names,
            self.reference,
            &measure::run_all(graph, self.samples)?,
        ))
    }
}

/// The worst output's relative L2 with each of `count` candidates applied alone,
/// candidates spread over the machine's cores; NaN for each when the reference is
/// unusable (nothing is run then).
pub fn alone_errors(count: usize, apply: &Apply<'_>, on: &Measure<'_>) -> Result<Vec<f64>, String> {
    if on.unmeasured.is_some() {
        return Ok(vec![f64::NAN; count]);
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = count.div_ceil(threads).max(1);
    let indices: Vec<usize> = (0..count).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = indices
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|&i| Ok(worst(&on.outputs(&apply(&[i])?)?)))
                        .collect::<Result<Vec<f64>, String>>()
                })
            })
            .collect();
        let mut errors = Vec::with_capacity(count);
        for h in handles {
            errors.extend(
                h.join()
                    .map_err(|_| "a measuring thread panicked".to_string())??,
            );
        }
        Ok(errors)
    })
}

/// Marks in `kept` the candidates the budget cannot afford, by the errors each adds
/// alone: candidates go in order of `benefit` (what applying it gains: bytes, weights
/// removed) per unit of error while the estimate of their combined error stays within
/// `budget`.
pub fn choose(benefit: &[f64], errors: &[f64], budget: f64, kept: &mut [Option<String>]) {
    let gain = |i: usize| benefit[i].max(1.0);
    let mut order: Vec<usize> = (0..errors.len()).collect();
    order.sort_by(|&a, &b| (errors[a] / gain(a)).total_cmp(&(errors[b] / gain(b))));
    let mut spent = 0.0;
    for i in order {
        let e = errors[i];
        if e > budget {
            kept[i] = Some(format!("alone it adds {e:.2e}, over the budget"));
        } else if spent + e * e > budget * budget {
            kept[i] = Some("the budget went to layers that gain more per error".into());
        } else {
            spent += e * e;
        }
    }
}

/// The graph with every candidate not in `kept` applied and its output errors; while
/// those exceed `budget`, the candidate with the largest error alone joins `kept` (as
/// `verb` with the others, e.g. "quantized") and the rest is measured again.
pub fn fit(
    errors: &[f64],
    budget: Option<f64>,
    kept: &mut [Option<String>],
    verb: &str,
    apply: &Apply<'_>,
    on: &Measure<'_>,
) -> Result<(Graph, Vec<OutputError>), String> {
    loop {
        let chosen: Vec<usize> = (0..kept.len()).filter(|&i| kept[i].is_none()).collect();
        let graph = apply(&chosen)?;
        let outputs = on.outputs(&graph)?;
        let over = budget.filter(|&b| worst(&outputs) > b);
        let drop = over.and_then(|_| {
            chosen
                .iter()
                .copied()
                .max_by(|&a, &b| errors[a].total_cmp(&errors[b]))
        });
        match drop {
            Some(i) => {
                kept[i] = Some(format!(
                    "{verb} with the others the outputs' error was {:.2e}",
                    worst(&outputs)
                ))
            }
            None => return Ok((graph, outputs)),
        }
    }
}
