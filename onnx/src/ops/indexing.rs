//! Index-computing ops composed from gathers, comparisons and constants (shapes are
//! static, so every coordinate but the data-dependent one is a constant): Trilu,
//! EyeLike, OneHot, GatherElements, GatherND, ReverseSequence and TopK; the scatters (ScatterND,
//! ScatterElements, Scatter, TensorScatter) as `scatter_nd` with such index tuples.

use crate::builder::{checked_numel, Cx, MAX_ELEMENTS};
use crate::error::ImportError;
use crate::tensor_proto::ir_dtype;
use kiln_ir::{BinaryOp as B, DType, Data, Handle, Op, ScatterReduction, Tensor, Value};

type Outs = Result<Vec<Handle<Value>>, ImportError>;

/// Row-major strides of `dims`.
fn strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1; dims.len()];
    for a in (0..dims.len().saturating_sub(1)).rev() {
        s[a] = s[a + 1] * dims[a + 1];
    }
    s
}

/// A constant of `dims` and `dtype` holding 1 where `mask` is set and 0 elsewhere.
fn ones_where(
    cx: &Cx,
    dtype: DType,
    dims: Vec<usize>,
    mask: Vec<bool>,
) -> Result<Tensor, ImportError> {
    let data = match dtype {
        DType::F32 => Data::F32(mask.iter().map(|&m| m as u8 as f32).collect()),
        DType::F16 => Data::F16(
            mask.iter()
                .map(|&m| half::f16::from_f32(m as u8 as f32))
                .collect(),
        ),
        d => Data::from_i64s(d, mask.iter().map(|&m| m as i64))
            .ok_or_else(|| cx.err(format!("dtype {d} is not supported here")))?,
    };
    Tensor::new(dims, data).map_err(|e| cx.err(e.to_string()))
}

/// An i32 constant of `dims`.
fn i32_const(cx: &mut Cx, dims: Vec<usize>, v: Vec<i32>) -> Result<Handle<Value>, ImportError> {
    let t = Tensor::new(dims, Data::I32(v)).map_err(|e| cx.err(e.to_string()))?;
    Ok(cx.constant(t))
}

/// `idx + n` where `idx < 0`, else `idx` (`n` broadcasts to `idx`).
fn wrap_negative(
    cx: &mut Cx,
    idx: Handle<Value>,
    n: Handle<Value>,
) -> Result<Handle<Value>, ImportError> {
    let zero = cx.scalar(DType::I32, 0.0)?;
    let neg = cx.binary(B::Less, idx, zero)?;
    let up = cx.binary(B::Add, idx, n)?;
    cx.add(Op::Where, &[neg, up, idx])
}

/// `flat` where every wrapped index component of `idx` lies in `[0, n)`, else an index
/// below `-total` that the gather (of extent `total`) refuses: an index out of range
/// fails the run (its device check) instead of reading a neighbouring row. With
/// `tuple_axis`, the components along that axis of `idx` form one index of `flat`.
fn refuse_out_of_range(
    cx: &mut Cx,
    [idx, n, flat]: [Handle<Value>; 3],
    total: usize,
    tuple_axis: Option<usize>,
) -> Result<Handle<Value>, ImportError> {
    let zero = cx.scalar(DType::I32, 0.0)?;
    let below = cx.binary(B::Less, idx, zero)?;
    let above = cx.binary(B::GreaterOrEqual, idx, n)?;
    let mut bad = cx.binary(B::Or, below, above)?;
    if let Some(axis) = tuple_axis {
        let count = cx.cast(bad, DType::I32)?;
        let any = Op::Reduce {
            op: kiln_ir::ReduceOp::Max,
            axes: vec![axis],
            keepdims: false,
        };
        let any = cx.add(any, &[count])?;
        bad = cx.binary(B::Greater, any, zero)?;
    }
    let poison = cx.scalar(DType::I32, -(total as f64) - 1.0)?;
    cx.add(Op::Where, &[bad, poison, flat])
}

/// A static scalar operand `i` as an integer (integer or float dtype).
fn static_scalar(cx: &mut Cx, i: usize, role: &str) -> Result<Option<i64>, ImportError> {
    let Some(v) = cx.opt_static_floats(i, role)? else {
        return Ok(None);
    };
    match v[..] {
        [x] if x.is_finite() => Ok(Some(x as i64)),
        _ => Err(cx.err(format!("{role} must be one finite number, got {v:?}"))),
    }
}

