//! Sparse products: a product whose constant weights hold enough zero blocks equals
//! `sparse_matmul` of the same weights stored sparse (it skips only zero weights), so
//! the rule adds that form — block-sparse in 4×4 blocks, or CSR — next to the dense
//! one, on a plain `matmul` and on a fused one (its epilogue kept). Extraction then
//! picks dense or sparse per layer by the cost model: a sparse kernel moves fewer
//! weight bytes and does fewer multiply-adds, each at a lower rate
//! (`cost::sparse_efficiency`).

use super::quant::constant;
use super::{code, RuleSpec, Term};
use crate::egraph::analysis::{ty, EGraph};
use crate::egraph::lang::{ConstLeaf, IrOp, Kiln};
use egg::Id;
use kiln_ir::sparse::{block_density, encode};
use kiln_ir::{DType, Graph, Op, SparseFormat};
use std::sync::Arc;

pub(super) const RULES: &[RuleSpec] = &[code(
    "sparse-product",
    sparse_forms,
    "matmul(a, B) = sparse_matmul(a, stored(B)) for a constant B (k × n) with enough zero blocks",
)];

/// The formats offered, each with the largest fraction of non-zero blocks at which it
/// is: beyond these no device runs the sparse kernel faster.
pub const OFFERS: [(SparseFormat, f64); 2] = [
    (SparseFormat::Blocks { rows: 4, cols: 4 }, 0.5),
    (SparseFormat::Blocks { rows: 1, cols: 1 }, 0.3),
];

/// The sparse forms of a (possibly fused) `matmul` node.
fn sparse_forms(egraph: &EGraph, _class: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    if op.result() != 0 || children.len() < 2 {
        return Vec::new();
    }
    let (a, w) = (children[0], children[1]);
    let Some(leaf) = egraph[w].nodes.iter().find_map(|n| match n {
        Kiln::Const(c) => Some(*c),
        _ => None,
    }) else {
        return Vec::new();
    };
    let (Some(ta), Some(tw)) = (ty(egraph, a), ty(egraph, w)) else {
        return Vec::new();
    };
    let &[k, n] = tw.shape.dims() else {
        return Vec::new();
    };
    if ta.dtype != DType::F32 || tw.dtype != DType::F32 || ta.shape.dims().last() != Some(&k) {
        return Vec::new();
    }
    if sparse_op(op.op(), SparseFormat::Blocks { rows: 1, cols: 1 }, k, n).is_none() {
        return Vec::new();
    }
    let Some(weights) = constant(egraph, w) else {
        return Vec::new();
    };
    let dense: Arc<Vec<f32>> = Arc::new(weights.to_f64_vec().iter().map(|&v| v as f32).collect());
    offered(&dense, k, n)
        .into_iter()
        .filter_map(|format| {
            let mut args = vec![Term::Class(a)];
            args.extend((0..format.arrays()).map(|i| array_term(&dense, leaf, format, (k, n), i)));
            args.extend(children[2..].iter().map(|&c| Term::Class(c)));
            Some(Term::Node(sparse_op(op.op(), format, k, n)?, args))
        })
        .collect()
}

/// The sparse form of a product `op` whose operand 1 is its `k × n` weights: a plain
/// `matmul`, or a `Fused` one without a prologue (its epilogue kept, its epilogue
/// operands after the format's arrays). Its operands are `a`, the arrays of `format`,
/// then `op`'s operands from 2 on.
pub fn sparse_op(op: &Op, format: SparseFormat, k: usize, n: usize) -> Option<Op> {
    let sparse = Op::SparseMatMul { format, k, n };
    match op {
        Op::MatMul => Some(sparse),
        Op::Fused {
            anchor,
            prologue: None,
            arity: 2,
            epilogue,
        } if **anchor == Op::MatMul => Some(Op::Fused {
            anchor: Box::new(sparse),
            prologue: None,
            arity: 1 + format.arrays(),
            epilogue: epilogue.clone(),
        }),
        _ => None,
    }
}

/// The formats [`OFFERS`] offers for the row-major `k × n` weights `dense`.
pub fn offered(dense: &[f32], k: usize, n: usize) -> Vec<SparseFormat> {
    OFFERS
        .iter()
        .filter(|(format, most)| {
            let [r, c] = format.dims();
            block_density(dense, (k, n), (r, c)) <= *most
        })
        .map(|(format, _)| *format)
        .collect()
}

/// Array `i` of `format` for the weights of constant `leaf`, interned once.
fn array_term(
    dense: &Arc<Vec<f32>>,
    leaf: ConstLeaf,
    format: SparseFormat,
    (k, n): (usize, usize),
    i: usize,
) -> Term {
    let key = format!("sparse:{}:%c{}:{i}", format.label(), leaf.0);
    let dense = dense.clone();
    Term::Const(
        key,
        Arc::new(move || encode(format, &dense, k, n)?.into_iter().nth(i)),
    )
}

/// Whether any product of `graph` reads constant weights the rule would offer a sparse
/// form for (the sparsity phase leaves a graph without one untouched).
pub fn any_candidate(graph: &Graph) -> bool {
    graph.nodes.iter().any(|(_, node)| {
        let Some(&w) = node.inputs.get(1) else {
            return false;
        };
        let Some(t) = graph.constant(w) else {
            return false;
        };
        let &[k, n] = t.shape().dims() else {
            return false;
        };
        let product = sparse_op(&node.op, SparseFormat::Blocks { rows: 1, cols: 1 }, k, n);
        if product.is_none() || t.dtype() != DType::F32 {
            return false;
        }
        let dense: Vec<f32> = t.to_f64_vec().iter().map(|&v| v as f32).collect();
        !offered(&dense, k, n).is_empty()
    })
}
