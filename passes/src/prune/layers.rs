//! The layers `--prune` can change: every large f32 constant a convolution or a
//! matmul reads as its weight, seen as a reduction × outputs matrix; their pruned
//! copies; and the graph with a chosen set of them pruned.

use super::masks::{self, Matrix};
use super::{PruneMode, Skipped};
use crate::egraph::{flops, Product};
use crate::quantize::is_weight;
use crate::rebuild::{rebuild, Edits};
use kiln_ir::sparse::encode;
use kiln_ir::{Graph, Handle, KernelTarget, Node, Op, SparseFormat, Tensor, Value, ValueDef};

/// A weight, the layer that reads it, and its pruned copy.
pub struct Layer {
    /// The constant.
    pub weight: Handle<Value>,
    /// The first node that reads it as a weight, its name (or op and handle) and op.
    pub reader: Handle<Node>,
    pub node: String,
    pub op: &'static str,
    /// The weight's dims.
    pub dims: Vec<usize>,
    /// The pruned weights (dense, zeros where pruned).
    pub pruned: Tensor,
    /// `N:M`: the product the reader computes, the format and the weights' arrays in
    /// it, encoded once (the reader becomes `sparse_matmul` or `sparse_conv`); `None`:
    /// they stay dense for the sparsity phase to judge.
    pub compressed: Option<(Product, SparseFormat, Vec<Tensor>)>,
    /// Zeros before and after, of `numel`.
    pub zeros_before: usize,
    pub zeros_after: usize,
    pub numel: usize,
    /// Multiply-adds × 2 of the reader's product, and the bytes a bundle holds for the
    /// weights as they are.
    pub flops: f64,
    pub f32_bytes: usize,
}

/// Every weight of `graph` that `mode` prunes, in node order, each once (with the
/// matrix of its first reader), and the weights it cannot prune.
pub fn find(
    graph: &Graph,
    mode: PruneMode,
    target: &dyn KernelTarget,
) -> (Vec<Layer>, Vec<Skipped>) {
    // (weight, first reader, its matrix view, the weights)
    type Found = (Handle<Value>, Handle<Node>, Matrix, Vec<f32>);
    let mut found: Vec<Found> = Vec::new();
    for (handle, node) in graph.nodes.iter() {
        for (operand, &v) in node.inputs.iter().enumerate() {
            let (Some(w), Some(matrix)) = (
                graph.constant(v),
                matrix_of(&node.op, operand, graph.ty(v).shape.dims()),
            ) else {
                continue;
            };
            if !is_weight(graph, v, w) || found.iter().any(|f| f.0 == v) {
                continue;
            }
            let dense = w.to_f64_vec().iter().map(|&x| x as f32).collect();
            found.push((v, handle, matrix, dense));
        }
    }
    let threshold = match mode {
        PruneMode::Magnitude {
            sparsity,
            global: true,
        } => Some(masks::global_threshold(
            found.iter().map(|f| f.3.as_slice()),
            sparsity,
        )),
        _ => None,
    };
    let mut layers = Vec::new();
    let mut skipped = Vec::new();
    for (weight, reader, matrix, dense) in found {
        let node = &graph.nodes[reader];
        let name = crate::node_label(graph, reader);
        let dims = graph.ty(weight).shape.dims().to_vec();
        let mut w = dense.clone();
        let mut compressed = None;
        let why = match mode {
            PruneMode::Magnitude { sparsity, .. } => {
                match threshold {
                    Some(t) => masks::below(&mut w, t),
                    None => {
                        let count = (w.len() as f64 * sparsity).round() as usize;
                        masks::smallest(&mut w, count)
                    }
                }
                None
            }
            PruneMode::Blocks {
                rows,
                cols,
                sparsity,
            } => {
                masks::blocks(&mut w, matrix, (rows, cols), sparsity);
                None
            }
            PruneMode::NOfM { keep, group } => {
                let sparse = SparseFormat::NOfM { keep, group };
                let a_dims = graph.ty(node.inputs[0]).shape.dims();
                let product = Product::of(&node.op, node.inputs.len(), a_dims, &dims)
                    .filter(|_| node.inputs[1] == weight);
                match product {
                    None => Some(
                        "N:M weights are stored only for the products a sparse kernel \
                         computes (matmuls, 2-D convolutions of group 1)"
                            .to_string(),
                    ),
                    Some(_) if masks::n_of_m(&mut w, matrix, keep, group).is_none() => {
                        Some(format!(
                            "its reduction axis ({}) is not a multiple of {group}",
                            matrix.reduction
                        ))
                    }
                    Some(product) => {
                        let kept = Tensor::from_f32(dims.clone(), w.clone()).expect("same size");
                        match encode(sparse, &product.dense(&kept), product.k, product.n) {
                            Some(arrays) => {
                                compressed = Some((product, sparse, arrays));
                                None
                            }
                            None => Some(format!("its weights do not fit {}", sparse.label())),
                        }
                    }
                }
            }
            PruneMode::Channels { .. } => Some("channels are pruned by their own pass".to_string()),
        };
        let op = node.op.name();
        if let Some(why) = why {
            skipped.push(Skipped {
                node: name,
                op,
                dims,
                why,
            });
            continue;
        }
        let zeros = |v: &[f32]| v.iter().filter(|&&x| x == 0.0).count();
        let types: Vec<&kiln_ir::TensorType> = node.inputs.iter().map(|&v| graph.ty(v)).collect();
        let anchor = node.op.anchor();
        let arity = match &node.op {
            Op::Fused { arity, .. } => *arity,
            _ => types.len(),
        };
        let flops = flops(
            target,
            anchor,
            &types[..arity.min(types.len())],
            graph.ty(node.outputs[0]),
        );
        let original = graph.constant(weight).expect("found as a constant");
        layers.push(Layer {
            weight,
            reader,
            node: name,
            op,
            zeros_before: zeros(&dense),
            zeros_after: zeros(&w),
            numel: w.len(),
            pruned: Tensor::from_f32(dims.clone(), w).expect("same size"),
            dims,
            compressed,
            flops,
            f32_bytes: target.bundle_bytes(None, &[original]),
        });
    }
    (layers, skipped)
}

