//! Parses the op steps of element-wise programs (syntax in [`crate::print`]).

use super::lexer::Tok;
use super::{data_of, op, ParseError, Parser};
use crate::{DType, Op, Step};

impl Parser {
    /// An op step of a program list: `const(f32 0.5)`, `add(%0,%1)`,
    /// `leaky_relu{alpha=0.01}(%0)`, `cast{to=f16}(%2)`, `where(%0,%1,%2)`.
    pub(super) fn step(&mut self) -> Result<Step, ParseError> {
        let pos = self.here();
        let name = match self.next().tok {
            Tok::Ident(s) => s,
            _ => return self.error_at(pos, "expected a program step"),
        };
        if name == "const" {
            return self.const_step();
        }
        if !op::is_step_op(&name) {
            let msg = format!(
                "`{name}` cannot be a program step (steps are `inK`, `const(...)`, \
                 unary and binary ops, `where`, `cast`, `quantize` and `dequantize`)"
            );
            return self.error_at(pos, msg);
        }
        let attrs = if *self.peek() == Tok::Punct('{') {
            self.attrs()?
        } else {
            Vec::new()
        };
        let op = op::build(&name, pos.0, pos.1, attrs)?;
        self.expect_punct('(')?;
        let mut args = Vec::new();
        if !self.eat_punct(')') {
            loop {
                match *self.peek() {
                    Tok::Step(i) => args.push(i),
                    _ => return self.expected("a program step like `%3`"),
                }
                self.next();
                if self.eat_punct(')') {
                    break;
                }
                self.expect_punct(',')?;
            }
        }
        let want = match op {
            Op::Binary(_) => 2,
            Op::Where | Op::Quantize { .. } | Op::Dequantize { .. } => 3,
            _ => 1,
        };
        let step = match (op, args.as_slice()) {
            (Op::Unary(u), &[a]) => Step::Unary(u, a),
            (Op::Cast { to }, &[a]) => Step::Cast(to, a),
            (Op::Binary(b), &[a, c]) => Step::Binary(b, a, c),
            (Op::Where, &[c, a, b]) => Step::Where(c, a, b),
            (
                Op::Quantize {
                    axis: 0,
                    block: 0,
                    saturate,
                },
                &[x, s, z],
            ) => Step::Quantize {
                saturate,
                args: [x, s, z],
            },
            (Op::Dequantize { axis: 0, block: 0 }, &[x, s, z]) => Step::Dequantize([x, s, z]),
            _ => {
                let msg = format!(
                    "program step `{name}` takes {want} operand(s), got {}",
                    args.len()
                );
                return self.error_at(pos, msg);
            }
        };
        Ok(step)
    }

    /// The rest of `const(f32 0.5)`: a dtype and a value it holds.
    fn const_step(&mut self) -> Result<Step, ParseError> {
        self.expect_punct('(')?;
        let pos = self.here();
        let dtype = match self.peek() {
            Tok::Ident(s) => DType::from_name(s),
            _ => None,
        };
        let Some(dtype) = dtype else {
            return self.expected("a dtype like `f32`");
        };
        self.next();
        let item = self.element()?;
        self.expect_punct(')')?;
        let value = data_of(dtype, &[item])?.to_f64_vec();
        match value.first() {
            Some(&value) => Ok(Step::Const { dtype, value }),
            None => self.error_at(pos, "constant without a value"),
        }
    }
}
