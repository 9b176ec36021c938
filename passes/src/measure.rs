//! How far an approximated model's outputs (quantized, pruned) are from the float model's
//! on the same inputs: max abs error, relative L2, cosine similarity and, for class-like
//! outputs, top-1 agreement; and the inputs it is measured on.

use kiln_ir::random::{random_indices, random_tensor};
use kiln_ir::{interp, Graph, Op, Tensor};
use std::collections::BTreeMap;

/// Seeded random input sets measured on when no calibration inputs are given.
pub const RANDOM_SAMPLES: usize = 4;

/// One output compared over every input set.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputError {
    /// The output port's name.
    pub name: String,
    /// Largest |quantized - float| of any element.
    pub max_abs: f64,
    /// ‖quantized - float‖ / ‖float‖ over all elements of all input sets.
    pub rel_l2: f64,
    /// Cosine similarity of the two, all elements of all input sets as one vector.
    pub cosine: f64,
    /// For class-like outputs (float, last axis of 2 or more): rows whose largest
    /// element is at the same index, and rows.
    pub top1: Option<(usize, usize)>,
    /// Elements the float model gives as NaN or ±infinity. Where the approximated model
    /// gives the same (NaN, or the same infinity) the two agree, and the element is
    /// left out of the figures above.
    pub not_finite: usize,
    /// Elements where only one of the two is finite, or both are not but differ: any
    /// makes `max_abs` and `rel_l2` infinite.
    pub mismatched: usize,
}

/// Compares `got[s][o]` with `want[s][o]` (sample `s`, output `o`) for every output,
/// named by `names`.
pub fn compare(names: &[String], want: &[Vec<Tensor>], got: &[Vec<Tensor>]) -> Vec<OutputError> {
    names
        .iter()
        .enumerate()
        .map(|(o, name)| {
            let (mut diff2, mut want2, mut got2, mut dot, mut max_abs) = (0.0, 0.0, 0.0, 0.0, 0f64);
            let (mut agree, mut rows, mut not_finite, mut mismatched) = (0, 0, 0, 0);
            let ty = want.first().map(|w| w[o].ty());
            let class_len = ty.as_ref().and_then(|t| t.shape.dims().last().copied());
            let float = ty.is_some_and(|t| t.dtype.is_float());
            let class_len = class_len.filter(|&n| n >= 2 && float);
            for (w, g) in want.iter().zip(got) {
                let (w, g) = (w[o].to_f64_vec(), g[o].to_f64_vec());
                for (&a, &b) in w.iter().zip(&g) {
                    if !(a.is_finite() && b.is_finite()) {
                        not_finite += usize::from(!a.is_finite());
                        mismatched += usize::from(!(a == b || a.is_nan() && b.is_nan()));
                        continue;
                    }
                    diff2 += (b - a) * (b - a);
                    want2 += a * a;
                    got2 += b * b;
                    dot += a * b;
                    max_abs = max_abs.max((b - a).abs());
                }
                if let Some(n) = class_len {
                    for (rw, rg) in w.chunks(n).zip(g.chunks(n)) {
                        rows += 1;
                        agree += usize::from(argmax(rw) == argmax(rg));
                    }
                }
            }
            let broken = if mismatched > 0 { f64::INFINITY } else { 0.0 };
            OutputError {
                name: name.clone(),
                max_abs: max_abs.max(broken),
                rel_l2: ratio(diff2.sqrt(), want2.sqrt()).max(broken),
                cosine: if want2 == 0.0 && got2 == 0.0 {
                    1.0
                } else {
                    ratio(dot, (want2 * got2).sqrt())
                },
                top1: class_len.map(|_| (agree, rows)),
                not_finite,
                mismatched,
            }
        })
        .collect()
}

impl std::fmt::Display for OutputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "output '{}': relative L2 {:.3e}, max abs {:.3e}, cosine {:.6}",
            self.name, self.rel_l2, self.max_abs, self.cosine
        )?;
        if let Some((agree, rows)) = self.top1 {
            write!(f, ", top-1 agreement {agree}/{rows}")?;
        }
        if self.not_finite > 0 {
            write!(f, ", {} reference elements not finite", self.not_finite)?;
        }
        if self.mismatched > 0 {
            write!(
                f,
                ", {} elements not finite on one side only (or differently)",
                self.mismatched
            )?;
        }
        Ok(())
    }
}

/// Each output's comparison, one indented line each; or, when the errors could not be
/// measured, the line saying why.
pub fn write_outputs(
    f: &mut std::fmt::Formatter<'_>,
    outputs: &[OutputError],
    unmeasured: Option<&str>,
) -> std::fmt::Result {
    if let Some(why) = unmeasured {
        return writeln!(f, "  errors not measured: {why}");
    }
    for o in outputs {
        writeln!(f, "  {o}")?;
    }
    Ok(())
}

