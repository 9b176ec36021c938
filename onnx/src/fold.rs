//! Import-time evaluation of IR ops on known values, exact on int64 data.
//!
//! Shape-like operands (reshape targets, slice bounds, axes, ...) are often computed
//! by small subgraphs (`Shape → Gather → Concat`, `Cast`, arithmetic). The ops such
//! subgraphs use are evaluated here on [`Known`] values so that int64 stays exact
//! (`INT64_MAX` slice ends); any other op falls back to the reference interpreter.

use crate::known::{round_float, KData, Known};
use kiln_ir::{interp, BinaryOp, DType, Op, ReduceOp, TensorType, UnaryOp};

/// Evaluates `op` on known operands; `None` when it cannot (unsupported op, integer
/// division by zero, interpreter failure). `out` are the node's result types.
pub(crate) fn eval(op: &Op, ins: &[&Known], out: &[TensorType]) -> Option<Vec<Known>> {
    let first = ins.first()?;
    let out0 = out.first()?;
    let like = |data: KData| Known::new(out0.dtype, out0.shape.dims().to_vec(), data);
    let one = |data: KData| Some(vec![like(data)]);
    match op {
        Op::Identity | Op::Reshape { .. } => one(first.data.clone()),
        Op::Shape { start, end } => one(KData::Int(
            first
                .shape
                .get(*start..*end)?
                .iter()
                .map(|&d| d as i64)
                .collect(),
        )),
        Op::Cast { to } => one(cast(&first.data, *to)),
        Op::Unary(u) => one(unary(*u, first)?),
        Op::Binary(b) => one(binary(*b, ins.get(1)?, first, out0)?),
        Op::Where => {
            let (c, x, y) = (first, ins.get(1)?, ins.get(2)?);
            let dims = out0.shape.dims();
            let (ci, xi, yi) = (
                bcast(dims, &c.shape),
                bcast(dims, &x.shape),
                bcast(dims, &y.shape),
            );
            let cv = c.as_ints()?;
            let pick = |k: usize| cv[ci[k]] != 0;
            one(match (&x.data, &y.data) {
                (KData::Int(a), KData::Int(b)) => KData::Int(
                    (0..ci.len())
                        .map(|k| if pick(k) { a[xi[k]] } else { b[yi[k]] })
                        .collect(),
                ),
                (KData::Float(a), KData::Float(b)) => KData::Float(
                    (0..ci.len())
                        .map(|k| if pick(k) { a[xi[k]] } else { b[yi[k]] })
                        .collect(),
                ),
                _ => return None,
            })
        }
        Op::Expand { shape } => one(first.data.pick(&bcast(shape, &first.shape))),
        Op::Transpose { perm } => one(first.data.pick(&transpose_src(&first.shape, perm))),
        Op::Slice {
            starts,
            steps,
            lens,
        } => one(first
            .data
            .pick(&slice_src(&first.shape, starts, steps, lens))),
        Op::Tile { repeats } => one(first.data.pick(&tile_src(&first.shape, repeats))),
        Op::Gather { axis } => one(first
            .data
            .pick(&gather_src(&first.shape, *axis, ins.get(1)?)?)),
        Op::Concat { axis } => one(concat(ins, *axis)?),
        Op::Split { axis, sizes } => {
            let mut start = 0;
            let mut results = Vec::new();
            for (ty, &size) in out.iter().zip(sizes) {
                let mut starts = vec![0; first.shape.len()];
                starts[*axis] = start;
                let mut lens = first.shape.clone();
                lens[*axis] = size;
                let steps = vec![1; first.shape.len()];
                let data = first
                    .data
                    .pick(&slice_src(&first.shape, &starts, &steps, &lens));
                results.push(Known::new(ty.dtype, ty.shape.dims().to_vec(), data));
                start += size;
            }
            Some(results)
        }
        Op::Reduce { op, axes, .. } => one(reduce(*op, first, axes)?),
        _ => interpret(op, ins, out),
    }
}

/// Falls back to the reference interpreter (values must fit their IR dtype).
fn interpret(op: &Op, ins: &[&Known], out: &[TensorType]) -> Option<Vec<Known>> {
    if !ins.iter().all(|k| k.fits()) {
        return None;
    }
    let tensors: Vec<_> = ins
        .iter()
        .map(|k| k.to_tensor())
        .collect::<Result<_, _>>()
        .ok()?;
    let refs: Vec<_> = tensors.iter().collect();
    let results = interp::eval_op(op, &refs, out).ok()?;
    Some(results.iter().map(Known::from_tensor).collect())
}

