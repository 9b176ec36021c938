//! Element-wise programs: the straight-line scalar code of fused kernels.
//!
//! A [`Program`] is a list of [`Step`]s in SSA form; each step reads earlier steps by
//! index and the last step is the result. Steps are the IR's own element-wise ops,
//! so a program means exactly what the chain of nodes it replaces means.

use crate::infer::{infer, InferError};
use crate::{BinaryOp, DType, Op, TensorType, UnaryOp};

/// Straight-line element-wise code; the result is the last step.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    pub steps: Vec<Step>,
}

/// One scalar operation of a [`Program`]; `usize` operands index earlier steps.
/// Equality compares constants by bits (all NaNs equal), so graphs with NaN
/// constants still compare equal to their round-tripped text.
#[derive(Clone, Debug)]
pub enum Step {
    /// Program input `i`: the element of the `i`-th input at this position.
    Input(usize),
    /// A constant of type `dtype` (`value` is exact for every IR dtype).
    Const {
        dtype: DType,
        value: f64,
    },
    Unary(UnaryOp, usize),
    Binary(BinaryOp, usize, usize),
    /// `where(cond, a, b)`.
    Where(usize, usize, usize),
    Cast(DType, usize),
    /// `quantize(x, scale, zero)` (see [`Op::Quantize`]).
    Quantize {
        saturate: bool,
        args: [usize; 3],
    },
    /// `dequantize(x, scale, zero)` (see [`Op::Dequantize`]).
    Dequantize([usize; 3]),
}

impl PartialEq for Step {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (
                Step::Const {
                    dtype: d1,
                    value: v1,
                },
                Step::Const {
                    dtype: d2,
                    value: v2,
                },
            ) => d1 == d2 && (v1.to_bits() == v2.to_bits() || (v1.is_nan() && v2.is_nan())),
            (Step::Input(a), Step::Input(b)) => a == b,
            (Step::Unary(u1, a1), Step::Unary(u2, a2)) => u1 == u2 && a1 == a2,
            (Step::Binary(b1, x1, y1), Step::Binary(b2, x2, y2)) => {
                b1 == b2 && x1 == x2 && y1 == y2
            }
            (Step::Where(c1, a1, b1), Step::Where(c2, a2, b2)) => c1 == c2 && a1 == a2 && b1 == b2,
            (Step::Cast(t1, a1), Step::Cast(t2, a2)) => t1 == t2 && a1 == a2,
            (
                Step::Quantize {
                    saturate: s1,
                    args: a1,
                },
                Step::Quantize {
                    saturate: s2,
                    args: a2,
                },
            ) => s1 == s2 && a1 == a2,
            (Step::Dequantize(a1), Step::Dequantize(a2)) => a1 == a2,
            _ => false,
        }
    }
}

impl Step {
    /// The earlier steps this step reads.
    pub fn operands(&self) -> Vec<usize> {
        match *self {
            Step::Input(_) | Step::Const { .. } => vec![],
            Step::Unary(_, a) | Step::Cast(_, a) => vec![a],
            Step::Binary(_, a, b) => vec![a, b],
            Step::Where(c, a, b) => vec![c, a, b],
            Step::Quantize { args, .. } | Step::Dequantize(args) => args.to_vec(),
        }
    }

    /// The same step reading `f(i)` wherever it reads step `i` (`None` from `f` fails).
    pub fn try_map_operands(&self, mut f: impl FnMut(usize) -> Option<usize>) -> Option<Step> {
        Some(match *self {
            Step::Input(k) => Step::Input(k),
            Step::Const { dtype, value } => Step::Const { dtype, value },
            Step::Unary(u, a) => Step::Unary(u, f(a)?),
            Step::Cast(to, a) => Step::Cast(to, f(a)?),
            Step::Binary(b, x, y) => Step::Binary(b, f(x)?, f(y)?),
            Step::Where(c, x, y) => Step::Where(f(c)?, f(x)?, f(y)?),
            Step::Quantize {
                saturate,
                args: [x, s, z],
            } => Step::Quantize {
                saturate,
                args: [f(x)?, f(s)?, f(z)?],
            },
            Step::Dequantize([x, s, z]) => Step::Dequantize([f(x)?, f(s)?, f(z)?]),
        })
    }

    /// The same step reading `f(i)` wherever it reads step `i`.
    pub fn map_operands(&self, mut f: impl FnMut(usize) -> usize) -> Step {
        self.try_map_operands(|i| Some(f(i)))
            .expect("a total map never fails")
    }