/// An error figure as the reports print it: `n/a` when it was not measured (NaN).
pub struct Figure(pub f64);

impl std::fmt::Display for Figure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_nan() {
            f.write_str("n/a")
        } else {
            write!(f, "{:.2e}", self.0)
        }
    }
}

/// The output port names of `graph`, in order.
pub fn output_names(graph: &Graph) -> Vec<String> {
    graph.outputs.iter().map(|p| p.name.clone()).collect()
}

/// `a / b`, with 0 / 0 = 0 and x / 0 = infinity.
fn ratio(a: f64, b: f64) -> f64 {
    match (a, b) {
        (0.0, _) => 0.0,
        (_, 0.0) => f64::INFINITY,
        _ => a / b,
    }
}

/// The index of the first largest element.
fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |best, (i, &x)| {
            if x > best.1 {
                (i, x)
            } else {
                best
            }
        })
        .0
}

/// The error `outputs` show as one number: the largest relative L2 of any output (one
/// that is not a number counts as infinite: `f64::max` would drop it).
pub fn worst(outputs: &[OutputError]) -> f64 {
    outputs
        .iter()
        .map(|o| {
            if o.rel_l2.is_nan() {
                f64::INFINITY
            } else {
                o.rel_l2
            }
        })
        .fold(0.0, f64::max)
}

/// Why the float model's outputs on the measuring inputs cannot serve as the reference
/// errors are measured against, with what to do, or `None` when they can: an output
/// that is NaN somewhere means the inputs are not what the model is meant for (seeded
/// random values where it expects a mask, say), and any error measured on them would be
/// a made-up figure.
pub fn unusable_reference(
    names: &[String],
    reference: &[Vec<Tensor>],
    random_inputs: bool,
) -> Option<String> {
    let (s, o) = reference.iter().enumerate().find_map(|(s, outputs)| {
        let o = outputs
            .iter()
            .position(|t| t.dtype().is_float() && t.to_f64_vec().iter().any(|x| x.is_nan()))?;
        Some((s, o))
    })?;
    let (which, fix) = if random_inputs {
        (
            "seeded random",
            "give --calibration DIR with inputs the model is meant for",
        )
    } else {
        ("calibration", "check the calibration inputs")
    };
    Some(format!(
        "the float model's output '{}' is NaN on {which} input set {s}: {fix}",
        names.get(o).map_or("?", String::as_str)
    ))
}

/// The error of a pass held to an accuracy budget it cannot measure (`why`, from
/// [`unusable_reference`]).
pub fn budget_unmeasurable(budget: f64, why: &str) -> String {
    format!("accuracy budget {budget}: no error can be measured, {why}")
}

/// [`RANDOM_SAMPLES`] seeded input sets for `graph`: floats uniform in ±[0.01, 1),
/// integers read as a gather's indices uniform over the table's rows, other integers
/// in 1..=7 (see [`kiln_ir::random`]).
pub fn random_samples(graph: &Graph) -> Vec<Vec<Tensor>> {
    (0..RANDOM_SAMPLES as u64)
        .map(|s| {
            graph
                .inputs
                .iter()
                .enumerate()
                .map(|(i, port)| {
                    let ty = graph.ty(port.value);
                    let seed = 1000 * s + i as u64;
                    index_bound(graph, port.value)
                        .and_then(|rows| random_indices(ty.dtype, ty.shape.dims(), seed, rows))
                        .unwrap_or_else(|| random_tensor(ty.dtype, ty.shape.dims(), seed))
                })
                .collect()
        })
        .collect()
}

/// The row count of the table a gather reads `value` as indices of, if one does.
fn index_bound(graph: &Graph, value: kiln_ir::Handle<kiln_ir::Value>) -> Option<u64> {
    graph.nodes.iter().find_map(|(_, node)| match node.op {
        Op::Gather { axis } if node.inputs.get(1) == Some(&value) => {
            Some(graph.ty(node.inputs[0]).shape.dims()[axis] as u64)
        }
        _ => None,
    })
}

/// The calibration sets as tensors in `graph`'s input order: each input by its name,
/// else as `input_<i>`. `Err` names the set and the input that is missing or of the
/// wrong type.
pub fn bind_samples(
    graph: &Graph,
    sets: &[BTreeMap<String, Tensor>],
) -> Result<Vec<Vec<Tensor>>, String> {
    sets.iter()
        .enumerate()
        .map(|(s, set)| {
            graph
                .inputs
                .iter()
                .enumerate()
                .map(|(i, port)| {
                    let t = set
                        .get(&port.name)
                        .or_else(|| set.get(&format!("input_{i}")))
                        .ok_or_else(|| {
                            format!(
                                "calibration set {s} has no input '{}' (nor 'input_{i}')",
                                port.name
                            )
                        })?;
                    let want = graph.ty(port.value);
                    if t.ty() != *want {
                        return Err(format!(
                            "calibration set {s}: input '{}' must be {want}, the file holds {}",
                            port.name,
                            t.ty()
                        ));
                    }
                    Ok(t.clone())
                })
                .collect()
        })
        .collect()
}

