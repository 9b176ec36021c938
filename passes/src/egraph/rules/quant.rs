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
//!
//! The other way round, a product of two dequantized 8-bit tensors (a QDQ model's
//! `DequantizeLinear → MatMul`, a dynamically quantized activation times int8 weights)
//! equals the integer product of the quantized values dequantized once with the product
//! of the scales, when each scale and zero point is constant along the reduction axis
//! (per tensor, per row of `a`, per column of `b`): `Σ (a - za)·sa·(b - zb)·sb =
//! sa·sb·Σ (a - za)(b - zb)`. The integer sum is exact where the f32 one rounds each
//! product and partial sum, so the two differ by f32 rounding, as two summation orders
//! do. With both forms in the class, extraction picks by the device's rates; the rule
//! is offered only where integer products are faster than f32 ones
//! (`DeviceProfile::integer_faster`).

use super::{code, RuleSpec, Term};
use crate::egraph::analysis::{value_key, EGraph};
use crate::egraph::lang::{IrOp, Kiln};
use egg::Id;
use kiln_ir::{DType, Data, Op, Tensor};
use std::sync::Arc;

pub(super) const RULES: &[RuleSpec] = &[
    code(
        "integer-product-in-f32",
        in_f32,
        "int_product(a, b, za, zb) = cast_i32(product(dequantize(a, 1, za), dequantize(b, 1, zb))) while every |partial sum| < 2^24",
    ),
    code(
        QDQ_AS_INTEGER,
        as_integer,
        "matmul(dequantize(a, sa, za), dequantize(b, sb, zb)) = dequantize(matmul_integer(a, b, za, zb), sa · sb, 0), and conv(dequantize(x), dequantize(w), b) = dequantize(conv_integer(..), sx · sw, 0) + b, for 8-bit operands, scales and zero points constant along the reduction",
    ),
];

/// The rule offering products of dequantized 8-bit values as integer products, which
/// the optimizer enables only where integer products are faster than f32 ones
/// ([`crate::egraph::DeviceProfile::integer_faster`]).
pub const QDQ_AS_INTEGER: &str = "dequantized-product-as-integer";

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

fn in_f32(egraph: &EGraph, class: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    if rescales_a_float_product(egraph, class) {
        // Made by `dequantized-product-as-integer`: its f32 form is already there.
        return Vec::new();
    }
    float_form(egraph, op.op(), children).into_iter().collect()
}

/// Whether e-class `id` holds a float matmul or conv.
fn holds_float_product(egraph: &EGraph, id: Id) -> bool {
    egraph[id]
        .nodes
        .iter()
        .any(|n| matches!(n, Kiln::Op(op, _) if matches!(op.op(), Op::MatMul | Op::Conv(_))))
}

/// Whether integer product `id` is the integer form of a float product in the e-graph
/// (`dequantized-product-as-integer`): a `dequantize` of it is in the class of a float
/// matmul or conv, or read by an add (the bias) that is.
fn rescales_a_float_product(egraph: &EGraph, id: Id) -> bool {
    let id = egraph.find(id);
    egraph[id].parents().any(|p| {
        let parent = egraph.find(p);
        let dequantizes_it = egraph[parent].nodes.iter().any(|n| {
            matches!(n, Kiln::Op(op, ch) if matches!(op.op(), Op::Dequantize { .. })
                && ch.first().is_some_and(|&c| egraph.find(c) == id))
        });
        dequantizes_it
            && (holds_float_product(egraph, parent)
                || egraph[parent]
                    .parents()
                    .any(|q| holds_float_product(egraph, egraph.find(q))))
    })
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

fn as_integer(egraph: &EGraph, _class: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    integer_form(egraph, op.op(), children)
        .into_iter()
        .collect()
}

/// The `dequantize` e-nodes of class `id` (no blocks): `(quantized, scale, zero)`.
fn dequantizes(egraph: &EGraph, id: Id) -> impl Iterator<Item = [Id; 3]> + '_ {
    egraph[id].nodes.iter().filter_map(|n| match n {
        Kiln::Op(op, ch) if matches!(op.op(), Op::Dequantize { block: 0, .. }) => {
            <[Id; 3]>::try_from(ch.as_slice()).ok()
        }
        _ => None,
    })
}

/// Whether `dequantize(q, scale, _)` can be an operand of an integer product: `q` is
/// 8-bit and `scale` f32 and not the constant 1 (an operand `integer-product-in-f32`
/// dequantized, whose integer product is in the e-graph already).
fn byte_operand(egraph: &EGraph, q: Id, scale: Id) -> bool {
    let ty = |id: Id| egraph[id].data.ty.as_ref();
    let unit = constant(egraph, scale).is_some_and(|t| t.numel() == 1 && t.to_f64_vec()[0] == 1.0);
    ty(q).is_some_and(|t| t.dtype.is_byte_int())
        && ty(scale).is_some_and(|t| t.dtype == DType::F32)
        && !unit
}

/// `dims` right-aligned to `rank` (leading 1s), or `None` if it has more axes.
fn aligned(dims: &[usize], rank: usize) -> Option<Vec<usize>> {
    let lead = rank.checked_sub(dims.len())?;
    Some(
        std::iter::repeat_n(1, lead)
            .chain(dims.iter().copied())
            .collect(),
    )
}

