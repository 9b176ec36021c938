//! Fusion rules: element-wise chains become one `elementwise` program, element-wise
//! consumers move into the epilogue of an anchor kernel (`fused`), and a max pool read
//! only by a 1×1 conv becomes that conv's prologue (evaluated where the conv loads it),
//! as does an element-wise program of the conv's (or matmul's left) input and single
//! elements (the quantization of a dynamically quantized input), which the epilogue's
//! operands carry.
//! A one-element element-wise value an epilogue reads is computed in the epilogue.
//!
//! A consumer absorbs one producer per application; saturation builds whole chains.
//! An anchor is only fused into its consumer when the consumer is its only user (and it
//! is no graph output), so no rewrite here ever recomputes an expensive kernel.
//! Element-wise producers may be inlined into several consumers: recomputing a cheap
//! program beats a round trip through memory, and extraction decides.

use super::program::Builder;
use super::{code, ops_in, RuleSpec, Term};
use crate::egraph::analysis::{ty, EGraph};
use crate::egraph::lang::{IrOp, Kiln};
use egg::Id;
use kiln_ir::{DType, Op, Program, Step};

#[rustfmt::skip]
pub(super) const RULES: &[RuleSpec] = &[
    // f(.., g(ys), ..) = elementwise{f ∘ g}(.., ys, ..) for element-wise f and g
    code("fuse-elementwise", fuse_elementwise, "f(.., g(ys), ..) = elementwise{f∘g}(.., ys, ..)"),
    // f(.., a(xs), ..) = fused{a, epilogue f}(xs, ..) for an anchor a used once; also
    // f(reshape(a(xs)), s..) = reshape(fused{a; f}(xs, s..)) for one-element s
    code("fuse-epilogue", fuse_epilogue, "f(.., a(xs), ..) = fused{a; f}(xs, ..); f(reshape(a(xs)), s..) = reshape(fused{a; f}(xs, s..)) for one-element s"),
    // conv(max_pool(x), w, ..) = fused{conv, prologue max_pool}(x, w, ..) for a 1×1 conv
    // fused{a; f}(xs, .., g(ys), ..) = fused{a; f ∘ g}(xs, .., ys, ..) for a one-element g
    code("fuse-epilogue-input", fuse_epilogue_input, "fused{a; f}(xs, .., g(ys), ..) = fused{a; f∘g}(xs, .., ys, ..) for element-wise g of one element"),
    code("fuse-prologue", fuse_prologue, "conv₁ₓ₁(max_pool(x), w, ..) = fused{max_pool; conv₁ₓ₁}(x, w, ..); conv(dequantize(x), w, ..) = fused{dequantize; conv}(x, w, ..); conv(cast_f32(x_f16), w, ..) = fused{cast; conv}(x, w, ..); conv(f(x, s..), w, ..) = fused{f; conv}(x, w, .., s..) for element-wise f and one-element s; likewise matmul(f(x, s..), b)"),
];

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
    Program::of_op(op.op())
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

/// Whether class `c` holds one element: such a producer (a scale computed at run
/// time) is always worth recomputing, so it is inlined together with every other
/// one-element producer of the same consumer, never one at a time (one at a time,
/// the chains of scalar arithmetic dynamic quantization writes give every consumer
/// one e-node per subset of them).
fn one_element(egraph: &EGraph, c: Id) -> bool {
    ty(egraph, c).is_some_and(|t| t.shape.numel() == 1)
}

/// The sets of producer classes among `children` to inline per application: each
/// multi-element producer alone, and all one-element producers together.
fn inline_sets(egraph: &EGraph, children: &[Id]) -> Vec<Vec<Id>> {
    let mut classes: Vec<Id> = Vec::new();
    for &c in children {
        let c = egraph.find(c);
        if !classes.contains(&c) && producer(egraph, c).is_some() {
            classes.push(c);
        }
    }
    let (scalars, tensors): (Vec<Id>, Vec<Id>) =
        classes.into_iter().partition(|&c| one_element(egraph, c));
    let mut sets: Vec<Vec<Id>> = tensors.into_iter().map(|c| vec![c]).collect();
    if !scalars.is_empty() {
        sets.push(scalars);
    }
    sets
}