/// Trilu: keeps the elements on and above (`upper`) or below the `k`-th diagonal of
/// the last two axes, zeroing the rest; `k` may be a run-time operand.
pub(super) fn trilu(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let dims = cx.dims(x);
    if dims.len() < 2 {
        return Err(cx.err(format!("needs rank ≥ 2, got {}", cx.ty(x))));
    }
    let upper = cx.attr_i("upper", 1)? != 0;
    let (n, m) = (dims[dims.len() - 2], dims[dims.len() - 1]);
    let zero = cx.scalar(cx.ty(x).dtype, 0.0)?;
    if cx.has(1) && cx.known(1)?.is_none() {
        // A k known only at run time: compare it with each element's column − row.
        let k = cx.input(1)?;
        if cx.dims(k).iter().product::<usize>() != 1 || !cx.ty(k).dtype.is_int() {
            return Err(cx.err(format!("k must be one integer, got {}", cx.ty(k))));
        }
        let k = cx.cast(k, DType::I32)?;
        let k = cx.reshape(k, vec![])?;
        let diff = (0..n * m)
            .map(|e| (e % m) as i32 - (e / m) as i32)
            .collect();
        let diff = i32_const(cx, vec![n, m], diff)?;
        let cmp = if upper {
            B::GreaterOrEqual
        } else {
            B::LessOrEqual
        };
        let mask = cx.binary(cmp, diff, k)?;
        return Ok(vec![cx.add(Op::Where, &[mask, x, zero])?]);
    }
    let k = static_scalar(cx, 1, "k")?.unwrap_or(0);
    let mask: Vec<bool> = (0..n * m)
        .map(|e| {
            let d = (e % m) as i64 - (e / m) as i64;
            if upper {
                d >= k
            } else {
                d <= k
            }
        })
        .collect();
    let mask = Tensor::new(vec![n, m], Data::Bool(mask)).map_err(|e| cx.err(e.to_string()))?;
    let mask = cx.constant(mask);
    Ok(vec![cx.add(Op::Where, &[mask, x, zero])?])
}

/// EyeLike: a constant of the operand's 2-D shape, 1 on the `k`-th diagonal.
pub(super) fn eye_like(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let dims = cx.dims(x);
    let [n, m] = dims[..] else {
        return Err(cx.err(format!("needs a 2-D operand, got {}", cx.ty(x))));
    };
    let dtype = match cx.attr("dtype") {
        Some(a) => ir_dtype(a.i as i32)
            .map(|(d, _)| d)
            .ok_or_else(|| cx.err(format!("dtype {} is not supported", a.i)))?,
        None => cx.ty(x).dtype,
    };
    let k = cx.attr_i("k", 0)?;
    let mask = (0..n * m)
        .map(|e| (e % m) as i64 - (e / m) as i64 == k)
        .collect();
    let t = ones_where(cx, dtype, dims, mask)?;
    Ok(vec![cx.constant(t)])
}

/// OneHot: `values[1]` where the (negative-wrapped) index equals the position along
/// the new `axis`, `values[0]` elsewhere (an index out of range matches nothing).
pub(super) fn one_hot(cx: &mut Cx) -> Outs {
    let (indices, values) = (cx.input(0)?, cx.input(2)?);
    let depth = static_scalar(cx, 1, "depth")?.ok_or_else(|| cx.err("depth is required"))?;
    if !(1..=i32::MAX as i64).contains(&depth) {
        return Err(cx.err(format!("depth must be positive, got {depth}")));
    }
    if cx.dims(values) != [2] {
        return Err(cx.err(format!("values must be [off, on], got {}", cx.ty(values))));
    }
    let mut out = cx.dims(indices);
    let axis = cx.attr_i("axis", -1)?;
    let axis = cx.axis(axis, out.len() + 1)?;
    let mut result = out.clone();
    result.insert(axis, depth as usize);
    if checked_numel(&result).is_none_or(|n| n > MAX_ELEMENTS) {
        return Err(cx.err(format!("result dims {result:?} are too large")));
    }
    let idx = cx.cast(indices, DType::I32)?;
    let n = cx.scalar(DType::I32, depth as f64)?;
    let idx = wrap_negative(cx, idx, n)?;
    out.insert(axis, 1);
    let idx = cx.reshape(idx, out.clone())?;
    let mut iota_dims = vec![1; out.len()];
    iota_dims[axis] = depth as usize;
    let iota = i32_const(cx, iota_dims, (0..depth as i32).collect())?;
    let hit = cx.binary(B::Equal, idx, iota)?;
    let pick = |cx: &mut Cx, i: usize| {
        let v = cx.slice_axis(values, 0, i, 1)?;
        cx.reshape(v, vec![])
    };
    let (off, on) = (pick(cx, 0)?, pick(cx, 1)?);
    Ok(vec![cx.add(Op::Where, &[hit, on, off])?])
}