/// The reduction × outputs view of operand `operand` of `op` (of `dims`), when it is a
/// weight pruning applies to: a convolution's `w`, a 2-D matmul operand.
fn matrix_of(op: &Op, operand: usize, dims: &[usize]) -> Option<Matrix> {
    match (op, operand) {
        (Op::Fused { anchor, arity, .. }, i) if i < *arity => matrix_of(anchor, i, dims),
        (Op::Conv(_), 1) => {
            let reduction: usize = dims.get(1..)?.iter().product();
            Some(Matrix {
                reduction,
                outputs: *dims.first()?,
                r_stride: 1,
                o_stride: reduction,
            })
        }
        (Op::MatMul, 1) => match *dims {
            [k, n] => Some(Matrix {
                reduction: k,
                outputs: n,
                r_stride: n,
                o_stride: 1,
            }),
            _ => None,
        },
        (Op::MatMul, 0) => match *dims {
            [m, k] => Some(Matrix {
                reduction: k,
                outputs: m,
                r_stride: 1,
                o_stride: k,
            }),
            _ => None,
        },
        _ => None,
    }
}

/// `graph` with each layer of `chosen` reading its pruned weights; an N:M layer's
/// reader becomes the sparse product of the compressed weights. Each reader carries
/// its layer's name (an unnamed one gets it), so the report finds it after the
/// optimizer.
pub fn apply(graph: &Graph, chosen: &[&Layer]) -> Result<Graph, String> {
    let mut out = graph.clone();
    for layer in chosen {
        out.nodes[layer.reader].name.clone_from(&layer.node);
        let Some((product, format, arrays)) = &layer.compressed else {
            out.values[layer.weight].def = ValueDef::Const(layer.pruned.clone());
            continue;
        };
        let node = &out.nodes[layer.reader];
        let op = product.sparse_op(&node.op, *format);
        let (a, rest) = (node.inputs[0], node.inputs[2..].to_vec());
        let mut inputs = vec![a];
        for t in arrays {
            inputs.push(out.add_const(None, t.clone()));
        }
        inputs.extend(rest);
        let node = &mut out.nodes[layer.reader];
        node.op = op;
        node.inputs = inputs;
    }
    rebuild(&out, &Edits::new(&out))
}
