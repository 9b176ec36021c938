//! IR → e-graph and, after extraction, e-graph → IR.
//!
//! Every IR value becomes one e-class (shared subexpressions stay shared; equal
//! e-nodes are merged by hash-consing, which is CSE). Graph outputs are the roots.
//! Back in IR, the graph keeps its ports, and a value keeps its name when its e-class
//! survives; e-nodes for different results of one op on the same operands become one
//! IR node.

use super::analysis::{EGraph, KilnAnalysis};
use super::extract::Selection;
use super::lang::{ConstLeaf, InputLeaf, IrOp, Kiln};
use egg::{Id, Language};
use kiln_ir::{Graph, Handle, KernelTarget, Value, ValueDef};
use std::collections::HashMap;
use std::sync::Arc;

/// Source names of values and nodes, by the e-class that first held them.
#[derive(Default)]
pub struct Names {
    values: Vec<(Id, String)>,
    nodes: Vec<(Id, String)>,
}

/// Builds the e-graph of `graph`; returns it (roots in `analysis.roots`) and the names.
pub fn to_egraph(graph: &Graph, target: Arc<dyn KernelTarget>) -> Result<(EGraph, Names), String> {
    let inputs = graph
        .inputs
        .iter()
        .map(|p| graph.ty(p.value).clone())
        .collect();
    let analysis = KilnAnalysis::new(target, inputs);
    let mut egraph = EGraph::new(analysis);
    let mut names = Names::default();
    let mut class: Vec<Option<Id>> = vec![None; graph.values.len()];
    let uses = graph.use_counts();
    for (handle, value) in graph.values.iter() {
        let id = match &value.def {
            ValueDef::Input(i) => egraph.add(Kiln::Input(InputLeaf(*i))),
            ValueDef::Const(t) => {
                egraph.analysis.consts.push(t.clone());
                let leaf = ConstLeaf(egraph.analysis.consts.len() - 1);
                egraph.add(Kiln::Const(leaf))
            }
            ValueDef::Node { .. } => continue,
        };
        class[handle.index()] = Some(id);
    }
    for (_, node) in graph.nodes.iter() {
        let children: Option<Vec<Id>> = node.inputs.iter().map(|v| class[v.index()]).collect();
        let children =
            children.ok_or_else(|| format!("node '{}' reads a later value", node.name))?;
        for (i, &out) in node.outputs.iter().enumerate() {
            let id = egraph.add(Kiln::Op(IrOp::new(node.op.clone(), i), children.clone()));
            class[out.index()] = Some(id);
            if !node.name.is_empty() {
                names.nodes.push((id, node.name.clone()));
            }
        }
    }
    for (handle, value) in graph.values.iter() {
        let Some(id) = class[handle.index()] else {
            continue;
        };
        let n = uses[handle.index()];
        let data = &mut egraph[id].data;
        data.uses = Some(data.uses.map_or(n, |u| u.max(n)));
        if let Some(name) = &value.name {
            names.values.push((id, name.clone()));
        }
    }
    let mut roots = Vec::new();
    for port in &graph.outputs {
        roots.push(class[port.value.index()].ok_or("an output names no value")?);
    }
    egraph.analysis.roots = roots;
    egraph.rebuild();
    Ok((egraph, names))
}

/// The IR graph of the extracted program, with the ports of `source`.
pub fn to_graph(
    egraph: &EGraph,
    selection: &Selection,
    source: &Graph,
    names: &Names,
) -> Result<Graph, String> {
    let first = |list: &[(Id, String)]| {
        let mut map: HashMap<Id, String> = HashMap::new();
        for (id, name) in list {
            map.entry(egraph.find(*id)).or_insert_with(|| name.clone());
        }
        map
    };
    let value_names = first(&names.values);
    let node_names = first(&names.nodes);

    // How many results each op group (op without result index, children) needs.
    let node_of = |id: Id| -> Result<&Kiln, String> {
        let index = selection
            .choice
            .get(&id)
            .ok_or_else(|| format!("e-class {id} was not extracted"))?;
        Ok(&egraph[id].nodes[*index])
    };
    let group_of = |op: &IrOp, children: &[Id]| -> (String, Vec<Id>) {
        let kids = children.iter().map(|&c| egraph.find(c)).collect();
        (op.group_key().to_string(), kids)
    };
    let mut results_needed: HashMap<(String, Vec<Id>), usize> = HashMap::new();
    for &id in selection.choice.keys() {
        if let Kiln::Op(op, children) = node_of(id)? {
            let n = results_needed.entry(group_of(op, children)).or_insert(0);
            *n = (*n).max(op.result() + 1);
        }
    }

    let mut graph = Graph::new(source.name.clone());
    graph.extents = source.extents.clone();
    let mut value_of: HashMap<Id, Handle<Value>> = HashMap::new();
    for port in &source.inputs {
        let v = graph.add_input(port.name.clone(), source.ty(port.value).clone(), port.wide);
        graph.values[v].name = source.values[port.value].name.clone();
    }
    let mut built: HashMap<(String, Vec<Id>), Vec<Handle<Value>>> = HashMap::new();
    let roots: Vec<Id> = egraph
        .analysis
        .roots
        .iter()
        .map(|&r| egraph.find(r))
        .collect();
    for &root in &roots {
        // Post-order DFS over the chosen e-nodes.
        let mut stack: Vec<(Id, bool)> = vec![(root, false)];
        while let Some((id, expanded)) = stack.pop() {
            if value_of.contains_key(&id) {
                continue;
            }
            let node = node_of(id)?;
            if !expanded {
                stack.push((id, true));
                for &c in node.children().iter().rev() {
                    let c = egraph.find(c);
                    if !value_of.contains_key(&c) {
                        stack.push((c, false));
                    }
                }
                continue;
            }
            let value = match node {
                Kiln::Input(i) => graph
                    .inputs
                    .get(i.0)
                    .map(|p| p.value)
                    .ok_or("an input leaf names no input")?,
                Kiln::Const(c) => {
                    let t = egraph.analysis.consts.get(c.0).ok_or("bad constant leaf")?;
                    graph.add_const(value_names.get(&id).cloned(), t.clone())
                }
                Kiln::Op(op, children) => {
                    let key = group_of(op, children);
                    if !built.contains_key(&key) {
                        let operands: Vec<Handle<Value>> = key
                            .1
                            .iter()
                            .map(|c| value_of.get(c).copied().ok_or("operand not built"))
                            .collect::<Result<_, _>>()?;
                        let name = node_names.get(&id).cloned().unwrap_or_default();
                        let n = results_needed.get(&key).copied().unwrap_or(1);
                        let outs = graph
                            .add_node(op.op().clone(), &operands, Some(n), name)
                            .map_err(|e| e.to_string())?;
                        built.insert(key.clone(), outs);
                    }
                    let outs = &built[&key];
                    *outs.get(op.result()).ok_or("result index out of range")?
                }
            };
            if let (Some(name), ValueDef::Node { .. }) =
                (value_names.get(&id), &graph.values[value].def)
            {
                if graph.values[value].name.is_none() {
                    graph.values[value].name = Some(name.clone());
                }
            }
            value_of.insert(id, value);
        }
    }
    for (port, &root) in source.outputs.iter().zip(&roots) {
        let value = *value_of.get(&root).ok_or("an output was not built")?;
        graph.add_output(port.name.clone(), value, port.wide);
    }
    Ok(graph)
}
