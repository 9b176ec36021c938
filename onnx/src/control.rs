//! Lowering node lists, control flow included: each node goes to its op's lowering
//! in the registry, a call of a model-local function is inlined, a `Loop` whose trip
//! count and condition are known at import is unrolled (its body lowered once per
//! iteration); an `If` whose condition is known at import takes its branch, otherwise
//! both branches run and a `where` selects each result; `Scan` is unrolled too
//! (`scan.rs`).

use crate::builder::{Cx, Importer, Scope};
use crate::error::{display_name, ImportError};
use crate::known::{KData, Known};
use crate::model::{tensor_type, Dim};
use crate::ops;
use crate::proto::{AttributeProto, FunctionProto, NodeProto};
use crate::tensor_proto::{self, ir_dtype, Decoded};
use kiln_ir::{DType, Handle, Op, Value};
use std::collections::HashSet;

/// The most ONNX nodes import lowers, counting each inlined function body and each
/// unrolled loop iteration again.
const MAX_LOWERED_NODES: usize = 1 << 21;

/// The most iterations a `Loop` is unrolled to.
pub const MAX_UNROLL_ITERATIONS: usize = 4096;
/// The most nodes unrolling one `Loop` (nested loops included) may add.
pub const MAX_UNROLL_NODES: usize = 1 << 16;
/// The most nodes a graph may grow to while loops are unrolled.
const MAX_GRAPH_NODES: usize = 1 << 20;
/// How deeply loops (and functions) may nest.
pub(crate) const MAX_DEPTH: usize = 32;

/// Lowers `nodes` in order, binding their results in `scope`.
pub(crate) fn lower_nodes(
    imp: &mut Importer,
    scope: &mut Scope,
    nodes: &[NodeProto],
    opset: i64,
    depth: usize,
) -> Result<(), ImportError> {
    for node in nodes {
        imp.lowered += 1;
        if imp.lowered > MAX_LOWERED_NODES {
            return Err(ImportError::Model(format!(
                "the model expands to more than {MAX_LOWERED_NODES} nodes (functions and unrolled loops included)"
            )));
        }
        let node_err = node_error(node);
        let key = (node.domain.clone(), node.op_type.clone());
        if let Some(f) = imp.functions.get(&key).copied() {
            inline(imp, scope, node, f, opset, depth)?;
            continue;
        }
        if !matches!(node.domain.as_str(), "" | "ai.onnx" | "com.microsoft") {
            return Err(node_err(format!(
                "ops of domain '{}' are not supported",
                node.domain
            )));
        }
        // An op on a bfloat16 operand makes its f32 results bfloat16 (ONNX types an
        // op's float operands and results alike); Cast and CastLike decide for
        // themselves, and the bodies of Loop, If and Scan mark their own values.
        let bf16_operand = !matches!(
            node.op_type.as_str(),
            "Cast" | "CastLike" | "Loop" | "If" | "Scan"
        ) && node
            .input
            .iter()
            .filter_map(|n| scope.get(n))
            .any(|v| imp.bf16.contains_key(v));
        let outs: Vec<Option<Handle<Value>>> = match node.op_type.as_str() {
            "Loop" => unroll_loop(imp, scope, node, opset, depth)?,
            "If" => lower_if(imp, scope, node, opset, depth)?,
            "Scan" => crate::scan::unroll_scan(imp, scope, node, opset, depth)?,
            op => {
                let lower = ops::lookup(&node.domain, op).ok_or_else(|| {
                    node_err(match node.domain.as_str() {
                        "com.microsoft" => format!("op 'com.microsoft.{op}' is not supported"),
                        _ => format!("op '{op}' is not supported"),
                    })
                })?;
                let mut cx = Cx {
                    imp: &mut *imp,
                    scope,
                    node,
                    opset,
                };
                lower(&mut cx)?.into_iter().map(Some).collect()
            }
        };
        for (i, name) in node.output.iter().enumerate() {
            if name.is_empty() {
                continue;
            }
            let v = outs
                .get(i)
                .copied()
                .flatten()
                .ok_or_else(|| node_err(format!("result #{i} ('{name}') is not supported")))?;
            if bf16_operand && imp.graph.ty(v).dtype == kiln_ir::DType::F32 {
                crate::bf16::mark(imp, v, false);
            }
            let value = &mut imp.graph.values[v];
            if value.name.is_none() {
                value.name = Some(name.clone());
            }
            scope.insert(name.clone(), v);
        }
    }
    Ok(())
}

