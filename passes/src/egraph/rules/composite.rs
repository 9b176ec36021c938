//! Composite patterns recognised and replaced by one op: GELU, SiLU, HardSwish,
//! Softmax, LayerNorm, RMS norm, attention, and BatchNorm folded into the Conv before it.
//! Patterns follow the forms the ONNX importer produces for the expanded functions
//! and for PyTorch exports.

use super::fusion::used_once;
use super::Cond::{Is, Near, SameType};
use super::{code, ops_in, pat, RuleSpec, Term};
use crate::egraph::analysis::{ty, uniform_value, value_key, EGraph};
use crate::egraph::lang::{IrOp, Kiln};
use egg::Id;
use kiln_ir::{BinaryOp, Data, Op, ReduceOp, Tensor, UnaryOp};
use std::f64::consts::{FRAC_1_SQRT_2, SQRT_2};
use std::sync::Arc;

const GELU: &str = "(gelu{tanh=false} ?x)";
const GELU_TANH: &str = "(gelu{tanh=true} ?x)";
/// √(2/π), the GELU tanh-form coefficient.
const SQRT_2_OVER_PI: f64 = 0.7978845608028654;

#[rustfmt::skip]
pub(super) const RULES: &[RuleSpec] = &[
    // (½·x)·(1 + erf(x/√2)) = gelu(x)
    pat("gelu-erf", "(mul (mul ?h ?x) (add ?one (erf (div ?x ?s))))", GELU, &[Near("?h", 0.5), Is("?one", 1.0), Near("?s", SQRT_2), SameType("?x")], "½x·(1 + erf(x/√2)) = gelu(x)"),
    // (x·½)·(1 + erf(x/√2)) = gelu(x)
    pat("gelu-erf-x-half", "(mul (mul ?x ?h) (add ?one (erf (div ?x ?s))))", GELU, &[Near("?h", 0.5), Is("?one", 1.0), Near("?s", SQRT_2), SameType("?x")], "(x·½)·(1 + erf(x/√2)) = gelu(x)"),
    // (x·(1 + erf(x/√2)))·½ = gelu(x)
    pat("gelu-erf-half-last", "(mul (mul ?x (add ?one (erf (div ?x ?s)))) ?h)", GELU, &[Near("?h", 0.5), Is("?one", 1.0), Near("?s", SQRT_2), SameType("?x")], "(x·(1 + erf(x/√2)))·½ = gelu(x)"),
    // (½·x)·(1 + erf(x·(1/√2))) = gelu(x)
    pat("gelu-erf-mul", "(mul (mul ?h ?x) (add ?one (erf (mul ?x ?s))))", GELU, &[Near("?h", 0.5), Is("?one", 1.0), Near("?s", FRAC_1_SQRT_2), SameType("?x")], "½x·(1 + erf(x·(1/√2))) = gelu(x)"),
    // ½x·(erf(x/√2) + 1) = gelu(x) (exporters writing the constant first)
    pat("gelu-erf-erf-first", "(mul (mul ?h ?x) (add (erf (div ?x ?s)) ?one))", GELU, &[Near("?h", 0.5), Is("?one", 1.0), Near("?s", SQRT_2), SameType("?x")], "½x·(erf(x/√2) + 1) = gelu(x)"),
    // (x·½)·(erf(x/√2) + 1) = gelu(x) (HuggingFace's `x * 0.5 * (1.0 + erf(x / sqrt(2)))`, traced)
    pat("gelu-erf-x-half-erf-first", "(mul (mul ?x ?h) (add (erf (div ?x ?s)) ?one))", GELU, &[Near("?h", 0.5), Is("?one", 1.0), Near("?s", SQRT_2), SameType("?x")], "(x·½)·(erf(x/√2) + 1) = gelu(x)"),
    // (x·(erf(x/√2) + 1))·½ = gelu(x) (torch.onnx's Gelu symbolic before opset 20)
    pat("gelu-erf-half-last-erf-first", "(mul (mul ?x (add (erf (div ?x ?s)) ?one)) ?h)", GELU, &[Near("?h", 0.5), Is("?one", 1.0), Near("?s", SQRT_2), SameType("?x")], "(x·(erf(x/√2) + 1))·½ = gelu(x)"),
    // x·(½·(1 + erf(x/√2))) = gelu(x)
    pat("gelu-erf-half-inner", "(mul ?x (mul ?h (add ?one (erf (div ?x ?s)))))", GELU, &[Near("?h", 0.5), Is("?one", 1.0), Near("?s", SQRT_2), SameType("?x")], "x·(½·(1 + erf(x/√2))) = gelu(x)"),
    // x·(½·(erf(x/√2) + 1)) = gelu(x)
    pat("gelu-erf-half-inner-erf-first", "(mul ?x (mul ?h (add (erf (div ?x ?s)) ?one)))", GELU, &[Near("?h", 0.5), Is("?one", 1.0), Near("?s", SQRT_2), SameType("?x")], "x·(½·(erf(x/√2) + 1)) = gelu(x)"),
    // ½x·(erf(x·(1/√2)) + 1) = gelu(x)
    pat("gelu-erf-mul-erf-first", "(mul (mul ?h ?x) (add (erf (mul ?x ?s)) ?one))", GELU, &[Near("?h", 0.5), Is("?one", 1.0), Near("?s", FRAC_1_SQRT_2), SameType("?x")], "½x·(erf(x·(1/√2)) + 1) = gelu(x)"),
    // (x·½)·(erf(x·(1/√2)) + 1) = gelu(x)
    pat("gelu-erf-x-half-mul-erf-first", "(mul (mul ?x ?h) (add (erf (mul ?x ?s)) ?one))", GELU, &[Near("?h", 0.5), Is("?one", 1.0), Near("?s", FRAC_1_SQRT_2), SameType("?x")], "(x·½)·(erf(x·(1/√2)) + 1) = gelu(x)"),
    // (x·(erf(x·(1/√2)) + 1))·½ = gelu(x)
    pat("gelu-erf-half-last-mul-erf-first", "(mul (mul ?x (add (erf (mul ?x ?s)) ?one)) ?h)", GELU, &[Near("?h", 0.5), Is("?one", 1.0), Near("?s", FRAC_1_SQRT_2), SameType("?x")], "(x·(erf(x·(1/√2)) + 1))·½ = gelu(x)"),
    // x·(½·(erf(x·(1/√2)) + 1)) = gelu(x)
    pat("gelu-erf-half-inner-mul-erf-first", "(mul ?x (mul ?h (add (erf (mul ?x ?s)) ?one)))", GELU, &[Near("?h", 0.5), Is("?one", 1.0), Near("?s", FRAC_1_SQRT_2), SameType("?x")], "x·(½·(erf(x·(1/√2)) + 1)) = gelu(x)"),
    // (½·x)·(1 + tanh(√(2/π)·(x + 0.044715·x³))) = gelu_tanh(x)
    pat("gelu-tanh", "(mul (mul ?h ?x) (add ?one (tanh (mul ?k (add ?x (mul ?c (pow ?x ?three)))))))", GELU_TANH, &[Near("?h", 0.5), Is("?one", 1.0), Near("?k", SQRT_2_OVER_PI), Near("?c", 0.044715), Is("?three", 3.0), SameType("?x")], "½x·(1 + tanh(√(2/π)(x + 0.044715x³))) = gelu_tanh(x)"),
    // x·sigmoid(x) = silu(x)
    pat("silu", "(mul ?x (sigmoid ?x))", "(silu ?x)", &[SameType("?x")], "x·sigmoid(x) = silu(x)"),
    // sigmoid(x)·x = silu(x)
    pat("silu-left", "(mul (sigmoid ?x) ?x)", "(silu ?x)", &[SameType("?x")], "sigmoid(x)·x = silu(x)"),
    // x·hard_sigmoid{1/6, ½}(x) = hard_swish(x)
    pat("hard-swish", "(mul ?x (hard_sigmoid{alpha=0.16666667,beta=0.5} ?x))", "(hard_swish ?x)", &[SameType("?x")], "x·hard_sigmoid{1/6,½}(x) = hard_swish(x)"),
    // hard_sigmoid{1/6, ½}(x)·x = hard_swish(x)
    pat("hard-swish-left", "(mul (hard_sigmoid{alpha=0.16666667,beta=0.5} ?x) ?x)", "(hard_swish ?x)", &[SameType("?x")], "hard_sigmoid{1/6,½}(x)·x = hard_swish(x)"),
    // x·min(max(x + 3, 0), 6) / 6 = hard_swish(x)
    pat("hard-swish-relu6", "(div (mul ?x (min (max (add ?x ?three) ?zero) ?six)) ?six2)", "(hard_swish ?x)", &[Is("?three", 3.0), Is("?zero", 0.0), Is("?six", 6.0), Is("?six2", 6.0), SameType("?x")], "x·relu6(x + 3)/6 = hard_swish(x)"),
    // exp(x - max(x)) / Σ exp(x - max(x)) = softmax(x), one axis
    code("softmax", softmax, "exp(x - reduce_max(x)) / reduce_sum(exp(..)) = softmax(x)"),
    // (x - mean(x)) / sqrt(mean((x - mean(x))²) + ε) = layer_norm(x, 1)
    code("layer-norm", layer_norm, "(x - E[x]) / √(E[(x - E[x])²] + ε) = layer_norm(x, 1)"),
    // (x - E[x]) / sqrt(E[x²] - E[x]² + ε) = layer_norm(x, 1) (ONNX's LayerNormalization function body)
    code("layer-norm-moments", layer_norm_moments, "(x - E[x]) / √(E[x²] - E[x]² + ε) = layer_norm(x, 1)"),
    // layer_norm(x, 1)·s = layer_norm(x, s)
    code("layer-norm-scale", layer_norm_scale, "layer_norm(x, 1)·s = layer_norm(x, s)"),
    // x / √(E[x²] + ε) = rms_norm(x, 1), also as x·(1/√(..)) (ONNX's RMSNormalization body, Llama exports)
    code("rms-norm", rms_norm, "x / √(E[x²] + ε) = rms_norm(x, 1)"),
    // rms_norm(x, 1)·s = rms_norm(x, s)
    code("rms-norm-scale", rms_norm_scale, "rms_norm(x, 1)·s = rms_norm(x, s)"),
    // layer_norm(x, s) + b = layer_norm(x, s, b)
    code("layer-norm-bias", layer_norm_bias, "layer_norm(x, s) + b = layer_norm(x, s, b)"),
    // softmax(q·kt·s + mask)·v = attention{s}(q, kt, v, mask)
    code("attention", attention, "softmax(q·kt·s + mask)·v = attention{s}(q, kt, v, mask)"),
    // batch_norm(conv(x, w, b)) = conv(x, w·f, (b - mean)·f + beta), f = γ/√(var + ε)
    code("conv-batch-norm", conv_batch_norm, "batch_norm(conv(x, w, b)) = conv(x, w·f, (b - μ)·f + β)"),
];

