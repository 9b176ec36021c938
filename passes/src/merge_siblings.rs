//! `merge-siblings`: sibling convolutions that read one input become one convolution
//! over their concatenated weights, whose result is split back along the channels.
//!
//! Siblings merge when they read the same input value (batch extent 1, so each
//! channel slice of the merged result is contiguous and the split can alias it), have
//! identical convolution attributes with `group` 1, the same kernel spatial size,
//! constant weights and biases of one dtype (all with a bias or none), and — when they
//! are `fused` nodes — identical epilogue programs that read no operand beyond the
//! convolution's own, and whose result is not read by a Concat alone (that result is
//! written into the concat in place, a merged slice would be copied). The merged
//! weights and biases are new constants computed here.
//! Members are ordered so channel slices start at offsets the target binds views at
//! ([`KernelTarget::view_alignment`]) where they can; a member whose slice cannot
//! start aligned joins only when every reader of its result reads it at any element
//! offset ([`KernelTarget::reads_at_element_offset`]: a convolution's input). Either
//! way codegen binds the slices as views with no copy.
//!
//! This is an IR pass rather than an e-graph rule: the rewrite has several roots (every
//! sibling's result is replaced by one result of a shared split), and egg's patterns
//! match and rewrite a single root e-class. It runs after `egraph`, on the fused graph.

use crate::rebuild::{rebuild, Edits};
use crate::{Pass, PassError};
use kiln_ir::{
    ConvAttrs, Data, Graph, Handle, KernelTarget, Node, Op, Port, Program, Tensor, Value, ValueDef,
};
use std::sync::Arc;

/// The pass name in pipelines and `kiln dump --after`.
pub const PASS_NAME: &str = "merge-siblings";

/// Merges sibling 1-group convolutions (plain or fused) that read one input. Codegen
/// binds a split's results as views of its operand (no copy) only where the target
/// can read each slice in place; merging siblings whose slices cannot all be read in
/// place would trade convolutions for copies, so `target` decides.
pub struct MergeSiblings {
    pub target: Arc<dyn KernelTarget>,
}

/// What must be identical for two convolutions to merge.
struct Candidate<'g> {
    node: Handle<Node>,
    input: Handle<Value>,
    attrs: &'g ConvAttrs,
    /// `Some` for a fused node: (arity, epilogue).
    epilogue: Option<(usize, &'g Program)>,
    weights: &'g Tensor,
    bias: Option<&'g Tensor>,
}

impl Candidate<'_> {
    fn matches(&self, other: &Candidate) -> bool {
        self.input == other.input
            && self.attrs == other.attrs
            && self.epilogue == other.epilogue
            && self.weights.dtype() == other.weights.dtype()
            && self.weights.shape().dims()[1..] == other.weights.shape().dims()[1..]
            && match (self.bias, other.bias) {
                (None, None) => true,
                (Some(a), Some(b)) => a.dtype() == b.dtype(),
                _ => false,
            }
    }
}

/// The convolution `node` is, when it could merge with a sibling.
fn candidate<'g>(graph: &'g Graph, handle: Handle<Node>) -> Option<Candidate<'g>> {
    let node = &graph.nodes[handle];
    let (attrs, epilogue) = match &node.op {
        Op::Conv(attrs) => (attrs, None),
        // A conv reading its input through a prologue is not merged.
        Op::Fused {
            anchor,
            prologue: None,
            arity,
            epilogue,
        } => match anchor.as_ref() {
            Op::Conv(attrs) if node.inputs.len() == *arity => (attrs, Some((*arity, epilogue))),
            _ => return None,
        },
        _ => return None,
    };
    if attrs.group != 1 || node.outputs.len() != 1 {
        return None;
    }
    let (input, weights, bias) = match node.inputs[..] {
        [x, w] => (x, w, None),
        [x, w, b] => (x, w, Some(b)),
        _ => return None,
    };
    let dims = graph.ty(input).shape.dims();
    if dims.first() != Some(&1) || graph.ty(node.outputs[0]).shape.numel() == 0 {
        return None;
    }
    let weights = graph.constant(weights)?;
    let bias = match bias {
        Some(b) => Some(graph.constant(b)?),
        None => None,
    };
    if weights.shape().rank() < 2 {
        return None;
    }
    Some(Candidate {
        node: handle,
        input,
        attrs,
        epilogue,
        weights,
        bias,
    })
}

