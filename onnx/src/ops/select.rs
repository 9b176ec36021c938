//! NonZero and Compress: outputs whose length depends on the data. Each lowers to an IR
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
    let node = format!("{} ({})", cx.node_name(), cx.node.op_type);
    cx.imp.dynamic.push(Dynamic {
        value: outs[0],
        count: outs[1],
        axis,
        node,
    });
    Ok(vec![outs[0]])
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