/// `outer` applied to `args` (program inputs of `b`, one per child), with the
/// producers of the classes in `set` inlined in place of their inputs.
fn inline_producers(
    egraph: &EGraph,
    b: &mut Builder,
    children: &[Id],
    set: &[Id],
) -> Option<Vec<usize>> {
    let mut inlined: Vec<(Id, usize)> = Vec::new();
    for &c in set {
        let (inner, inner_kids) = producer(egraph, c)?;
        let args: Vec<usize> = inner_kids
            .iter()
            .map(|&k| b.operand(egraph.find(k)))
            .collect();
        inlined.push((c, b.inline(&inner, &args)?));
    }
    Some(
        children
            .iter()
            .map(|&k| {
                let k = egraph.find(k);
                match inlined.iter().find(|(c, _)| *c == k) {
                    Some(&(_, r)) => r,
                    None => b.operand(k),
                }
            })
            .collect(),
    )
}

fn fuse_elementwise(egraph: &EGraph, _class: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    let Some(outer) = consumer(op) else {
        return vec![];
    };
    let mut out = Vec::new();
    for set in inline_sets(egraph, children) {
        let mut b = Builder::new(0);
        let Some(outer_args) = inline_producers(egraph, &mut b, children, &set) else {
            continue;
        };
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

fn fuse_epilogue(egraph: &EGraph, class: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    let Some(outer) = consumer(op) else {
        return vec![];
    };
    if divides_integers(egraph, &outer, children) {
        // Element-wise kernels check integer divisors for zero on the device; anchor
        // kernels' epilogues do not, so such a division stays element-wise.
        return vec![];
    }
    let mut out = Vec::new();
    let mut seen = Vec::new();
    let single = |k: Id| ty(egraph, k).is_some_and(|t| t.shape.numel() == 1);
    let dims = ty(egraph, class).map(|t| t.shape.dims().to_vec());
    for &c in children {
        let c = egraph.find(c);
        if seen.contains(&c) || !used_once(egraph, c) {
            continue;
        }
        seen.push(c);
        out.extend(epilogues(egraph, &outer, children, c, c));
        // Through a reshape of an anchor's result (a gemm's 2-D result reshaped back to
        // the model's 3-D tensor): the same elements in the same order, so where every
        // other operand is one element (no index to remap) or has the consumer's shape
        // (read at the same linear index, reshaped like the anchor's result: a residual
        // add) the anchor computes `f` in its epilogue and the fused result is reshaped
        // instead.
        let same = |k: Id| ty(egraph, k).is_some_and(|t| Some(t.shape.dims()) == dims.as_deref());
        // Only where the reshaped result is not broadcast itself.
        let full = |k: Id| same(c) && same(k);
        let others = children
            .iter()
            .all(|&k| egraph.find(k) == c || single(k) || full(k));
        let Some(dims) = dims.as_ref().filter(|_| others) else {
            continue;
        };
        for (rop, rkids) in ops_in(egraph, c) {
            let (Op::Reshape { .. }, &[a]) = (rop.op(), rkids) else {
                continue;
            };
            let a = egraph.find(a);
            let Some(inner) = ty(egraph, a).map(|t| t.shape.dims().to_vec()) else {
                continue;
            };
            if rop.result() != 0 || a == c || !used_once(egraph, a) {
                continue;
            }
            for fused in epilogues(egraph, &outer, children, c, a) {
                let fused = reshaped_operands(fused, &inner, &full);
                let shape = dims.clone();
                out.push(Term::Node(Op::Reshape { shape }, vec![fused]));
            }
        }
    }
    out
}

/// `fused` (a `Fused` term) with each epilogue operand `full` holds for reshaped to the
/// anchor's result `dims` (a view), as the anchor's result is.
fn reshaped_operands(fused: Term, dims: &[usize], full: &impl Fn(Id) -> bool) -> Term {
    let Term::Node(op, mut operands) = fused else {
        return fused;
    };
    let Op::Fused { arity, .. } = op else {
        return Term::Node(op, operands);
    };
    for t in operands.iter_mut().skip(arity) {
        if let Term::Class(k) = *t {
            if full(k) {
                let shape = dims.to_vec();
                *t = Term::Node(Op::Reshape { shape }, vec![Term::Class(k)]);
            }
        }
    }
    Term::Node(op, operands)
}

/// `outer` (the element-wise program of a node reading `children`) moved into the
/// epilogue of each anchor computing class `a`, which stands for the operand class `c`
/// (`a` itself, or what a reshape `c` reshapes).
fn epilogues(egraph: &EGraph, outer: &Program, children: &[Id], c: Id, a: Id) -> Vec<Term> {
    let mut out = Vec::new();
    for (aop, akids) in ops_in(egraph, a) {
        if aop.result() != 0 || !egraph.analysis.target.takes_epilogue(aop.op()) {
            continue;
        }
        let mut b = Builder::new(1);
        // A prologue reads the epilogue's operands by position (`reads_operands`): they
        // must keep theirs in the rebuilt list.
        let mut pinned: &[Id] = &[];
        let (anchor, arity, anchor_in, r) = match aop.op() {
            Op::Fused {
                anchor,
                prologue,
                arity,
                epilogue,
            } => {
                let Some(extra) = akids.get(*arity..) else {
                    continue;
                };
                if reads_operands(prologue) {
                    pinned = extra;
                }
                let mut args = vec![b.reserved(0)];
                args.extend(extra.iter().map(|&k| b.operand(egraph.find(k))));
                let Some(r) = b.inline(epilogue, &args) else {
                    continue;
                };
                let anchor = ((**anchor).clone(), prologue.clone());
                (anchor, *arity, &akids[..*arity], r)
            }
            x => ((x.clone(), None), akids.len(), akids, b.reserved(0)),
        };
        let (anchor, prologue) = anchor;
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
        let Some(result) = b.inline(outer, &outer_args) else {
            continue;
        };
        let Some((epilogue, extras)) = b.finish(egraph, result) else {
            continue;
        };
        let kept = |(&e, &p): (&Id, &Id)| egraph.find(e) == egraph.find(p);
        if arity + extras.len() > egraph.analysis.target.max_kernel_operands()
            || extras.len() < pinned.len()
            || !extras.iter().zip(pinned).all(kept)
        {
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
                prologue,
                arity,
                epilogue,
            },
            operands,
        ));
    }
    out
}

