//! A graph copied node by node into a new one, for passes that change some nodes'
//! operands or ops on the way (a weight stored another way, channels sliced): the
//! inputs and kept constants first, then each node as the pass rebuilds it, results
//! named as before, then the output ports; the result is rebuilt in canonical order.

use crate::rebuild::{rebuild, Edits};
use kiln_ir::{Graph, Handle, Node, Op, Value, ValueDef};

/// A copy under way: `out` and the new value of each old one.
pub struct Copy<'g> {
    graph: &'g Graph,
    pub out: Graph,
    map: Vec<Option<Handle<Value>>>,
}

impl<'g> Copy<'g> {
    /// A copy of `graph`'s inputs and of the constants `keep` accepts.
    pub fn start(graph: &'g Graph, keep: impl Fn(Handle<Value>) -> bool) -> Self {
        let mut out = Graph::new(graph.name.clone());
        out.extents = graph.extents.clone();
        let mut map = vec![None; graph.values.len()];
        for port in &graph.inputs {
            let ty = graph.ty(port.value).clone();
            map[port.value.index()] = Some(out.add_input(port.name.clone(), ty, port.wide));
        }
        for (handle, value) in graph.values.iter() {
            if let (ValueDef::Const(t), true) = (&value.def, keep(handle)) {
                map[handle.index()] = Some(out.add_const(value.name.clone(), t.clone()));
            }
        }
        Copy { graph, out, map }
    }

    /// The copy of old value `v`, if made yet.
    pub fn get(&self, v: Handle<Value>) -> Option<Handle<Value>> {
        self.map[v.index()]
    }

    /// The copy of old value `v`, read by the node called `reader`.
    pub fn value(&self, v: Handle<Value>, reader: &str) -> Result<Handle<Value>, String> {
        self.get(v)
            .ok_or_else(|| format!("node '{reader}' reads a value before it exists"))
    }

    /// Records `new` as the copy of old value `old`.
    pub fn set(&mut self, old: Handle<Value>, new: Handle<Value>) {
        self.map[old.index()] = Some(new);
    }

    /// Adds old `node` as `op` on `inputs` (new values), its results named as before.
    pub fn node(&mut self, node: &Node, op: Op, inputs: &[Handle<Value>]) -> Result<(), String> {
        let results = self
            .out
            .add_node(op, inputs, Some(node.outputs.len()), node.name.clone())
            .map_err(|e| e.to_string())?;
        for (&old, new) in node.outputs.iter().zip(results) {
            self.out.values[new].name = self.graph.values[old].name.clone();
            self.map[old.index()] = Some(new);
        }
        Ok(())
    }

    /// The copy with the old graph's output ports, in canonical order.
    pub fn finish(mut self) -> Result<Graph, String> {
        for port in &self.graph.outputs {
            let value = self.map[port.value.index()]
                .ok_or_else(|| format!("output '{}' has no value", port.name))?;
            self.out.add_output(port.name.clone(), value, port.wide);
        }
        rebuild(&self.out, &Edits::new(&self.out))
    }
}
