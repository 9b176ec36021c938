//! The CPU reference interpreter: what every op computes, written for clarity.
//!
//! [`eval_op`] defines the semantics of every [`Op`] on host tensors; [`run`] walks a
//! graph's nodes in order. It is the oracle GPU kernels are tested against and the
//! constant folder's engine. Float math on `f16` is done in `f32` and rounded back to
//! `f16` once per op; fused ops (Elementwise, Fused, Attention) are evaluated as the
//! chains of ops they replace, rounding every intermediate. Matrix products (MatMul, Conv via im2col, ConvTranspose via
//! col2im) go through `matrixmultiply`'s sgemm; everything else is plain loops over
//! row-major indices.

mod conv;
mod conv_transpose;
mod elementwise;
mod fused;
mod index;
mod matmul;
mod movement;
mod norm;
mod pad;
mod pool;
mod quant;
mod reduce;
mod resize;
mod scan;
mod scatter;
mod select;
mod space;
mod sparse;

#[cfg(test)]
mod expected;
#[cfg(test)]
mod fused_tests;
#[cfg(test)]
mod tests;

use crate::{DType, Data, Graph, Op, ReduceOp, Tensor, TensorType, ValueDef};

/// Why evaluation failed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A graph input does not fit its port (count, dtype or shape).
    #[error("{0}")]
    Input(String),
    /// A node could not be evaluated (bad data such as an out-of-range index).
    #[error("node '{node}' ({op}): {reason}")]
    Node {
        node: String,
        op: &'static str,
        reason: String,
    },
}