/// E-nodes of class `c` whose op satisfies `f`, with their children (result 0 only).
fn find<'a>(
    egraph: &'a EGraph,
    c: Id,
    f: impl Fn(&Op) -> bool + 'a,
) -> impl Iterator<Item = (&'a Op, &'a [Id])> + 'a {
    ops_in(egraph, c)
        .filter(move |(op, _)| op.result() == 0 && f(op.op()))
        .map(|(op, kids)| (op.op(), kids))
}

fn same(egraph: &EGraph, a: Id, b: Id) -> bool {
    egraph.find(a) == egraph.find(b)
}

fn softmax(egraph: &EGraph, _: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    let (Op::Binary(BinaryOp::Div), [e, s]) = (op.op(), children) else {
        return vec![];
    };
    let mut out = Vec::new();
    for (sop, sum_in) in find(
        egraph,
        *s,
        |o| matches!(o, Op::Reduce { op: ReduceOp::Sum, axes, keepdims: true } if axes.len() == 1),
    ) {
        let Some(&summed) = sum_in.first() else {
            continue;
        };
        let Op::Reduce { axes, .. } = sop else {
            continue;
        };
        let axis = axes[0];
        if !same(egraph, summed, *e) {
            continue;
        }
        for (_, exp_in) in find(egraph, *e, |o| matches!(o, Op::Unary(UnaryOp::Exp))) {
            let d = exp_in[0];
            for (_, sub_in) in find(egraph, d, |o| matches!(o, Op::Binary(BinaryOp::Sub))) {
                let (x, m) = (sub_in[0], sub_in[1]);
                let is_max = find(egraph, m, |o| {
                    matches!(o, Op::Reduce { op: ReduceOp::Max, axes, keepdims: true } if axes == &[axis])
                })
                .any(|(_, k)| same(egraph, k[0], x));
                if is_max && ty(egraph, x) == ty(egraph, *e) {
                    out.push(Term::Node(Op::Softmax { axis }, vec![Term::Class(x)]));
                }
            }
        }
    }
    out
}

