//! Shape and data-movement ops: Reshape, Flatten, Squeeze, Unsqueeze, Transpose,
//! Concat, Split, Slice, Gather, Expand, Pad, CenterCropPad, Tile, DepthToSpace, SpaceToDepth,
//! Shape and Size. Shape-deciding operands are read as static values.

use crate::builder::{checked_numel, Cx, MAX_ATTR, MAX_ELEMENTS};
use crate::error::ImportError;
use crate::known::Known;
use kiln_ir::{DType, DepthToSpaceMode, Handle, Op, PadMode, Value};

type Outs = Result<Vec<Handle<Value>>, ImportError>;

/// A non-negative extent (at most [`MAX_ELEMENTS`]).
fn to_usize(cx: &Cx, v: i64, what: &str) -> Result<usize, ImportError> {
    let u = usize::try_from(v).map_err(|_| cx.err(format!("{what} {v} must not be negative")))?;
    if u > MAX_ELEMENTS {
        return Err(cx.err(format!("{what} {v} is too large")));
    }
    Ok(u)
}

/// Fails unless a result of `dims` stays within kiln's value size limit.
fn check_size(cx: &Cx, dims: &[usize]) -> Result<(), ImportError> {
    match checked_numel(dims) {
        Some(_) => Ok(()),
        None => Err(cx.err(format!(
            "result dims {dims:?} are too large (kiln imports values of at most 2^40 elements)"
        ))),
    }
}

pub(super) fn reshape(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let target = if cx.opset < 5 {
        cx.attr_ints("shape")?
            .ok_or_else(|| cx.err("attribute 'shape' is required"))?
    } else {
        cx.static_ints(1, "shape")?
    };
    let allowzero = cx.attr_i("allowzero", 0)? != 0;
    let dims = cx.dims(x);
    let numel: usize = dims.iter().product();
    let mut out = Vec::with_capacity(target.len());
    let mut infer_at = None;
    for (i, &t) in target.iter().enumerate() {
        match t {
            -1 if infer_at.is_none() => {
                infer_at = Some(i);
                out.push(1);
            }
            0 if !allowzero => out.push(*dims.get(i).ok_or_else(|| {
                cx.err(format!(
                    "shape {target:?}: 0 at axis {i} copies no input dim"
                ))
            })?),
            t => out.push(to_usize(cx, t, "shape entry")?),
        }
    }
    check_size(cx, &out)?;
    if let Some(i) = infer_at {
        let rest: usize = out.iter().product();
        if rest == 0 || !numel.is_multiple_of(rest) {
            return Err(cx.err(format!("cannot reshape {} to {target:?}", cx.ty(x))));
        }
        out[i] = numel / rest;
    }
    if out.iter().product::<usize>() != numel {
        return Err(cx.err(format!("cannot reshape {} to {target:?}", cx.ty(x))));
    }
    Ok(vec![cx.add(Op::Reshape { shape: out }, &[x])?])
}

pub(super) fn flatten(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let dims = cx.dims(x);
    let axis = cx.attr_i("axis", 1)?;
    let r = dims.len() as i64;
    let axis = if axis < 0 { axis + r } else { axis };
    if !(0..=r).contains(&axis) {
        return Err(cx.err(format!("axis {axis} is out of range for rank {r}")));
    }
    let (outer, inner) = dims.split_at(axis as usize);
    let shape = vec![outer.iter().product(), inner.iter().product()];
    Ok(vec![cx.add(Op::Reshape { shape }, &[x])?])
}

/// Axes from the attribute (before opset 13) or the optional second operand.
fn axes_operand(cx: &mut Cx) -> Result<Option<Vec<i64>>, ImportError> {
    if cx.opset < 13 {
        cx.attr_ints("axes")
    } else {
        cx.opt_static_ints(1, "axes")
    }
}