    /// The IR op this step applies (`None` for inputs and constants).
    pub fn op(&self) -> Option<Op> {
        match *self {
            Step::Input(_) | Step::Const { .. } => None,
            Step::Unary(u, _) => Some(Op::Unary(u)),
            Step::Binary(b, _, _) => Some(Op::Binary(b)),
            Step::Where(..) => Some(Op::Where),
            Step::Cast(to, _) => Some(Op::Cast { to }),
            Step::Quantize { saturate, .. } => Some(Op::Quantize {
                axis: 0,
                block: 0,
                saturate,
            }),
            Step::Dequantize(_) => Some(Op::Dequantize { axis: 0, block: 0 }),
        }
    }
}

impl Program {
    /// The program an element-wise `op` computes as one step over its operands in
    /// order (`Identity` as the program returning input 0); `None` for any other op.
    pub fn of_op(op: &Op) -> Option<Program> {
        let steps = match op {
            Op::Elementwise { program } => return Some(program.clone()),
            Op::Identity => vec![Step::Input(0)],
            Op::Unary(u) => vec![Step::Input(0), Step::Unary(*u, 0)],
            Op::Cast { to } => vec![Step::Input(0), Step::Cast(*to, 0)],
            Op::Binary(b) => vec![Step::Input(0), Step::Input(1), Step::Binary(*b, 0, 1)],
            Op::Where => vec![
                Step::Input(0),
                Step::Input(1),
                Step::Input(2),
                Step::Where(0, 1, 2),
            ],
            // Blocked scales are not element-wise.
            Op::Quantize {
                block: 0, saturate, ..
            } => vec![
                Step::Input(0),
                Step::Input(1),
                Step::Input(2),
                Step::Quantize {
                    saturate: *saturate,
                    args: [0, 1, 2],
                },
            ],
            Op::Dequantize { block: 0, .. } => vec![
                Step::Input(0),
                Step::Input(1),
                Step::Input(2),
                Step::Dequantize([0, 1, 2]),
            ],
            _ => return None,
        };
        Some(Program { steps })
    }

    /// The program that returns input 0 unchanged.
    pub fn identity() -> Program {
        Program {
            steps: vec![Step::Input(0)],
        }
    }

    /// For each step, whether its value depends on input `k` (through its operands).
    pub fn depends_on(&self, k: usize) -> Vec<bool> {
        self.depends_on_any(|i| i == k)
    }

    /// For each step, whether its value depends on an input `varies` holds for.
    pub fn depends_on_any(&self, varies: impl Fn(usize) -> bool) -> Vec<bool> {
        let mut dep: Vec<bool> = Vec::with_capacity(self.steps.len());
        for step in &self.steps {
            let d = match *step {
                Step::Input(i) => varies(i),
                ref s => s.operands().iter().any(|&o| dep.get(o) == Some(&true)),
            };
            dep.push(d);
        }
        dep
    }

    /// The program split for evaluating it many times with input 0 varying and the
    /// other inputs fixed (a prologue's runtime scale, say): `hoisted` are the computed
    /// steps that do not depend on input 0 and that a dependent step reads, each as a
    /// program of its own (computed once); `varying` is the program reading them as
    /// inputs `num_inputs() + j` instead. Nothing is hoisted (an empty list and the
    /// program itself) when the result does not depend on input 0.
    pub fn hoist_invariant(&self) -> (Vec<Program>, Program) {
        self.hoist_fixed(|i| i == 0)
    }

    /// [`Program::hoist_invariant`] with the inputs `varies` holds for varying and the
    /// others fixed (an epilogue's per-element operands vary with its anchor's value).
    pub fn hoist_fixed(&self, varies: impl Fn(usize) -> bool) -> (Vec<Program>, Program) {
        let dep = self.depends_on_any(varies);
        if dep.last() != Some(&true) {
            return (Vec::new(), self.clone());
        }
        let computed = |i: usize| !matches!(self.steps[i], Step::Input(_) | Step::Const { .. });
        let mut hoist = vec![false; self.steps.len()];
        for (i, step) in self.steps.iter().enumerate() {
            if dep[i] {
                for o in step.operands() {
                    hoist[o] = !dep[o] && computed(o);
                }
            }
        }
        let base = self.num_inputs();
        let mut hoisted = Vec::new();
        let mut steps = Vec::with_capacity(self.steps.len());
        for (i, step) in self.steps.iter().enumerate() {
            if hoist[i] {
                steps.push(Step::Input(base + hoisted.len()));
                hoisted.push(self.slice(i));
            } else {
                steps.push(step.clone());
            }
        }
        (hoisted, Program { steps })
    }