/// `axes` is `[k, k+1, .., rank-1]`: returns `k`.
fn trailing_axes(axes: &[usize], rank: usize) -> Option<usize> {
    let k = *axes.first()?;
    (axes.iter().copied().eq(k..rank)).then_some(k)
}

fn layer_norm(egraph: &EGraph, _: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    // var = E[(x - E[x])²]
    normalized(egraph, op, children, |var, _, _, d, axes| {
        is_mean_of_square(egraph, var, d, axes)
    })
}

fn layer_norm_moments(egraph: &EGraph, _: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    // var = E[x²] - E[x]²
    normalized(egraph, op, children, |var, x, m, _, axes| {
        find(egraph, var, |o| matches!(o, Op::Binary(BinaryOp::Sub)))
            .any(|(_, k)| is_mean_of_square(egraph, k[0], x, axes) && is_square_of(egraph, k[1], m))
    })
}

/// Class `c` holds `reduce_mean{axes, keepdims}(v²)`.
fn is_mean_of_square(egraph: &EGraph, c: Id, v: Id, axes: &[usize]) -> bool {
    find(
        egraph,
        c,
        |o| matches!(o, Op::Reduce { op: ReduceOp::Mean, keepdims: true, axes: a } if a == axes),
    )
    .any(|(_, k)| is_square_of(egraph, k[0], v))
}

