//! Reductions: Reduce*, ArgMax/ArgMin, Softmax/LogSoftmax.

use crate::builder::Cx;
use crate::error::ImportError;
use kiln_ir::{ArgOp, DType, Handle, Op, ReduceOp, Value};

type Outs = Result<Vec<Handle<Value>>, ImportError>;

/// Reduce*: axes from the attribute (before opset 13 for ReduceSum, 18 for the
/// others) or the optional second operand; no axes means all axes unless
/// `noop_with_empty_axes`.
pub(super) fn reduce(cx: &mut Cx, op: ReduceOp) -> Outs {
    let x = cx.input(0)?;
    let rank = cx.rank(x);
    let axes_from_input = if op == ReduceOp::Sum {
        cx.opset >= 13
    } else {
        cx.opset >= 18
    };
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
        _ if cx.attr_i("noop_with_empty_axes", 0)? != 0 => {
            return Ok(vec![cx.add(Op::Identity, &[x])?])
        }
        _ => (0..rank).collect(),
    };
    if cx.ty(x).dtype == DType::Bool && matches!(op, ReduceOp::Max | ReduceOp::Min) {
        // Max/min over bool is any/all: reduce as u8 (empty sets give false/true).
        let wide = cx.cast(x, DType::U8)?;
        let r = cx.add(Op::Reduce { op, axes, keepdims }, &[wide])?;
        return Ok(vec![cx.cast(r, DType::Bool)?]);
    }
    Ok(vec![cx.add(Op::Reduce { op, axes, keepdims }, &[x])?])
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