/// Inlines a call of a model-local function: its body is lowered in a fresh scope
/// with formal inputs bound to the call's operands and attribute references resolved.
fn inline(
    imp: &mut Importer,
    scope: &mut Scope,
    node: &NodeProto,
    f: &FunctionProto,
    opset: i64,
    depth: usize,
) -> Result<(), ImportError> {
    let err = node_error(node);
    if depth >= 32 {
        return Err(err("functions nest too deeply (recursive?)".into()));
    }
    let mut inner = Scope::new();
    for (formal, actual) in f.input.iter().zip(&node.input) {
        if actual.is_empty() {
            continue;
        }
        let v = *scope.get(actual).ok_or_else(|| {
            err(format!(
                "operand '{actual}' is not defined before this node"
            ))
        })?;
        inner.insert(formal.clone(), v);
    }
    let attr_of = |name: &str| -> Option<AttributeProto> {
        node.attribute
            .iter()
            .chain(&f.attribute_proto)
            .find(|a| a.name == name)
            .cloned()
    };
    let body: Vec<NodeProto> = f
        .node
        .iter()
        .map(|n| {
            let mut n = n.clone();
            n.attribute = n
                .attribute
                .into_iter()
                .filter_map(|a| {
                    if a.ref_attr_name.is_empty() {
                        return Some(a);
                    }
                    attr_of(&a.ref_attr_name).map(|mut r| {
                        r.name = a.name.clone();
                        r.ref_attr_name.clear();
                        r
                    })
                })
                .collect();
            n
        })
        .collect();
    let fopset = f
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map_or(opset, |o| o.version);
    lower_nodes(imp, &mut inner, &body, fopset, depth + 1)?;
    for (formal, actual) in f.output.iter().zip(&node.output) {
        if actual.is_empty() {
            continue;
        }
        let v = *inner
            .get(formal)
            .ok_or_else(|| err(format!("function output '{formal}' is not computed")))?;
        scope.insert(actual.clone(), v);
    }
    Ok(())
}

/// How errors name `node`: its name, else its first result's.
pub(crate) fn node_label(node: &NodeProto) -> String {
    display_name(if node.name.is_empty() {
        node.output.first().map_or("", String::as_str)
    } else {
        &node.name
    })
}

/// The error about `node` (named by [`node_label`]) for a reason.
pub(crate) fn node_error(node: &NodeProto) -> impl Fn(String) -> ImportError + '_ {
    let name = node_label(node);
    move |reason| ImportError::Node {
        node: name.clone(),
        op: node.op_type.clone(),
        reason,
    }
}

/// The scope a subgraph's nodes see: the enclosing `scope` (ONNX subgraphs read outer
/// values by name) and the subgraph's own initializers.
pub(crate) fn subgraph_scope(
    imp: &mut Importer,
    scope: &Scope,
    body: &crate::proto::GraphProto,
) -> Result<Scope, ImportError> {
    let mut inner = scope.clone();
    for t in &body.initializer {
        let v = match tensor_proto::decode(t, None)? {
            Decoded::Ir(tensor) => imp.graph.add_const(Some(t.name.clone()), tensor),
            Decoded::I64(k) => imp.add_known(Some(t.name.clone()), k)?,
        };
        if t.data_type == crate::proto::data_type::BFLOAT16 {
            crate::bf16::mark(imp, v, true);
        }
        inner.insert(t.name.clone(), v);
    }
    Ok(inner)
}