/// `layer_norm(x, 1)` for `(x - m) / sqrt(var + ε)` with `m = E[x]` over trailing axes,
/// where `var_ok(var, x, m, x - m, axes)` says `var` is the variance.
fn normalized(
    egraph: &EGraph,
    op: &IrOp,
    children: &[Id],
    var_ok: impl Fn(Id, Id, Id, Id, &[usize]) -> bool,
) -> Vec<Term> {
    let (Op::Binary(BinaryOp::Div), [d, sd]) = (op.op(), children) else {
        return vec![];
    };
    let mut out = Vec::new();
    for (_, sub_in) in find(egraph, *d, |o| matches!(o, Op::Binary(BinaryOp::Sub))) {
        let (x, m) = (sub_in[0], sub_in[1]);
        let Some(xt) = ty(egraph, x) else { continue };
        let mean_axes = find(egraph, m, |o| {
            matches!(
                o,
                Op::Reduce {
                    op: ReduceOp::Mean,
                    keepdims: true,
                    ..
                }
            )
        })
        .find(|(_, k)| same(egraph, k[0], x))
        .map(|(o, _)| o.clone());
        let Some(Op::Reduce { axes, .. }) = mean_axes else {
            continue;
        };
        let Some(axis) = trailing_axes(&axes, xt.shape.rank()) else {
            continue;
        };
        for (_, sqrt_in) in find(egraph, *sd, |o| matches!(o, Op::Unary(UnaryOp::Sqrt))) {
            for (_, add_in) in find(egraph, sqrt_in[0], |o| {
                matches!(o, Op::Binary(BinaryOp::Add))
            }) {
                let (var, eps) = (add_in[0], add_in[1]);
                let Some(epsilon) = uniform_value(egraph, eps) else {
                    continue;
                };
                if var_ok(var, x, m, *d, &axes) && ty(egraph, *d) == Some(xt) {
                    let one = Tensor::scalar(Data::F32(vec![1.0]));
                    let Ok(one) = one else { continue };
                    let key = value_key(&one);
                    out.push(Term::Node(
                        Op::LayerNorm {
                            axis,
                            epsilon: epsilon as f32,
                        },
                        vec![
                            Term::Class(x),
                            Term::Const(key, Arc::new(move || Some(one.clone()))),
                        ],
                    ));
                }
            }
        }
    }
    out
}

