//! Sparse products: a product whose constant weights hold enough zero blocks equals
//! `sparse_matmul` of the same weights stored sparse (it skips only zero weights), so
//! the rule adds that form — block-sparse in 4×4 blocks, or CSR — next to the dense
//! one, for a `matmul` (weights `B`, contraction along `a`'s last axis) and a 2-D
//! convolution (weights `Wᵀ`; a 1×1 one contracts along the channels, a k×k one over its
//! windows as `sparse_conv`; the bias kept), plain or fused (the epilogue kept). Extraction then picks dense or sparse per layer by the
//! cost model: a sparse kernel moves fewer weight bytes and does fewer multiply-adds,
//! each at the device's sparse rate (`DeviceProfile::sparse_gops`).

use super::quant::constant;
use super::{code, RuleSpec, Term};
use crate::egraph::analysis::{ty, EGraph};
use crate::egraph::lang::{ConstLeaf, IrOp, Kiln};
use egg::Id;
use kiln_ir::sparse::{block_density, encode};
use kiln_ir::{DType, Graph, Op, SparseFormat, Tensor};
use std::sync::Arc;

pub(super) const RULES: &[RuleSpec] = &[code(
    "sparse-product",
    sparse_forms,
    "matmul(a, B) = sparse_matmul(a, stored(B)); conv1x1(x, W, b) = sparse_matmul{axis=1}(x, stored(Wᵀ), b); conv(x, W, b) = sparse_conv(x, stored(Wᵀ), b) for constant weights with enough zero blocks",
)];

/// The formats offered, each with the largest fraction of non-zero blocks at which it
/// is: beyond these no device runs the sparse kernel faster.
pub const OFFERS: [(SparseFormat, f64); 2] = [
    (SparseFormat::Blocks { rows: 4, cols: 4 }, 0.5),
    (SparseFormat::Blocks { rows: 1, cols: 1 }, 0.3),
];

/// A product a sparse kernel can compute: operand 0 `a` contracted along `axis` (`k`
/// long) with the `k × n` weights `B` that operand 1 holds (transposed, for a
/// convolution's `[n, C, kernel..]`), plus operand 2 as bias when `bias`. A k×k
/// convolution (`window`: its attributes and kernel) contracts `a`'s windows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Product {
    pub axis: usize,
    pub k: usize,
    pub n: usize,
    pub transposed: bool,
    pub bias: bool,
    pub window: Option<(kiln_ir::ConvAttrs, Vec<usize>)>,
}

impl Product {
    /// The product `op` (plain or fused without a prologue, on `operands` operands)
    /// computes from an `a` of `a_dims` and weights of `w_dims`, when a sparse kernel
    /// can compute it.
    pub fn of(op: &Op, operands: usize, a_dims: &[usize], w_dims: &[usize]) -> Option<Product> {
        let (anchor, arity) = match op {
            Op::Fused {
                anchor,
                prologue: None,
                arity,
                ..
            } => (&**anchor, *arity),
            Op::MatMul | Op::Conv(_) => (op, operands),
            _ => return None,
        };
        match (anchor, w_dims) {
            (Op::MatMul, &[k, n]) if arity == 2 && a_dims.last() == Some(&k) => Some(Product {
                axis: a_dims.len() - 1,
                k,
                n,
                transposed: false,
                bias: false,
                window: None,
            }),
            (Op::Conv(attrs), &[n, c, ..]) => {
                let one = |v: &[usize]| v.iter().all(|&x| x == 1);
                let kernel = w_dims[2..].to_vec();
                let pointwise = one(&kernel)
                    && one(&attrs.strides)
                    && one(&attrs.dilations)
                    && attrs.pads.iter().all(|&p| p == 0);
                let fits =
                    attrs.group == 1 && a_dims.get(1) == Some(&c) && (arity == 2 || arity == 3);
                // 1×1: a contraction along the channels; 2-D k×k: over windows.
                let window = match (pointwise, kernel.len(), a_dims.len()) {
                    (true, _, _) => None,
                    (false, 2, 4) => Some((attrs.clone(), kernel.clone())),
                    _ => return None,
                };
                fits.then_some(Product {
                    axis: 1,
                    k: c * kernel.iter().product::<usize>(),
                    n,
                    transposed: true,
                    bias: arity == 3,
                    window,
                })
            }
            _ => None,
        }
    }

    /// `B` (`k × n`, row-major) from the weights `w`.
    pub fn dense(&self, w: &Tensor) -> Vec<f32> {
        let v: Vec<f32> = w.to_f64_vec().iter().map(|&x| x as f32).collect();
        if !self.transposed {
            return v;
        }
        let (k, n) = (self.k, self.n);
        (0..k * n).map(|i| v[(i % n) * k + i / n]).collect()
    }

    /// The sparse form of `op` (see [`Product::of`]) with its weights stored in
    /// `format`: its operands are `a`, the format's arrays, the bias (if any), then
    /// `op`'s epilogue operands.
    pub fn sparse_op(&self, op: &Op, format: SparseFormat) -> Op {
        let sparse = match &self.window {
            None => Op::SparseMatMul {
                format,
                axis: self.axis,
                k: self.k,
                n: self.n,
            },
            Some((conv, kernel)) => Op::SparseConv {
                format,
                conv: conv.clone(),
                kernel: kernel.clone(),
                n: self.n,
            },
        };
        match op {
            Op::Fused { epilogue, .. } => Op::Fused {
                anchor: Box::new(sparse),
                prologue: None,
                arity: 1 + format.arrays() + usize::from(self.bias),
                epilogue: epilogue.clone(),
            },
            _ => sparse,
        }
    }
}

/// The sparse forms of a (possibly fused) matmul or 1×1 convolution node.
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
    let Some(product) = Product::of(op.op(), children.len(), ta.shape.dims(), tw.shape.dims())
    else {
        return Vec::new();
    };
    if ta.dtype != DType::F32 || tw.dtype != DType::F32 {
        return Vec::new();
    }
    let Some(weights) = constant(egraph, w) else {
        return Vec::new();
    };
    let dense = Arc::new(product.dense(weights));
    let (k, n) = (product.k, product.n);
    offered(&dense, k, n)
        .into_iter()
        .map(|format| {
            let mut args = vec![Term::Class(a)];
            args.extend((0..format.arrays()).map(|i| array_term(&dense, leaf, format, (k, n), i)));
            args.extend(children[2..].iter().map(|&c| Term::Class(c)));
            Term::Node(product.sparse_op(op.op(), format), args)
        })
        .collect()
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
    let key = format!("sparse:{}:%c{}:{k}x{n}:{i}", format.label(), leaf.0);
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
        let (Some(&a), Some(&w)) = (node.inputs.first(), node.inputs.get(1)) else {
            return false;
        };
        let Some(t) = graph.constant(w).filter(|t| t.dtype() == DType::F32) else {
            return false;
        };
        let dims = graph.ty(a).shape.dims();
        let Some(product) = Product::of(&node.op, node.inputs.len(), dims, t.shape().dims()) else {
            return false;
        };
        graph.ty(a).dtype == DType::F32
            && !offered(&product.dense(t), product.k, product.n).is_empty()
    })
}
