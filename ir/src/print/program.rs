//! Element-wise programs as text: the step list of the IR text, and the nested
//! expression DOT and JSON show to readers.
//!
//! A step list is `[in0, in1, add(%0,%1), const(f32 0.5), mul(%2,%3), relu(%4)]`:
//! step `i` is the `i`-th entry, `%i` reads it, `inK` is program input `K`, and
//! `const(DTYPE VALUE)` is a constant written in its dtype (floats in the shortest form
//! that reads back to the same bits). Other steps are unary, binary, `where` and `cast`
//! ops in their op text, with attributes: `leaky_relu{alpha=0.01}(%2)`,
//! `cast{to=f16}(%3)`, `where(%0,%1,%2)`.

use super::{fmt_f32, op_text};
use crate::{DType, Op, Program, Step};
use std::fmt;

impl fmt::Display for Step {
    /// The step's text in a step list: `in0`, `const(f32 0.5)`, `add(%0,%1)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self, self.op()) {
            (Step::Input(k), _) => write!(f, "in{k}"),
            (Step::Const { dtype, value }, _) => {
                write!(f, "const({dtype} {})", const_value(*dtype, *value))
            }
            (_, Some(op)) => {
                let args: Vec<String> = self.operands().iter().map(|o| format!("%{o}")).collect();
                write!(f, "{}({})", op_text(&op), args.join(","))
            }
            (_, None) => f.write_str("?"),
        }
    }
}

impl fmt::Display for Program {
    /// The step list: `[in0, in1, add(%0,%1)]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let steps: Vec<String> = self.steps.iter().map(Step::to_string).collect();
        write!(f, "[{}]", steps.join(", "))
    }
}

/// A constant's value as written in its dtype: `0.5`, `-3`, `true`. A value the dtype
/// cannot hold exactly (which [`crate::verify`] rejects) is written as an `f64`.
fn const_value(dtype: DType, value: f64) -> String {
    let exact = match dtype {
        DType::F32 | DType::F16 => {
            let x = value as f32;
            if x as f64 == value || value.is_nan() {
                return fmt_f32(x);
            }
            false
        }
        DType::Bool => {
            if value == 0.0 || value == 1.0 {
                return (value == 1.0).to_string();
            }
            false
        }
        _ => value.fract() == 0.0 && value.abs() < 2f64.powi(63),
    };
    if exact {
        return format!("{}", value as i64);
    }
    format!("{value:?}")
}

/// The program as a nested expression for readers, with `input(k)` naming input `k`:
/// `relu(add(conv, in1))`. Op steps read more than once are bound first, one per line
/// (`t2 = sigmoid(in0)`), and the last line is the result; unused steps are left out.
pub fn expression(program: &Program, input: &dyn Fn(usize) -> String) -> Vec<String> {
    let steps = &program.steps;
    let mut uses = vec![0usize; steps.len()];
    for step in steps {
        for o in step.operands() {
            if let Some(u) = uses.get_mut(o) {
                *u += 1;
            }
        }
    }
    let mut lines = Vec::new();
    let mut text: Vec<String> = Vec::with_capacity(steps.len());
    for (i, step) in steps.iter().enumerate() {
        let expr = match (step, step.op()) {
            (Step::Input(k), _) => input(*k),
            (Step::Const { dtype, value }, _) => const_value(*dtype, *value),
            (_, Some(op)) => {
                let args: Vec<String> = step
                    .operands()
                    .iter()
                    .map(|&o| text.get(o).cloned().unwrap_or_else(|| format!("%{o}")))
                    .collect();
                format!("{}({})", op_text(&op), args.join(", "))
            }
            (_, None) => "?".into(),
        };
        if uses[i] > 1 && step.op().is_some() {
            lines.push(format!("t{i} = {expr}"));
            text.push(format!("t{i}"));
        } else {
            text.push(expr);
        }
    }
    lines.push(text.pop().unwrap_or_else(|| "<empty program>".into()));
    lines
}

/// The program of an Elementwise or Fused op as [`expression`] lines; an epilogue
/// names its input 0 after the anchor op (`relu(add(conv, in1))`). `None` for other ops.
pub fn op_expression(op: &Op) -> Option<Vec<String>> {
    match op {
        Op::Elementwise { program } => Some(expression(program, &|k| format!("in{k}"))),
        Op::Fused {
            anchor, epilogue, ..
        } => Some(expression(epilogue, &|k| match k {
            0 => anchor.name().to_string(),
            k => format!("in{k}"),
        })),
        _ => None,
    }
}
