//! bfloat16 computed as f32: which values the model types bfloat16, and the rounding
//! to bfloat16 import inserts where the model makes a value bfloat16.
//!
//! Every bfloat16 is an f32, so bfloat16 inputs and constants are exact in f32. Ops on
//! them compute in f32 (as the ONNX reference implementations do) and a value is
//! rounded to bfloat16 where the model converts to it: Cast/CastLike to bfloat16 and
//! a bfloat16 graph output. Intermediate bfloat16 values therefore carry f32 precision
//! rather than being rounded after every op.

use crate::builder::Importer;
use crate::error::ImportError;
use kiln_ir::{BinaryOp, DType, Data, Handle, Op, Tensor, UnaryOp, Value};

/// Marks `v` as typed bfloat16 by the model; `exact` when it holds bfloat16 values
/// (an input, a constant, a rounding's result).
pub(crate) fn mark(imp: &mut Importer, v: Handle<Value>, exact: bool) {
    let e = imp.bf16.entry(v).or_insert(exact);
    *e |= exact;
}

/// `v` as a bfloat16 value: `v` itself when it already holds bfloat16 values, else
/// rounded (marked either way).
pub(crate) fn exact(
    imp: &mut Importer,
    v: Handle<Value>,
    name: &str,
) -> Result<Handle<Value>, ImportError> {
    if imp.bf16.get(&v) == Some(&true) {
        return Ok(v);
    }
    let r = round(imp, v, name)?;
    mark(imp, r, true);
    Ok(r)
}

/// f32 `x` rounded to the nearest bfloat16, ties to even (the bits plus `0x7FFF` and
/// the lowest kept bit, the low half cleared; overflow gives infinity), NaN kept.
fn round(imp: &mut Importer, x: Handle<Value>, name: &str) -> Result<Handle<Value>, ImportError> {
    let name = format!("{name}/to_bfloat16");
    let err = |e: kiln_ir::NodeError| ImportError::Node {
        node: e.node,
        op: "Cast".into(),
        reason: e.reason,
    };
    let word = |imp: &mut Importer, v: u32| {
        let t = Tensor::new(Vec::<usize>::new(), Data::U32(vec![v])).expect("a scalar");
        imp.graph.add_const(None, t)
    };
    let (k16, one, bias, high) = (
        word(imp, 16),
        word(imp, 1),
        word(imp, 0x7FFF),
        word(imp, 0xFFFF_0000),
    );
    let add = |imp: &mut Importer, op: Op, inputs: &[Handle<Value>]| {
        imp.add_node(op, inputs, Some(1), &name)
            .map(|v| v[0])
            .map_err(err)
    };
    let bin = Op::Binary;
    let bits = add(imp, Op::BitCast { to: DType::U32 }, &[x])?;
    let shifted = add(imp, bin(BinaryOp::ShiftRight), &[bits, k16])?;
    let lsb = add(imp, bin(BinaryOp::BitAnd), &[shifted, one])?;
    let up = add(imp, bin(BinaryOp::Add), &[bits, bias])?;
    let up = add(imp, bin(BinaryOp::Add), &[up, lsb])?;
    let kept = add(imp, bin(BinaryOp::BitAnd), &[up, high])?;
    let rounded = add(imp, Op::BitCast { to: DType::F32 }, &[kept])?;
    let nan = add(imp, Op::Unary(UnaryOp::IsNan), &[x])?;
    add(imp, Op::Where, &[nan, x, rounded])
}