/// The scalar constant `1` as a term (the unit scale of a bare normalization).
fn unit_scale() -> Option<Term> {
    let one = Tensor::scalar(Data::F32(vec![1.0])).ok()?;
    let key = value_key(&one);
    Some(Term::Const(key, Arc::new(move || Some(one.clone()))))
}

/// `rms_norm(x, 1)` for `x / sqrt(E[x²] + ε)`, `x · reciprocal(sqrt(..))` or
/// `x · (1 / sqrt(..))`, the mean over trailing axes.
fn rms_norm(egraph: &EGraph, _: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    // (x, the class holding sqrt(E[x²] + ε)) pairs.
    let mut forms: Vec<(Id, Id)> = Vec::new();
    match (op.op(), children) {
        (Op::Binary(BinaryOp::Div), [x, sd]) => forms.push((*x, *sd)),
        (Op::Binary(BinaryOp::Mul), [a, b]) => {
            for (x, r) in [(*a, *b), (*b, *a)] {
                for (o, k) in find(egraph, r, |o| {
                    matches!(
                        o,
                        Op::Unary(UnaryOp::Reciprocal) | Op::Binary(BinaryOp::Div)
                    )
                }) {
                    match o {
                        Op::Unary(_) => forms.push((x, k[0])),
                        _ if uniform_value(egraph, k[0]) == Some(1.0) => forms.push((x, k[1])),
                        _ => {}
                    }
                }
            }
        }
        _ => return vec![],
    }
    let mut out = Vec::new();
    for (x, sd) in forms {
        let Some(xt) = ty(egraph, x) else { continue };
        for (_, sqrt_in) in find(egraph, sd, |o| matches!(o, Op::Unary(UnaryOp::Sqrt))) {
            for (_, add_in) in find(egraph, sqrt_in[0], |o| {
                matches!(o, Op::Binary(BinaryOp::Add))
            }) {
                for (ms, eps) in [(add_in[0], add_in[1]), (add_in[1], add_in[0])] {
                    let Some(epsilon) = uniform_value(egraph, eps) else {
                        continue;
                    };
                    let axes = find(egraph, ms, |o| {
                        matches!(
                            o,
                            Op::Reduce {
                                op: ReduceOp::Mean,
                                keepdims: true,
                                ..
                            }
                        )
                    })
                    .find(|(_, k)| is_square_of(egraph, k[0], x))
                    .map(|(o, _)| o.clone());
                    let Some(Op::Reduce { axes, .. }) = axes else {
                        continue;
                    };
                    let Some(axis) = trailing_axes(&axes, xt.shape.rank()) else {
                        continue;
                    };
                    let Some(one) = unit_scale() else { continue };
                    out.push(Term::Node(
                        Op::RmsNorm {
                            axis,
                            epsilon: epsilon as f32,
                        },
                        vec![Term::Class(x), one],
                    ));
                }
            }
        }
    }
    out
}

fn rms_norm_scale(egraph: &EGraph, _: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    let (Op::Binary(BinaryOp::Mul), [a, b]) = (op.op(), children) else {
        return vec![];
    };
    let mut out = Vec::new();
    for (n, s) in [(*a, *b), (*b, *a)] {
        if !used_once(egraph, n) || !egraph[s].data.constant {
            continue;
        }
        for (nop, k) in find(egraph, n, |o| matches!(o, Op::RmsNorm { .. })) {
            if uniform_value(egraph, k[1]) == Some(1.0) {
                out.push(Term::Node(
                    nop.clone(),
                    vec![Term::Class(k[0]), Term::Class(s)],
                ));
            }
        }
    }
    out
}