fn cast(data: &KData, to: DType) -> KData {
    match (data, to) {
        (_, DType::Bool) => KData::Int(data.to_f64().iter().map(|&x| (x != 0.0) as i64).collect()),
        (KData::Int(v), DType::F32 | DType::F16) => {
            KData::Float(v.iter().map(|&x| round_float(to, x as f64)).collect())
        }
        (KData::Float(v), DType::F32 | DType::F16) => {
            KData::Float(v.iter().map(|&x| round_float(to, x)).collect())
        }
        (KData::Float(v), _) => {
            let (lo, hi) = crate::known::int_range(to);
            // I32 may carry int64 values: keep the full range there.
            let (lo, hi) = if to == DType::I32 {
                (i64::MIN, i64::MAX)
            } else {
                (lo, hi)
            };
            KData::Int(
                v.iter()
                    .map(|&x| {
                        if x.is_nan() {
                            0
                        } else {
                            (x.trunc() as i64).clamp(lo, hi)
                        }
                    })
                    .collect(),
            )
        }
        (KData::Int(v), _) => KData::Int(v.clone()),
    }
}

fn unary(u: UnaryOp, x: &Known) -> Option<KData> {
    use UnaryOp::*;
    Some(match &x.data {
        KData::Int(v) => KData::Int(match u {
            Neg => v.iter().map(|&a| a.wrapping_neg()).collect(),
            Abs => v.iter().map(|&a| a.wrapping_abs()).collect(),
            Sign => v.iter().map(|&a| a.signum()).collect(),
            Relu => v.iter().map(|&a| a.max(0)).collect(),
            Not => v.iter().map(|&a| (a == 0) as i64).collect(),
            Floor | Ceil | Round => v.clone(),
            _ => return None,
        }),
        KData::Float(v) => {
            let f: fn(f64) -> f64 = match u {
                Neg => |a| -a,
                Abs => f64::abs,
                Sign => |a| {
                    if a > 0.0 {
                        1.0
                    } else if a < 0.0 {
                        -1.0
                    } else {
                        a
                    }
                },
                Relu => |a| a.max(0.0),
                Floor => f64::floor,
                Ceil => f64::ceil,
                Round => f64::round_ties_even,
                Sqrt => f64::sqrt,
                Reciprocal => |a| 1.0 / a,
                Exp => f64::exp,
                Log => f64::ln,
                _ => return None,
            };
            KData::Float(v.iter().map(|&a| round_float(x.dtype, f(a))).collect())
        }
    })
}

