//! Fusion rules: element-wise chains become one `elementwise` program, and
//! element-wise consumers move into the epilogue of an anchor kernel (`fused`).
//!
//! A consumer absorbs one producer per application; saturation builds whole chains.
//! An anchor is only fused into its consumer when the consumer is its only user (and it
//! is no graph output), so no rewrite here ever recomputes an expensive kernel.
//! Element-wise producers may be inlined into several consumers: recomputing a cheap
//! program beats a round trip through memory, and extraction decides.

use super::program::{program_of, Builder, MAX_OPERANDS};
use super::{code, ops_in, RuleSpec, Term};
use crate::egraph::analysis::EGraph;
use crate::egraph::lang::IrOp;
use egg::Id;
use kiln_ir::{Op, Program};

#[rustfmt::skip]
pub(super) const RULES: &[RuleSpec] = &[
    // f(.., g(ys), ..) = elementwise{f ∘ g}(.., ys, ..) for element-wise f and g
    code("fuse-elementwise", fuse_elementwise, "f(.., g(ys), ..) = elementwise{f∘g}(.., ys, ..)"),
    // f(.., a(xs), ..) = fused{a, epilogue f}(xs, ..) for an anchor a used once
    code("fuse-epilogue", fuse_epilogue, "f(.., a(xs), ..) = fused{a; f}(xs, ..)"),
];

/// Ops whose result an epilogue can post-process element by element.
pub fn is_anchor(op: &Op) -> bool {
    matches!(
        op,
        Op::MatMul
            | Op::Conv(_)
            | Op::ConvTranspose(_)
            | Op::Reduce { .. }
            | Op::Softmax { .. }
            | Op::LogSoftmax { .. }
            | Op::MaxPool(_)
            | Op::AveragePool(_)
            | Op::BatchNorm { .. }
            | Op::LayerNorm { .. }
            | Op::InstanceNorm { .. }
            | Op::Lrn { .. }
            | Op::Attention { .. }
            | Op::Fused { .. }
    )
}

/// True when `c` has exactly one user and is no graph output.
pub fn used_once(egraph: &EGraph, c: Id) -> bool {
    let c = egraph.find(c);
    if egraph.analysis.roots.iter().any(|&r| egraph.find(r) == c) {
        return false;
    }
    match egraph[c].data.uses {
        Some(n) => n == 1,
        None => {
            let mut parents: Vec<Id> = egraph[c].parents().map(|p| egraph.find(p)).collect();
            parents.sort();
            parents.dedup();
            parents.len() == 1
        }
    }
}

/// The element-wise program of a consumer e-node, when it is one (result 0 only).
fn consumer(op: &IrOp) -> Option<Program> {
    if op.result() != 0 {
        return None;
    }
    program_of(op.op())
}

/// The element-wise e-node of class `c` to inline: its largest program.
fn producer(egraph: &EGraph, c: Id) -> Option<(Program, Vec<Id>)> {
    if egraph[c].data.value.is_some() {
        return None;
    }
    ops_in(egraph, c)
        .filter_map(|(op, kids)| Some((consumer(op)?, kids.to_vec())))
        .max_by_key(|(p, _)| p.steps.len())
}

fn fuse_elementwise(egraph: &EGraph, _class: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    let Some(outer) = consumer(op) else {
        return vec![];
    };
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for &c in children {
        let c = egraph.find(c);
        if seen.contains(&c) {
            continue;
        }
        seen.push(c);
        let Some((inner, inner_kids)) = producer(egraph, c) else {
            continue;
        };
        let mut b = Builder::new(0);
        let args: Vec<usize> = inner_kids
            .iter()
            .map(|&k| b.operand(egraph.find(k)))
            .collect();
        let Some(r) = b.inline(&inner, &args) else {
            continue;
        };
        let outer_args: Vec<usize> = children
            .iter()
            .map(|&k| {
                let k = egraph.find(k);
                if k == c {
                    r
                } else {
                    b.operand(k)
                }
            })
            .collect();
        let Some(result) = b.inline(&outer, &outer_args) else {
            continue;
        };
        let Some((program, operands)) = b.finish(egraph, result) else {
            continue;
        };
        if operands.is_empty() {
            continue;
        }
        out.push(Term::Node(
            Op::Elementwise { program },
            operands.into_iter().map(Term::Class).collect(),
        ));
    }
    out
}

fn fuse_epilogue(egraph: &EGraph, _class: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    let Some(outer) = consumer(op) else {
        return vec![];
    };
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for &c in children {
        let c = egraph.find(c);
        if seen.contains(&c) || !used_once(egraph, c) {
            continue;
        }
        seen.push(c);
        for (aop, akids) in ops_in(egraph, c) {
            if aop.result() != 0 || !is_anchor(aop.op()) {
                continue;
            }
            let mut b = Builder::new(1);
            let (anchor, arity, anchor_in, r) = match aop.op() {
                Op::Fused {
                    anchor,
                    arity,
                    epilogue,
                } => {
                    let Some(extra) = akids.get(*arity..) else {
                        continue;
                    };
                    let mut args = vec![b.reserved(0)];
                    args.extend(extra.iter().map(|&k| b.operand(egraph.find(k))));
                    let Some(r) = b.inline(epilogue, &args) else {
                        continue;
                    };
                    ((**anchor).clone(), *arity, &akids[..*arity], r)
                }
                a => (a.clone(), akids.len(), akids, b.reserved(0)),
            };
            let outer_args: Vec<usize> = children
                .iter()
                .map(|&k| {
                    let k = egraph.find(k);
                    if k == c {
                        r
                    } else {
                        b.operand(k)
                    }
                })
                .collect();
            let Some(result) = b.inline(&outer, &outer_args) else {
                continue;
            };
            let Some((epilogue, extras)) = b.finish(egraph, result) else {
                continue;
            };
            if arity + extras.len() > MAX_OPERANDS {
                continue;
            }
            let operands = anchor_in
                .iter()
                .chain(&extras)
                .map(|&k| Term::Class(k))
                .collect();
            out.push(Term::Node(
                Op::Fused {
                    anchor: Box::new(anchor),
                    arity,
                    epilogue,
                },
                operands,
            ));
        }
    }
    out
}