/// Class `sq` holds `d²` (as `pow(d, 2)` or `d·d`).
fn is_square_of(egraph: &EGraph, sq: Id, d: Id) -> bool {
    find(egraph, sq, |o| {
        matches!(o, Op::Binary(BinaryOp::Pow | BinaryOp::Mul))
    })
    .any(|(o, k)| {
        same(egraph, k[0], d)
            && match o {
                Op::Binary(BinaryOp::Mul) => same(egraph, k[1], d),
                _ => uniform_value(egraph, k[1]) == Some(2.0),
            }
    })
}

fn layer_norm_scale(egraph: &EGraph, _: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    let (Op::Binary(BinaryOp::Mul), [a, b]) = (op.op(), children) else {
        return vec![];
    };
    let mut out = Vec::new();
    for (ln, s) in [(*a, *b), (*b, *a)] {
        if !used_once(egraph, ln) || !egraph[s].data.constant {
            continue;
        }
        for (lop, k) in find(egraph, ln, |o| matches!(o, Op::LayerNorm { .. })) {
            if k.len() == 2 && uniform_value(egraph, k[1]) == Some(1.0) {
                out.push(Term::Node(
                    lop.clone(),
                    vec![Term::Class(k[0]), Term::Class(s)],
                ));
            }
        }
    }
    out
}

fn layer_norm_bias(egraph: &EGraph, _: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    let (Op::Binary(BinaryOp::Add), [a, b]) = (op.op(), children) else {
        return vec![];
    };
    let mut out = Vec::new();
    for (ln, bias) in [(*a, *b), (*b, *a)] {
        if !used_once(egraph, ln) || !egraph[bias].data.constant {
            continue;
        }
        for (lop, k) in find(egraph, ln, |o| matches!(o, Op::LayerNorm { .. })) {
            if k.len() == 2 {
                let args = vec![Term::Class(k[0]), Term::Class(k[1]), Term::Class(bias)];
                out.push(Term::Node(lop.clone(), args));
            }
        }
    }
    out
}

/// `(q, kt, scale)` when class `c` holds `q·kt`, `q·kt·s`, `s·(q·kt)` or `q·kt/s`.
fn scaled_scores(egraph: &EGraph, c: Id) -> Vec<(Id, Id, f32)> {
    let mut out = Vec::new();
    let matmul = |id: Id| -> Vec<(Id, Id)> {
        find(egraph, id, |o| matches!(o, Op::MatMul))
            .map(|(_, k)| (k[0], k[1]))
            .collect()
    };
    out.extend(matmul(c).into_iter().map(|(q, k)| (q, k, 1.0)));
    for (o, k) in find(egraph, c, |o| {
        matches!(o, Op::Binary(BinaryOp::Mul | BinaryOp::Div))
    }) {
        let pairs: &[(Id, Id)] = match o {
            Op::Binary(BinaryOp::Mul) => &[(k[0], k[1]), (k[1], k[0])],
            _ => &[(k[0], k[1])],
        };
        for &(m, s) in pairs {
            let Some(v) = uniform_value(egraph, s) else {
                continue;
            };
            let scale = if matches!(o, Op::Binary(BinaryOp::Div)) {
                1.0 / v
            } else {
                v
            };
            out.extend(matmul(m).into_iter().map(|(q, kt)| (q, kt, scale as f32)));
        }
    }
    out
}

fn attention(egraph: &EGraph, _: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    let (Op::MatMul, [p, v]) = (op.op(), children) else {
        return vec![];
    };
    let mut out = Vec::new();
    for (sop, k) in find(egraph, *p, |o| matches!(o, Op::Softmax { .. })) {
        let z = k[0];
        let Some(zt) = ty(egraph, z) else { continue };
        if !matches!(sop, Op::Softmax { axis } if *axis + 1 == zt.shape.rank()) {
            continue;
        }
        let mut forms: Vec<(Id, Id, f32, Option<Id>)> = scaled_scores(egraph, z)
            .into_iter()
            .map(|(q, kt, s)| (q, kt, s, None))
            .collect();
        for (_, a) in find(egraph, z, |o| matches!(o, Op::Binary(BinaryOp::Add))) {
            for (y, mask) in [(a[0], a[1]), (a[1], a[0])] {
                for (q, kt, s) in scaled_scores(egraph, y) {
                    forms.push((q, kt, s, Some(mask)));
                }
            }
        }
        for (q, kt, scale, mask) in forms {
            let mut args = vec![Term::Class(q), Term::Class(kt), Term::Class(*v)];
            args.extend(mask.map(Term::Class));
            out.push(Term::Node(Op::Attention { scale }, args));
        }
    }
    out
}