pub(super) fn squeeze(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let dims = cx.dims(x);
    let axes = axes_operand(cx)?;
    let shape: Vec<usize> = match axes {
        Some(a) if !a.is_empty() => {
            let axes = a
                .iter()
                .map(|&a| cx.axis(a, dims.len()))
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(&bad) = axes.iter().find(|&&a| dims[a] != 1) {
                return Err(cx.err(format!("cannot squeeze axis {bad} of {}", cx.ty(x))));
            }
            dims.iter()
                .enumerate()
                .filter(|(i, _)| !axes.contains(i))
                .map(|(_, &d)| d)
                .collect()
        }
        _ => dims.iter().copied().filter(|&d| d != 1).collect(),
    };
    Ok(vec![cx.add(Op::Reshape { shape }, &[x])?])
}

pub(super) fn unsqueeze(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let dims = cx.dims(x);
    let axes = axes_operand(cx)?.ok_or_else(|| cx.err("axes are required"))?;
    let rank = dims.len() + axes.len();
    let mut axes = axes
        .iter()
        .map(|&a| cx.axis(a, rank))
        .collect::<Result<Vec<_>, _>>()?;
    axes.sort_unstable();
    if axes.windows(2).any(|w| w[0] == w[1]) {
        return Err(cx.err(format!("axes {axes:?} repeat an axis")));
    }
    let mut rest = dims.iter();
    let shape: Vec<usize> = (0..rank)
        .map(|i| {
            if axes.contains(&i) {
                1
            } else {
                rest.next().copied().unwrap_or(1)
            }
        })
        .collect();
    Ok(vec![cx.add(Op::Reshape { shape }, &[x])?])
}

pub(super) fn transpose(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let rank = cx.rank(x);
    let perm = match cx.attr_ints("perm")? {
        Some(p) => p
            .iter()
            .map(|&a| cx.axis(a, rank))
            .collect::<Result<Vec<_>, _>>()?,
        None => (0..rank).rev().collect(),
    };
    Ok(vec![cx.add(Op::Transpose { perm }, &[x])?])
}

pub(super) fn concat(cx: &mut Cx) -> Outs {
    let xs = cx.inputs()?;
    let first = *xs
        .first()
        .ok_or_else(|| cx.err("needs at least one operand"))?;
    let axis = cx.attr_i("axis", if cx.opset < 4 { 1 } else { i64::MIN })?;
    if axis == i64::MIN {
        return Err(cx.err("attribute 'axis' is required"));
    }
    let axis = cx.axis(axis, cx.rank(first))?;
    Ok(vec![cx.add(Op::Concat { axis }, &xs)?])
}

pub(super) fn split(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let dims = cx.dims(x);
    let axis = cx.attr_i("axis", 0)?;
    let axis = cx.axis(axis, dims.len())?;
    let n_out = cx.node.output.len();
    let given = if cx.opset < 13 {
        cx.attr_ints("split")?
    } else {
        cx.opt_static_ints(1, "split")?
    };
    let dim = dims[axis];
    let sizes: Vec<usize> = match given {
        Some(s) if !s.is_empty() => s
            .iter()
            .map(|&v| to_usize(cx, v, "split size"))
            .collect::<Result<_, _>>()?,
        _ => {
            let parts = if cx.opset >= 18 {
                cx.attr_i("num_outputs", n_out as i64)?
            } else {
                n_out as i64
            };
            if parts <= 0 || parts > n_out.max(1) as i64 {
                return Err(cx.err(format!(
                    "cannot split into {parts} parts for {n_out} results"
                )));
            }
            let parts = parts as usize;
            let chunk = dim.div_ceil(parts);
            if cx.opset < 18 && !dim.is_multiple_of(parts) {
                return Err(cx.err(format!(
                    "axis extent {dim} does not split evenly into {parts}"
                )));
            }
            (0..parts)
                .map(|i| chunk.min(dim.saturating_sub(i * chunk)))
                .collect()
        }
    };
    if sizes.iter().sum::<usize>() != dim {
        return Err(cx.err(format!(
            "split sizes {sizes:?} do not add up to extent {dim}"
        )));
    }
    cx.add_n(Op::Split { axis, sizes }, &[x], None)
}

