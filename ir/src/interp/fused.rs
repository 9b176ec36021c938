//! Fused ops (Elementwise, Fused, Attention), evaluated as the chains of IR ops they
//! replace, so a fused op computes exactly what the unfused nodes compute (including
//! the rounding of every intermediate result to its dtype).

use super::elementwise::from_f64;
use super::eval_op;
use super::movement::expand;
use crate::infer::infer;
use crate::{BinaryOp, DType, Op, Program, Step, Tensor, TensorType};

/// `op` on `args`, with its (first) result type inferred from the operand types.
fn apply(op: &Op, args: &[&Tensor]) -> Result<Tensor, String> {
    let types: Vec<TensorType> = args.iter().map(|t| t.ty()).collect();
    let refs: Vec<&TensorType> = types.iter().collect();
    let ty = infer(op, &refs)
        .map_err(|e| format!("{}: {e}", op.name()))?
        .into_iter()
        .next()
        .ok_or_else(|| format!("{} defines no result", op.name()))?;
    eval_op(op, args, std::slice::from_ref(&ty))?
        .into_iter()
        .next()
        .ok_or_else(|| format!("{} computed no result", op.name()))
}

/// `t` broadcast to `out`'s shape (unchanged when it already has that shape).
fn broadcast_to(t: &Tensor, out: &TensorType) -> Result<Tensor, String> {
    if t.shape() == &out.shape {
        return Ok(t.clone());
    }
    expand(t, &TensorType::new(t.dtype(), out.shape.clone()))
}

/// A scalar tensor holding `value` as `dtype` (exact when `value` is, see [`Step::Const`]).
fn scalar(dtype: DType, value: f64) -> Result<Tensor, String> {
    Tensor::scalar(from_f64(dtype, vec![value])).map_err(|e| e.to_string())
}

/// `program` over `inputs`: each input broadcast to the result shape, each constant a
/// scalar tensor, each step the IR op it names applied to the tensors of its operands.
pub(super) fn elementwise(
    program: &Program,
    inputs: &[&Tensor],
    out: &TensorType,
) -> Result<Tensor, String> {
    let Program { steps } = program;
    let mut values: Vec<Tensor> = Vec::with_capacity(steps.len());
    for (i, step) in steps.iter().enumerate() {
        let value = match *step {
            Step::Input(k) => {
                let t = inputs.get(k).ok_or_else(|| {
                    format!("program reads input {k}, the op has {}", inputs.len())
                })?;
                broadcast_to(t, out)?
            }
            Step::Const { dtype, value } => scalar(dtype, value)?,
            _ => {
                let op = step.op().ok_or("step without an op")?;
                let args = step
                    .operands()
                    .into_iter()
                    .map(|o| {
                        values.get(o).ok_or_else(|| {
                            format!("program step {i} reads step {o}, not an earlier one")
                        })
                    })
                    .collect::<Result<Vec<&Tensor>, String>>()?;
                apply(&op, &args).map_err(|e| format!("program step {i}: {e}"))?
            }
        };
        values.push(value);
    }
    let result = values.pop().ok_or("empty element-wise program")?;
    if result.dtype() != out.dtype {
        return Err(format!(
            "the program computes {}, the result is {out}",
            result.dtype()
        ));
    }
    broadcast_to(&result, out)
}

/// `prologue` (if any) on operand 0 (and the remaining operands, which an element-wise
/// prologue may read), then `anchor` on its result and operands `1..arity`, then
/// `epilogue` over the anchor's first result and the remaining operands.
pub(super) fn fused(
    anchor: &Op,
    prologue: Option<&Op>,
    arity: usize,
    epilogue: &Program,
    inputs: &[&Tensor],
    out: &TensorType,
) -> Result<Tensor, String> {
    if arity > inputs.len() {
        return Err(format!(
            "anchor arity {arity} exceeds the {} operands",
            inputs.len()
        ));
    }
    let (anchor_in, extra) = inputs.split_at(arity);
    let pre = match (prologue, anchor_in.first()) {
        (None, _) => None,
        (Some(pro), Some(first)) => {
            let operands = crate::infer::prologue_operands(pro, *first, extra);
            Some(apply(pro, &operands).map_err(|e| format!("prologue {e}"))?)
        }
        (Some(_), None) => return Err("a prologue needs an anchor operand".into()),
    };
    let mut anchor_args = anchor_in.to_vec();
    if let Some(pre) = &pre {
        anchor_args[0] = pre;
    }
    let base = apply(anchor, &anchor_args).map_err(|e| format!("anchor {e}"))?;
    let mut epilogue_in = vec![&base];
    epilogue_in.extend_from_slice(extra);
    elementwise(epilogue, &epilogue_in, out).map_err(|e| format!("epilogue: {e}"))
}

/// `softmax(q · kt · scale + mask) · v`, softmax over the last axis; `scale` is a
/// scalar of q's dtype.
pub(super) fn attention(
    scale: f32,
    inputs: &[&Tensor],
    out: &TensorType,
) -> Result<Tensor, String> {
    let (q, kt, v, mask) = match *inputs {
        [q, kt, v] => (q, kt, v, None),
        [q, kt, v, mask] => (q, kt, v, Some(mask)),
        _ => {
            return Err(format!(
                "expected 3 or 4 operands (q, kt, v, mask), got {}",
                inputs.len()
            ))
        }
    };
    let scores = apply(&Op::MatMul, &[q, kt])?;
    let scale = scalar(q.dtype(), scale as f64)?;
    let mut scores = apply(&Op::Binary(BinaryOp::Mul), &[&scores, &scale])?;
    if let Some(mask) = mask {
        scores = apply(&Op::Binary(BinaryOp::Add), &[&scores, mask])?;
    }
    let axis = scores
        .shape()
        .rank()
        .checked_sub(1)
        .ok_or("scores are a scalar")?;
    let probs = apply(&Op::Softmax { axis }, &[&scores])?;
    let result = eval_op(&Op::MatMul, &[&probs, v], std::slice::from_ref(out))?;
    result.into_iter().next().ok_or_else(|| "no result".into())
}
