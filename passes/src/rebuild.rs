//! Graph rebuilding: passes record edits, then copy the surviving graph into a fresh,
//! compact one.
//!
//! The rebuilt graph's value arena is dense and in a canonical definition order —
//! graph inputs (port order), then constants (in their old arena order), then each
//! kept node's results in node order — so a transformed graph equals what parsing its
//! printed text gives back. Constants that nothing reads any more are dropped;
//! dead nodes are only dropped when a pass removes them (see [`crate::Dce`]).

use kiln_ir::{Graph, Handle, Node, Port, Tensor, Value, ValueDef};

/// Edits to apply to a graph with [`rebuild`]: uses redirected, values turned into
/// constants, nodes removed, trailing results dropped.
#[derive(Debug)]
pub struct Edits {
    replace: Vec<Option<Handle<Value>>>,
    folded: Vec<Option<Tensor>>,
    removed: Vec<bool>,
    keep_outputs: Vec<Option<usize>>,
}

impl Edits {
    /// No edits yet, sized for `graph`.
    pub fn new(graph: &Graph) -> Self {
        Edits {
            replace: vec![None; graph.values.len()],
            folded: vec![None; graph.values.len()],
            removed: vec![false; graph.nodes.len()],
            keep_outputs: vec![None; graph.nodes.len()],
        }
    }

    /// Every use of `old` (node operands and graph outputs) reads `new` instead.
    pub fn replace_uses(&mut self, old: Handle<Value>, new: Handle<Value>) {
        self.replace[old.index()] = Some(new);
    }

    /// `value` becomes a constant holding `tensor` (it keeps its name). The node that
    /// defined it must be removed with [`Edits::remove_node`].
    pub fn make_constant(&mut self, value: Handle<Value>, tensor: Tensor) {
        self.folded[value.index()] = Some(tensor);
    }

    /// Drops `node`; each of its results must be replaced, folded or unused.
    pub fn remove_node(&mut self, node: Handle<Node>) {
        self.removed[node.index()] = true;
    }

    /// Keeps only the first `n` results of `node` (the others must be unused).
    pub fn keep_outputs(&mut self, node: Handle<Node>, n: usize) {
        self.keep_outputs[node.index()] = Some(n);
    }

    /// True when `node` is removed.
    pub fn is_removed(&self, node: Handle<Node>) -> bool {
        self.removed[node.index()]
    }

    /// The constant `value` was folded to, if it was.
    pub fn folded(&self, value: Handle<Value>) -> Option<&Tensor> {
        self.folded[value.index()].as_ref()
    }

    /// The value that uses of `value` read after the edits (following replacements).
    pub fn resolve(&self, mut value: Handle<Value>) -> Handle<Value> {
        // A replacement chain is at most as long as the arena; stop there to rule out cycles.
        for _ in 0..self.replace.len() {
            match self.replace[value.index()] {
                Some(next) if next != value => value = next,
                _ => break,
            }
        }
        value
    }
}

/// Applies `edits` to `graph` and returns the compact result. Fails (naming the value)
/// when a kept node or output reads a value whose definition was removed.
pub fn rebuild(graph: &Graph, edits: &Edits) -> Result<Graph, String> {
    let used = used_values(graph, edits);
    let mut map: Vec<Option<Handle<Value>>> = vec![None; graph.values.len()];
    let mut out = Graph::new(graph.name.clone());
    out.extents = graph.extents.clone();

    for port in &graph.inputs {
        let old = &graph.values[port.value];
        let new = out.values.append(Value {
            ty: old.ty.clone(),
            name: old.name.clone(),
            def: ValueDef::Input(out.inputs.len()),
        });
        map[port.value.index()] = Some(new);
        out.inputs.push(Port {
            name: port.name.clone(),
            value: new,
            wide: port.wide,
        });
    }

    for (handle, value) in graph.values.iter() {
        let tensor = match (&edits.folded[handle.index()], &value.def) {
            (Some(t), _) | (None, ValueDef::Const(t)) => t,
            _ => continue,
        };
        if used[handle.index()] {
            let def = ValueDef::Const(tensor.clone());
            let new = out.values.append(Value {
                ty: tensor.ty(),
                name: value.name.clone(),
                def,
            });
            map[handle.index()] = Some(new);
        }
    }

    for (handle, node) in graph.nodes.iter() {
        if edits.removed[handle.index()] {
            continue;
        }
        let inputs = node
            .inputs
            .iter()
            .map(|&v| lookup(graph, &map, edits.resolve(v)))
            .collect::<Result<Vec<_>, _>>()?;
        let new_node = out.nodes.append(Node {
            op: node.op.clone(),
            inputs,
            outputs: Vec::new(),
            name: node.name.clone(),
        });
        let keep = edits.keep_outputs[handle.index()].unwrap_or(node.outputs.len());
        let mut outputs = Vec::with_capacity(keep);
        for (i, &v) in node.outputs.iter().take(keep).enumerate() {
            let old = &graph.values[v];
            let new = out.values.append(Value {
                ty: old.ty.clone(),
                name: old.name.clone(),
                def: ValueDef::Node {
                    node: new_node,
                    output: i,
                },
            });
            if edits.folded[v.index()].is_none() {
                map[v.index()] = Some(new);
            }
            outputs.push(new);
        }
        out.nodes[new_node].outputs = outputs;
    }

    for port in &graph.outputs {
        let value = lookup(graph, &map, edits.resolve(port.value))?;
        out.outputs.push(Port {
            name: port.name.clone(),
            value,
            wide: port.wide,
        });
    }
    Ok(out)
}

/// Which values a kept node or a graph output reads, after replacements.
fn used_values(graph: &Graph, edits: &Edits) -> Vec<bool> {
    let mut used = vec![false; graph.values.len()];
    for (handle, node) in graph.nodes.iter() {
        if !edits.removed[handle.index()] {
            for &v in &node.inputs {
                used[edits.resolve(v).index()] = true;
            }
        }
    }
    for port in &graph.outputs {
        used[edits.resolve(port.value).index()] = true;
    }
    used
}

/// The new handle of old value `v`, or an error naming it when it was removed.
fn lookup(
    graph: &Graph,
    map: &[Option<Handle<Value>>],
    v: Handle<Value>,
) -> Result<Handle<Value>, String> {
    map.get(v.index()).copied().flatten().ok_or_else(|| {
        let name = graph
            .values
            .get(v)
            .and_then(|x| x.name.clone())
            .unwrap_or_default();
        format!(
            "value %v{} ('{name}') is read but its definition was removed",
            v.index()
        )
    })
}