/// Resolves ONNX slice bounds for one axis of extent `dim` to (start, step, len).
fn slice_axis(start: i64, end: i64, step: i64, dim: usize) -> (usize, i64, usize) {
    let d = dim as i128;
    let (mut s, mut e, st) = (start as i128, end as i128, step as i128);
    if s < 0 {
        s += d;
    }
    if e < 0 {
        e += d;
    }
    if st > 0 {
        s = s.clamp(0, d);
        e = e.clamp(0, d);
    } else {
        s = s.clamp(0, (d - 1).max(0));
        e = e.clamp(-1, d - 1);
    }
    let len = if st > 0 {
        (e - s + st - 1).div_euclid(st)
    } else {
        (s - e + (-st) - 1).div_euclid(-st)
    };
    let len = len.max(0) as usize;
    if len == 0 {
        (0, step, 0)
    } else {
        (s as usize, step, len)
    }
}

pub(super) fn slice(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let dims = cx.dims(x);
    let rank = dims.len();
    let (starts, ends, axes, steps) = if cx.opset < 10 {
        let starts = cx
            .attr_ints("starts")?
            .ok_or_else(|| cx.err("attribute 'starts' is required"))?;
        let ends = cx
            .attr_ints("ends")?
            .ok_or_else(|| cx.err("attribute 'ends' is required"))?;
        (starts, ends, cx.attr_ints("axes")?, None)
    } else {
        let starts = cx.static_ints(1, "starts")?;
        let ends = cx.static_ints(2, "ends")?;
        (
            starts,
            ends,
            cx.opt_static_ints(3, "axes")?,
            cx.opt_static_ints(4, "steps")?,
        )
    };
    let n = starts.len();
    let axes = axes.unwrap_or_else(|| (0..n as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; n]);
    if ends.len() != n || axes.len() != n || steps.len() != n {
        return Err(cx.err("starts, ends, axes and steps must have the same length"));
    }
    let mut s_out: Vec<usize> = vec![0; rank];
    let mut st_out: Vec<i64> = vec![1; rank];
    let mut l_out: Vec<usize> = dims.clone();
    let mut seen = vec![false; rank];
    for i in 0..n {
        let a = cx.axis(axes[i], rank)?;
        if std::mem::replace(&mut seen[a], true) {
            return Err(cx.err(format!("axis {a} is sliced twice")));
        }
        if steps[i] == 0 {
            return Err(cx.err("slice step must not be 0"));
        }
        let (s, st, l) = slice_axis(starts[i], ends[i], steps[i], dims[a]);
        s_out[a] = s;
        st_out[a] = st;
        l_out[a] = l;
    }
    Ok(vec![cx.add(
        Op::Slice {
            starts: s_out,
            steps: st_out,
            lens: l_out,
        },
        &[x],
    )?])
}

pub(super) fn gather(cx: &mut Cx) -> Outs {
    let (x, idx) = (cx.input(0)?, cx.input(1)?);
    let axis = cx.attr_i("axis", 0)?;
    let axis = cx.axis(axis, cx.rank(x))?;
    let idx = cx.cast(idx, DType::I32)?;
    Ok(vec![cx.add(Op::Gather { axis }, &[x, idx])?])
}

pub(super) fn expand(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let shape = cx.static_ints(1, "shape")?;
    let dims = cx.dims(x);
    let rank = dims.len().max(shape.len());
    let mut out = vec![0; rank];
    for (i, o) in out.iter_mut().enumerate() {
        let d = (i + dims.len()).checked_sub(rank).map_or(1, |j| dims[j]);
        let s = match (i + shape.len()).checked_sub(rank) {
            Some(j) => to_usize(cx, shape[j], "shape entry")?,
            None => 1,
        };
        *o = match (d, s) {
            (d, s) if d == s || s == 1 => d,
            (1, s) => s,
            _ => return Err(cx.err(format!("cannot expand {} to {shape:?}", cx.ty(x)))),
        };
    }
    check_size(cx, &out)?;
    Ok(vec![cx.add(Op::Expand { shape: out }, &[x])?])
}

