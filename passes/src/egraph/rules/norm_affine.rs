//! The fusion phase's element-wise form of an f16 batch norm, so that its producer (a
//! conv, say) takes it as an epilogue: `batch_norm(x) = f16(f32(x)·s + t)`. In the
//! fusion phase, not the composite one, since alone the norm's kernel is as cheap and
//! the cost model prices it so; beside `fuse-epilogue`, extraction weighs the conv with
//! the norm in its epilogue against the two kernels.

use super::composite::const_indices;
use super::{code, RuleSpec, Term};
use crate::egraph::analysis::{ty, EGraph};
use crate::egraph::lang::IrOp;
use egg::Id;
use kiln_ir::{BinaryOp, DType, Op, Program, Step, Tensor};
use std::sync::Arc;

#[rustfmt::skip]
pub(super) const RULES: &[RuleSpec] = &[
    // batch_norm(x) = f16(f32(x)·s + t), s = γ/√(var + ε), t = β - μ·s, for an f16 x
    code("batch-norm-affine", batch_norm_affine, "batch_norm(x) = f16(f32(x)·s + t) for an f16 x"),
];

/// An f16 batch norm as the element-wise program `f16(f32(x)·s + t)` with f32
/// per-channel constants `s = γ/√(var + ε)` and `t = β - μ·s` (computed in f64, as the
/// reference computes the norm, then rounded to f32): the fusion rules then take it into
/// its producer's epilogue, a conv's say. Folding it into an f16 conv's weights instead
/// (`conv-batch-norm`) would round `w·s` and the bias to f16, and the bias's rounding is
/// relative to `μ·s`, not to the result: on the PP-OCR classifier converted to f16 that
/// moved a class probability by 5e-3, where the unfolded model agrees with its f32
/// original within 3e-4. The program computes in f32 like the batch-norm kernel does,
/// and rounds to f16 once, like the reference.
fn batch_norm_affine(egraph: &EGraph, _: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    let (Op::BatchNorm { epsilon }, [x, params @ ..]) = (op.op(), children) else {
        return vec![];
    };
    let Some(tx) = ty(egraph, *x) else {
        return vec![];
    };
    let dims = tx.shape.dims();
    if op.result() != 0 || params.len() != 4 || tx.dtype != DType::F16 || dims.len() < 2 {
        return vec![];
    }
    let Some(p) = const_indices(egraph, params) else {
        return vec![];
    };
    let consts = &egraph.analysis.consts;
    let Some(t) = p
        .iter()
        .map(|&i| consts.get(i).map(|t| t.to_f64_vec()))
        .collect::<Option<Vec<_>>>()
    else {
        return vec![];
    };
    let c = dims[1];
    if t.iter().any(|v| v.len() != c) {
        return vec![];
    }
    // Per channel, broadcast over the spatial axes.
    let mut shape = vec![c];
    shape.resize(dims.len() - 1, 1);
    let eps = *epsilon as f64;
    let scale: Vec<f64> = (0..c).map(|i| t[0][i] / (t[3][i] + eps).sqrt()).collect();
    let shift: Vec<f32> = (0..c)
        .map(|i| (t[1][i] - t[2][i] * scale[i]) as f32)
        .collect();
    let scale: Vec<f32> = scale.into_iter().map(|v| v as f32).collect();
    let tag = format!("{p:?}:{}", epsilon.to_bits());
    let constant = |name: &str, v: Vec<f32>| {
        let shape = shape.clone();
        Term::Const(
            format!("bn-affine-{name}:{tag}"),
            Arc::new(move || Tensor::from_f32(shape.clone(), v.clone()).ok()),
        )
    };
    let program = Program {
        steps: vec![
            Step::Input(0),
            Step::Cast(DType::F32, 0),
            Step::Input(1),
            Step::Binary(BinaryOp::Mul, 1, 2),
            Step::Input(2),
            Step::Binary(BinaryOp::Add, 3, 4),
            Step::Cast(DType::F16, 5),
        ],
    };
    vec![Term::Node(
        Op::Elementwise { program },
        vec![Term::Class(*x), constant("s", scale), constant("t", shift)],
    )]
}