/// Lowers `If` node `node`. A condition known at import (a constant, or computed from
/// constants and shapes) picks the branch that is lowered. Otherwise both branches are
/// lowered and each result is `where(cond, then, else)`: the branches must give results
/// of one type each (ONNX ops have no side effects, so running the untaken branch only
/// costs its time). Returns the value of each result.
fn lower_if(
    imp: &mut Importer,
    scope: &Scope,
    node: &NodeProto,
    opset: i64,
    depth: usize,
) -> Result<Vec<Option<Handle<Value>>>, ImportError> {
    let node_name = node_label(node);
    let err = node_error(node);
    if depth >= MAX_DEPTH {
        return Err(err("control flow and functions nest too deeply".into()));
    }
    let cond_name = node.input.first().filter(|n| !n.is_empty());
    let cond = cond_name
        .and_then(|n| scope.get(n).copied())
        .ok_or_else(|| err("the condition (operand 0) is missing or not defined".into()))?;
    let branch = |attr: &str| {
        node.graph_attr(attr)
            .ok_or_else(|| err(format!("attribute '{attr}' (a graph) is required")))
    };
    let (then_g, else_g) = (branch("then_branch")?, branch("else_branch")?);
    let run = |imp: &mut Importer, g: &crate::proto::GraphProto| {
        let mut inner = subgraph_scope(imp, scope, g)?;
        lower_nodes(imp, &mut inner, &g.node, opset, depth + 1)?;
        g.output
            .iter()
            .map(|o| {
                inner.get(&o.name).copied().ok_or_else(|| {
                    err(format!(
                        "branch output '{}' is not computed by the branch",
                        o.name
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()
    };
    if let Some(c) = scalar_int(imp, cond) {
        let taken = run(imp, if c != 0 { then_g } else { else_g })?;
        return Ok(taken
            .into_iter()
            .map(Some)
            .take(node.output.len())
            .collect());
    }
    let cond_ty = imp.graph.ty(cond).clone();
    if cond_ty.dtype != DType::Bool || cond_ty.shape.numel() != 1 {
        return Err(err(format!(
            "the condition must be one bool, got {cond_ty}"
        )));
    }
    let then_v = run(imp, then_g)?;
    let else_v = run(imp, else_g)?;
    if then_v.len() != else_v.len() {
        return Err(err(format!(
            "the branches give {} and {} results",
            then_v.len(),
            else_v.len()
        )));
    }
    let mut results = Vec::new();
    for (k, (&t, &e)) in then_v
        .iter()
        .zip(&else_v)
        .enumerate()
        .take(node.output.len())
    {
        let (tt, et) = (imp.graph.ty(t).clone(), imp.graph.ty(e).clone());
        if tt != et {
            return Err(err(format!(
                "the condition is not known at import, so kiln runs both branches and selects; \
                 that needs results of one type, but result #{k} is {tt} in one branch and {et} \
                 in the other (pass the condition's input with --input to pick the branch)"
            )));
        }
        let picked = imp
            .add_node(Op::Where, &[cond, t, e], Some(1), &node_name)
            .map_err(|e| err(format!("{}: {}", e.op, e.reason)))?;
        results.push(Some(picked[0]));
    }
    Ok(results)
}

/// Unrolls `Loop` node `node`: the value of each of its results (`None` for results
/// the model leaves unnamed), in order: final loop-carried values, then scan outputs.
pub(crate) fn unroll_loop(
    imp: &mut Importer,
    scope: &Scope,
    node: &NodeProto,
    opset: i64,
    depth: usize,
) -> Result<Vec<Option<Handle<Value>>>, ImportError> {
    let node_name = node_label(node);
    let err = node_error(node);
    if depth >= MAX_DEPTH {
        return Err(err("loops and functions nest too deeply".into()));
    }
    let body = node
        .graph_attr("body")
        .ok_or_else(|| err("attribute 'body' (a graph) is required".into()))?;
    let n_carried = node.input.len().saturating_sub(2);
    if body.input.len() != n_carried + 2 {
        return Err(err(format!(
            "the body takes {} inputs but the loop passes {} (iteration number, condition and {n_carried} loop-carried values)",
            body.input.len(),
            n_carried + 2
        )));
    }
    let n_scan = body.output.len().checked_sub(1 + n_carried).ok_or_else(|| {
        err(format!(
            "the body has {} outputs but needs at least {} (condition and {n_carried} loop-carried values)",
            body.output.len(),
            1 + n_carried
        ))
    })?;
    if node.output.len() > n_carried + n_scan {
        return Err(err(format!(
            "the loop has {} results but its body defines {}",
            node.output.len(),
            n_carried + n_scan
        )));
    }
    let operand =
        |i: usize| -> Result<Option<Handle<Value>>, ImportError> {
            match node.input.get(i).filter(|n| !n.is_empty()) {
                None => Ok(None),
                Some(name) => scope.get(name).copied().map(Some).ok_or_else(|| {
                    err(format!("operand '{name}' is not defined before this node"))
                }),
            }
        };
    let trip = match operand(0)? {
        None => None,
        Some(v) => Some(scalar_int(imp, v).ok_or_else(|| {
            err(format!(
                "trip count '{}' is not known at import; kiln unrolls loops, so it must be a constant, computed from constants and shapes, or a specialised input (pass its value with --input)",
                node.input[0]
            ))
        })?),
    };
    let cond_in = operand(1)?;
    let mut cond = match cond_in {
        None => true,
        Some(v) => {
            scalar_int(imp, v).ok_or_else(|| {
                err(format!(
                    "condition '{}' is not known at import; kiln unrolls loops, so it must be a constant or computed from constants and shapes",
                    node.input[1]
                ))
            })? != 0
        }
    };
    if trip.is_none() && cond_in.is_none() {
        return Err(err(
            "has neither a trip count nor a condition (it never ends)".into(),
        ));
    }
    let trip = trip.map(|m| m.max(0) as u64);
    if cond_in.is_none() && trip.is_some_and(|m| m > MAX_UNROLL_ITERATIONS as u64) {
        return Err(err(format!(
            "trip count {} too large to unroll (at most {MAX_UNROLL_ITERATIONS} iterations)",
            trip.unwrap_or(0)
        )));
    }
    let mut carried = (0..n_carried)
        .map(|k| {
            operand(2 + k)?
                .ok_or_else(|| err(format!("loop-carried value #{k} has no initial value")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut cond_value = match cond_in {
        Some(v) => v,
        None => imp.add_known(None, Known::new(DType::Bool, vec![], KData::Int(vec![1])))?,
    };

    // The scope of the body: the outer scope, its initializers, then per iteration
    // its inputs and node results (restored to the base before the next iteration).
    let mut inner = subgraph_scope(imp, scope, body)?;
    let base = inner.clone();
    let defined: HashSet<&str> = body
        .input
        .iter()
        .map(|v| v.name.as_str())
        .chain(
            body.node
                .iter()
                .flat_map(|n| n.output.iter().map(String::as_str)),
        )
        .collect();

    let start_nodes = imp.graph.nodes.len();
    let mut scans: Vec<Vec<Handle<Value>>> = vec![Vec::new(); n_scan];
    let scan_used = |j: usize| {
        node.output
            .get(n_carried + j)
            .is_some_and(|n| !n.is_empty())
    };
    let mut i: u64 = 0;
    while trip.is_none_or(|m| i < m) && cond {
        if i >= MAX_UNROLL_ITERATIONS as u64 {
            return Err(err(match trip {
                Some(m) => format!("trip count {m} too large to unroll (the condition is still true after {MAX_UNROLL_ITERATIONS} iterations)"),
                None => format!("the condition is still true after {MAX_UNROLL_ITERATIONS} iterations; too many to unroll"),
            }));
        }
        for name in &defined {
            match base.get(*name) {
                Some(&v) => inner.insert(name.to_string(), v),
                None => inner.remove(*name),
            };
        }
        let iter_value = imp.add_known(
            None,
            Known::new(DType::I32, vec![], KData::Int(vec![i as i64])),
        )?;
        let bindings = [iter_value, cond_value]
            .into_iter()
            .chain(carried.iter().copied());
        for (vi, v) in body.input.iter().zip(bindings) {
            if !vi.name.is_empty() {
                inner.insert(vi.name.clone(), v);
            }
        }
        lower_nodes(imp, &mut inner, &body.node, opset, depth + 1)?;
        let outs = body
            .output
            .iter()
            .map(|o| {
                inner.get(&o.name).copied().ok_or_else(|| {
                    err(format!(
                        "body output '{}' is not computed by the body",
                        o.name
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if cond_in.is_some() {
            cond_value = outs[0];
            cond = scalar_int(imp, cond_value).ok_or_else(|| {
                err(format!(
                    "the condition '{}' the body computes is not known at import (it depends on input data); kiln unrolls only loops whose condition is known",
                    body.output[0].name
                ))
            })? != 0;
        }
        carried.copy_from_slice(&outs[1..1 + n_carried]);
        for (j, scan) in scans.iter_mut().enumerate() {
            if scan_used(j) {
                scan.push(outs[1 + n_carried + j]);
            }
        }
        i += 1;
        let added = imp.graph.nodes.len() - start_nodes;
        if added > MAX_UNROLL_NODES || imp.graph.nodes.len() > MAX_GRAPH_NODES {
            return Err(err(format!(
                "unrolling adds too many nodes ({added} after {i} iterations; at most {MAX_UNROLL_NODES})"
            )));
        }
    }

    let mut results: Vec<Option<Handle<Value>>> = carried.into_iter().map(Some).collect();
    for (j, per_iter) in scans.into_iter().enumerate() {
        results.push(if scan_used(j) {
            let decl = &body.output[1 + n_carried + j];
            Some(stack(imp, &node_name, &per_iter, decl).map_err(&err)?)
        } else {
            None
        });
    }
    results.truncate(node.output.len());
    Ok(results)
}

/// The single integer of a known scalar (or one-element) value.
fn scalar_int(imp: &mut Importer, v: Handle<Value>) -> Option<i64> {
    let k = imp.known_of(v)?;
    match k.as_ints()? {
        [x] => Some(*x),
        _ => None,
    }
}

/// `parts` (of one shape) stacked along a new axis `axis`.
pub(crate) fn stack_along(
    imp: &mut Importer,
    name: &str,
    parts: &[Handle<Value>],
    axis: usize,
) -> Result<Handle<Value>, String> {
    let node_err = |e: kiln_ir::NodeError| format!("{}: {}", e.op, e.reason);
    let mut rows = Vec::with_capacity(parts.len());
    for &v in parts {
        let mut dims = imp.graph.ty(v).shape.dims().to_vec();
        if axis > dims.len() {
            return Err(format!("stacking axis {axis} is out of range"));
        }
        dims.insert(axis, 1);
        let row = imp.add_node(Op::Reshape { shape: dims }, &[v], Some(1), name);
        rows.push(row.map_err(node_err)?[0]);
    }
    if rows.len() == 1 {
        return Ok(rows[0]);
    }
    let c = imp.add_node(Op::Concat { axis }, &rows, Some(1), name);
    Ok(c.map_err(node_err)?[0])
}

/// A scan output: the per-iteration values stacked along a new leading axis. With no
/// iterations it is an empty constant of the body output's declared element type.
fn stack(
    imp: &mut Importer,
    node_name: &str,
    per_iter: &[Handle<Value>],
    decl: &crate::proto::ValueInfoProto,
) -> Result<Handle<Value>, String> {
    if per_iter.is_empty() {
        let declared = tensor_type(decl).and_then(|(elem, dims)| {
            let (dtype, _) = ir_dtype(elem)?;
            let dims = dims?
                .iter()
                .map(|d| match d {
                    Dim::Fixed(v) => Some(*v),
                    _ => None,
                })
                .collect::<Option<Vec<usize>>>()?;
            Some((dtype, dims))
        });
        let (dtype, dims) = declared.ok_or_else(|| {
            format!(
                "the loop runs no iterations and scan output '{}' declares no static type",
                decl.name
            )
        })?;
        let mut shape = vec![0];
        shape.extend(dims);
        if crate::builder::checked_numel(&shape).is_none() {
            return Err(format!(
                "scan output '{}' declares too large dims",
                decl.name
            ));
        }
        let empty = Known::new(dtype, shape, KData::Int(vec![]));
        return imp.add_known(None, empty).map_err(|e| e.to_string());
    }
    stack_along(imp, node_name, per_iter, 0)
}