pub(super) fn pad(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let rank = cx.rank(x);
    let mode = match cx.attr_s("mode")?.as_deref().unwrap_or("constant") {
        "constant" => PadMode::Constant,
        "reflect" => PadMode::Reflect,
        "edge" => PadMode::Edge,
        "wrap" => PadMode::Wrap,
        other => return Err(cx.err(format!("mode '{other}' is not supported"))),
    };
    let dtype = cx.ty(x).dtype;
    let (given, value, axes) = if cx.opset < 11 {
        let pads = cx.attr_ints(if cx.opset < 2 { "paddings" } else { "pads" })?;
        let pads = pads.ok_or_else(|| cx.err("attribute 'pads' is required"))?;
        let value = cx.attr_f("value", 0.0)?;
        let value = if value != 0.0 {
            Some(cx.scalar(dtype, value as f64)?)
        } else {
            None
        };
        (pads, value, None)
    } else {
        let pads = cx.static_ints(1, "pads")?;
        let value = match cx.opt_input(2)? {
            Some(v) if cx.ty(v).shape.numel() == 1 => Some(cx.reshape(v, vec![])?),
            Some(v) if cx.ty(v).shape.numel() == 0 => None,
            Some(v) => {
                return Err(cx.err(format!("constant_value must be a scalar, got {}", cx.ty(v))))
            }
            None => None,
        };
        (pads, value, cx.opt_static_ints(3, "axes")?)
    };
    let axes = match axes {
        Some(a) => a
            .iter()
            .map(|&a| cx.axis(a, rank))
            .collect::<Result<Vec<_>, _>>()?,
        None => (0..rank).collect(),
    };
    if given.len() != 2 * axes.len() {
        return Err(cx.err(format!(
            "pads has {} entries, expected {}",
            given.len(),
            2 * axes.len()
        )));
    }
    if let Some(&p) = given
        .iter()
        .find(|p| p.unsigned_abs() > MAX_ELEMENTS as u64)
    {
        return Err(cx.err(format!("pad {p} is too large")));
    }
    let mut pads = vec![0i64; 2 * rank];
    for (i, &a) in axes.iter().enumerate() {
        pads[a] = given[i];
        pads[rank + a] = given[axes.len() + i];
    }
    let mut ins = vec![x];
    if mode == PadMode::Constant {
        ins.extend(value);
    }
    Ok(vec![cx.add(Op::Pad { mode, pads }, &ins)?])
}

/// CenterCropPad → one constant `pad` whose amounts are negative on the axes it crops:
/// an axis growing by `d` gets `d / 2` zeros before and the rest after, one shrinking
/// by `d` loses `d / 2` elements before and the rest after (ONNX's reference).
pub(super) fn center_crop_pad(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let dims = cx.dims(x);
    let rank = dims.len();
    let shape = cx.static_ints(1, "shape")?;
    let axes = match cx.attr_ints("axes")? {
        Some(a) => a
            .iter()
            .map(|&a| cx.axis(a, rank))
            .collect::<Result<Vec<_>, _>>()?,
        None => (0..rank).collect(),
    };
    if shape.len() != axes.len() {
        return Err(cx.err(format!(
            "shape has {} entries for {} axes",
            shape.len(),
            axes.len()
        )));
    }
    if (1..axes.len()).any(|i| axes[..i].contains(&axes[i])) {
        return Err(cx.err(format!("axes {axes:?} repeat an axis")));
    }
    let mut pads = vec![0i64; 2 * rank];
    for (&a, &want) in axes.iter().zip(&shape) {
        let want = to_usize(cx, want, "shape entry")? as i64;
        let d = want - dims[a] as i64;
        let before = d.signum() * (d.abs() / 2);
        pads[a] = before;
        pads[rank + a] = d - before;
    }
    Ok(vec![cx.add(
        Op::Pad {
            mode: PadMode::Constant,
            pads,
        },
        &[x],
    )?])
}

