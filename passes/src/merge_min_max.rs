//! `merge-min-max`: a `reduce_min` and a `reduce_max` of one value over the same axes
//! become one `min_max` node, which reads the value once for both results. Dynamic
//! quantization takes both extremes of every tensor it quantizes (ONNX
//! `DynamicQuantizeLinear`, `--quantize w8a8` without calibration), so this halves the
//! reductions of such models.
//!
//! An IR pass rather than an e-graph rule for the reason `merge-siblings` gives: the
//! rewrite has two roots. It runs last, after the passes that add such pairs.

use crate::copy::Copy;
use crate::{Pass, PassError};
use kiln_ir::{Graph, Handle, Node, Op, ReduceOp, Value};

/// The pass name in pipelines and `kiln dump --after`.
pub const PASS_NAME: &str = "merge-min-max";

/// Merges each `reduce_min` with a `reduce_max` of the same value, axes and keepdims.
pub struct MergeMinMax;

/// What must match for a min and a max to merge: operand, axes, keepdims.
type Key<'g> = (Handle<Value>, &'g [usize], bool);

/// A plain min or max reduction's kind and key.
fn reduction(node: &Node) -> Option<(ReduceOp, Key<'_>)> {
    match (&node.op, &node.inputs[..], node.outputs.len()) {
        (
            Op::Reduce {
                op: op @ (ReduceOp::Min | ReduceOp::Max),
                axes,
                keepdims,
            },
            &[x],
            1,
        ) => Some((*op, (x, &axes[..], *keepdims))),
        _ => None,
    }
}

/// For each node, the index of the node it merges with: each min paired with the first
/// unpaired max of its key, in node order.
fn partners(graph: &Graph) -> Vec<Option<usize>> {
    let mut partner = vec![None; graph.nodes.len()];
    let mut open: Vec<(ReduceOp, Key, usize)> = Vec::new();
    for (handle, node) in graph.nodes.iter() {
        let Some((op, key)) = reduction(node) else {
            continue;
        };
        match open.iter().position(|(o, k, _)| *o != op && *k == key) {
            Some(i) => {
                let (_, _, other) = open.remove(i);
                partner[other] = Some(handle.index());
                partner[handle.index()] = Some(other);
            }
            None => open.push((op, key, handle.index())),
        }
    }
    partner
}

fn merge(graph: &Graph) -> Result<Option<Graph>, String> {
    let partner = partners(graph);
    if partner.iter().all(Option::is_none) {
        return Ok(None);
    }
    let nodes: Vec<&Node> = graph.nodes.iter().map(|(_, n)| n).collect();
    let mut copy = Copy::start(graph, |_| true);
    for (i, &node) in nodes.iter().enumerate() {
        let inputs = node
            .inputs
            .iter()
            .map(|&v| copy.value(v, &node.name))
            .collect::<Result<Vec<_>, _>>()?;
        let Some(j) = partner[i] else {
            copy.node(node, node.op.clone(), &inputs)?;
            continue;
        };
        if j < i {
            continue; // emitted with its partner
        }
        let other = nodes[j];
        let Some((op, (_, axes, keepdims))) = reduction(node) else {
            return Err(format!(
                "node '{}' is not a min or max reduction",
                node.name
            ));
        };
        let (min, max) = match op {
            ReduceOp::Min => (node, other),
            _ => (other, node),
        };
        let merged = Op::MinMax {
            axes: axes.to_vec(),
            keepdims,
        };
        let results = copy
            .out
            .add_node(merged, &inputs, Some(2), node.name.clone())
            .map_err(|e| e.to_string())?;
        for (old, new) in [min.outputs[0], max.outputs[0]].into_iter().zip(results) {
            copy.out.values[new].name = graph.values[old].name.clone();
            copy.set(old, new);
        }
    }
    copy.finish().map(Some)
}

impl Pass for MergeMinMax {
    fn name(&self) -> &'static str {
        PASS_NAME
    }

    fn run(&self, graph: Graph) -> Result<Graph, PassError> {
        match merge(&graph) {
            Ok(Some(merged)) => Ok(merged),
            Ok(None) => Ok(graph),
            Err(e) => Err(PassError::failed(PASS_NAME, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_ir::parse::parse;

    fn run(text: &str) -> Graph {
        MergeMinMax.run(parse(text).unwrap()).unwrap()
    }

    #[test]
    fn merges_a_min_and_a_max_of_one_value() {
        let g = run(r#"graph "g" {
  input %v0 "x" : f32[3,5]
  %v1 = reduce_max{axes=[1], keepdims=false}(%v0) : f32[3]
  %v2 = reduce_min{axes=[1], keepdims=false}(%v0) : f32[3]
  %v3 = sub(%v1, %v2) : f32[3]
  output "y" = %v3
}"#);
        let nodes: Vec<&Node> = g.nodes.iter().map(|(_, n)| n).collect();
        let ops: Vec<&str> = nodes.iter().map(|n| n.op.name()).collect();
        assert_eq!(ops, ["min_max", "sub"]);
        // sub reads max - min: result 1, then result 0.
        assert_eq!(
            nodes[1].inputs,
            vec![nodes[0].outputs[1], nodes[0].outputs[0]]
        );
    }

    #[test]
    fn leaves_unmatched_reductions() {
        let g = run(r#"graph "g" {
  input %v0 "x" : f32[3,5]
  input %v1 "z" : f32[3,5]
  %v2 = reduce_max{axes=[1], keepdims=false}(%v0) : f32[3]
  %v3 = reduce_min{axes=[0], keepdims=false}(%v0) : f32[5]
  %v4 = reduce_min{axes=[1], keepdims=true}(%v0) : f32[3,1]
  %v5 = reduce_min{axes=[1], keepdims=false}(%v1) : f32[3]
  %v6 = reduce_sum{axes=[1], keepdims=false}(%v0) : f32[3]
  output "a" = %v2
  output "b" = %v3
  output "c" = %v4
  output "d" = %v5
  output "e" = %v6
}"#);
        assert!(g.nodes.iter().all(|(_, n)| n.op.name() != "min_max"));
    }
}
