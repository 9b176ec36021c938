//! Layout rules: transposes, reshapes and broadcasts that cancel, compose, or fold
//! into their consumer's indexing.

use super::{code, ops_in, RuleSpec, Term};
use crate::egraph::analysis::{ty, EGraph};
use crate::egraph::lang::IrOp;
use egg::Id;
use kiln_ir::{Op, Program};

#[rustfmt::skip]
pub(super) const RULES: &[RuleSpec] = &[
    // transpose{q}(transpose{p}(x)) = transpose{p∘q}(x)
    code("transpose-transpose", transpose_transpose, "transpose{q}(transpose{p}(x)) = transpose{p[q]}(x)"),
    // transpose{0,1,..}(x) = x
    code("transpose-identity", transpose_identity, "transpose{identity}(x) = x"),
    // reshape{t}(reshape{s}(x)) = reshape{t}(x)
    code("reshape-reshape", reshape_reshape, "reshape{t}(reshape{s}(x)) = reshape{t}(x)"),
    // reshape{shape(x)}(x) = x
    code("reshape-identity", reshape_identity, "reshape{shape of x}(x) = x"),
    // expand{shape(x)}(x) = x
    code("expand-identity", expand_identity, "expand{shape of x}(x) = x"),
    // f(.., expand(y), ..) = f(.., y, ..) when broadcasting y gives the same result
    code("expand-broadcast", expand_broadcast, "f(.., expand(y), ..) = f(.., y, ..) for element-wise f"),
    // identity(x) = x
    code("identity-remove", identity_remove, "identity(x) = x"),
];

fn single(children: &[Id]) -> Option<Id> {
    match children {
        [x] => Some(*x),
        _ => None,
    }
}

fn transpose_transpose(egraph: &EGraph, _: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    let (Op::Transpose { perm: q }, Some(c)) = (op.op(), single(children)) else {
        return vec![];
    };
    let mut out = Vec::new();
    for (inner, kids) in ops_in(egraph, c) {
        if let (Op::Transpose { perm: p }, Some(x)) = (inner.op(), single(kids)) {
            let Some(perm) = q
                .iter()
                .map(|&i| p.get(i).copied())
                .collect::<Option<Vec<_>>>()
            else {
                continue;
            };
            if perm.iter().enumerate().all(|(i, &a)| i == a) {
                out.push(Term::Class(x));
            } else {
                out.push(Term::Node(Op::Transpose { perm }, vec![Term::Class(x)]));
            }
        }
    }
    out
}

fn transpose_identity(_: &EGraph, _: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    match (op.op(), single(children)) {
        (Op::Transpose { perm }, Some(x)) if perm.iter().enumerate().all(|(i, &a)| i == a) => {
            vec![Term::Class(x)]
        }
        _ => vec![],
    }
}

fn reshape_reshape(egraph: &EGraph, _: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    let (Op::Reshape { shape }, Some(c)) = (op.op(), single(children)) else {
        return vec![];
    };
    ops_in(egraph, c)
        .filter_map(|(inner, kids)| match (inner.op(), single(kids)) {
            (Op::Reshape { .. }, Some(x)) => Some(Term::Node(
                Op::Reshape {
                    shape: shape.clone(),
                },
                vec![Term::Class(x)],
            )),
            _ => None,
        })
        .collect()
}

fn reshape_identity(egraph: &EGraph, _: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    match (op.op(), single(children)) {
        (Op::Reshape { shape }, Some(x))
            if ty(egraph, x).is_some_and(|t| t.shape.dims() == shape.as_slice()) =>
        {
            vec![Term::Class(x)]
        }
        _ => vec![],
    }
}

fn expand_identity(egraph: &EGraph, _: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    match (op.op(), single(children)) {
        (Op::Expand { shape }, Some(x))
            if ty(egraph, x).is_some_and(|t| t.shape.dims() == shape.as_slice()) =>
        {
            vec![Term::Class(x)]
        }
        _ => vec![],
    }
}

fn expand_broadcast(egraph: &EGraph, class: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    if op.result() != 0 || Program::of_op(op.op()).is_none() {
        return vec![];
    }
    let mut out = Vec::new();
    for (k, &c) in children.iter().enumerate() {
        for (inner, kids) in ops_in(egraph, c) {
            let (Op::Expand { .. }, Some(y)) = (inner.op(), single(kids)) else {
                continue;
            };
            let mut args: Vec<Id> = children.to_vec();
            args[k] = y;
            let types: Option<Vec<_>> = args.iter().map(|&a| ty(egraph, a)).collect();
            let same = types
                .and_then(|t| kiln_ir::infer::infer(op.op(), &t).ok())
                .is_some_and(|r| r.first() == ty(egraph, class));
            if same {
                out.push(Term::Node(
                    op.op().clone(),
                    args.into_iter().map(Term::Class).collect(),
                ));
            }
        }
    }
    out
}

fn identity_remove(_: &EGraph, _: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    match (op.op(), single(children)) {
        (Op::Identity, Some(x)) => vec![Term::Class(x)],
        _ => vec![],
    }
}
