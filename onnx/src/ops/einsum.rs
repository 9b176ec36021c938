//! ONNX `Einsum` as transposes, reductions and batched matrix products: each operand's
//! repeated labels become a diagonal (a strided slice of the merged axes), labels no
//! later term needs are summed out, and operands are combined pairwise by one
//! `[batch, M, K] · [batch, K, N]` product.

use crate::builder::Cx;
use crate::error::ImportError;
use kiln_ir::{Handle, Op, ReduceOp, Value};

type Outs = Result<Vec<Handle<Value>>, ImportError>;
type V = Handle<Value>;

/// A label: a letter, or (from `...`) an ellipsis axis counted from the right.
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
enum Label {
    Ellipsis(usize),
    Letter(char),
}

/// One term's labels; `None` where the term has no `...`.
fn parse_term(term: &str, rank: Option<usize>) -> Result<Vec<Label>, String> {
    let (before, after) = match term.find("...") {
        Some(i) => (&term[..i], Some(&term[i + 3..])),
        None => (term, None),
    };
    let letters = |s: &str| -> Result<Vec<Label>, String> {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphabetic() {
                    Ok(Label::Letter(c))
                } else {
                    Err(format!("'{c}' is not a label"))
                }
            })
            .collect()
    };
    let mut out = letters(before)?;
    if let Some(after) = after {
        let tail = letters(after)?;
        let n = match rank {
            Some(r) => r
                .checked_sub(out.len() + tail.len())
                .ok_or_else(|| format!("term '{term}' has more labels than rank {r}"))?,
            None => 0,
        };
        out.extend((0..n).rev().map(Label::Ellipsis));
        out.extend(tail);
    }
    Ok(out)
}

/// An operand and the label of each of its axes (all distinct).
struct Term {
    v: V,
    labels: Vec<Label>,
}

fn transpose(cx: &mut Cx, t: Term, order: &[Label]) -> Result<Term, ImportError> {
    let perm: Vec<usize> = order
        .iter()
        .map(|l| {
            t.labels
                .iter()
                .position(|x| x == l)
                .expect("a label of the term")
        })
        .collect();
    let v = if perm.iter().enumerate().all(|(i, &p)| i == p) {
        t.v
    } else {
        cx.add(Op::Transpose { perm }, &[t.v])?
    };
    Ok(Term {
        v,
        labels: order.to_vec(),
    })
}

fn sum_out(cx: &mut Cx, t: Term, drop: &[Label]) -> Result<Term, ImportError> {
    let axes: Vec<usize> = (0..t.labels.len())
        .filter(|&i| drop.contains(&t.labels[i]))
        .collect();
    if axes.is_empty() {
        return Ok(t);
    }
    let v = cx.add(
        Op::Reduce {
            op: ReduceOp::Sum,
            axes,
            keepdims: false,
        },
        &[t.v],
    )?;
    let labels = t.labels.into_iter().filter(|l| !drop.contains(l)).collect();
    Ok(Term { v, labels })
}

/// Takes the diagonal of every repeated label.
fn diagonals(cx: &mut Cx, v: V, mut labels: Vec<Label>) -> Result<Term, ImportError> {
    let mut v = v;
    while let Some((p1, p2)) = (0..labels.len()).find_map(|i| {
        (i + 1..labels.len())
            .find(|&j| labels[j] == labels[i])
            .map(|j| (i, j))
    }) {
        let dims = cx.dims(v);
        let n = dims[p1];
        if dims[p2] != n {
            return Err(cx.err(format!(
                "repeated label {:?} spans axes of sizes {n} and {}",
                labels[p1], dims[p2]
            )));
        }
        let mut perm: Vec<usize> = (0..labels.len()).filter(|&i| i != p1 && i != p2).collect();
        let rest: Vec<Label> = perm.iter().map(|&i| labels[i]).collect();
        perm.extend([p1, p2]);
        let t = cx.add(Op::Transpose { perm: perm.clone() }, &[v])?;
        let mut shape: Vec<usize> = perm[..perm.len() - 2].iter().map(|&i| dims[i]).collect();
        shape.push(n * n);
        let flat = cx.reshape(t, shape.clone())?;
        v = cx.slice_strided(flat, shape.len() - 1, 0, n + 1, n)?;
        let l = labels[p1];
        labels = rest;
        labels.push(l);
    }
    Ok(Term { v, labels })
}