fn binary(b: BinaryOp, y: &Known, x: &Known, out: &TensorType) -> Option<KData> {
    use BinaryOp::*;
    let dims = out.shape.dims();
    let (xi, yi) = (bcast(dims, &x.shape), bcast(dims, &y.shape));
    let n = xi.len();
    Some(match (&x.data, &y.data) {
        (KData::Int(a), KData::Int(c)) => {
            let mut r = Vec::with_capacity(n);
            for k in 0..n {
                let (p, q) = (a[xi[k]], c[yi[k]]);
                r.push(match b {
                    Add => p.wrapping_add(q),
                    Sub => p.wrapping_sub(q),
                    Mul => p.wrapping_mul(q),
                    Div => p.checked_div(q)?,
                    Pow => (p as f64).powf(q as f64) as i64,
                    Max => p.max(q),
                    Min => p.min(q),
                    Prelu => {
                        if p < 0 {
                            p.wrapping_mul(q)
                        } else {
                            p
                        }
                    }
                    Equal => (p == q) as i64,
                    Less => (p < q) as i64,
                    Greater => (p > q) as i64,
                    LessOrEqual => (p <= q) as i64,
                    GreaterOrEqual => (p >= q) as i64,
                    And => (p != 0 && q != 0) as i64,
                    Or => (p != 0 || q != 0) as i64,
                    // ONNX Mod with fmod=0 takes the divisor's sign (Python's %), with
                    // fmod=1 the dividend's (C's %); `i64::MIN % -1` is 0. A zero
                    // divisor is left to the graph, like Div's.
                    Fmod if q != 0 => p.wrapping_rem(q),
                    Mod if q != 0 => match p.wrapping_rem(q) {
                        r if r != 0 && (r < 0) != (q < 0) => r + q,
                        r => r,
                    },
                    // Width-dependent or not needed for shapes: left to the graph.
                    Xor | Mod | Fmod | BitAnd | BitOr | BitXor | ShiftLeft | ShiftRight => {
                        return None
                    }
                });
            }
            KData::Int(r)
        }
        (KData::Float(a), KData::Float(c)) => {
            if b.returns_bool() {
                let cmp: fn(f64, f64) -> bool = match b {
                    Equal => |p, q| p == q,
                    Less => |p, q| p < q,
                    Greater => |p, q| p > q,
                    LessOrEqual => |p, q| p <= q,
                    GreaterOrEqual => |p, q| p >= q,
                    _ => return None,
                };
                KData::Int((0..n).map(|k| cmp(a[xi[k]], c[yi[k]]) as i64).collect())
            } else {
                let f: fn(f64, f64) -> f64 = match b {
                    Add => |p, q| p + q,
                    Sub => |p, q| p - q,
                    Mul => |p, q| p * q,
                    Div => |p, q| p / q,
                    Pow => f64::powf,
                    Max => |p, q| {
                        if p.is_nan() || q.is_nan() {
                            f64::NAN
                        } else {
                            p.max(q)
                        }
                    },
                    Min => |p, q| {
                        if p.is_nan() || q.is_nan() {
                            f64::NAN
                        } else {
                            p.min(q)
                        }
                    },
                    Prelu => |p, q| if p < 0.0 { p * q } else { p },
                    _ => return None,
                };
                KData::Float(
                    (0..n)
                        .map(|k| round_float(out.dtype, f(a[xi[k]], c[yi[k]])))
                        .collect(),
                )
            }
        }
        _ => return None,
    })
}

fn reduce(op: ReduceOp, x: &Known, axes: &[usize]) -> Option<KData> {
    let out_dims: Vec<usize> = x
        .shape
        .iter()
        .enumerate()
        .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
        .collect();
    let out_strides = strides(&out_dims);
    let n_out: usize = out_dims.iter().product();
    let target = |flat: usize| -> usize {
        let mut rem = flat;
        let mut o = 0;
        for (i, s) in strides(&x.shape).iter().enumerate() {
            let c = rem / s;
            rem %= s;
            if !axes.contains(&i) {
                o += c * out_strides[i];
            }
        }
        o
    };
    match (&x.data, op) {
        (KData::Int(v), ReduceOp::Sum | ReduceOp::Prod | ReduceOp::Max | ReduceOp::Min) => {
            let init = match op {
                ReduceOp::Sum => 0,
                ReduceOp::Prod => 1,
                ReduceOp::Max => i64::MIN,
                _ => i64::MAX,
            };
            let mut acc = vec![init; n_out];
            for (k, &a) in v.iter().enumerate() {
                let t = &mut acc[target(k)];
                *t = match op {
                    ReduceOp::Sum => t.wrapping_add(a),
                    ReduceOp::Prod => t.wrapping_mul(a),
                    ReduceOp::Max => (*t).max(a),
                    _ => (*t).min(a),
                };
            }
            Some(KData::Int(acc))
        }
        _ => None,
    }
}

fn concat(ins: &[&Known], axis: usize) -> Option<KData> {
    let first = ins.first()?;
    let outer: usize = first.shape.get(..axis)?.iter().product();
    let mut chunks: Vec<(usize, &KData)> = Vec::new();
    for k in ins {
        let inner: usize = k.shape.get(axis..)?.iter().product();
        chunks.push((inner, &k.data));
    }
    match &first.data {
        KData::Int(_) => {
            let mut r = Vec::new();
            for o in 0..outer {
                for (inner, d) in &chunks {
                    let KData::Int(v) = d else { return None };
                    r.extend_from_slice(v.get(o * inner..(o + 1) * inner)?);
                }
            }
            Some(KData::Int(r))
        }
        KData::Float(_) => {
            let mut r = Vec::new();
            for o in 0..outer {
                for (inner, d) in &chunks {
                    let KData::Float(v) = d else { return None };
                    r.extend_from_slice(v.get(o * inner..(o + 1) * inner)?);
                }
            }
            Some(KData::Float(r))
        }
    }
}