/// A one-element element-wise value an epilogue reads (a scale computed at run time
/// from reductions, as dynamic quantization does) is computed inside the epilogue
/// instead of by a kernel of its own: recomputing it per element costs a few
/// instructions, a dispatch costs far more.
fn fuse_epilogue_input(egraph: &EGraph, _class: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    let Op::Fused {
        anchor,
        prologue,
        arity,
        epilogue,
    } = op.op()
    else {
        return vec![];
    };
    let Some(extra) = children
        .get(*arity..)
        .filter(|_| op.result() == 0 && !reads_operands(prologue))
    else {
        return vec![];
    };
    let scalars: Vec<Id> = inline_sets(egraph, extra)
        .into_iter()
        .flatten()
        .filter(|&c| one_element(egraph, c))
        .filter(|&c| {
            producer(egraph, c).is_some_and(|(p, kids)| !divides_integers(egraph, &p, &kids))
        })
        .collect();
    if scalars.is_empty() {
        return vec![];
    }
    let mut b = Builder::new(1);
    let mut args = vec![b.reserved(0)];
    let Some(inputs) = inline_producers(egraph, &mut b, extra, &scalars) else {
        return vec![];
    };
    args.extend(inputs);
    let Some(result) = b.inline(epilogue, &args) else {
        return vec![];
    };
    let Some((epilogue, extras)) = b.finish(egraph, result) else {
        return vec![];
    };
    if arity + extras.len() > egraph.analysis.target.max_kernel_operands() {
        return vec![];
    }
    let operands = children[..*arity]
        .iter()
        .chain(&extras)
        .map(|&k| Term::Class(k))
        .collect();
    vec![Term::Node(
        Op::Fused {
            anchor: anchor.clone(),
            prologue: prologue.clone(),
            arity: *arity,
            epilogue,
        },
        operands,
    )]
}

/// True for a prologue that reads the fused node's epilogue operands by position (an
/// element-wise program of more than its own operand): rules that rebuild those
/// operands leave such a node alone. The forms they would build exist anyway: the
/// prologue rule applies to every epilogue the others build.
fn reads_operands(prologue: &Option<Box<Op>>) -> bool {
    matches!(prologue.as_deref(), Some(Op::Elementwise { program }) if program.num_inputs() > 1)
}

/// True when `program`, on the values of `children`, divides integers by something
/// other than a constant step ([`Program::integer_divisors`]).
fn divides_integers(egraph: &EGraph, program: &Program, children: &[Id]) -> bool {
    let dtypes: Option<Vec<_>> = children
        .iter()
        .map(|&k| ty(egraph, k).map(|t| t.dtype))
        .collect();
    match dtypes.and_then(|d| program.step_types(&d).ok()) {
        Some(types) => !program.integer_divisors(&types).is_empty(),
        None => true,
    }
}