/// GatherElements: a gather from the flattened data at `index · stride(axis)` plus the
/// constant offset of every other coordinate (an index out of range fails the gather).
pub(super) fn gather_elements(cx: &mut Cx) -> Outs {
    let (x, indices) = (cx.input(0)?, cx.input(1)?);
    let (dims, idims) = (cx.dims(x), cx.dims(indices));
    let axis = cx.attr_i("axis", 0)?;
    let axis = cx.axis(axis, dims.len())?;
    let fits =
        idims.len() == dims.len() && (0..dims.len()).all(|a| a == axis || idims[a] <= dims[a]);
    if !fits {
        return Err(cx.err(format!(
            "indices {} do not fit data {} along axis {axis}",
            cx.ty(indices),
            cx.ty(x)
        )));
    }
    if dims.iter().product::<usize>() > i32::MAX as usize {
        return Err(cx.err("data has too many elements for i32 indices"));
    }
    let (ds, is) = (strides(&dims), strides(&idims));
    let numel: usize = idims.iter().product();
    let base = (0..numel)
        .map(|e| {
            (0..dims.len())
                .filter(|&a| a != axis)
                .map(|a| (e / is[a] % idims[a] * ds[a]) as i32)
                .sum()
        })
        .collect();
    let base = i32_const(cx, idims, base)?;
    let idx = cx.cast(indices, DType::I32)?;
    let n = cx.scalar(DType::I32, dims[axis] as f64)?;
    let idx = wrap_negative(cx, idx, n)?;
    let stride = cx.scalar(DType::I32, ds[axis] as f64)?;
    let flat = cx.binary(B::Mul, idx, stride)?;
    let flat = cx.binary(B::Add, flat, base)?;
    let total = dims.iter().product();
    let flat = refuse_out_of_range(cx, [idx, n, flat], total, None)?;
    let data = cx.reshape(x, vec![total])?;
    Ok(vec![cx.add(Op::Gather { axis: 0 }, &[data, flat])?])
}

/// GatherND: the index tuples (last axis of `indices`) become row numbers of the data
/// viewed as `[batch · rows, slice...]` (a dot product with the row strides, plus the
/// constant batch offset), gathered along axis 0 (a tuple with a component out of range
/// fails the gather).
pub(super) fn gather_nd(cx: &mut Cx) -> Outs {
    let (x, indices) = (cx.input(0)?, cx.input(1)?);
    let (dims, idims) = (cx.dims(x), cx.dims(indices));
    let b = usize::try_from(cx.attr_i("batch_dims", 0)?)
        .map_err(|_| cx.err("batch_dims must not be negative"))?;
    let q = idims.len();
    let m = idims.last().copied().unwrap_or(0);
    if q < 1 || b >= q || m == 0 || b + m > dims.len() || idims[..b] != dims[..b] {
        return Err(cx.err(format!(
            "indices {} with batch_dims {b} do not fit data {}",
            cx.ty(indices),
            cx.ty(x)
        )));
    }
    if dims.iter().product::<usize>() > i32::MAX as usize {
        return Err(cx.err("data has too many elements for i32 indices"));
    }
    let rows: usize = dims[b..b + m].iter().product();
    let row_strides = strides(&dims[b..b + m]);
    let idx = cx.cast(indices, DType::I32)?;
    let extents = dims[b..b + m].iter().map(|&d| d as i32).collect();
    let extents = i32_const(cx, vec![m], extents)?;
    let idx = wrap_negative(cx, idx, extents)?;
    let rs = row_strides.iter().map(|&s| s as i32).collect();
    let rs = i32_const(cx, vec![m], rs)?;
    let terms = cx.binary(B::Mul, idx, rs)?;
    let sum = Op::Reduce {
        op: kiln_ir::ReduceOp::Sum,
        axes: vec![q - 1],
        keepdims: false,
    };
    let mut flat = cx.add(sum, &[terms])?;
    let lead = idims[..q - 1].to_vec();
    if b > 0 {
        let batch: usize = idims[..b].iter().product();
        let per: usize = lead[b..].iter().product();
        let offsets = (0..batch * per)
            .map(|e| ((e / per) * rows) as i32)
            .collect();
        let offsets = i32_const(cx, lead.clone(), offsets)?;
        flat = cx.binary(B::Add, flat, offsets)?;
    }
    let batch: usize = dims[..b].iter().product();
    let flat = refuse_out_of_range(cx, [idx, extents, flat], batch * rows, Some(q - 1))?;
    let mut view = vec![batch * rows];
    view.extend_from_slice(&dims[b + m..]);
    let data = cx.reshape(x, view)?;
    let g = cx.add(Op::Gather { axis: 0 }, &[data, flat])?;
    let mut out = lead;
    out.extend_from_slice(&dims[b + m..]);
    Ok(vec![cx.reshape(g, out)?])
}

