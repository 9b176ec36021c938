//! Quantized products in f32: an exact integer product (`matmul_integer`,
//! `conv_integer`) equals the f32 product of its operands dequantized with scale 1
//! (`dequantize(x, 1, zero)`: small exact integers), cast back to i32, whenever every
//! partial sum is an integer below 2^24 in magnitude: f32 holds those exactly, in any
//! summation order. The rule adds that form where a constant operand (the weights)
//! proves the bound: for each output, Σ|w - w_zero| times the largest |x - x_zero| the
//! other operand's dtype and zero points allow. Extraction then picks the integer
//! kernel or the f32 one by the device's integer and f32 rates
//! (`DeviceProfile::int_gops`); the weights' dequantize is computed when the plan is
//! uploaded, so it costs nothing per run.

use super::{code, RuleSpec, Term};
use crate::egraph::analysis::{value_key, EGraph};
use crate::egraph::lang::{IrOp, Kiln};
use egg::Id;
use kiln_ir::{DType, Data, Op, Tensor};
use std::sync::Arc;

pub(super) const RULES: &[RuleSpec] = &[code(
    "integer-product-in-f32",
    in_f32,
    "int_product(a, b, za, zb) = cast_i32(product(dequantize(a, 1, za), dequantize(b, 1, zb))) while every |partial sum| < 2^24",
)];

/// Every integer of smaller magnitude is exact in f32.
const EXACT: f64 = (1u64 << 24) as f64;

/// The tensor of a constant class, of any size.
pub(super) fn constant(egraph: &EGraph, id: Id) -> Option<&Tensor> {
    egraph[id].nodes.iter().find_map(|n| match n {
        Kiln::Const(c) => egraph.analysis.consts.get(c.0),
        _ => None,
    })
}

/// The largest |x - zero| over the values of `x`'s dtype and the zero points `zero`
/// may hold (its values when constant, else its dtype's whole range).
fn spread(egraph: &EGraph, x: Id, zero: Id) -> Option<f64> {
    let (lo, hi) = egraph[x].data.ty.as_ref()?.dtype.int_range()?;
    let zeros = match constant(egraph, zero) {
        Some(z) => z.to_f64_vec(),
        None => vec![lo as f64, hi as f64],
    };
    zeros
        .iter()
        .map(|&z| (z - lo as f64).abs().max((hi as f64 - z).abs()))
        .reduce(f64::max)
}

/// The largest Σ_k |w - zero| over the outputs of a product whose constant operand `w`
/// holds, per batch entry, `k` × `outputs` elements: output `o`'s terms are the
/// elements `r · stride_k + o · stride_o` (`r < k`); zero points one per output or one.
fn largest_l1(w: &[f64], zero: &[f64], k: usize, outputs: usize, (sk, so): (usize, usize)) -> f64 {
    let per_batch = k * outputs;
    let mut largest = 0.0f64;
    for batch in w.chunks(per_batch.max(1)) {
        for o in 0..outputs {
            let z = if zero.len() == 1 { zero[0] } else { zero[o] };
            let sum: f64 = (0..k).map(|r| (batch[r * sk + o * so] - z).abs()).sum();
            largest = largest.max(sum);
        }
    }
    largest
}

/// `dequantize(x, 1, zero)`, `zero` reshaped to broadcast along `axis` of a rank-`rank`
/// operand when it holds one value per index of that axis.
fn dequantized(egraph: &EGraph, x: Id, zero: Id, axis: usize, rank: usize) -> Option<Term> {
    let shape = &egraph[zero].data.ty.as_ref()?.shape;
    let n = shape.numel();
    let mut dims = vec![n];
    dims.resize(rank.checked_sub(axis)?, 1);
    let zero = if n > 1 && shape.dims() != dims.as_slice() {
        Term::Node(Op::Reshape { shape: dims }, vec![Term::Class(zero)])
    } else {
        Term::Class(zero)
    };
    let one = Tensor::scalar(Data::F32(vec![1.0])).ok()?;
    let key = value_key(&one);
    Some(Term::Node(
        Op::Dequantize { axis: 0, block: 0 },
        vec![
            Term::Class(x),
            Term::Const(key, Arc::new(move || Some(one.clone()))),
            zero,
        ],
    ))
}

fn in_f32(egraph: &EGraph, _class: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    float_form(egraph, op.op(), children).into_iter().collect()
}

/// `cast_i32(product in f32)` of an integer product whose bound holds.
fn float_form(egraph: &EGraph, op: &Op, children: &[Id]) -> Option<Term> {
    let &[x, w, zx, zw] = children else {
        return None;
    };
    let rank = |id: Id| egraph[id].data.ty.as_ref().map_or(0, |t| t.shape.rank());
    let weights = constant(egraph, w)?.to_f64_vec();
    let w_zero = constant(egraph, zw)?.to_f64_vec();
    let spread = spread(egraph, x, zx)?;
    let w_dims = egraph[w].data.ty.as_ref()?.shape.dims().to_vec();
    let per_output = |outputs: usize| w_zero.len() == 1 || w_zero.len() == outputs;
    let product = match op {
        Op::ConvInteger(attrs) => {
            // Weights [M, C/g, k...]: output channel m reads one row of k elements.
            let k: usize = w_dims.iter().skip(1).product();
            let outputs = *w_dims.first()?;
            if !per_output(outputs)
                || spread * largest_l1(&weights, &w_zero, k, outputs, (1, k)) >= EXACT
            {
                return None;
            }
            let operands = vec![
                Term::ReadOnce(Box::new(dequantized(egraph, x, zx, 0, rank(x))?)),
                dequantized(egraph, w, zw, 0, rank(w))?,
            ];
            Term::Node(Op::Conv(attrs.clone()), operands)
        }
        Op::MatMulInteger => {
            // B [.., K, N]: output column n reads column n of every batch matrix.
            let (k, n) = match w_dims[..] {
                [k] => (k, 1),
                [.., k, n] => (k, n),
                [] => return None,
            };
            if !per_output(n) || spread * largest_l1(&weights, &w_zero, k, n, (n, 1)) >= EXACT {
                return None;
            }
            // a's zero point is one per row, b's one per column.
            let (ra, rb) = (rank(x), rank(w));
            let operands = vec![
                Term::ReadOnce(Box::new(dequantized(
                    egraph,
                    x,
                    zx,
                    ra.saturating_sub(2),
                    ra,
                )?)),
                dequantized(egraph, w, zw, rb.saturating_sub(1), rb)?,
            ];
            Term::Node(Op::MatMul, operands)
        }
        _ => return None,
    };
    // The product and the activations' dequantize are read once each, by the cast and
    // the product: the fusion rules may fold them into one kernel with its neighbours.
    Some(Term::Node(
        Op::Cast { to: DType::I32 },
        vec![Term::ReadOnce(Box::new(product))],
    ))
}