/// The indices of the constant leaves of classes `ids`, if every one has one.
pub(super) fn const_indices(egraph: &EGraph, ids: &[Id]) -> Option<Vec<usize>> {
    ids.iter().map(|&q| const_index(egraph, q)).collect()
}

/// The index of the constant leaf in class `c`.
fn const_index(egraph: &EGraph, c: Id) -> Option<usize> {
    egraph[c].nodes.iter().find_map(|n| match n {
        Kiln::Const(l) => Some(l.0),
        _ => None,
    })
}

fn f32s(t: &Tensor) -> Option<Vec<f32>> {
    match &*t.data() {
        Data::F32(v) => Some(v.clone()),
        _ => None,
    }
}

fn conv_batch_norm(egraph: &EGraph, _: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    let (Op::BatchNorm { epsilon }, [c, params @ ..]) = (op.op(), children) else {
        return vec![];
    };
    if op.result() != 0 || params.len() != 4 || !used_once(egraph, *c) {
        return vec![];
    }
    let Some(p) = const_indices(egraph, params) else {
        return vec![];
    };
    let mut out = Vec::new();
    for (cop, kids) in find(egraph, *c, |o| matches!(o, Op::Conv(_))) {
        let Some(w) = kids.get(1).and_then(|&k| const_index(egraph, k)) else {
            continue;
        };
        let b = match kids.get(2) {
            Some(&k) => match const_index(egraph, k) {
                Some(i) => Some(i),
                None => continue,
            },
            None => None,
        };
        let consts = &egraph.analysis.consts;
        let get = |i: usize| consts.get(i).cloned();
        let (Some(wt), Some(g), Some(beta), Some(mu), Some(var)) =
            (get(w), get(p[0]), get(p[1]), get(p[2]), get(p[3]))
        else {
            continue;
        };
        let bt = b.and_then(get);
        let eps = *epsilon;
        let cout = wt.shape().dims().first().copied().unwrap_or(0);
        let factor = move || -> Option<Vec<f32>> {
            let (g, v) = (f32s(&g)?, f32s(&var)?);
            (g.len() == cout && v.len() == cout).then(|| {
                g.iter()
                    .zip(&v)
                    .map(|(g, v)| g / (v + eps).sqrt())
                    .collect()
            })
        };
        let tag = format!("{w}:{b:?}:{p:?}:{}", eps.to_bits());
        let f1 = factor.clone();
        let w_recipe = Arc::new(move || {
            let f = f1()?;
            let data = f32s(&wt)?;
            let per = data.len() / cout.max(1);
            let v: Vec<f32> = data
                .iter()
                .enumerate()
                .map(|(i, x)| x * f[i / per.max(1)])
                .collect();
            Tensor::from_f32(wt.shape().clone(), v).ok()
        });
        let b_recipe = Arc::new(move || {
            let f = factor()?;
            let (beta, mu) = (f32s(&beta)?, f32s(&mu)?);
            let b0 = match &bt {
                Some(t) => f32s(t)?,
                None => vec![0.0; cout],
            };
            if beta.len() != cout || mu.len() != cout || b0.len() != cout {
                return None;
            }
            let v = (0..cout)
                .map(|o| (b0[o] - mu[o]) * f[o] + beta[o])
                .collect();
            Tensor::from_f32(vec![cout], v).ok()
        });
        out.push(Term::Node(
            cop.clone(),
            vec![
                Term::Class(kids[0]),
                Term::Const(format!("bn-fold-w:{tag}"), w_recipe),
                Term::Const(format!("bn-fold-b:{tag}"), b_recipe),
            ],
        ));
    }
    out
}
