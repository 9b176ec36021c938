//! Which ONNX values must be known at import: the shape-like operands of every node
//! and, transitively, everything they are computed from.

use crate::proto::{FunctionProto, NodeProto};
use std::collections::{HashMap, HashSet};

/// Operand slots whose values decide a result shape (or otherwise must be static).
fn shape_slots(op: &str, opset: i64) -> &'static [usize] {
    match op {
        "Reshape" if opset >= 5 => &[1],
        "Slice" if opset >= 10 => &[1, 2, 3, 4],
        "Expand" | "Tile" | "TopK" | "OneHot" => &[1],
        "Pad" if opset >= 11 => &[1, 3],
        "Resize" if opset >= 11 => &[1, 2, 3],
        "Resize" | "Upsample" => &[1],
        "Squeeze" | "Unsqueeze" | "Split" if opset >= 13 => &[1],
        "ReduceSum" if opset >= 13 => &[1],
        "ReduceMean" | "ReduceMax" | "ReduceMin" | "ReduceProd" | "ReduceL2"
        | "ReduceSumSquare" | "ReduceL1" | "ReduceLogSum" | "ReduceLogSumExp"
            if opset >= 18 =>
        {
            &[1]
        }
        "Range" => &[0, 1, 2],
        "ConstantOfShape" => &[0],
        "Dropout" if opset >= 12 => &[1, 2],
        _ => &[],
    }
}

/// Operand slots read for their type only (never their values).
fn type_only(op: &str, slot: usize) -> bool {
    matches!((op, slot), ("Shape", 0) | ("Size", 0) | ("CastLike", 1))
}

/// The names of values in `nodes` whose contents must be known at import, given
/// that the values in `seeds` (outputs of this body) must be.
pub(crate) fn needed_values(
    nodes: &[NodeProto],
    opset: i64,
    functions: &HashMap<(String, String), &FunctionProto>,
    seeds: HashSet<String>,
    depth: usize,
) -> HashSet<String> {
    let mut needed = seeds;
    for node in nodes.iter().rev() {
        let outputs_needed = node
            .output
            .iter()
            .any(|o| !o.is_empty() && needed.contains(o));
        let func = functions.get(&(node.domain.clone(), node.op_type.clone()));
        let func_slots: HashSet<usize> = match func {
            Some(f) if depth < 16 => {
                let seeds = f
                    .output
                    .iter()
                    .zip(&node.output)
                    .filter(|(_, actual)| !actual.is_empty() && needed.contains(*actual))
                    .map(|(formal, _)| formal.clone())
                    .collect();
                let fopset = f
                    .opset_import
                    .iter()
                    .find(|o| o.domain.is_empty() || o.domain == "ai.onnx");
                let fopset = fopset.map_or(opset, |o| o.version);
                let inner = needed_values(&f.node, fopset, functions, seeds, depth + 1);
                f.input
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| inner.contains(*n))
                    .map(|(i, _)| i)
                    .collect()
            }
            _ => HashSet::new(),
        };
        let slots = shape_slots(&node.op_type, opset);
        for (i, input) in node.input.iter().enumerate() {
            if input.is_empty() || type_only(&node.op_type, i) {
                continue;
            }
            let shape_like = slots.contains(&i) || func_slots.contains(&i);
            if shape_like || (outputs_needed && func.is_none()) {
                needed.insert(input.clone());
            }
        }
    }
    needed
}