/// Evaluates one op on host tensors; `out_types` are the node's result types.
///
/// Returns one tensor per entry of `out_types` (an op with optional results computes
/// only as many as asked for). Fails, never panics, on operands that do not fit the op
/// or on bad data (an out-of-range gather index, an integer division by zero).
pub fn eval_op(
    op: &Op,
    inputs: &[&Tensor],
    out_types: &[TensorType],
) -> Result<Vec<Tensor>, String> {
    if out_types.is_empty() {
        return Err("no result types given".into());
    }
    let out = &out_types[0];
    let one = |t: Result<Tensor, String>| t.map(|t| vec![t]);
    match op {
        Op::Unary(u) => one(elementwise::unary(*u, operand(inputs, 0)?, out)),
        Op::Binary(b) => one(elementwise::binary(
            *b,
            operand(inputs, 0)?,
            operand(inputs, 1)?,
            out,
        )),
        Op::Where => one(elementwise::where_(
            operand(inputs, 0)?,
            operand(inputs, 1)?,
            operand(inputs, 2)?,
            out,
        )),
        Op::Cast { to } => one(elementwise::cast(operand(inputs, 0)?, *to, out)),
        Op::BitCast { to } => one(elementwise::bitcast(operand(inputs, 0)?, *to, out)),
        Op::Quantize {
            axis,
            block,
            saturate,
        } => one(quant::quantize(
            operand(inputs, 0)?,
            operand(inputs, 1)?,
            operand(inputs, 2)?,
            (*axis, *block, *saturate),
            out,
        )),
        Op::Dequantize { axis, block } => one(quant::dequantize(
            operand(inputs, 0)?,
            operand(inputs, 1)?,
            operand(inputs, 2)?,
            (*axis, *block),
            out,
        )),
        Op::MatMulInteger => one(quant::matmul_integer(
            operand(inputs, 0)?,
            operand(inputs, 1)?,
            operand(inputs, 2)?,
            operand(inputs, 3)?,
            out,
        )),
        Op::ConvInteger(a) => one(quant::conv_integer(
            a,
            [
                operand(inputs, 0)?,
                operand(inputs, 1)?,
                operand(inputs, 2)?,
                operand(inputs, 3)?,
            ],
            out,
        )),
        Op::SparseMatMul { format, axis, k, n } => one(sparse::sparse_matmul(
            *format,
            (*axis, *k, *n),
            operand(inputs, 0)?,
            &inputs[1..],
            out,
        )),
        Op::SparseConv {
            format,
            conv: attrs,
            kernel,
            n,
        } => {
            let x = operand(inputs, 0)?;
            let c = x
                .shape()
                .dims()
                .get(1)
                .copied()
                .ok_or("x has no channel axis")?;
            let k = c * kernel.iter().product::<usize>();
            let arrays = inputs.get(1..1 + format.arrays()).ok_or("missing arrays")?;
            let b = crate::sparse::decode(*format, arrays, k, *n)?;
            // W[m, kk] = B[kk, m].
            let w: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
            let mut dims = vec![*n, c];
            dims.extend_from_slice(kernel);
            let w = Tensor::from_f32(dims, w).map_err(|e| e.to_string())?;
            let bias = inputs.get(1 + format.arrays()).copied();
            one(conv::conv(attrs, x, &w, bias, out))
        }
        Op::MatMul => one(matmul::matmul(
            operand(inputs, 0)?,
            operand(inputs, 1)?,
            out,
        )),
        Op::Conv(a) => one(conv::conv(
            a,
            operand(inputs, 0)?,
            operand(inputs, 1)?,
            inputs.get(2).copied(),
            out,
        )),
        Op::ConvTranspose(a) => one(conv_transpose::conv_transpose(
            a,
            operand(inputs, 0)?,
            operand(inputs, 1)?,
            inputs.get(2).copied(),
            out,
        )),
        Op::BatchNorm { epsilon } => one(norm::batch_norm(*epsilon, inputs, out)),
        Op::LayerNorm { axis, epsilon } => norm::layer_norm(*axis, *epsilon, inputs, out_types),
        Op::RmsNorm { axis, epsilon } => norm::rms_norm(*axis, *epsilon, inputs, out_types),
        Op::InstanceNorm { epsilon } => one(norm::instance_norm(*epsilon, inputs, out)),
        Op::Lrn {
            size,
            alpha,
            beta,
            bias,
        } => one(norm::lrn(
            *size,
            *alpha,
            *beta,
            *bias,
            operand(inputs, 0)?,
            out,
        )),
        Op::MaxPool(a) => pool::max_pool(a, operand(inputs, 0)?, out_types),
        Op::AveragePool(a) => one(pool::average_pool(a, operand(inputs, 0)?, out)),
        Op::Reduce {
            op,
            axes,
            keepdims: _,
        } => one(reduce::reduce(*op, axes, operand(inputs, 0)?, out)),
        Op::MinMax { axes, .. } => {
            let x = operand(inputs, 0)?;
            [ReduceOp::Min, ReduceOp::Max]
                .iter()
                .zip(out_types)
                .map(|(&op, ty)| reduce::reduce(op, axes, x, ty))
                .collect()
        }
        Op::Softmax { axis } => one(reduce::softmax(*axis, false, operand(inputs, 0)?, out)),
        Op::LogSoftmax { axis } => one(reduce::softmax(*axis, true, operand(inputs, 0)?, out)),
        Op::ScatterNd { reduction } => one(scatter::scatter_nd(
            *reduction,
            [
                operand(inputs, 0)?,
                operand(inputs, 1)?,
                operand(inputs, 2)?,
            ],
            out,
        )),
        Op::Cumulative {
            op,
            axis,
            exclusive,
            reverse,
        } => one(scan::cumulative(
            *op,
            *axis,
            [*exclusive, *reverse],
            operand(inputs, 0)?,
            out,
        )),
        Op::ArgReduce {
            op,
            axis,
            keepdims: _,
            select_last_index,
        } => one(reduce::arg_reduce(
            *op,
            *axis,
            *select_last_index,
            operand(inputs, 0)?,
            out,
        )),
        Op::Elementwise { program } => one(fused::elementwise(program, inputs, out)),
        Op::Fused {
            anchor,
            prologue,
            arity,
            epilogue,
        } => one(fused::fused(
            anchor,
            prologue.as_deref(),
            *arity,
            epilogue,
            inputs,
            out,
        )),
        Op::Attention { scale } => one(fused::attention(*scale, inputs, out)),
        Op::Reshape { .. } | Op::Identity => {
            let x = operand(inputs, 0)?;
            x.reshaped(out.shape.clone())
                .map(|t| vec![t])
                .map_err(|e| e.to_string())
        }
        Op::Transpose { perm } => one(movement::transpose(perm, operand(inputs, 0)?, out)),
        Op::Concat { axis } => one(movement::concat(*axis, inputs, out)),
        Op::Split { axis, sizes } => movement::split(*axis, sizes, operand(inputs, 0)?, out_types),
        Op::Slice {
            starts,
            steps,
            lens,
        } => one(movement::slice(
            starts,
            steps,
            lens,
            operand(inputs, 0)?,
            out,
        )),
        Op::Gather { axis } => one(movement::gather(
            *axis,
            operand(inputs, 0)?,
            operand(inputs, 1)?,
            out,
        )),
        Op::Expand { .. } => one(movement::expand(operand(inputs, 0)?, out)),
        Op::Tile { repeats } => one(movement::tile(repeats, operand(inputs, 0)?, out)),
        Op::Pad { mode, pads } => one(pad::pad(
            *mode,
            pads,
            operand(inputs, 0)?,
            inputs.get(1).copied(),
            out,
        )),
        Op::Resize(a) => one(resize::resize(a, operand(inputs, 0)?, out)),
        Op::DepthToSpace { blocksize, mode } => one(space::depth_to_space(
            *blocksize,
            *mode,
            operand(inputs, 0)?,
            out,
        )),
        Op::SpaceToDepth { blocksize } => {
            one(space::space_to_depth(*blocksize, operand(inputs, 0)?, out))
        }
        Op::Shape { start, end } => one(movement::shape(*start, *end, operand(inputs, 0)?, out)),
        Op::NonZero => select::non_zero(operand(inputs, 0)?, out_types),
        Op::NonMaxSuppression {
            center_point_box,
            max_per_class,
            score_threshold,
        } => select::non_max_suppression(
            [operand(inputs, 0)?, operand(inputs, 1)?],
            [operand(inputs, 2)?, operand(inputs, 3)?],
            (*center_point_box, *max_per_class, *score_threshold),
            out_types,
        ),
        Op::Unique { axis, sorted } => {
            select::unique(*axis, *sorted, operand(inputs, 0)?, out_types)
        }
        Op::Compress { axis } => {
            select::compress(*axis, operand(inputs, 0)?, operand(inputs, 1)?, out_types)
        }
    }
}