/// Appends `b` to `a` when both hold the same element type.
fn append(a: &mut Data, b: &Data) -> bool {
    match (a, b) {
        (Data::F32(a), Data::F32(b)) => a.extend_from_slice(b),
        (Data::F16(a), Data::F16(b)) => a.extend_from_slice(b),
        (Data::I32(a), Data::I32(b)) => a.extend_from_slice(b),
        (Data::U32(a), Data::U32(b)) => a.extend_from_slice(b),
        (Data::I8(a), Data::I8(b)) => a.extend_from_slice(b),
        (Data::U8(a), Data::U8(b)) => a.extend_from_slice(b),
        (Data::Bool(a), Data::Bool(b)) => a.extend_from_slice(b),
        _ => return false,
    }
    true
}

/// `parts` concatenated along axis 0 (a splat when every part is the same splat).
fn concat0(parts: &[&Tensor]) -> Option<Tensor> {
    let first = parts.first()?;
    let mut dims = first.shape().dims().to_vec();
    dims[0] = parts.iter().map(|t| t.shape().dims()[0]).sum();
    let same_splat = parts.iter().all(|t| {
        t.is_splat()
            && t.dtype() == first.dtype()
            && t.stored().to_f64_vec() == first.stored().to_f64_vec()
    });
    if same_splat {
        return Tensor::splat(dims, first.stored().clone()).ok();
    }
    let mut data = first.data().into_owned();
    for t in &parts[1..] {
        if !append(&mut data, &t.data()) {
            return None;
        }
    }
    Tensor::new(dims, data).ok()
}

/// Sibling groups of two or more members, in merged-channel order.
fn groups<'g>(graph: &'g Graph, target: &dyn KernelTarget) -> Vec<Vec<Candidate<'g>>> {
    let concat_only = concat_only(graph);
    let mut groups: Vec<Vec<Candidate>> = Vec::new();
    for (handle, node) in graph.nodes.iter() {
        if node.outputs.iter().any(|v| concat_only[v.index()]) {
            continue;
        }
        let Some(c) = candidate(graph, handle) else {
            continue;
        };
        match groups.iter_mut().find(|g| g[0].matches(&c)) {
            Some(g) => g.push(c),
            None => groups.push(vec![c]),
        }
    }
    let mut ordered: Vec<Vec<Candidate>> = groups
        .into_iter()
        .filter_map(|g| aligned(graph, target, g))
        .collect();
    ordered.retain(|g| g.len() >= 2);
    ordered
}

/// Values whose one and only reader is a Concat (not a graph output). Such a conv is
/// left alone: at `--opt` ≥ 1 it writes straight into its slice of the concat, while
/// a slice of a merged result would have to be copied there — no dispatch saved.
fn concat_only(graph: &Graph) -> Vec<bool> {
    let uses = graph.use_counts();
    let mut only = vec![false; graph.values.len()];
    for (_, node) in graph.nodes.iter() {
        if matches!(node.op, Op::Concat { .. }) {
            for &v in &node.inputs {
                only[v.index()] = uses[v.index()] == 1;
            }
        }
    }
    only
}

/// `group` ordered so that slices of the merged result start at multiples of
/// the target's view alignment where they can: members whose slice size is a
/// multiple of it first (in graph order), then the others. Past the first of those,
/// slices start unaligned, so a further member joins only when every reader reads it
/// at any element offset ([`read_in_place`]); the rest stay apart.
fn aligned<'g>(
    graph: &Graph,
    target: &dyn KernelTarget,
    group: Vec<Candidate<'g>>,
) -> Option<Vec<Candidate<'g>>> {
    let bytes = |c: &Candidate| target.stored_bytes(graph.ty(graph.nodes[c.node].outputs[0]));
    let (mut ordered, rest): (Vec<_>, Vec<_>) = group
        .into_iter()
        .partition(|c| bytes(c).is_multiple_of(target.view_alignment()));
    let mut rest = rest.into_iter();
    ordered.extend(rest.next());
    ordered.extend(rest.filter(|c| read_in_place(graph, target, graph.nodes[c.node].outputs[0])));
    (ordered.len() >= 2).then_some(ordered)
}

/// True when every reader of `value` reads it at any element offset (the target
/// says which operands of which ops are), and it is no graph output.
fn read_in_place(graph: &Graph, target: &dyn KernelTarget, value: Handle<Value>) -> bool {
    !graph.outputs.iter().any(|p| p.value == value)
        && graph.nodes.iter().all(|(_, n)| {
            n.inputs
                .iter()
                .enumerate()
                .all(|(i, &v)| v != value || target.reads_at_element_offset(&n.op, i))
        })
}

/// Copies `value` (type and name) as result `output` of `node` in `out`.
fn copy_result(out: &mut Graph, old: &Value, node: Handle<Node>, output: usize) -> Handle<Value> {
    out.values.append(Value {
        ty: old.ty.clone(),
        name: old.name.clone(),
        def: ValueDef::Node { node, output },
    })
}

