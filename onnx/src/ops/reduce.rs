//! Reductions: Reduce* (L1, LogSum and LogSumExp composed), ArgMax/ArgMin,
//! Softmax/LogSoftmax, Hardmax, LpNormalization and CumSum/CumProd.

use crate::builder::Cx;
use crate::error::ImportError;
use kiln_ir::{ArgOp, BinaryOp, CumOp, DType, Data, Handle, Op, ReduceOp, Tensor, UnaryOp, Value};

type Outs = Result<Vec<Handle<Value>>, ImportError>;

/// Reduce*: axes from the attribute (before opset 13 for ReduceSum, 18 for the
/// others) or the optional second operand; no axes means all axes unless
/// `noop_with_empty_axes`.
pub(super) fn reduce(cx: &mut Cx, op: ReduceOp) -> Outs {
    let x = cx.input(0)?;
    let Some((axes, keepdims)) = reduce_axes(cx, op == ReduceOp::Sum)? else {
        return Ok(vec![cx.add(Op::Identity, &[x])?]);
    };
    if cx.ty(x).dtype == DType::Bool && matches!(op, ReduceOp::Max | ReduceOp::Min) {
        // Max/min over bool is any/all: reduce as u8 (empty sets give false/true).
        let wide = cx.cast(x, DType::U8)?;
        let r = cx.add(Op::Reduce { op, axes, keepdims }, &[wide])?;
        return Ok(vec![cx.cast(r, DType::Bool)?]);
    }
    Ok(vec![cx.add(Op::Reduce { op, axes, keepdims }, &[x])?])
}

/// The composed reductions: ReduceL1 `Σ|x|`, ReduceLogSum `log Σx` and
/// ReduceLogSumExp `m + log Σ e^(x − m)` with `m` the (finite) maximum.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Composed {
    L1,
    LogSum,
    LogSumExp,
}

pub(super) fn reduce_composed(cx: &mut Cx, kind: Composed) -> Outs {
    let x = cx.input(0)?;
    let dtype = cx.ty(x).dtype;
    if kind != Composed::L1 && !dtype.is_float() {
        return Err(cx.err(format!("needs a float operand, got {dtype}")));
    }
    let Some((axes, keepdims)) = reduce_axes(cx, false)? else {
        return Ok(vec![cx.add(Op::Identity, &[x])?]);
    };
    let sum = |cx: &mut Cx, v, keepdims| {
        let op = Op::Reduce {
            op: ReduceOp::Sum,
            axes: axes.clone(),
            keepdims,
        };
        cx.add(op, &[v])
    };
    let y = match kind {
        Composed::L1 => {
            let a = cx.unary(UnaryOp::Abs, x)?;
            sum(cx, a, keepdims)?
        }
        Composed::LogSum => {
            let s = sum(cx, x, keepdims)?;
            cx.unary(UnaryOp::Log, s)?
        }
        Composed::LogSumExp => {
            // The shift: the maximum over the finite elements (0 when there are none,
            // so that an all-infinite or empty set keeps its exact sum).
            let inf = cx.unary(UnaryOp::IsInf, x)?;
            let zero = cx.scalar(dtype, 0.0)?;
            let finite = cx.add(Op::Where, &[inf, zero, x])?;
            let max = Op::Reduce {
                op: ReduceOp::Max,
                axes: axes.clone(),
                keepdims: true,
            };
            let m = cx.add(max, &[finite])?;
            let m_finite = is_finite(cx, m)?;
            let m = cx.add(Op::Where, &[m_finite, m, zero])?;
            let shifted = cx.binary(BinaryOp::Sub, x, m)?;
            let e = cx.unary(UnaryOp::Exp, shifted)?;
            let s = sum(cx, e, true)?;
            let l = cx.unary(UnaryOp::Log, s)?;
            let r = cx.binary(BinaryOp::Add, l, m)?;
            let dims = cx.dims(r);
            let kept: Vec<usize> = if keepdims {
                dims
            } else {
                let kept = dims.iter().enumerate();
                kept.filter(|(i, _)| !axes.contains(i))
                    .map(|(_, &d)| d)
                    .collect()
            };
            cx.reshape(r, kept)?
        }
    };
    Ok(vec![y])
}

/// True where `m` is not infinite (the maximum of an empty set is −∞).
fn is_finite(cx: &mut Cx, m: Handle<Value>) -> Result<Handle<Value>, ImportError> {
    let inf = cx.unary(UnaryOp::IsInf, m)?;
    cx.unary(UnaryOp::Not, inf)
}

/// Hardmax: 1 at the first maximum along `axis`, 0 elsewhere (opset < 13: along the
/// second axis of the operand viewed as 2-D at `axis`).
pub(super) fn hardmax(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let dims = cx.dims(x);
    let rank = dims.len();
    let (v, axis) = if cx.opset >= 13 {
        let axis = cx.attr_i("axis", -1)?;
        (x, cx.axis(axis, rank)?)
    } else {
        let axis = cx.attr_i("axis", 1)?;
        let axis = cx.axis(axis, rank)?;
        let outer: usize = dims[..axis].iter().product();
        let inner: usize = dims[axis..].iter().product();
        (cx.reshape(x, vec![outer, inner])?, 1)
    };
    let vdims = cx.dims(v);
    let arg = Op::ArgReduce {
        op: ArgOp::Max,
        axis,
        keepdims: true,
        select_last_index: false,
    };
    let am = cx.add(arg, &[v])?;
    let n = vdims[axis];
    let mut iota_dims = vec![1; vdims.len()];
    iota_dims[axis] = n;
    let iota = Tensor::new(iota_dims, Data::I32((0..n as i32).collect()))
        .map_err(|e| cx.err(e.to_string()))?;
    let iota = cx.constant(iota);
    let hit = cx.binary(BinaryOp::Equal, am, iota)?;
    let y = cx.cast(hit, cx.ty(x).dtype)?;
    Ok(vec![cx.reshape(y, dims)?])
}