/// The `reduction` attribute of the scatter ops.
fn reduction(cx: &Cx) -> Result<ScatterReduction, ImportError> {
    Ok(match cx.attr_s("reduction")?.as_deref() {
        None | Some("none") => ScatterReduction::None,
        Some("add") => ScatterReduction::Add,
        Some("mul") => ScatterReduction::Mul,
        Some("max") => ScatterReduction::Max,
        Some("min") => ScatterReduction::Min,
        Some(other) => return Err(cx.err(format!("reduction '{other}' is not supported"))),
    })
}

/// Index tuples `[dims.., k]` whose component `a` is `parts[a]`: a run-time tensor of
/// `dims`, or (`None`) the element's own coordinate along `a`.
fn tuples(
    cx: &mut Cx,
    dims: &[usize],
    parts: &[Option<Handle<Value>>],
) -> Result<Handle<Value>, ImportError> {
    let numel: usize = dims.iter().product();
    let st = strides(dims);
    let mut one = dims.to_vec();
    one.push(1);
    let mut columns = Vec::new();
    for (a, part) in parts.iter().enumerate() {
        let column = match *part {
            Some(v) => cx.reshape(v, one.clone())?,
            None => {
                let c = (0..numel).map(|e| (e / st[a] % dims[a]) as i32).collect();
                i32_const(cx, one.clone(), c)?
            }
        };
        columns.push(column);
    }
    if columns.len() == 1 {
        return Ok(columns[0]);
    }
    cx.add(Op::Concat { axis: dims.len() }, &columns)
}

/// ScatterND: `scatter_nd` with the node's reduction.
pub(super) fn scatter_nd(cx: &mut Cx) -> Outs {
    let (x, indices, updates) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
    let r = reduction(cx)?;
    let idx = cx.cast(indices, DType::I32)?;
    Ok(vec![
        cx.add(Op::ScatterNd { reduction: r }, &[x, idx, updates])?
    ])
}

/// ScatterElements (and Scatter, its opset-9 form): `scatter_nd` with index tuples that
/// are each element's own coordinates, its axis coordinate taken from `indices`.
pub(super) fn scatter_elements(cx: &mut Cx) -> Outs {
    let (x, indices, updates) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
    let (dims, idims) = (cx.dims(x), cx.dims(indices));
    let axis = cx.attr_i("axis", 0)?;
    let axis = cx.axis(axis, dims.len())?;
    let fits = idims.len() == dims.len()
        && cx.dims(updates) == idims
        && (0..dims.len()).all(|a| a == axis || idims[a] <= dims[a]);
    if !fits {
        return Err(cx.err(format!(
            "indices {} and updates {} do not fit data {} along axis {axis}",
            cx.ty(indices),
            cx.ty(updates),
            cx.ty(x)
        )));
    }
    let r = reduction(cx)?;
    let idx = cx.cast(indices, DType::I32)?;
    let mut parts = vec![None; dims.len()];
    parts[axis] = Some(idx);
    let t = tuples(cx, &idims, &parts)?;
    Ok(vec![
        cx.add(Op::ScatterNd { reduction: r }, &[x, t, updates])?
    ])
}

