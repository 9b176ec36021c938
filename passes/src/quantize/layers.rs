//! The layers `--quantize` can change: every large f32 constant a convolution, a
//! matmul or an embedding gather reads as its weight; and the graph with a chosen set
//! of them in their stored form.

use super::activations::{self, Activation, Range};
use super::weights::{emit, is_weight, store, Role, Stored};
use super::QuantMode;
use crate::copy::Copy;
use kiln_ir::{DType, Graph, Handle, KernelTarget, Node, Value};
use std::collections::HashMap;

/// A weight and the layer that reads it.
pub struct Layer {
    /// The constant.
    pub weight: Handle<Value>,
    /// The first node that reads it as a weight, and its name (or op and handle).
    pub reader: Handle<Node>,
    pub node: String,
    /// That node's op.
    pub op: &'static str,
    /// The weight's dims.
    pub dims: Vec<usize>,
    /// Its stored form in the mode asked for, and the bytes a bundle holds for the
    /// weight as it is (f32) and in that form.
    pub stored: Stored,
    pub f32_bytes: usize,
    pub stored_bytes: usize,
    /// `w8a8` and `f16`: the reader's input activation, quantized with the layer (to
    /// f16; to uint8 dynamic per row until calibration sets fix its range:
    /// [`activations::ranges`]).
    pub activation: Option<Activation>,
}

/// Every weight of `graph` that `mode` can store smaller, in node order, each once
/// (with the role of its first reader).
pub fn find(
    graph: &Graph,
    mode: QuantMode,
    target: &dyn KernelTarget,
) -> Result<Vec<Layer>, String> {
    let mut layers: Vec<Layer> = Vec::new();
    let uses = graph.use_counts();
    for (handle, node) in graph.nodes.iter() {
        for (operand, &v) in node.inputs.iter().enumerate() {
            let (Some(role), Some(w)) = (Role::of(&node.op, operand), graph.constant(v)) else {
                continue;
            };
            if !is_weight(graph, v, w) || layers.iter().any(|l| l.weight == v) {
                continue;
            }
            let name = crate::node_label(graph, handle);
            let stored = store(w, role, mode).map_err(|e| format!("node '{name}': {e}"))?;
            // f16 stores a layer's input as f16 only where its producer can round it as
            // it stores it, at no extra pass: the layer is its one reader (a tensor other
            // kernels read in f32 would need a pass more to round), and a kernel that
            // takes the rounding into its epilogue or its element-wise program computes
            // it (not a graph input, a view, or a data movement such as a transpose or a
            // concat, which would round in a kernel of its own).
            let rounded_by_producer = |x: Handle<Value>| {
                let rounds = graph.producer(x).is_some_and(|p| {
                    let op = &graph.nodes[p].op;
                    op.is_elementwise() || target.takes_epilogue(op)
                });
                uses[x.index()] == 1 && rounds
            };
            let activation = activations::operand(role)
                .filter(|_| mode.activations())
                .map(|operand| (operand, node.inputs[operand]))
                .filter(|&(_, x)| mode != QuantMode::F16 || rounded_by_producer(x))
                .filter(|&(_, x)| graph.ty(x).dtype == DType::F32 && graph.constant(x).is_none())
                .map(|(operand, value)| Activation {
                    operand,
                    value,
                    range: if mode == QuantMode::F16 {
                        Range::Half
                    } else {
                        Range::Dynamic {
                            axes: activations::row_axes(role, graph.ty(value).shape.rank()),
                        }
                    },
                });
            layers.push(Layer {
                f32_bytes: target.bundle_bytes(None, &[w]),
                stored_bytes: stored.bundle_bytes(target),
                weight: v,
                reader: handle,
                activation,
                node: name,
                op: node.op.name(),
                dims: w.shape().dims().to_vec(),
                stored,
            });
        }
    }
    Ok(layers)
}

/// `graph` with each layer of `chosen` reading its weight from the stored form. The
/// new nodes come right before the first reader; the result is in canonical order.
pub fn apply(graph: &Graph, chosen: &[&Layer]) -> Result<Graph, String> {
    let by_weight: HashMap<Handle<Value>, &Layer> = chosen.iter().map(|l| (l.weight, *l)).collect();
    let by_reader: HashMap<Handle<Node>, &Layer> = chosen.iter().map(|l| (l.reader, *l)).collect();
    let mut copy = Copy::start(graph, |v| !by_weight.contains_key(&v));
    for (handle, node) in graph.nodes.iter() {
        let mut inputs = Vec::with_capacity(node.inputs.len());
        for &v in &node.inputs {
            if copy.get(v).is_none() {
                if let Some(layer) = by_weight.get(&v) {
                    let stored = emit(&mut copy.out, &layer.stored, &layer.dims, &layer.node)?;
                    copy.set(v, stored);
                }
            }
            inputs.push(copy.value(v, &node.name)?);
        }
        if let Some((layer, act)) = by_reader
            .get(&handle)
            .and_then(|l| Some((l, l.activation.as_ref()?)))
        {
            inputs[act.operand] =
                activations::emit(&mut copy.out, inputs[act.operand], act, &layer.node)?;
        }
        copy.node(node, node.op.clone(), &inputs)?;
    }
    copy.finish()
}