pub(super) fn tile(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let repeats = cx.static_ints(1, "repeats")?;
    let repeats = repeats
        .iter()
        .map(|&r| to_usize(cx, r, "repeat"))
        .collect::<Result<Vec<_>, _>>()?;
    let dims = cx.dims(x);
    if repeats.len() != dims.len() {
        return Err(cx.err(format!("{} repeats for rank {}", repeats.len(), dims.len())));
    }
    let out = dims
        .iter()
        .zip(&repeats)
        .map(|(&d, &r)| d.checked_mul(r).filter(|&n| n <= MAX_ELEMENTS))
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| cx.err(format!("repeats {repeats:?} make {} too large", cx.ty(x))))?;
    check_size(cx, &out)?;
    Ok(vec![cx.add(Op::Tile { repeats }, &[x])?])
}

/// The `blocksize` attribute: positive and at most [`MAX_ATTR`].
fn block_size(cx: &Cx) -> Result<usize, ImportError> {
    let b = cx.attr_i("blocksize", 0)?;
    if b <= 0 || b > MAX_ATTR as i64 {
        return Err(cx.err(format!(
            "attribute 'blocksize' must be in 1..={MAX_ATTR}, got {b}"
        )));
    }
    Ok(b as usize)
}

pub(super) fn depth_to_space(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let blocksize = block_size(cx)?;
    let mode = match cx.attr_s("mode")?.as_deref().unwrap_or("DCR") {
        "DCR" => DepthToSpaceMode::Dcr,
        "CRD" => DepthToSpaceMode::Crd,
        other => return Err(cx.err(format!("mode '{other}' is not supported"))),
    };
    Ok(vec![cx.add(Op::DepthToSpace { blocksize, mode }, &[x])?])
}

/// SpaceToDepth; the opset-28 `CRD` mode is lowered to reshape/transpose/reshape.
pub(super) fn space_to_depth(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let b = block_size(cx)?;
    if let [_, c, ..] = cx.dims(x)[..] {
        if c.checked_mul(b * b).is_none_or(|n| n > MAX_ELEMENTS) {
            return Err(cx.err(format!("blocksize {b} is too large for {}", cx.ty(x))));
        }
    }
    match cx.attr_s("mode")?.as_deref().unwrap_or("DCR") {
        "DCR" => Ok(vec![cx.add(Op::SpaceToDepth { blocksize: b }, &[x])?]),
        "CRD" => {
            let dims = cx.dims(x);
            let [n, c, h, w] = dims[..] else {
                return Err(cx.err(format!("expects a 4-D input, got {}", cx.ty(x))));
            };
            if b == 0 || h % b != 0 || w % b != 0 {
                return Err(cx.err(format!("blocksize {b} does not divide {}", cx.ty(x))));
            }
            let blocks = cx.reshape(x, vec![n, c, h / b, b, w / b, b])?;
            let moved = cx.add(
                Op::Transpose {
                    perm: vec![0, 1, 3, 5, 2, 4],
                },
                &[blocks],
            )?;
            Ok(vec![cx.reshape(moved, vec![n, c * b * b, h / b, w / b])?])
        }
        other => Err(cx.err(format!("mode '{other}' is not supported"))),
    }
}

/// Shape (with opset-15 `start`/`end`): a constant for a graph input or constant, an
/// IR `Shape` node (folded later, known now) for a node result.
pub(super) fn shape(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let dims = cx.dims(x);
    let r = dims.len() as i64;
    let clampd = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let start = clampd(cx.attr_i("start", 0)?);
    let end = clampd(cx.attr_i("end", r)?).max(start);
    if cx.imp.graph.producer(x).is_some() {
        return Ok(vec![cx.add(Op::Shape { start, end }, &[x])?]);
    }
    let v: Vec<i64> = dims[start..end].iter().map(|&d| d as i64).collect();
    Ok(vec![cx.known_const(Known::ints(DType::I32, v))?])
}

/// Size: the element count, as a constant.
pub(super) fn size(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let n = cx.ty(x).shape.numel() as i64;
    Ok(vec![cx.known_const(Known::new(
        DType::I32,
        vec![],
        crate::known::KData::Int(vec![n]),
    ))?])
}