/// Tensors per input set: `[set][output]`.
pub type PerSet = Vec<Vec<Tensor>>;

/// Runs `graph` on every input set, also reading the values `probes` take there: the
/// outputs per set, and the probes' values per set.
pub fn run_probed(
    graph: &Graph,
    probes: &[kiln_ir::Handle<kiln_ir::Value>],
    samples: &[Vec<Tensor>],
) -> Result<(PerSet, PerSet), String> {
    let mut probe = graph.clone();
    for (i, &v) in probes.iter().enumerate() {
        probe.add_output(format!("probe {i}"), v, kiln_ir::Wide::No);
    }
    let mut outputs = run_all(&probe, samples)?;
    let probed = outputs
        .iter_mut()
        .map(|o| o.split_off(graph.outputs.len()))
        .collect();
    Ok((outputs, probed))
}

/// The input sets to measure `graph` on: `given` (by input name) or, when there are
/// none, [`RANDOM_SAMPLES`] seeded random ones; and whether they are the random ones.
pub fn samples(
    graph: &Graph,
    given: &[BTreeMap<String, Tensor>],
) -> Result<(Vec<Vec<Tensor>>, bool), String> {
    if given.is_empty() {
        Ok((random_samples(graph), true))
    } else {
        Ok((bind_samples(graph, given)?, false))
    }
}

/// Runs `graph` on every input set.
pub fn run_all(graph: &Graph, samples: &[Vec<Tensor>]) -> Result<Vec<Vec<Tensor>>, String> {
    samples
        .iter()
        .map(|inputs| interp::run(graph, inputs).map_err(|e| e.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: &[f32]) -> Vec<Vec<Tensor>> {
        vec![vec![Tensor::from_f32(vec![v.len()], v.to_vec()).unwrap()]]
    }

    #[test]
    fn matching_non_finite_elements_agree_and_others_are_infinite_errors() {
        let names = ["y".to_string()];
        let want = row(&[1.0, f32::NAN, f32::NEG_INFINITY, 2.0]);
        // NaN against NaN and -inf against -inf agree; the rest is measured as usual.
        let close = compare(
            &names,
            &want,
            &row(&[1.5, f32::NAN, f32::NEG_INFINITY, 2.0]),
        );
        assert_eq!((close[0].not_finite, close[0].mismatched), (2, 0));
        assert!(
            (close[0].rel_l2 - 0.5 / 5f64.sqrt()).abs() < 1e-12,
            "{}",
            close[0]
        );
        assert_eq!(close[0].max_abs, 0.5);
        // A NaN where the reference is finite, and +inf for -inf: infinitely wrong.
        let broken = compare(
            &names,
            &want,
            &row(&[f32::NAN, f32::NAN, f32::INFINITY, 2.0]),
        );
        assert_eq!((broken[0].not_finite, broken[0].mismatched), (2, 2));
        assert_eq!(broken[0].rel_l2, f64::INFINITY);
        assert_eq!(broken[0].max_abs, f64::INFINITY);
        assert!(broken[0]
            .to_string()
            .contains("2 elements not finite on one side"));
        assert_eq!(worst(&broken), f64::INFINITY);
    }

    #[test]
    fn an_error_that_is_not_a_number_is_the_worst() {
        let names = ["a".to_string(), "b".to_string()];
        let mut outputs = compare(
            &names,
            &[vec![Tensor::from_f32(vec![1], vec![1.0]).unwrap(); 2]],
            &[vec![Tensor::from_f32(vec![1], vec![1.1]).unwrap(); 2]],
        );
        assert!(worst(&outputs) < 0.2);
        outputs[1].rel_l2 = f64::NAN;
        assert_eq!(worst(&outputs), f64::INFINITY);
    }

    #[test]
    fn a_reference_with_nan_is_unusable_and_says_where() {
        let names = ["y".to_string()];
        let fine = [
            row(&[1.0, f32::INFINITY]).remove(0),
            row(&[2.0, 3.0]).remove(0),
        ];
        assert_eq!(unusable_reference(&names, &fine, true), None);
        let nan = [row(&[1.0, 2.0]).remove(0), row(&[f32::NAN, 3.0]).remove(0)];
        assert_eq!(
            unusable_reference(&names, &nan, true).as_deref(),
            Some(
                "the float model's output 'y' is NaN on seeded random input set 1: \
                 give --calibration DIR with inputs the model is meant for"
            )
        );
        let why = unusable_reference(&names, &nan, false).unwrap();
        assert!(why.ends_with("calibration input set 1: check the calibration inputs"));
    }
}