/// The size of each label of `t`.
fn sizes(cx: &Cx, t: &Term) -> Vec<(Label, usize)> {
    t.labels.iter().copied().zip(cx.dims(t.v)).collect()
}

fn size_of(s: &[(Label, usize)], l: Label) -> usize {
    s.iter().find(|(x, _)| *x == l).map_or(1, |&(_, n)| n)
}

/// `a` and `b` contracted over their shared labels not in `keep`.
fn product(cx: &mut Cx, a: Term, b: Term, keep: &[Label]) -> Result<Term, ImportError> {
    let (sa, sb) = (sizes(cx, &a), sizes(cx, &b));
    let shared: Vec<Label> = a
        .labels
        .iter()
        .copied()
        .filter(|l| b.labels.contains(l))
        .collect();
    let batch: Vec<Label> = shared
        .iter()
        .copied()
        .filter(|l| keep.contains(l))
        .collect();
    let contract: Vec<Label> = shared
        .iter()
        .copied()
        .filter(|l| !keep.contains(l))
        .collect();
    let left: Vec<Label> = a
        .labels
        .iter()
        .copied()
        .filter(|l| !shared.contains(l))
        .collect();
    let right: Vec<Label> = b
        .labels
        .iter()
        .copied()
        .filter(|l| !shared.contains(l))
        .collect();
    for &l in &shared {
        let (x, y) = (size_of(&sa, l), size_of(&sb, l));
        if x != y && x != 1 && y != 1 {
            return Err(cx.err(format!("label {l:?} has sizes {x} and {y}")));
        }
        if !batch.contains(&l) && x != y {
            return Err(cx.err(format!("summed label {l:?} has sizes {x} and {y}")));
        }
    }
    let bdims: Vec<usize> = batch
        .iter()
        .map(|&l| size_of(&sa, l).max(size_of(&sb, l)))
        .collect();
    let prod =
        |s: &[(Label, usize)], ls: &[Label]| ls.iter().map(|&l| size_of(s, l)).product::<usize>();
    let (nb, m, k, n) = (
        bdims.iter().product::<usize>(),
        prod(&sa, &left),
        prod(&sa, &contract),
        prod(&sb, &right),
    );
    let order_a: Vec<Label> = batch
        .iter()
        .chain(&left)
        .chain(&contract)
        .copied()
        .collect();
    let order_b: Vec<Label> = batch
        .iter()
        .chain(&contract)
        .chain(&right)
        .copied()
        .collect();
    let ta = transpose(cx, a, &order_a)?;
    let tb = transpose(cx, b, &order_b)?;
    let mut operands = Vec::new();
    for (t, tail) in [(ta, [m, k]), (tb, [k, n])] {
        let mut full = bdims.clone();
        full.extend(&cx.dims(t.v)[batch.len()..]);
        let v = if cx.dims(t.v) != full {
            cx.add(Op::Expand { shape: full }, &[t.v])?
        } else {
            t.v
        };
        operands.push(cx.reshape(v, vec![nb, tail[0], tail[1]])?);
    }
    let y = cx.add(Op::MatMul, &operands)?;
    let mut shape = bdims;
    shape.extend(left.iter().map(|&l| size_of(&sa, l)));
    shape.extend(right.iter().map(|&l| size_of(&sb, l)));
    let v = cx.reshape(y, shape)?;
    let labels = batch.into_iter().chain(left).chain(right).collect();
    Ok(Term { v, labels })
}

