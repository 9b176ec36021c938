//! Which ONNX values must be known at import: the shape-like operands of every node
//! and, transitively, everything they are computed from.

use crate::proto::{FunctionProto, GraphProto, NodeProto};
use std::collections::{HashMap, HashSet};

/// Operand slots whose values decide a result shape (or otherwise must be static).
fn shape_slots(op: &str, opset: i64) -> &'static [usize] {
    match op {
        "Reshape" if opset >= 5 => &[1],
        "Slice" if opset >= 10 => &[1, 2, 3, 4],
        "Expand" | "Tile" | "TopK" | "OneHot" | "CumSum" | "CumProd" | "CenterCropPad"
        | "AffineGrid" => &[1],
        "Col2Im" => &[1, 2],
        "MaxUnpool" => &[2],
        // max_output_boxes_per_class bounds the result's length.
        "NonMaxSuppression" => &[2],
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
        "DFT" if opset >= 20 => &[1, 2],
        "DFT" => &[1],
        "STFT" => &[1, 3],
        "MelWeightMatrix" => &[0, 1, 2, 3, 4],
        "ConstantOfShape" | "HannWindow" | "HammingWindow" | "BlackmanWindow" => &[0],
        "Dropout" if opset >= 12 => &[1, 2],
        "Loop" => &[0, 1],
        // A condition given at import picks the branch (otherwise both run).
        "If" => &[0],
        _ => &[],
    }
}

/// Operand slots read for their type only (never their values).
fn type_only(op: &str, slot: usize) -> bool {
    matches!((op, slot), ("Shape", 0) | ("Size", 0) | ("CastLike", 1))
}

/// How many nodes (function bodies and loop bodies counted each time they are
/// entered) the analysis walks before it stops entering bodies.
const WALK_BUDGET: usize = 1 << 20;

/// The names of values in graph `nodes` whose contents must be known at import.
pub(crate) fn needed_values(
    nodes: &[NodeProto],
    opset: i64,
    functions: &HashMap<(String, String), &FunctionProto>,
) -> HashSet<String> {
    let mut budget = WALK_BUDGET;
    needed_in(nodes, opset, functions, HashSet::new(), 0, &mut budget)
}

/// The names of values in `nodes` whose contents must be known at import, given
/// that the values in `seeds` (outputs of this body) must be. Each node walked
/// spends one unit of `budget`; with none left, bodies are no longer entered.
fn needed_in(
    nodes: &[NodeProto],
    opset: i64,
    functions: &HashMap<(String, String), &FunctionProto>,
    seeds: HashSet<String>,
    depth: usize,
    budget: &mut usize,
) -> HashSet<String> {
    let mut needed = seeds;
    for node in nodes.iter().rev() {
        *budget = budget.saturating_sub(1);
        let outputs_needed = node
            .output
            .iter()
            .any(|o| !o.is_empty() && needed.contains(o));
        let func = functions.get(&(node.domain.clone(), node.op_type.clone()));
        let func_slots: HashSet<usize> = match func {
            Some(f) if depth < 16 && *budget > 0 => {
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
                let inner = needed_in(&f.node, fopset, functions, seeds, depth + 1, budget);
                f.input
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| inner.contains(*n))
                    .map(|(i, _)| i)
                    .collect()
            }
            _ => HashSet::new(),
        };
        let loop_slots = match node.graph_attr("body") {
            Some(body) if node.op_type == "Loop" && depth < 16 && *budget > 0 => {
                loop_needs(node, body, opset, functions, &mut needed, depth, budget)
            }
            _ => HashSet::new(),
        };
        if node.op_type == "If" && depth < 16 && *budget > 0 {
            for attr in ["then_branch", "else_branch"] {
                if let Some(branch) = node.graph_attr(attr) {
                    branch_needs(node, branch, opset, functions, &mut needed, depth, budget);
                }
            }
        }
        let slots = shape_slots(&node.op_type, opset);
        for (i, input) in node.input.iter().enumerate() {
            if input.is_empty() || type_only(&node.op_type, i) {
                continue;
            }
            let shape_like =
                slots.contains(&i) || func_slots.contains(&i) || loop_slots.contains(&i);
            if shape_like || (outputs_needed && func.is_none()) {
                needed.insert(input.clone());
            }
        }
    }
    needed
}

/// What an `If` branch needs known from the enclosing scope: the outer values its
/// shape-like operands, and the branch results the enclosing graph needs, are computed
/// from. Adds their names to `needed`.
fn branch_needs(
    node: &NodeProto,
    branch: &GraphProto,
    opset: i64,
    functions: &HashMap<(String, String), &FunctionProto>,
    needed: &mut HashSet<String>,
    depth: usize,
    budget: &mut usize,
) {
    let seeds = node
        .output
        .iter()
        .zip(&branch.output)
        .filter(|(out, _)| !out.is_empty() && needed.contains(*out))
        .map(|(_, o)| o.name.clone())
        .collect();
    let inner = needed_in(&branch.node, opset, functions, seeds, depth + 1, budget);
    needed.extend(outer_names(branch, inner));
}

/// The names in `inner` that `body` does not define itself (inputs, initializers, node
/// results): values of the enclosing scope.
fn outer_names(body: &GraphProto, inner: HashSet<String>) -> impl Iterator<Item = String> {
    let local: HashSet<String> = body
        .input
        .iter()
        .map(|v| v.name.clone())
        .chain(body.initializer.iter().map(|t| t.name.clone()))
        .chain(body.node.iter().flat_map(|n| n.output.iter().cloned()))
        .collect();
    inner.into_iter().filter(move |n| !local.contains(n))
}

/// What a `Loop` (unrolled at import) needs known: its condition, the loop-carried
/// values the body's condition (or a needed result) is computed from, and the
/// outer-scope values the body reads for them. Adds the outer names to `needed` and
/// returns the needed operand slots of the loop.
fn loop_needs(
    node: &NodeProto,
    body: &GraphProto,
    opset: i64,
    functions: &HashMap<(String, String), &FunctionProto>,
    needed: &mut HashSet<String>,
    depth: usize,
    budget: &mut usize,
) -> HashSet<usize> {
    let n_carried = node.input.len().saturating_sub(2);
    let mut seeds: HashSet<String> = body
        .output
        .first()
        .map(|o| o.name.clone())
        .into_iter()
        .collect();
    for (j, out) in node.output.iter().enumerate() {
        if !out.is_empty() && needed.contains(out) {
            seeds.extend(body.output.get(1 + j).map(|o| o.name.clone()));
        }
    }
    let carried_input = |k: usize| body.input.get(2 + k).map(|v| v.name.as_str());
    let mut inner;
    loop {
        inner = needed_in(
            &body.node,
            opset,
            functions,
            seeds.clone(),
            depth + 1,
            budget,
        );
        let mut changed = false;
        for k in 0..n_carried {
            if carried_input(k).is_some_and(|n| inner.contains(n)) {
                if let Some(o) = body.output.get(1 + k) {
                    changed |= seeds.insert(o.name.clone());
                }
            }
        }
        if !changed {
            break;
        }
    }
    let slots = (0..n_carried)
        .filter(|&k| carried_input(k).is_some_and(|n| inner.contains(n)))
        .map(|k| 2 + k)
        .collect();
    needed.extend(outer_names(body, inner));
    slots
}
