//! NonZero, Compress, NonMaxSuppression and Unique: outputs whose length depends on the
//! data. Each lowers to an IR
//! op with an upper-bound result and a count, recorded in [`Importer::dynamic`]; when the
//! graph's outputs are known, [`crate::import`] makes each such result a graph output with
//! an [`kiln_ir::Extent`] (the runtime cuts it to the count), and refuses one that
//! another node reads.
//!
//! [`Importer::dynamic`]: crate::builder::Importer

use crate::builder::{Cx, Dynamic};
use crate::error::ImportError;
use kiln_ir::{DType, Handle, Op, Value};

type Outs = Result<Vec<Handle<Value>>, ImportError>;

/// Adds `op` and records its data-dependent result 0, cut along `axis` by result 1.
fn dynamic(cx: &mut Cx, op: Op, inputs: &[Handle<Value>], axis: usize) -> Outs {
    let outs = cx.add_n(op, inputs, None)?;
    record(cx, &[(outs[0], axis)], outs[1]);
    Ok(vec![outs[0]])
}

/// Records `results` (each with the axis it is cut along) as cut by `count`.
fn record(cx: &mut Cx, results: &[(Handle<Value>, usize)], count: Handle<Value>) {
    let node = format!("{} ({})", cx.node_name(), cx.node.op_type);
    for &(value, axis) in results {
        cx.imp.dynamic.push(Dynamic {
            value,
            count,
            axis,
            node: node.clone(),
        });
    }
}

/// Unique: `y`, `indices` and `counts` cut to the number of distinct slices;
/// `inverse_indices` has one entry per slice.
pub(super) fn unique(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let axis = match cx.attr("axis") {
        Some(_) => Some(cx.axis(cx.attr_i("axis", 0)?, cx.rank(x))?),
        None => None,
    };
    let sorted = cx.attr_i("sorted", 1)? != 0;
    let outs = cx.add_n(Op::Unique { axis, sorted }, &[x], None)?;
    let along = axis.unwrap_or(0);
    record(cx, &[(outs[0], along), (outs[1], 0), (outs[3], 0)], outs[4]);
    // Distinct values are the operand's: bfloat16 stays exact.
    if cx.imp.bf16.get(&x) == Some(&true) {
        crate::bf16::mark(cx.imp, outs[0], true);
    }
    Ok(outs[..4].to_vec())
}

pub(super) fn non_zero(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    dynamic(cx, Op::NonZero, &[x], 1)
}

pub(super) fn compress(cx: &mut Cx) -> Outs {
    let (x, condition) = (cx.input(0)?, cx.input(1)?);
    if cx.ty(condition).dtype != DType::Bool {
        return Err(cx.err(format!("condition must be bool, got {}", cx.ty(condition))));
    }
    let axis = match cx.attr("axis") {
        Some(_) => Some(cx.axis(cx.attr_i("axis", 0)?, cx.rank(x))?),
        None => None,
    };
    let op = Op::Compress { axis };
    let outs = dynamic(cx, op, &[x, condition], axis.unwrap_or(0))?;
    // Selection moves values: bfloat16 values stay exact (no rounding at the output,
    // which would read the result of data-dependent length).
    if cx.imp.bf16.get(&x) == Some(&true) {
        crate::bf16::mark(cx.imp, outs[0], true);
    }
    Ok(outs)
}

/// NonMaxSuppression: `max_output_boxes_per_class` must be known at import (a constant
/// or a given integer input); the thresholds may be run-time values. The `[n, 3]` int64
/// rows are cut along axis 0.
pub(super) fn non_max_suppression(cx: &mut Cx) -> Outs {
    let (boxes, scores) = (cx.input(0)?, cx.input(1)?);
    for (v, what) in [(boxes, "boxes"), (scores, "scores")] {
        if cx.ty(v).dtype != DType::F32 {
            return Err(cx.err(format!("{what} must be float, got {}", cx.ty(v))));
        }
    }
    let max_per_class = match cx.opt_static_ints(2, "max_output_boxes_per_class")? {
        None => 0,
        Some(v) => v.first().copied().unwrap_or(0).max(0),
    };
    let max_per_class = usize::try_from(max_per_class).unwrap_or(usize::MAX);
    let threshold = |cx: &mut Cx, i: usize| -> Result<Option<Handle<Value>>, ImportError> {
        match cx.opt_input(i)? {
            Some(v) if cx.ty(v).shape.numel() == 1 && cx.ty(v).dtype == DType::F32 => Ok(Some(v)),
            Some(v) if cx.ty(v).shape.numel() == 0 => Ok(None),
            Some(v) => Err(cx.err(format!("operand {i} must be one float, got {}", cx.ty(v)))),
            None => Ok(None),
        }
    };
    let iou = match threshold(cx, 3)? {
        Some(v) => v,
        None => cx.scalar(DType::F32, 0.0)?,
    };
    let given = threshold(cx, 4)?;
    let score = match given {
        Some(v) => v,
        None => cx.scalar(DType::F32, 0.0)?,
    };
    let center_point_box = match cx.attr_i("center_point_box", 0)? {
        0 => false,
        1 => true,
        c => return Err(cx.err(format!("center_point_box must be 0 or 1, got {c}"))),
    };
    let op = Op::NonMaxSuppression {
        center_point_box,
        max_per_class,
        score_threshold: given.is_some(),
    };
    dynamic(cx, op, &[boxes, scores, iou, score], 0)
}