pub(super) fn einsum(cx: &mut Cx) -> Outs {
    let eq: String = cx
        .attr_s("equation")?
        .ok_or_else(|| cx.err("attribute 'equation' is required"))?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let inputs = cx.inputs()?;
    let (lhs, rhs) = match eq.split_once("->") {
        Some((l, r)) => (l.to_string(), Some(r.to_string())),
        None => (eq.clone(), None),
    };
    let terms: Vec<&str> = lhs.split(',').collect();
    if terms.len() != inputs.len() {
        return Err(cx.err(format!(
            "equation '{eq}' has {} terms for {} operands",
            terms.len(),
            inputs.len()
        )));
    }
    let mut parsed = Vec::new();
    for (term, &v) in terms.iter().zip(&inputs) {
        let labels = parse_term(term, Some(cx.rank(v))).map_err(|e| cx.err(e))?;
        if labels.len() != cx.rank(v) {
            return Err(cx.err(format!(
                "term '{term}' has {} labels for an operand of rank {}",
                labels.len(),
                cx.rank(v)
            )));
        }
        parsed.push((v, labels));
    }
    let ellipsis = parsed
        .iter()
        .flat_map(|(_, ls)| ls.iter())
        .filter(|l| matches!(l, Label::Ellipsis(_)))
        .count()
        > 0;
    let max_ellipsis = parsed
        .iter()
        .flat_map(|(_, ls)| ls.iter())
        .filter_map(|l| match l {
            Label::Ellipsis(i) => Some(i + 1),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let output: Vec<Label> = match &rhs {
        Some(r) => {
            let mut out = parse_term(r, None).map_err(|e| cx.err(e))?;
            if r.contains("...") {
                let at = r.find("...").map_or(0, |i| r[..i].len());
                let tail = out.split_off(at);
                out.extend((0..max_ellipsis).rev().map(Label::Ellipsis));
                out.extend(tail);
            }
            out
        }
        None => {
            let all: Vec<Label> = parsed
                .iter()
                .flat_map(|(_, ls)| ls.iter().copied())
                .collect();
            let mut once: Vec<Label> = all
                .iter()
                .copied()
                .filter(|l| {
                    matches!(l, Label::Letter(_)) && all.iter().filter(|x| *x == l).count() == 1
                })
                .collect();
            once.sort();
            let mut out: Vec<Label> = if ellipsis {
                (0..max_ellipsis).rev().map(Label::Ellipsis).collect()
            } else {
                vec![]
            };
            out.append(&mut once);
            out
        }
    };
    for (i, l) in output.iter().enumerate() {
        if output[..i].contains(l) {
            return Err(cx.err(format!("output label {l:?} repeats")));
        }
        if !parsed.iter().any(|(_, ls)| ls.contains(l)) {
            return Err(cx.err(format!("output label {l:?} is in no operand")));
        }
    }
    let mut terms = Vec::new();
    for (v, labels) in parsed {
        terms.push(diagonals(cx, v, labels)?);
    }
    // Combine left to right, summing out each label once no later term needs it:
    // `keeps[i]` are the labels still needed once term `i` has been combined.
    let keeps: Vec<Vec<Label>> = (0..terms.len())
        .map(|i| {
            let mut k = output.clone();
            for t in &terms[i + 1..] {
                k.extend(t.labels.iter().copied());
            }
            k
        })
        .collect();
    let mut it = terms.into_iter().zip(keeps);
    let (first, keep) = it.next().ok_or_else(|| cx.err("Einsum needs an operand"))?;
    let drop: Vec<Label> = first
        .labels
        .iter()
        .copied()
        .filter(|l| !keep.contains(l))
        .collect();
    let mut acc = sum_out(cx, first, &drop)?;
    for (t, keep) in it {
        let drop: Vec<Label> = t
            .labels
            .iter()
            .copied()
            .filter(|l| !keep.contains(l) && !acc.labels.contains(l))
            .collect();
        let t = sum_out(cx, t, &drop)?;
        acc = product(cx, acc, t, &keep)?;
    }
    let drop: Vec<Label> = acc
        .labels
        .iter()
        .copied()
        .filter(|l| !output.contains(l))
        .collect();
    acc = sum_out(cx, acc, &drop)?;
    let acc = transpose(cx, acc, &output)?;
    Ok(vec![acc.v])
}