/// A zero point of a rank-`rank` operand as `matmul_integer` takes it: one value, or one
/// per index of `axis` (rows of `a`, columns of `b`) reshaped to 1-D; `None` when it
/// varies along any other axis.
fn integer_zero(egraph: &EGraph, zero: Id, rank: usize, axis: usize) -> Option<Term> {
    let shape = &egraph[zero].data.ty.as_ref()?.shape;
    if shape.numel() == 1 {
        return Some(Term::Class(zero));
    }
    let dims = aligned(shape.dims(), rank)?;
    let varying: Vec<usize> = (0..rank).filter(|&i| dims[i] != 1).collect();
    if varying != [axis] {
        return None;
    }
    Some(Term::Node(
        Op::Reshape {
            shape: vec![dims[axis]],
        },
        vec![Term::Class(zero)],
    ))
}

/// `dequantize(matmul_integer(a, b, za, zb), sa · sb, 0)` for `matmul(dequantize(a, sa,
/// za), dequantize(b, sb, zb))` where the rule's conditions hold.
fn integer_form(egraph: &EGraph, op: &Op, children: &[Id]) -> Option<Term> {
    if let Op::Conv(attrs) = op {
        return conv_integer_form(egraph, attrs, children);
    }
    let (Op::MatMul, &[x, y]) = (op, children) else {
        return None;
    };
    let ty = |id: Id| egraph[id].data.ty.as_ref();
    let (rx, ry) = (ty(x)?.shape.rank(), ty(y)?.shape.rank());
    if rx < 2 || ry < 2 {
        return None;
    }
    // Scales constant along k (the last axis of a, the next to last of b).
    let scale_ok = |s: Id, rank: usize, k: usize| {
        ty(s).is_some_and(|t| aligned(t.shape.dims(), rank).is_some_and(|d| d[k] == 1))
    };
    for [qa, sa, za] in dequantizes(egraph, x) {
        if !byte_operand(egraph, qa, sa) || !scale_ok(sa, rx, rx - 1) {
            continue;
        }
        let Some(za) = integer_zero(egraph, za, rx, rx - 2) else {
            continue;
        };
        for [qb, sb, zb] in dequantizes(egraph, y) {
            if !byte_operand(egraph, qb, sb) || !scale_ok(sb, ry, ry - 2) {
                continue;
            }
            let Some(zb) = integer_zero(egraph, zb, ry, ry - 1) else {
                continue;
            };
            let product = Term::Node(
                Op::MatMulInteger,
                vec![Term::Class(qa), Term::Class(qb), za.clone(), zb],
            );
            let scale = Term::Node(
                Op::Binary(kiln_ir::BinaryOp::Mul),
                vec![Term::Class(sa), Term::Class(sb)],
            );
            return rescaled(product, scale);
        }
    }
    None
}

/// `dequantize(product, scale, 0)`: an integer product's sums at their real scale.
fn rescaled(product: Term, scale: Term) -> Option<Term> {
    let zero = Tensor::scalar(Data::I32(vec![0])).ok()?;
    let key = value_key(&zero);
    Some(Term::Node(
        Op::Dequantize { axis: 0, block: 0 },
        vec![
            Term::ReadOnce(Box::new(product)),
            Term::ReadOnce(Box::new(scale)),
            Term::Const(key, Arc::new(move || Some(zero.clone()))),
        ],
    ))
}

/// [`integer_form`] of a convolution: `conv(dequantize(x, sx, zx), dequantize(w, sw,
/// zw), b) = dequantize(conv_integer(x, w, zx, zw), sx · sw, 0) + b` for 8-bit `x` and
/// `w`, `sx` one value (or one per image) and `zx` one value, `sw` and `zw` one value or
/// one per output channel.
fn conv_integer_form(egraph: &EGraph, attrs: &kiln_ir::ConvAttrs, children: &[Id]) -> Option<Term> {
    let (&[x, w], bias) = (children.get(..2)?, children.get(2)) else {
        return None;
    };
    let ty = |id: Id| egraph[id].data.ty.as_ref();
    let (rx, rw) = (ty(x)?.shape.rank(), ty(w)?.shape.rank());
    let m = *ty(w)?.shape.dims().first()?;
    // Varies along `axis` of a rank-`rank` operand at most.
    let only_along = |id: Id, rank: usize, axis: usize| {
        ty(id)
            .and_then(|t| aligned(t.shape.dims(), rank))
            .is_some_and(|d| d.iter().enumerate().all(|(i, &n)| n == 1 || i == axis))
    };
    // One per output channel, shaped to broadcast along a result's channel axis.
    let per_channel = |id: Id| {
        let mut dims = vec![m];
        dims.resize(rx - 1, 1);
        Term::Node(Op::Reshape { shape: dims }, vec![Term::Class(id)])
    };
    for [qx, sx, zx] in dequantizes(egraph, x) {
        let zx_one = ty(zx).is_some_and(|t| t.shape.numel() == 1);
        if !byte_operand(egraph, qx, sx) || !only_along(sx, rx, 0) || !zx_one {
            continue;
        }
        for [qw, sw, zw] in dequantizes(egraph, w) {
            if !byte_operand(egraph, qw, sw) || !only_along(sw, rw, 0) {
                continue;
            }
            let Some(zw) = integer_zero(egraph, zw, rw, 0) else {
                continue;
            };
            let product = Term::Node(
                Op::ConvInteger(attrs.clone()),
                vec![Term::Class(qx), Term::Class(qw), Term::Class(zx), zw],
            );
            let sw = if ty(sw)?.shape.numel() == 1 {
                Term::Class(sw)
            } else {
                per_channel(sw)
            };
            let scale = Term::Node(
                Op::Binary(kiln_ir::BinaryOp::Mul),
                vec![Term::Class(sx), sw],
            );
            let real = rescaled(product, scale)?;
            return Some(match bias {
                None => real,
                Some(&b) => Term::Node(
                    Op::Binary(kiln_ir::BinaryOp::Add),
                    vec![Term::ReadOnce(Box::new(real)), per_channel(b)],
                ),
            });
        }
    }
    None
}