impl MergeSiblings {
    fn merge(&self, graph: &Graph) -> Result<Option<Graph>, String> {
        let groups = groups(graph, &*self.target);
        if groups.is_empty() {
            return Ok(None);
        }
        // Node → (group, member index).
        let mut member = vec![None; graph.nodes.len()];
        for (g, group) in groups.iter().enumerate() {
            for (i, c) in group.iter().enumerate() {
                member[c.node.index()] = Some((g, i));
            }
        }
        let mut out = Graph::new(graph.name.clone());
        out.extents = graph.extents.clone();
        let mut map: Vec<Option<Handle<Value>>> = vec![None; graph.values.len()];
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
            if let ValueDef::Const(t) = &value.def {
                map[handle.index()] = Some(out.add_const(value.name.clone(), t.clone()));
            }
        }
        let get = |map: &[Option<Handle<Value>>], v: Handle<Value>| {
            map[v.index()]
                .ok_or_else(|| format!("value %v{} is read before it is defined", v.index()))
        };
        let mut emitted = vec![false; groups.len()];
        for (handle, node) in graph.nodes.iter() {
            match member[handle.index()] {
                Some((g, _)) if emitted[g] => continue,
                Some((g, _)) => {
                    // At the earliest member: every member's operands exist by then.
                    emitted[g] = true;
                    let group = &groups[g];
                    let first = &graph.nodes[group[0].node];
                    let weights: Vec<&Tensor> = group.iter().map(|c| c.weights).collect();
                    let w = concat0(&weights).ok_or("sibling weights do not concatenate")?;
                    let mut inputs = vec![get(&map, group[0].input)?, out.add_const(None, w)];
                    let biases: Option<Vec<&Tensor>> = group.iter().map(|c| c.bias).collect();
                    if let Some(biases) = biases {
                        let b = concat0(&biases).ok_or("sibling biases do not concatenate")?;
                        inputs.push(out.add_const(None, b));
                    }
                    let name = group
                        .iter()
                        .map(|c| graph.nodes[c.node].name.as_str())
                        .filter(|n| !n.is_empty())
                        .collect::<Vec<_>>()
                        .join("+");
                    let merged = out
                        .add(first.op.clone(), &inputs, name.clone())
                        .map_err(|e| e.to_string())?;
                    let sizes: Vec<usize> = group
                        .iter()
                        .map(|c| graph.ty(graph.nodes[c.node].outputs[0]).shape.dims()[1])
                        .collect();
                    let parts = out
                        .add_node(Op::Split { axis: 1, sizes }, &[merged], None, name)
                        .map_err(|e| e.to_string())?;
                    for (c, part) in group.iter().zip(parts) {
                        let old = graph.nodes[c.node].outputs[0];
                        if out.values[part].ty != graph.values[old].ty {
                            return Err(format!(
                                "merged slice of '{}' has type {}, expected {}",
                                graph.nodes[c.node].name, out.values[part].ty, graph.values[old].ty
                            ));
                        }
                        out.values[part].name = graph.values[old].name.clone();
                        map[old.index()] = Some(part);
                    }
                }
                None => {
                    let inputs = node
                        .inputs
                        .iter()
                        .map(|&v| get(&map, v))
                        .collect::<Result<Vec<_>, _>>()?;
                    let new_node = out.nodes.append(Node {
                        op: node.op.clone(),
                        inputs,
                        outputs: Vec::new(),
                        name: node.name.clone(),
                    });
                    let outputs: Vec<Handle<Value>> = node
                        .outputs
                        .iter()
                        .enumerate()
                        .map(|(i, &v)| {
                            let new = copy_result(&mut out, &graph.values[v], new_node, i);
                            map[v.index()] = Some(new);
                            new
                        })
                        .collect();
                    out.nodes[new_node].outputs = outputs;
                }
            }
        }
        for port in &graph.outputs {
            let value = get(&map, port.value)?;
            out.outputs.push(Port {
                name: port.name.clone(),
                value,
                wide: port.wide,
            });
        }
        // Canonical value order; drops the siblings' old weights.
        rebuild(&out, &Edits::new(&out)).map(Some)
    }
}

impl Pass for MergeSiblings {
    fn name(&self) -> &'static str {
        PASS_NAME
    }

    fn run(&self, graph: Graph) -> Result<Graph, PassError> {
        match self.merge(&graph) {
            Ok(Some(merged)) => Ok(merged),
            Ok(None) => Ok(graph),
            Err(e) => Err(PassError::failed(PASS_NAME, e)),
        }
    }
}
