//! Quantization round trips: quantizing a dequantized value with the same scales and
//! zero points gives back the quantized value, and a per-tensor dequantize commutes
//! with ops that only move elements. onnxruntime's QDQ quantizer writes a Q → DQ pair
//! after every reshape and transpose (with the producer's scale and zero point); these
//! rules let them cancel instead of costing a kernel each.
//!
//! Exactness: `dequantize` computes `y = (q - z) · s` in f32 and `quantize` computes
//! `round(y / s) + z`. For an integer `|q - z| < 2^17` and a normal `s` whose products
//! stay normal, `y / s` is within a few ulps of `q - z`, far from the half-way points,
//! so the round trip returns `q` (saturation never engages: `q` is in range). The same
//! holds for the minifloat formats: `y / s` is within 2^-22 relative of a value the
//! format represents, and rounding to it returns it.

use super::quant::constant;
use super::{code, ops_in, RuleSpec, Term};
use crate::egraph::analysis::{ty, EGraph};
use crate::egraph::lang::IrOp;
use egg::Id;
use kiln_ir::{Op, Tensor};

#[rustfmt::skip]
pub(super) const RULES: &[RuleSpec] = &[
    code("quantize-dequantize", quantize_dequantize, "quantize(dequantize(q, s, z), s, z) = q"),
    code("movement-dequantize", movement_dequantize, "move(dequantize(q, s, z)) = dequantize(move(q), s, z) for one scale s and zero point z"),
];

/// Scales whose every product with a difference of quantized values (at most 2^17 in
/// magnitude) is a normal f32, so the round trip through them is exact.
fn exact_scales(scale: &Tensor) -> bool {
    let (lo, hi) = (
        f64::from(f32::MIN_POSITIVE) * 2.0,
        f64::from(f32::MAX) / 262_144.0,
    );
    scale
        .to_f64_vec()
        .iter()
        .all(|s| (lo..=hi).contains(&s.abs()))
}

/// Whether two operand classes hold the same value: the same class, or constants of
/// equal type and elements.
fn same_value(egraph: &EGraph, a: Id, b: Id) -> bool {
    let (a, b) = (egraph.find(a), egraph.find(b));
    a == b
        || matches!((constant(egraph, a), constant(egraph, b)),
            (Some(x), Some(y)) if x.ty() == y.ty() && x.to_f64_vec() == y.to_f64_vec())
}

/// One value for the whole tensor: the layout attributes then mean nothing.
fn per_tensor(egraph: &EGraph, id: Id) -> bool {
    ty(egraph, id).is_some_and(|t| t.shape.numel() == 1)
}

fn quantize_dequantize(egraph: &EGraph, _: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    let (&Op::Quantize { axis, block, .. }, &[x, s, z]) = (op.op(), children) else {
        return vec![];
    };
    if !constant(egraph, s).is_some_and(exact_scales) {
        return vec![];
    }
    let one = per_tensor(egraph, s) && per_tensor(egraph, z);
    ops_in(egraph, x)
        .filter_map(|(inner, kids)| match (inner.op(), kids) {
            (&Op::Dequantize { axis: a, block: b }, &[q, s2, z2])
                if (one || (a, b) == (axis, block))
                    && same_value(egraph, s, s2)
                    && same_value(egraph, z, z2)
                    && ty(egraph, q).map(|t| t.dtype) == ty(egraph, z).map(|t| t.dtype) =>
            {
                Some(Term::Class(q))
            }
            _ => None,
        })
        .collect()
}

fn movement_dequantize(egraph: &EGraph, _: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    let &[x] = children else {
        return vec![];
    };
    if op.result() != 0 || !op.op().is_data_movement() {
        return vec![];
    }
    ops_in(egraph, x)
        .filter_map(|(inner, kids)| match (inner.op(), kids) {
            (Op::Dequantize { .. }, &[q, s, z])
                if per_tensor(egraph, s) && per_tensor(egraph, z) =>
            {
                Some(Term::Node(
                    inner.op().clone(),
                    vec![
                        Term::Node(op.op().clone(), vec![Term::Class(q)]),
                        Term::Class(s),
                        Term::Class(z),
                    ],
                ))
            }
            _ => None,
        })
        .collect()
}