/// TensorScatter: writes `update` into the cache along `axis` starting at each batch's
/// write index (`circular`: modulo the cache length), as `scatter_nd` over the
/// coordinates up to `axis`.
pub(super) fn tensor_scatter(cx: &mut Cx) -> Outs {
    let (cache, update) = (cx.input(0)?, cx.input(1)?);
    let (dims, udims) = (cx.dims(cache), cx.dims(update));
    let rank = dims.len();
    let axis = cx.attr_i("axis", -2)?;
    let axis = cx.axis(axis, rank)?;
    let circular = match cx.attr_s("mode")?.as_deref() {
        None | Some("linear") => false,
        Some("circular") => true,
        Some(other) => return Err(cx.err(format!("mode '{other}' is not supported"))),
    };
    let fits = axis > 0
        && udims.len() == rank
        && (0..rank).all(|a| {
            if a == axis {
                udims[a] <= dims[a]
            } else {
                udims[a] == dims[a]
            }
        });
    if !fits {
        return Err(cx.err(format!(
            "update {} does not fit cache {} along axis {axis}",
            cx.ty(update),
            cx.ty(cache)
        )));
    }
    let batch = dims[0];
    let lead = udims[..=axis].to_vec();
    let start = match cx.opt_input(2)? {
        Some(w) => {
            let w = cx.cast(w, DType::I32)?;
            let mut shape = vec![1; axis + 1];
            shape[0] = batch;
            cx.reshape(w, shape)?
        }
        None => cx.scalar(DType::I32, 0.0)?,
    };
    let mut iota_dims = vec![1; axis + 1];
    iota_dims[axis] = udims[axis];
    let iota = i32_const(cx, iota_dims, (0..udims[axis] as i32).collect())?;
    let pos = cx.binary(B::Add, start, iota)?;
    let pos = if circular {
        let n = cx.scalar(DType::I32, dims[axis] as f64)?;
        cx.binary(B::Mod, pos, n)?
    } else {
        pos
    };
    let pos = cx.add(
        Op::Expand {
            shape: lead.clone(),
        },
        &[pos],
    )?;
    let mut parts = vec![None; axis + 1];
    parts[axis] = Some(pos);
    let t = tuples(cx, &lead, &parts)?;
    let op = Op::ScatterNd {
        reduction: ScatterReduction::None,
    };
    Ok(vec![cx.add(op, &[cache, t, update])?])
}

/// TopK: each element's rank along the axis — how many elements come before it in the
/// sorted order: those strictly greater (smaller with `largest = 0`) and the equal ones
/// at lower indices, so ties keep index order — from an all-pairs comparison (n² per
/// row of the axis), then the index of rank `p` for each `p < k` (a one-hot sum) and the
/// values gathered at those indices. The results are always sorted (ONNX leaves the
/// order free with `sorted = 0`).
pub(super) fn top_k(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let dims = cx.dims(x);
    if dims.is_empty() {
        return Err(cx.err("the input must have rank ≥ 1"));
    }
    let r = dims.len();
    let axis = cx.attr_i("axis", -1)?;
    let axis = cx.axis(axis, r)?;
    let largest = cx.attr_i("largest", 1)? != 0;
    let k = if cx.opset < 10 {
        cx.attr_i("k", -1)?
    } else {
        match cx.static_ints(1, "k")?[..] {
            [k] => k,
            ref v => return Err(cx.err(format!("k must hold one value, got {v:?}"))),
        }
    };
    let n = dims[axis];
    if k < 1 || k as u64 > n as u64 {
        return Err(cx.err(format!("k = {k} must be between 1 and the axis length {n}")));
    }
    let k = k as usize;
    if dims.iter().product::<usize>() > i32::MAX as usize {
        return Err(cx.err("the input has too many elements for i32 indices"));
    }
    // The axis last: xt [lead.., n].
    let mut perm: Vec<usize> = (0..r).filter(|&a| a != axis).collect();
    perm.push(axis);
    let xt = if axis == r - 1 {
        x
    } else {
        cx.add(Op::Transpose { perm: perm.clone() }, &[x])?
    };
    let lead = cx.dims(xt)[..r - 1].to_vec();
    let with = |tail: [usize; 2]| [lead.as_slice(), &tail].concat();
    let xi = cx.reshape(xt, with([n, 1]))?;
    let xj = cx.reshape(xt, with([1, n]))?;
    let order = if largest { B::Greater } else { B::Less };
    let beats = cx.binary(order, xj, xi)?;
    let equal = cx.binary(B::Equal, xj, xi)?;
    let lower = (0..n * n).map(|e| e % n < e / n).collect();
    let lower = Tensor::new(vec![n, n], Data::Bool(lower)).map_err(|e| cx.err(e.to_string()))?;
    let lower = cx.constant(lower);
    let tie = cx.binary(B::And, equal, lower)?;
    let before = cx.binary(B::Or, beats, tie)?;
    let before = cx.cast(before, DType::I32)?;
    let sum = |axis: usize, keepdims: bool| Op::Reduce {
        op: kiln_ir::ReduceOp::Sum,
        axes: vec![axis],
        keepdims,
    };
    let rank = cx.add(sum(r, true), &[before])?;
    let positions = i32_const(cx, vec![k], (0..k as i32).collect())?;
    let hit = cx.binary(B::Equal, rank, positions)?;
    let iota = i32_const(cx, vec![n, 1], (0..n as i32).collect())?;
    let zero = cx.scalar(DType::I32, 0.0)?;
    let picked = cx.add(Op::Where, &[hit, iota, zero])?;
    let indices = cx.add(sum(r - 1, false), &[picked])?;
    let rows: usize = lead.iter().product();
    let base = i32_const(
        cx,
        with([1, 1])[..r].to_vec(),
        (0..rows).map(|q| (q * n) as i32).collect(),
    )?;
    let flat = cx.binary(B::Add, indices, base)?;
    let data = cx.reshape(xt, vec![rows * n])?;
    let mut values = cx.add(Op::Gather { axis: 0 }, &[data, flat])?;
    let mut indices = indices;
    if axis != r - 1 {
        let mut back = vec![0; r];
        for (i, &a) in perm.iter().enumerate() {
            back[a] = i;
        }
        values = cx.add(Op::Transpose { perm: back.clone() }, &[values])?;
        indices = cx.add(Op::Transpose { perm: back }, &[indices])?;
    }
    Ok(vec![values, indices])
}