/// LpNormalization: `x / ‖x‖_p` along `axis` (p is 1 or 2); a zero norm gives 0.
pub(super) fn lp_normalization(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let dtype = cx.ty(x).dtype;
    if !dtype.is_float() {
        return Err(cx.err(format!("needs a float operand, got {dtype}")));
    }
    let axis = cx.attr_i("axis", -1)?;
    let axis = cx.axis(axis, cx.rank(x))?;
    let (op, v) = match cx.attr_i("p", 2)? {
        1 => (ReduceOp::Sum, cx.unary(UnaryOp::Abs, x)?),
        2 => (ReduceOp::L2, x),
        p => return Err(cx.err(format!("p must be 1 or 2, got {p}"))),
    };
    let reduce = Op::Reduce {
        op,
        axes: vec![axis],
        keepdims: true,
    };
    let norm = cx.add(reduce, &[v])?;
    let zero = cx.scalar(dtype, 0.0)?;
    let is_zero = cx.binary(BinaryOp::Equal, norm, zero)?;
    let q = cx.binary(BinaryOp::Div, x, norm)?;
    Ok(vec![cx.add(Op::Where, &[is_zero, zero, q])?])
}

/// The axes of a Reduce* node and its `keepdims`: from the attribute (before opset 13
/// for ReduceSum, 18 for the others) or the optional second operand; no axes means all
/// axes, or `None` (the identity) with `noop_with_empty_axes`.
fn reduce_axes(cx: &mut Cx, sum: bool) -> Result<Option<(Vec<usize>, bool)>, ImportError> {
    let x = cx.input(0)?;
    let rank = cx.rank(x);
    let axes_from_input = if sum { cx.opset >= 13 } else { cx.opset >= 18 };
    let axes = if axes_from_input {
        cx.opt_static_ints(1, "axes")?
    } else {
        cx.attr_ints("axes")?
    };
    let keepdims = cx.attr_i("keepdims", 1)? != 0;
    let axes = match axes {
        Some(a) if !a.is_empty() => {
            let mut v = a
                .iter()
                .map(|&a| cx.axis(a, rank))
                .collect::<Result<Vec<_>, _>>()?;
            v.sort_unstable();
            v.dedup();
            v
        }
        _ if cx.attr_i("noop_with_empty_axes", 0)? != 0 => return Ok(None),
        _ => (0..rank).collect(),
    };
    Ok(Some((axes, keepdims)))
}

pub(super) fn arg(cx: &mut Cx, op: ArgOp) -> Outs {
    let x = cx.input(0)?;
    let axis = cx.attr_i("axis", 0)?;
    let axis = cx.axis(axis, cx.rank(x))?;
    let keepdims = cx.attr_i("keepdims", 1)? != 0;
    let select_last_index = cx.attr_i("select_last_index", 0)? != 0;
    Ok(vec![cx.add(
        Op::ArgReduce {
            op,
            axis,
            keepdims,
            select_last_index,
        },
        &[x],
    )?])
}

/// Softmax/LogSoftmax. Before opset 13 the operand is viewed as 2-D
/// (`[prod(dims[..axis]), prod(dims[axis..])]`) and normalized along the second axis.
pub(super) fn softmax(cx: &mut Cx, log: bool) -> Outs {
    let x = cx.input(0)?;
    let dims = cx.dims(x);
    let rank = dims.len();
    let make = |axis| {
        if log {
            Op::LogSoftmax { axis }
        } else {
            Op::Softmax { axis }
        }
    };
    if cx.opset >= 13 {
        let axis = cx.attr_i("axis", -1)?;
        let axis = cx.axis(axis, rank)?;
        return Ok(vec![cx.add(make(axis), &[x])?]);
    }
    let axis = cx.attr_i("axis", 1)?;
    let axis = if rank == 0 { 0 } else { cx.axis(axis, rank)? };
    if axis + 1 == rank || rank == 0 {
        return Ok(vec![cx.add(make(rank.saturating_sub(1)), &[x])?]);
    }
    let outer: usize = dims[..axis].iter().product();
    let inner: usize = dims[axis..].iter().product();
    let flat = cx.reshape(x, vec![outer, inner])?;
    let y = cx.add(make(1), &[flat])?;
    Ok(vec![cx.reshape(y, dims)?])
}

/// CumSum / CumProd with the `exclusive` and `reverse` attributes. The axis operand
/// is specialised like a shape-deciding one (a constant, or an input whose value is
/// given when compiling); a rank-1 input needs none.
pub(super) fn cumulative(cx: &mut Cx, op: CumOp) -> Outs {
    let x = cx.input(0)?;
    let rank = cx.rank(x);
    let exclusive = cx.attr_i("exclusive", 0)? != 0;
    let reverse = cx.attr_i("reverse", 0)? != 0;
    let axis = match cx.static_ints(1, "axis").or_else(|e| match rank {
        1 => Ok(vec![0]),
        _ => Err(e),
    })?[..]
    {
        [a] => cx.axis(a, rank)?,
        ref v => return Err(cx.err(format!("axis must be one integer, got {v:?}"))),
    };
    let op = Op::Cumulative {
        op,
        axis,
        exclusive,
        reverse,
    };
    Ok(vec![cx.add(op, &[x])?])
}
