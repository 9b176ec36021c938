//! Loss functions: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss, lowered as
//! their ONNX function bodies onto existing ops (log-softmax, a one-hot select and
//! sum along the class axis in place of GatherElements, reductions).

use crate::builder::Cx;
use crate::error::ImportError;
use kiln_ir::{BinaryOp, DType, Handle, Op, ReduceOp, Tensor, UnaryOp, Value};

type Outs = Result<Vec<Handle<Value>>, ImportError>;

/// How the per-element losses are combined.
#[derive(Clone, Copy, PartialEq)]
enum Reduction {
    None,
    Sum,
    Mean,
}

fn reduction(cx: &Cx) -> Result<Reduction, ImportError> {
    match cx.attr_s("reduction")?.as_deref().unwrap_or("mean") {
        "none" => Ok(Reduction::None),
        "sum" => Ok(Reduction::Sum),
        "mean" => Ok(Reduction::Mean),
        other => Err(cx.err(format!(
            "reduction '{other}' is not supported (none, sum, mean)"
        ))),
    }
}

pub(super) fn nll_loss(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    Ok(vec![nll(cx, x)?])
}

/// `SoftmaxCrossEntropyLoss`: the NLL loss of `log_softmax(scores, axis 1)`; the second
/// result, when read, is that log-probability.
pub(super) fn softmax_cross_entropy_loss(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    if cx.rank(x) < 2 {
        return Err(cx.err(format!("scores must have rank ≥ 2, got {}", cx.ty(x))));
    }
    let log_prob = cx.add(Op::LogSoftmax { axis: 1 }, &[x])?;
    let loss = nll(cx, log_prob)?;
    let mut outs = vec![loss];
    if cx.num_outputs() > 1 {
        outs.push(log_prob);
    }
    Ok(outs)
}

/// `-x[n, target[n, d..], d..] · weight[target]`, zero where `target == ignore_index`,
/// then reduced. Operand 1 is the target, operand 2 the optional class weights.
fn nll(cx: &mut Cx, x: Handle<Value>) -> Result<Handle<Value>, ImportError> {
    let target = cx.input(1)?;
    let weight = cx.opt_input(2)?;
    let reduction = reduction(cx)?;
    let ignore = match cx.attr("ignore_index") {
        Some(_) => Some(cx.attr_i("ignore_index", 0)?),
        None => None,
    };
    let xt = cx.ty(x);
    let dims = xt.shape.0.clone();
    let tdims = cx.dims(target);
    if dims.len() < 2
        || tdims.len() + 1 != dims.len()
        || tdims[0] != dims[0]
        || tdims[1..] != dims[2..]
    {
        return Err(cx.err(format!(
            "input {} and target {} do not match ([N, C, d..] and [N, d..])",
            xt,
            cx.ty(target)
        )));
    }
    if !cx.ty(target).dtype.is_int() {
        return Err(cx.err(format!(
            "target must be an integer tensor, got {}",
            cx.ty(target)
        )));
    }
    let dtype = xt.dtype;
    let classes = dims[1];
    if let Some(w) = weight {
        if cx.dims(w) != [classes] || cx.ty(w).dtype != dtype {
            return Err(cx.err(format!(
                "weight must be a [{classes}] tensor of {dtype}, got {}",
                cx.ty(w)
            )));
        }
    }
    let target = cx.cast(target, DType::I32)?;
    // one_hot[n, c, d..] = (target[n, d..] == c)
    let mut col = vec![1; dims.len()];
    col[1] = classes;
    let iota = Tensor::from_i32(col.clone(), (0..classes as i32).collect())
        .map_err(|e| cx.err(e.to_string()))?;
    let iota = cx.constant(iota);
    let mut tshape = dims.clone();
    tshape[1] = 1;
    let t = cx.reshape(target, tshape)?;
    let one_hot = cx.binary(BinaryOp::Equal, t, iota)?;
    let zero = cx.scalar(dtype, 0.0)?;
    let along_classes = Op::Reduce {
        op: ReduceOp::Sum,
        axes: vec![1],
        keepdims: false,
    };
    let selected = cx.add(Op::Where, &[one_hot, x, zero])?;
    let picked = cx.add(along_classes.clone(), &[selected])?;
    let mut loss = cx.unary(UnaryOp::Neg, picked)?;
    // The per-element weight: weight[target], 0 where target == ignore_index.
    let mut w = match weight {
        Some(w) => {
            let wb = cx.reshape(w, col)?;
            let sel = cx.add(Op::Where, &[one_hot, wb, zero])?;
            Some(cx.add(along_classes, &[sel])?)
        }
        None => None,
    };
    if let Some(ii) = ignore {
        let ii = i32::try_from(ii).unwrap_or(if ii < 0 { i32::MIN } else { i32::MAX });
        let ii = cx.scalar(DType::I32, ii as f64)?;
        let ignored = cx.binary(BinaryOp::Equal, target, ii)?;
        let kept = match w {
            Some(w) => w,
            None => {
                let one = cx.scalar(dtype, 1.0)?;
                cx.add(
                    Op::Expand {
                        shape: tdims.clone(),
                    },
                    &[one],
                )?
            }
        };
        w = Some(cx.add(Op::Where, &[ignored, zero, kept])?);
    }
    if let Some(w) = w {
        loss = cx.binary(BinaryOp::Mul, loss, w)?;
    }
    let all: Vec<usize> = (0..tdims.len()).collect();
    let sum = |cx: &mut Cx, v| {
        cx.add(
            Op::Reduce {
                op: ReduceOp::Sum,
                axes: all.clone(),
                keepdims: false,
            },
            &[v],
        )
    };
    match reduction {
        Reduction::None => Ok(loss),
        Reduction::Sum => sum(cx, loss),
        Reduction::Mean => {
            let total = sum(cx, loss)?;
            let count = match w {
                Some(w) => sum(cx, w)?,
                None => cx.scalar(dtype, tdims.iter().product::<usize>() as f64)?,
            };
            cx.binary(BinaryOp::Div, total, count)
        }
    }
}