/// ReverseSequence: with `x` viewed as rows `[T·B, rest]` (time and batch are its first
/// two axes, in either order), output row (t, b) is input row (len_b - 1 - t, b) for
/// t < len_b and (t, b) beyond, gathered along axis 0; the lengths are data, so the
/// source rows are computed in the graph (a length outside [0, T] fails the gather).
pub(super) fn reverse_sequence(cx: &mut Cx) -> Outs {
    let (x, lens) = (cx.input(0)?, cx.input(1)?);
    let dims = cx.dims(x);
    let time = cx.attr_i("time_axis", 0)?;
    let batch = cx.attr_i("batch_axis", 1)?;
    let time_first = match (time, batch) {
        (0, 1) => true,
        (1, 0) => false,
        _ => {
            return Err(cx.err(format!(
                "time_axis {time} and batch_axis {batch} must be 0 and 1 in some order"
            )))
        }
    };
    if dims.len() < 2 {
        return Err(cx.err(format!("input must have rank >= 2, got {}", cx.ty(x))));
    }
    let (t, b) = if time_first {
        (dims[0], dims[1])
    } else {
        (dims[1], dims[0])
    };
    if cx.dims(lens) != [b] || !cx.ty(lens).dtype.is_int() {
        return Err(cx.err(format!(
            "sequence_lens must be an integer tensor of shape [{b}], got {}",
            cx.ty(lens)
        )));
    }
    let total: usize = dims.iter().product();
    if total > i32::MAX as usize {
        return Err(cx.err("input has too many elements for i32 indices"));
    }
    // Time and batch coordinates laid out as the first two axes are.
    let (tdims, bdims) = if time_first {
        (vec![t, 1], vec![1, b])
    } else {
        (vec![1, t], vec![b, 1])
    };
    let ts = i32_const(cx, tdims, (0..t as i32).collect())?;
    let bs = i32_const(cx, bdims.clone(), (0..b as i32).collect())?;
    let len = cx.cast(lens, DType::I32)?;
    let len = cx.reshape(len, bdims)?;
    let inside = cx.binary(B::Less, ts, len)?;
    let one = cx.scalar(DType::I32, 1.0)?;
    let last = cx.binary(B::Sub, len, one)?;
    let back = cx.binary(B::Sub, last, ts)?;
    let src = cx.add(Op::Where, &[inside, back, ts])?;
    let flat = if time_first {
        let nb = cx.scalar(DType::I32, b as f64)?;
        let row = cx.binary(B::Mul, src, nb)?;
        cx.binary(B::Add, row, bs)?
    } else {
        let nt = cx.scalar(DType::I32, t as f64)?;
        let row = cx.binary(B::Mul, bs, nt)?;
        cx.binary(B::Add, row, src)?
    };
    let limit = cx.scalar(DType::I32, t as f64 + 1.0)?;
    let flat = refuse_out_of_range(cx, [len, limit, flat], t * b, None)?;
    let flat = cx.reshape(flat, vec![t * b])?;
    let rows = cx.reshape(x, vec![t * b, total / (t * b).max(1)])?;
    let y = cx.add(Op::Gather { axis: 0 }, &[rows, flat])?;
    Ok(vec![cx.reshape(y, dims)?])
}