/// True for a convolution that reads each input position once: every kernel extent 1
/// (from the weight type), strides and dilations 1, no padding. Its input can be
/// produced per element by a prologue.
fn is_pointwise_conv(egraph: &EGraph, op: &Op, children: &[Id]) -> bool {
    let Op::Conv(c) = op else {
        return false;
    };
    let Some(w) = children.get(1).and_then(|&w| ty(egraph, w)) else {
        return false;
    };
    w.shape.rank() >= 3
        && w.shape.dims()[2..].iter().all(|&k| k == 1)
        && c.strides.iter().all(|&s| s == 1)
        && c.dilations.iter().all(|&d| d == 1)
        && c.pads.iter().all(|&p| p == 0)
}

/// The max-pool e-nodes of class `c` whose first result is all that is used of them:
/// `(pool op, its operand)`. `c` must be used once (by the conv fusing it).
fn single_result_pools(egraph: &EGraph, c: Id) -> Vec<(Op, Id)> {
    if egraph[c].data.value.is_some() || !used_once(egraph, c) {
        return vec![];
    }
    ops_in(egraph, c)
        .filter(|(op, kids)| {
            matches!(op.op(), Op::MaxPool(_)) && op.result() == 0 && kids.len() == 1
        })
        .filter(|(op, kids)| {
            // The indices result, when the graph has it, must be unused.
            let indices = Kiln::Op(IrOp::new(op.op().clone(), 1), kids.to_vec());
            egraph.lookup(indices).is_none_or(|i| {
                egraph[i].data.uses == Some(0)
                    && !egraph.analysis.roots.iter().any(|&r| egraph.find(r) == i)
            })
        })
        .map(|(op, kids)| (op.op().clone(), egraph.find(kids[0])))
        .collect()
}

/// The `dequantize{block=0}(x, s, z)` nodes of class `c` (read only by the conv) whose
/// scale and zero point are single known values, and the casts of an f16 value `x`
/// that is not a constant to f32 (an activation `--quantize f16` stores as f16): each
/// as a one-input program on `x`.
fn dequantize_prologues(egraph: &EGraph, c: Id) -> Vec<(Op, Id)> {
    if !used_once(egraph, c) {
        return vec![];
    }
    ops_in(egraph, c)
        .filter_map(|(op, kids)| {
            if let (Op::Cast { to: DType::F32 }, [x]) = (op.op(), kids) {
                let half = ty(egraph, *x)?.dtype == DType::F16;
                if !half || egraph[*x].data.value.is_some() {
                    return None;
                }
                let program = Program {
                    steps: vec![Step::Input(0), Step::Cast(DType::F32, 0)],
                };
                return Some((Op::Elementwise { program }, egraph.find(*x)));
            }
            let Op::Dequantize { block: 0, .. } = op.op() else {
                return None;
            };
            let [x, s, z] = kids[..] else {
                return None;
            };
            let value = |k: Id| {
                let t = egraph[k].data.value.as_ref()?;
                (t.numel() == 1 || t.is_splat()).then(|| (t.dtype(), t.to_f64_vec()[0]))
            };
            let ((sd, sv), (zd, zv)) = (value(s)?, value(z)?);
            let program = Program {
                steps: vec![
                    Step::Input(0),
                    Step::Const {
                        dtype: sd,
                        value: sv,
                    },
                    Step::Const {
                        dtype: zd,
                        value: zv,
                    },
                    Step::Dequantize([0, 1, 2]),
                ],
            };
            Some((Op::Elementwise { program }, egraph.find(x)))
        })
        .collect()
}

