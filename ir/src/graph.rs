//! The graph: arenas of values and nodes, graph inputs and outputs, and the builder API.

use crate::arena::HandlePrefix;
use crate::{infer, Arena, Handle, Op, Tensor, TensorType, Wide};

/// How a value comes to exist.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueDef {
    /// The `i`-th graph input.
    Input(usize),
    /// A constant (weights, folded values). The data is shared, never copied by passes.
    Const(Tensor),
    /// Result `output` of `node`.
    Node { node: Handle<Node>, output: usize },
}

/// A value: one tensor produced once and read by any number of nodes.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub ty: TensorType,
    /// The source model's tensor name, when it had one.
    pub name: Option<String>,
    pub def: ValueDef,
}

/// An operation applied to values, producing values.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub op: Op,
    pub inputs: Vec<Handle<Value>>,
    pub outputs: Vec<Handle<Value>>,
    /// The source model's node name (may be empty), for error messages.
    pub name: String,
}

impl HandlePrefix for Value {
    const PREFIX: &'static str = "%v";
}

impl HandlePrefix for Node {
    const PREFIX: &'static str = "n";
}

/// A graph input or output.
#[derive(Clone, Debug, PartialEq)]
pub struct Port {
    pub name: String,
    pub value: Handle<Value>,
    /// The model declares this port `int64`, `uint64` or `double`: the IR computes it
    /// as `i32`, `u32` or `f32`; inputs are narrowed (values must fit) and outputs
    /// widened back at the boundary.
    pub wide: Wide,
}

/// A dataflow graph with static shapes.
///
/// Invariants (checked by [`crate::verify`]): `nodes` are in execution order (a node
/// reads only inputs, constants and results of earlier nodes); every value's `def`
/// points back at what defines it; each node's result types equal what
/// [`infer::infer`] computes from its operand types.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Graph {
    pub name: String,
    pub values: Arena<Value>,
    pub nodes: Arena<Node>,
    pub inputs: Vec<Port>,
    pub outputs: Vec<Port>,
    /// Outputs whose length along an axis is known only at run time, each with the
    /// output holding its count ([`crate::extent`]).
    pub extents: Vec<crate::extent::Extent>,
}

/// A node could not be added: its operands do not fit the op.
#[derive(Debug, thiserror::Error)]
#[error("node '{node}' ({op}): {reason}")]
pub struct NodeError {
    pub node: String,
    pub op: &'static str,
    pub reason: String,
}

impl Graph {
    /// An empty graph.
    pub fn new(name: impl Into<String>) -> Self {
        Graph {
            name: name.into(),
            ..Default::default()
        }
    }

    /// Adds a graph input of type `ty`.
    pub fn add_input(
        &mut self,
        name: impl Into<String>,
        ty: TensorType,
        wide: Wide,
    ) -> Handle<Value> {
        let name = name.into();
        let index = self.inputs.len();
        let value = self.values.append(Value {
            ty,
            name: Some(name.clone()),
            def: ValueDef::Input(index),
        });
        self.inputs.push(Port { name, value, wide });
        value
    }

    /// Adds a constant value.
    pub fn add_const(&mut self, name: Option<String>, tensor: Tensor) -> Handle<Value> {
        self.values.append(Value {
            ty: tensor.ty(),
            name,
            def: ValueDef::Const(tensor),
        })
    }

    /// Adds a node applying `op` to `inputs`, with the first `num_outputs` results the
    /// op defines (all of them when `None`). Result types come from shape inference.
    pub fn add_node(
        &mut self,
        op: Op,
        inputs: &[Handle<Value>],
        num_outputs: Option<usize>,
        name: impl Into<String>,
    ) -> Result<Vec<Handle<Value>>, NodeError> {
        let name = name.into();
        let types: Vec<&TensorType> = inputs.iter().map(|&v| &self.values[v].ty).collect();
        let err = |reason: String| NodeError {
            node: name.clone(),
            op: op.name(),
            reason,
        };
        let mut out_types = infer::infer(&op, &types).map_err(|e| err(e.to_string()))?;
        if let Some(n) = num_outputs {
            if n > out_types.len() {
                return Err(err(format!(
                    "asked for {n} results, the op has {}",
                    out_types.len()
                )));
            }
            out_types.truncate(n);
        }
        let node = self.nodes.append(Node {
            op,
            inputs: inputs.to_vec(),
            outputs: Vec::new(),
            name,
        });
        let outputs: Vec<Handle<Value>> = out_types
            .into_iter()
            .enumerate()
            .map(|(output, ty)| {
                self.values.append(Value {
                    ty,
                    name: None,
                    def: ValueDef::Node { node, output },
                })
            })
            .collect();
        self.nodes[node].outputs = outputs.clone();
        Ok(outputs)
    }

    /// Like [`Graph::add_node`] for single-result ops; returns the result.
    pub fn add(
        &mut self,
        op: Op,
        inputs: &[Handle<Value>],
        name: impl Into<String>,
    ) -> Result<Handle<Value>, NodeError> {
        Ok(self.add_node(op, inputs, Some(1), name)?[0])
    }

    /// Declares `value` a graph output named `name`.
    pub fn add_output(&mut self, name: impl Into<String>, value: Handle<Value>, wide: Wide) {
        self.outputs.push(Port {
            name: name.into(),
            value,
            wide,
        });
    }

    /// The type of `value`.
    pub fn ty(&self, value: Handle<Value>) -> &TensorType {
        &self.values[value].ty
    }

    /// The constant behind `value`, if it is one.
    pub fn constant(&self, value: Handle<Value>) -> Option<&Tensor> {
        match &self.values[value].def {
            ValueDef::Const(t) => Some(t),
            _ => None,
        }
    }

    /// The node defining `value`, if a node does.
    pub fn producer(&self, value: Handle<Value>) -> Option<Handle<Node>> {
        match self.values[value].def {
            ValueDef::Node { node, .. } => Some(node),
            _ => None,
        }
    }

    /// For each value, how many node operands and graph outputs read it.
    pub fn use_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.values.len()];
        for (_, node) in self.nodes.iter() {
            for &v in &node.inputs {
                counts[v.index()] += 1;
            }
        }
        for port in &self.outputs {
            counts[port.value.index()] += 1;
        }
        counts
    }

    /// Bytes held by constants (splats count their one stored element).
    pub fn constant_bytes(&self) -> usize {
        self.values
            .iter()
            .filter_map(|(_, v)| match &v.def {
                ValueDef::Const(t) => Some(t.stored_bytes()),
                _ => None,
            })
            .sum()
    }
}