    /// The steps step `last` needs, renumbered, ending with it.
    fn slice(&self, last: usize) -> Program {
        let mut need = vec![false; last + 1];
        need[last] = true;
        for i in (0..=last).rev() {
            if need[i] {
                for o in self.steps[i].operands() {
                    need[o] = true;
                }
            }
        }
        let mut index = vec![0; last + 1];
        let mut steps = Vec::new();
        for i in (0..=last).filter(|&i| need[i]) {
            index[i] = steps.len();
            steps.push(self.steps[i].map_operands(|o| index[o]));
        }
        Program { steps }
    }

    /// Number of inputs the program reads (one more than the largest input index).
    pub fn num_inputs(&self) -> usize {
        self.steps
            .iter()
            .filter_map(|s| match s {
                Step::Input(i) => Some(i + 1),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }

    /// The dtype of every step given the input dtypes; errors on a malformed program
    /// (forward references, missing inputs, ops that do not fit their operands).
    pub fn step_types(&self, inputs: &[DType]) -> Result<Vec<DType>, InferError> {
        if self.steps.is_empty() {
            return Err(InferError("empty element-wise program".into()));
        }
        let mut types: Vec<DType> = Vec::with_capacity(self.steps.len());
        for (i, step) in self.steps.iter().enumerate() {
            if let Some(&bad) = step.operands().iter().find(|&&o| o >= i) {
                return Err(InferError(format!(
                    "program step {i} reads step {bad}, not an earlier one"
                )));
            }
            let dtype = match step {
                Step::Input(k) => *inputs.get(*k).ok_or_else(|| {
                    InferError(format!("program reads input {k} of {}", inputs.len()))
                })?,
                Step::Const { dtype, .. } => *dtype,
                _ => {
                    let op = step.op().expect("not an input or constant");
                    let scalars: Vec<TensorType> = step
                        .operands()
                        .iter()
                        .map(|&o| TensorType::new(types[o], Vec::new()))
                        .collect();
                    let refs: Vec<&TensorType> = scalars.iter().collect();
                    let out = infer(&op, &refs).map_err(|e| {
                        InferError(format!("program step {i} ({}): {e}", op.name()))
                    })?;
                    out[0].dtype
                }
            };
            types.push(dtype);
        }
        Ok(types)
    }

    /// The result dtype given the input dtypes.
    pub fn result_type(&self, inputs: &[DType]) -> Result<DType, InferError> {
        Ok(*self.step_types(inputs)?.last().expect("non-empty"))
    }

    /// The steps an integer division divides by, other than constant steps, given the
    /// dtype of every step (from [`Program::step_types`]): the divisors a zero may
    /// reach at run time, which a GPU must check (WGSL's integer `x / 0` is `x`).
    pub fn integer_divisors(&self, types: &[DType]) -> Vec<usize> {
        self.steps
            .iter()
            .filter_map(|step| match *step {
                Step::Binary(BinaryOp::Div, _, b)
                    if !types[b].is_float()
                        && !matches!(self.steps.get(b), Some(Step::Const { .. })) =>
                {
                    Some(b)
                }
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hoists_what_input_zero_does_not_reach() {
        // relu(x0 / (x1 + 1) + x2·2): `x1 + 1` and `x2·2` are computed once.
        let p: Program =
            "[in0, in1, const(f32 1.0), add(%1,%2), div(%0,%3), in2, const(f32 2.0), mul(%5,%6), add(%4,%7), relu(%8)]"
                .parse()
                .unwrap();
        assert_eq!(
            p.depends_on(0),
            [true, false, false, false, true, false, false, false, true, true]
        );
        let (hoisted, varying) = p.hoist_invariant();
        let text: Vec<String> = hoisted.iter().map(|h| h.to_string()).collect();
        assert_eq!(
            text,
            [
                "[in1, const(f32 1.0), add(%0,%1)]",
                "[in2, const(f32 2.0), mul(%0,%1)]"
            ]
        );
        assert_eq!(
            varying.to_string(),
            "[in0, in1, const(f32 1.0), in3, div(%0,%3), in2, const(f32 2.0), in4, add(%4,%7), relu(%8)]"
        );
        // A result that does not depend on input 0 hoists nothing.
        let q: Program = "[in0, in1, neg(%1)]".parse().unwrap();
        assert_eq!(q.hoist_invariant(), (vec![], q.clone()));
        // With input 2 varying too, only `x1 + 1` is computed once.
        let (hoisted, varying) = p.hoist_fixed(|i| i != 1);
        assert_eq!(hoisted.len(), 1);
        assert_eq!(hoisted[0].to_string(), "[in1, const(f32 1.0), add(%0,%1)]");
        assert_eq!(
            varying.to_string(),
            "[in0, in1, const(f32 1.0), in3, div(%0,%3), in2, const(f32 2.0), mul(%5,%6), add(%4,%7), relu(%8)]"
        );
    }
}