/// The element-wise e-nodes of class `c` (read only by the conv or matmul, never a
/// constant) that read one value of their own shape and, beside it, only single-element
/// values that are not the anchor's own operands (a dynamic quantization's runtime
/// range, say): one (see below) as a prologue program on that value. Its other inputs
/// become the fused node's operands after `children` (an epilogue operand reused, a new
/// one appended, listed third).
fn elementwise_prologues(
    egraph: &EGraph,
    c: Id,
    children: &[Id],
    arity: usize,
) -> Vec<(Op, Id, Vec<Id>)> {
    let single = |k: Id| ty(egraph, k).is_some_and(|t| t.shape.numel() == 1);
    let out = match ty(egraph, c) {
        Some(t) if t.dtype.is_float() && egraph[c].data.value.is_none() && used_once(egraph, c) => {
            t
        }
        _ => return vec![],
    };
    let anchor: Vec<Id> = children[..arity].iter().map(|&k| egraph.find(k)).collect();
    ops_in(egraph, c)
        .filter_map(|(op, kids)| {
            let Op::Elementwise { program } = op.op() else {
                return None;
            };
            let full: Vec<usize> = (0..kids.len()).filter(|&j| !single(kids[j])).collect();
            let [x] = full[..] else {
                return None;
            };
            if ty(egraph, kids[x])?.shape != out.shape || kids.len() < 2 {
                return None;
            }
            let mut extra: Vec<Id> = children[arity..].iter().map(|&k| egraph.find(k)).collect();
            let mut appended = Vec::new();
            let mut input = vec![0; kids.len()];
            for (j, &k) in kids.iter().enumerate() {
                let k = egraph.find(k);
                if j == x {
                    continue;
                }
                if anchor.contains(&k) {
                    return None;
                }
                input[j] = 1 + extra.iter().position(|&e| e == k).unwrap_or_else(|| {
                    extra.push(k);
                    appended.push(k);
                    extra.len() - 1
                });
            }
            let steps = program
                .steps
                .iter()
                .map(|s| match *s {
                    Step::Input(j) => input.get(j).map(|&i| Step::Input(i)),
                    ref s => Some(s.clone()),
                })
                .collect::<Option<Vec<Step>>>()?;
            let program = Program { steps };
            Some((Op::Elementwise { program }, egraph.find(kids[x]), appended))
        })
        // One per class: the class holds every partial fusion of the chain, and a
        // prologue of each would multiply the fused node's forms. The one reading the
        // fewest values the epilogue does not (a scale the epilogue computes inline from
        // the range would otherwise need a kernel of its own), then the largest program.
        .min_by_key(|(op, _, appended)| {
            let steps = match op {
                Op::Elementwise { program } => program.steps.len(),
                _ => 0,
            };
            (appended.len(), std::cmp::Reverse(steps))
        })
        .into_iter()
        .collect()
}

fn fuse_prologue(egraph: &EGraph, _class: Id, op: &IrOp, children: &[Id]) -> Vec<Term> {
    if op.result() != 0 {
        return vec![];
    }
    // A bare conv or matmul (identity epilogue), or one whose epilogue fused first.
    let (anchor, arity, epilogue) = match op.op() {
        plain @ (Op::Conv(_) | Op::MatMul) => (
            plain,
            children.len(),
            Program {
                steps: vec![Step::Input(0)],
            },
        ),
        Op::Fused {
            anchor,
            prologue: None,
            arity,
            epilogue,
        } if *arity <= children.len() => (&**anchor, *arity, epilogue.clone()),
        _ => return vec![],
    };
    // A matmul's prologue applies to its left operand only: one read as both stays.
    let matmul = matches!(anchor, Op::MatMul);
    let conv = matches!(anchor, Op::Conv(_));
    if arity < 2
        || !(conv || matmul)
        || matmul && egraph.find(children[0]) == egraph.find(children[1])
    {
        return vec![];
    }
    // Any conv may dequantize its input where it loads it, or quantize it with a range
    // known at run time; only a pointwise one can pool it there.
    let mut prologues: Vec<(Op, Id, Vec<Id>)> = dequantize_prologues(egraph, children[0])
        .into_iter()
        .map(|(op, x)| (op, x, vec![]))
        .collect();
    prologues.extend(elementwise_prologues(egraph, children[0], children, arity));
    if conv && is_pointwise_conv(egraph, anchor, &children[..arity]) {
        let pools = single_result_pools(egraph, children[0]);
        prologues.extend(pools.into_iter().map(|(op, x)| (op, x, vec![])));
    }
    // A kernel binds each operand: appended ones must fit the device's limit.
    let max_operands = egraph.analysis.target.max_kernel_operands();
    prologues
        .into_iter()
        .filter(|(_, _, appended)| children.len() + appended.len() <= max_operands)
        .map(|(pool, x, appended)| {
            let mut operands = vec![Term::Class(x)];
            operands.extend(children[1..].iter().map(|&k| Term::Class(k)));
            operands.extend(appended.into_iter().map(Term::Class));
            Term::Node(
                Op::Fused {
                    anchor: Box::new(anchor.clone()),
                    prologue: Some(Box::new(pool)),
                    arity,
                    epilogue: epilogue.clone(),
                },
                operands,
            )
        })
        .collect()
}
