//! Algebraic identities: neutral elements, double negation, constant operands folded
//! together, and casts that change nothing. Constant folding itself is the analysis.

use super::Cond::{Float, Is, NotConst, SameType, SmallConst};
use super::{code, pat, RuleSpec, Term};
use crate::egraph::analysis::{ty, EGraph};
use crate::egraph::lang::IrOp;
use egg::Id;
use kiln_ir::Op;

#[rustfmt::skip]
pub(super) const RULES: &[RuleSpec] = &[
    // x · 1 = x
    pat("mul-one", "(mul ?x ?c)", "?x", &[Is("?c", 1.0), SameType("?x")], "x · 1 = x"),
    // 1 · x = x
    pat("one-mul", "(mul ?c ?x)", "?x", &[Is("?c", 1.0), SameType("?x")], "1 · x = x"),
    // x + 0 = x
    pat("add-zero", "(add ?x ?c)", "?x", &[Is("?c", 0.0), SameType("?x")], "x + 0 = x"),
    // 0 + x = x
    pat("zero-add", "(add ?c ?x)", "?x", &[Is("?c", 0.0), SameType("?x")], "0 + x = x"),
    // x - 0 = x
    pat("sub-zero", "(sub ?x ?c)", "?x", &[Is("?c", 0.0), SameType("?x")], "x - 0 = x"),
    // x / 1 = x
    pat("div-one", "(div ?x ?c)", "?x", &[Is("?c", 1.0), SameType("?x")], "x / 1 = x"),
    // x ^ 1 = x
    pat("pow-one", "(pow ?x ?c)", "?x", &[Is("?c", 1.0), SameType("?x")], "x ^ 1 = x"),
    // x ^ 2 = x · x
    pat("pow-two", "(pow ?x ?c)", "(mul ?x ?x)", &[Is("?c", 2.0), SameType("?x"), Float("?x")], "x ^ 2 = x · x"),
    // -(-x) = x
    pat("neg-neg", "(neg (neg ?x))", "?x", &[], "-(-x) = x"),
    // (x · a) · b = x · (a · b) for constants a, b
    pat("mul-mul-const", "(mul (mul ?x ?a) ?b)", "(mul ?x (mul ?a ?b))", &[SmallConst("?a"), SmallConst("?b"), SameType("?x"), NotConst("?x")], "(x · a) · b = x · (a·b)"),
    // (a · x) · b = x · (a · b) for constants a, b
    pat("const-mul-mul-const", "(mul (mul ?a ?x) ?b)", "(mul ?x (mul ?a ?b))", &[SmallConst("?a"), SmallConst("?b"), SameType("?x"), NotConst("?x")], "(a · x) · b = x · (a·b)"),
    // (x + a) + b = x + (a + b) for constants a, b
    pat("add-add-const", "(add (add ?x ?a) ?b)", "(add ?x (add ?a ?b))", &[SmallConst("?a"), SmallConst("?b"), SameType("?x"), NotConst("?x")], "(x + a) + b = x + (a+b)"),
    // (x · a) / b = x · (a / b) for float constants a, b
    pat("mul-div-const", "(div (mul ?x ?a) ?b)", "(mul ?x (div ?a ?b))", &[SmallConst("?a"), SmallConst("?b"), SameType("?x"), NotConst("?x"), Float("?x")], "(x · a) / b = x · (a/b)"),
    // cast{to=T}(x) = x for x of type T
    code("cast-same-type", cast_same_type, "cast{to=T}(x: T) = x"),
];

fn cast_same_type(egraph: &EGraph, _: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    match (op.op(), children) {
        (Op::Cast { to }, [x]) if ty(egraph, *x).is_some_and(|t| t.dtype == *to) => {
            vec![Term::Class(*x)]
        }
        _ => vec![],
    }
}