/// Runs `graph` on `inputs` (one per graph input, in order) and returns the graph
/// outputs in order. Ports declared `int64` hold `i32` data here.
pub fn run(graph: &Graph, inputs: &[Tensor]) -> Result<Vec<Tensor>, EvalError> {
    if inputs.len() != graph.inputs.len() {
        return Err(EvalError::Input(format!(
            "expected {} inputs, got {}",
            graph.inputs.len(),
            inputs.len()
        )));
    }
    let mut env: Vec<Option<Tensor>> = vec![None; graph.values.len()];
    for (port, t) in graph.inputs.iter().zip(inputs) {
        let want = graph.ty(port.value);
        if t.dtype() != want.dtype || t.shape() != &want.shape {
            return Err(EvalError::Input(format!(
                "input '{}': expected {}, got {}",
                port.name,
                want,
                t.ty()
            )));
        }
        env[port.value.index()] = Some(t.clone());
    }
    for (handle, value) in graph.values.iter() {
        if let ValueDef::Const(t) = &value.def {
            env[handle.index()] = Some(t.clone());
        }
    }
    let mut uses = graph.use_counts();
    for (_, node) in graph.nodes.iter() {
        let fail = |reason: String| EvalError::Node {
            node: node.name.clone(),
            op: node.op.name(),
            reason,
        };
        let args = node
            .inputs
            .iter()
            .map(|v| {
                env[v.index()]
                    .as_ref()
                    .ok_or_else(|| fail(format!("operand %v{} has no value yet", v.index())))
            })
            .collect::<Result<Vec<&Tensor>, EvalError>>()?;
        let types: Vec<TensorType> = node.outputs.iter().map(|&v| graph.ty(v).clone()).collect();
        let results = eval_op(&node.op, &args, &types).map_err(fail)?;
        if results.len() != node.outputs.len() {
            return Err(fail(format!(
                "computed {} results, the node has {}",
                results.len(),
                node.outputs.len()
            )));
        }
        // Drop operands no later node or graph output reads, to bound peak memory.
        for v in &node.inputs {
            uses[v.index()] = uses[v.index()].saturating_sub(1);
            if uses[v.index()] == 0 {
                env[v.index()] = None;
            }
        }
        for ((&v, t), ty) in node.outputs.iter().zip(results).zip(&types) {
            if &t.ty() != ty {
                return Err(fail(format!(
                    "computed {}, the node declares {}",
                    t.ty(),
                    ty
                )));
            }
            env[v.index()] = Some(t);
        }
    }
    graph
        .outputs
        .iter()
        .map(|port| {
            env[port.value.index()].clone().ok_or_else(|| {
                EvalError::Input(format!("output '{}' is never computed", port.name))
            })
        })
        .collect()
}

/// Operand `i`, or an error naming the missing position.
fn operand<'a>(inputs: &[&'a Tensor], i: usize) -> Result<&'a Tensor, String> {
    inputs
        .get(i)
        .copied()
        .ok_or_else(|| format!("missing operand {i} (got {})", inputs.len()))
}

/// A float tensor's elements as `f32` (f16 widened); other dtypes are an error.
fn floats(t: &Tensor, what: &str) -> Result<Vec<f32>, String> {
    match &*t.data() {
        Data::F32(v) => Ok(v.clone()),
        Data::F16(v) => Ok(v.iter().map(|x| x.to_f32()).collect()),
        d => Err(format!("{what} must be f32 or f16, got {}", d.dtype())),
    }
}

/// A tensor of `ty` from `f32` results, rounding to f16 when `ty` is f16.
fn from_floats(ty: &TensorType, v: Vec<f32>) -> Result<Tensor, String> {
    let data = match ty.dtype {
        DType::F32 => Data::F32(v),
        DType::F16 => Data::F16(v.into_iter().map(half::f16::from_f32).collect()),
        d => return Err(format!("result must be f32 or f16, got {d}")),
    };
    Tensor::new(ty.shape.clone(), data).map_err(|e| e.to_string())
}

/// A tensor of `ty` holding `data`, checked.
fn tensor(ty: &TensorType, data: Data) -> Result<Tensor, String> {
    if data.dtype() != ty.dtype {
        return Err(format!(
            "computed {} data for a {} result",
            data.dtype(),
            ty
        ));
    }
    Tensor::new(ty.shape.clone(), data).map_err(|e| e.to_string())
}