/// Row-major strides of `dims`.
pub(crate) fn strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

/// Calls `f` with the multi-index of every element of `dims`, in row-major order.
fn for_each_index(dims: &[usize], mut f: impl FnMut(&[usize])) {
    if dims.contains(&0) {
        return;
    }
    let mut idx = vec![0; dims.len()];
    loop {
        f(&idx);
        let mut a = dims.len();
        loop {
            if a == 0 {
                return;
            }
            a -= 1;
            idx[a] += 1;
            if idx[a] < dims[a] {
                break;
            }
            idx[a] = 0;
        }
    }
}

/// For each element of a result of shape `out`, the flat index of the numpy-broadcast
/// operand element of shape `shape`.
fn bcast(out: &[usize], shape: &[usize]) -> Vec<usize> {
    let st = strides(shape);
    let off = out.len().saturating_sub(shape.len());
    let mut r = Vec::new();
    for_each_index(out, |idx| {
        let mut flat = 0;
        for (i, (&d, &s)) in shape.iter().zip(&st).enumerate() {
            if d != 1 {
                flat += idx[i + off] * s;
            }
        }
        r.push(flat);
    });
    r
}

fn transpose_src(shape: &[usize], perm: &[usize]) -> Vec<usize> {
    let st = strides(shape);
    let out: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let mut r = Vec::new();
    for_each_index(&out, |idx| {
        r.push(idx.iter().zip(perm).map(|(&i, &p)| i * st[p]).sum())
    });
    r
}

fn slice_src(shape: &[usize], starts: &[usize], steps: &[i64], lens: &[usize]) -> Vec<usize> {
    let st = strides(shape);
    let mut r = Vec::new();
    for_each_index(lens, |idx| {
        let mut flat = 0i64;
        for a in 0..idx.len() {
            flat += (starts[a] as i64 + idx[a] as i64 * steps[a]) * st[a] as i64;
        }
        r.push(flat as usize);
    });
    r
}

fn tile_src(shape: &[usize], repeats: &[usize]) -> Vec<usize> {
    let st = strides(shape);
    let out: Vec<usize> = shape.iter().zip(repeats).map(|(d, r)| d * r).collect();
    let mut r = Vec::new();
    for_each_index(&out, |idx| {
        r.push(
            idx.iter()
                .zip(shape)
                .zip(&st)
                .map(|((&i, &d), &s)| (i % d) * s)
                .sum(),
        )
    });
    r
}

fn gather_src(shape: &[usize], axis: usize, indices: &Known) -> Option<Vec<usize>> {
    let ind = indices.as_ints()?;
    let dim = *shape.get(axis)? as i64;
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let mut r = Vec::new();
    for o in 0..outer {
        for &i in ind {
            let i = if i < 0 { i + dim } else { i };
            if i < 0 || i >= dim {
                return None;
            }
            let base = (o * dim as usize + i as usize) * inner;
            r.extend(base..base + inner);
        }
    }
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(v: &[i64]) -> Known {
        Known::new(DType::I32, vec![v.len()], KData::Int(v.to_vec()))
    }

    fn fold(b: BinaryOp, x: &[i64], y: &[i64]) -> Option<Vec<i64>> {
        let out = [TensorType::new(DType::I32, vec![x.len()])];
        let r = eval(&Op::Binary(b), &[&ints(x), &ints(y)], &out)?;
        Some(r[0].as_ints()?.to_vec())
    }

    #[test]
    fn integer_mod_takes_the_divisor_sign_and_fmod_the_dividend_sign() {
        let x = [7, -7, 7, -7, 6, i64::MIN];
        let y = [3, 3, -3, -3, 3, -1];
        assert_eq!(fold(BinaryOp::Mod, &x, &y), Some(vec![1, 2, -2, -1, 0, 0]));
        assert_eq!(fold(BinaryOp::Fmod, &x, &y), Some(vec![1, -1, 1, -1, 0, 0]));
        // A zero divisor is not folded (the graph keeps the node).
        assert_eq!(fold(BinaryOp::Mod, &[5], &[0]), None);
        assert_eq!(fold(BinaryOp::Fmod, &[5], &[0]), None);
    }
}
