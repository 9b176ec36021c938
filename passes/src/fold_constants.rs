//! `fold-constants`: a node whose operands are all constants is evaluated by the
//! reference interpreter and replaced by constant results.
//!
//! Size is bounded: a node is folded densely only when its operands and results hold
//! at most `max_elements` elements each and evaluating it takes at most 16 times that
//! many multiply-adds. When every operand is a splat (or has one
//! element) and the op is element-wise or pure data movement, the result is computed
//! from one element and stays a splat of any size — weights built by
//! `ConstantOfShape` stay one element however large their shape.
//!
//! Quantized weights are not expanded: a `dequantize` of a dense constant of more than
//! [`KEEP_QUANTIZED`] elements stays, so the weights stay low-bit in the bundle (packed)
//! and are dequantized when the model runs; so does the cast of such an f16 constant to
//! f32 (f16-stored weights).

use crate::rebuild::{rebuild, Edits};
use crate::{Pass, PassError};
use kiln_ir::{interp, DType, Graph, Node, Op, Shape, Tensor, TensorType};

/// Constant folding through [`kiln_ir::interp::eval_op`].
pub struct FoldConstants {
    /// Largest element count of a dense operand or result that folding may create.
    pub max_elements: usize,
}

impl Pass for FoldConstants {
    fn name(&self) -> &'static str {
        "fold-constants"
    }

    fn run(&self, graph: Graph) -> Result<Graph, PassError> {
        let mut edits = Edits::new(&graph);
        let mut changed = false;
        for (handle, node) in graph.nodes.iter() {
            if node.inputs.is_empty() {
                continue;
            }
            let operands: Option<Vec<&Tensor>> = node
                .inputs
                .iter()
                .map(|&v| edits.folded(v).or_else(|| graph.constant(v)))
                .collect();
            let Some(operands) = operands else { continue };
            let out_types: Vec<TensorType> =
                node.outputs.iter().map(|&v| graph.ty(v).clone()).collect();
            let Some(results) = self.fold(node, &operands, &out_types) else {
                continue;
            };
            for ((&value, tensor), ty) in node.outputs.iter().zip(results).zip(&out_types) {
                if tensor.ty() != *ty {
                    return Err(PassError::failed(
                        self.name(),
                        format!(
                            "node '{}' ({}): the interpreter returned {} where the graph declares {ty}",
                            node.name,
                            node.op.name(),
                            tensor.ty()
                        ),
                    ));
                }
                edits.make_constant(value, tensor);
            }
            edits.remove_node(handle);
            changed = true;
        }
        if !changed {
            return Ok(graph);
        }
        rebuild(&graph, &edits).map_err(|e| PassError::failed(self.name(), e))
    }
}

/// The most elements a constant's `dequantize` may have and still be folded.
pub const KEEP_QUANTIZED: usize = 64;

impl FoldConstants {
    /// The folded results of `node`, or `None` when it should stay (too large, a
    /// quantized weight, or the interpreter cannot evaluate it: any error then shows
    /// when the graph runs).
    fn fold(
        &self,
        node: &Node,
        operands: &[&Tensor],
        out_types: &[TensorType],
    ) -> Option<Vec<Tensor>> {
        let widening = |x: &Tensor| x.dtype() == DType::F16;
        if let (Op::Dequantize { .. } | Op::Cast { to: DType::F32 }, Some(x)) =
            (&node.op, operands.first())
        {
            let low_bit = matches!(node.op, Op::Dequantize { .. }) || widening(x);
            if low_bit && !x.is_splat() && x.numel() > KEEP_QUANTIZED {
                return None;
            }
        }
        if operands.iter().all(|t| is_single_valued(t)) && splat_preserving(&node.op) {
            return fold_splat(&node.op, operands, out_types);
        }
        let too_big = |n: usize| n > self.max_elements;
        if operands.iter().any(|t| too_big(t.numel()))
            || out_types.iter().any(|t| too_big(t.shape.numel()))
        {
            return None;
        }
        if work(&node.op, operands, out_types) > self.max_elements.saturating_mul(16) {
            return None;
        }
        let results = interp::eval_op(&node.op, operands, out_types).ok()?;
        (results.len() == out_types.len()).then_some(results)
    }
}

/// A rough count of the multiply-adds evaluating `op` takes: products for matmul and
/// convolutions, the elements touched for everything else.
fn work(op: &Op, operands: &[&Tensor], out_types: &[TensorType]) -> usize {
    let out: usize = out_types.iter().map(|t| t.shape.numel()).sum();
    let per_output = match (op, operands) {
        (Op::MatMul, [a, ..]) => a.shape().dims().last().copied().unwrap_or(1),
        (Op::Conv(_), [_, w, ..]) => {
            w.numel() / w.shape().dims().first().copied().unwrap_or(1).max(1)
        }
        (Op::ConvTranspose(_), [_, w, ..]) => w.numel(),
        _ => 1,
    };
    let touched: usize = operands.iter().map(|t| t.numel()).sum();
    out.saturating_mul(per_output).saturating_add(touched)
}

/// True when every element of `t` is the same stored element.
fn is_single_valued(t: &Tensor) -> bool {
    t.is_splat() || t.numel() == 1
}

/// Ops whose result is a splat whenever every operand is one.
fn splat_preserving(op: &Op) -> bool {
    matches!(
        op,
        Op::Unary(_)
            | Op::Binary(_)
            | Op::Where
            | Op::Cast { .. }
            | Op::Identity
            | Op::Reshape { .. }
            | Op::Transpose { .. }
            | Op::Expand { .. }
            | Op::Tile { .. }
            | Op::Slice { .. }
    )
}

/// Folds a splat-preserving single-result op over single-valued operands: computes one
/// element (element-wise ops) or reuses the operand's (data movement) and spreads it
/// over the result shape.
fn fold_splat(op: &Op, operands: &[&Tensor], out_types: &[TensorType]) -> Option<Vec<Tensor>> {
    let [out_ty] = out_types else { return None };
    let scalars: Vec<Tensor> = operands
        .iter()
        .map(|t| {
            let element = if t.is_splat() {
                t.stored().clone()
            } else {
                t.data().into_owned()
            };
            Tensor::scalar(element).ok()
        })
        .collect::<Option<_>>()?;
    let element = if op.is_elementwise() {
        let refs: Vec<&Tensor> = scalars.iter().collect();
        let scalar_ty = TensorType::new(out_ty.dtype, Shape::scalar());
        let mut result = interp::eval_op(op, &refs, &[scalar_ty]).ok()?;
        (result.len() == 1).then(|| result.remove(0))?
    } else {
        scalars.into_iter().next()?
    };
    let data = element.stored().clone();
    let tensor = if out_ty.shape.numel() == 1 {
        Tensor::new(out_ty.shape.clone(), data)
    } else {
        Tensor::splat(out_ty.shape.clone(), data)
    };
    Some(vec![tensor.ok()?])
}
