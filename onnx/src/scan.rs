//! `Scan` unrolled at import over its static sequence length: per step, each scan
//! input's slice along its axis (in its direction) is bound to the body with the state
//! values, the body is lowered, its states carry on and its scan outputs are stacked
//! along their axes (in their directions). Scan-8's batch axis unrolls the same way,
//! once per batch entry.

use crate::builder::{Importer, Scope};
use crate::control::{
    lower_nodes, node_error, node_label, stack_along, subgraph_scope, MAX_DEPTH,
    MAX_UNROLL_ITERATIONS, MAX_UNROLL_NODES,
};
use crate::error::ImportError;
use crate::proto::{GraphProto, NodeProto};
use kiln_ir::{Handle, Op, Value};

/// What one unrolled `Scan` needs besides the importer: the node, its body and the
/// per-input and per-output axes and directions (already normalised).
struct ScanSpec<'a> {
    node: &'a NodeProto,
    name: String,
    body: &'a GraphProto,
    opset: i64,
    depth: usize,
    in_axes: Vec<usize>,
    in_reverse: Vec<bool>,
    out_axes: Vec<usize>,
    out_reverse: Vec<bool>,
}

/// Unrolls `Scan` node `node`: the value of each result (final states, then scan
/// outputs; `None` for results the model leaves unnamed).
pub(crate) fn unroll_scan(
    imp: &mut Importer,
    scope: &Scope,
    node: &NodeProto,
    opset: i64,
    depth: usize,
) -> Result<Vec<Option<Handle<Value>>>, ImportError> {
    let name = node_label(node);
    let err = node_error(node);
    if depth >= MAX_DEPTH {
        return Err(err("control flow and functions nest too deeply".into()));
    }
    let body = node
        .graph_attr("body")
        .ok_or_else(|| err("attribute 'body' (a graph) is required".into()))?;
    let attr_i = |n: &str| node.attribute.iter().find(|a| a.name == n).map(|a| a.i);
    let attr_ints = |n: &str| {
        node.attribute
            .iter()
            .find(|a| a.name == n)
            .map(|a| a.ints.clone())
    };
    let m = attr_i("num_scan_inputs")
        .filter(|&m| m >= 1)
        .ok_or_else(|| err("attribute 'num_scan_inputs' (at least 1) is required".into()))?
        as usize;
    // Scan-8 leads with an optional sequence_lens and has a batch axis everywhere.
    let batched = opset < 9;
    let operands: Vec<Option<Handle<Value>>> = node
        .input
        .iter()
        .map(|n| {
            if n.is_empty() {
                return Ok(None);
            }
            scope
                .get(n)
                .copied()
                .map(Some)
                .ok_or_else(|| err(format!("operand '{n}' is not defined before this node")))
        })
        .collect::<Result<_, _>>()?;
    let operands = if batched {
        if operands.first().copied().flatten().is_some() {
            return Err(err(
                "sequence_lens is not supported: every batch entry must scan the whole sequence"
                    .into(),
            ));
        }
        operands[1.min(operands.len())..].to_vec()
    } else {
        operands
    };
    let operands: Vec<Handle<Value>> = operands
        .into_iter()
        .collect::<Option<_>>()
        .ok_or_else(|| err("a state or scan input is missing".into()))?;
    let n = operands
        .len()
        .checked_sub(m)
        .ok_or_else(|| err(format!("{m} scan inputs but {} operands", operands.len())))?;
    if body.input.len() != n + m {
        return Err(err(format!(
            "the body takes {} inputs but the scan passes {} ({n} states, {m} scan inputs)",
            body.input.len(),
            n + m
        )));
    }
    let k = body.output.len().checked_sub(n).ok_or_else(|| {
        err(format!(
            "the body has {} outputs but needs at least {n} (the states)",
            body.output.len()
        ))
    })?;
    // Axes count the tensors as the body sees them (without Scan-8's batch axis).
    let axes = |attr: &str, count: usize, ranks: &[usize]| -> Result<Vec<usize>, ImportError> {
        let given = attr_ints(attr).unwrap_or_default();
        (0..count)
            .map(|j| {
                let a = given.get(j).copied().unwrap_or(0);
                let r = ranks[j] as i64;
                let a = if a < 0 { a + r } else { a };
                (0..r)
                    .contains(&a)
                    .then_some(a as usize)
                    .ok_or_else(|| err(format!("{attr}[{j}] is out of range for rank {r}")))
            })
            .collect()
    };
    let dirs = |attr: &str, count: usize| -> Vec<bool> {
        let given = attr_ints(attr).unwrap_or_default();
        (0..count)
            .map(|j| given.get(j).copied().unwrap_or(0) != 0)
            .collect()
    };
    let lead = usize::from(batched);
    let in_ranks: Vec<usize> = operands[n..]
        .iter()
        .map(|&v| imp.graph.ty(v).shape.rank() - lead)
        .collect();
    if batched
        && (attr_ints("scan_input_axes").is_some() || attr_ints("scan_output_axes").is_some())
    {
        return Err(err("Scan-8 has no scan axes attributes".into()));
    }
    let in_axes = axes("scan_input_axes", m, &in_ranks)?;
    // Output ranks: the body's results gain the scan axis.
    let out_ranks: Vec<usize> = body.output[n..]
        .iter()
        .map(|o| {
            crate::model::tensor_type(o)
                .and_then(|(_, d)| d)
                .map_or(1, |d| d.len() + 1)
        })
        .collect();
    let spec = ScanSpec {
        node,
        name: name.clone(),
        body,
        opset,
        depth,
        in_reverse: dirs(
            if batched {
                "directions"
            } else {
                "scan_input_directions"
            },
            m,
        ),
        in_axes,
        out_axes: axes("scan_output_axes", k, &out_ranks).unwrap_or_else(|_| vec![0; k]),
        out_reverse: dirs("scan_output_directions", k),
    };
    if !batched {
        return run(imp, scope, &spec, &operands[..n], &operands[n..]);
    }
    // Scan-8: one unrolled scan per batch entry, results stacked along axis 0.
    let batch = imp
        .graph
        .ty(operands[0])
        .shape
        .dims()
        .first()
        .copied()
        .unwrap_or(0);
    let mut per_batch: Vec<Vec<Option<Handle<Value>>>> = Vec::new();
    for b in 0..batch {
        let entry = operands
            .iter()
            .map(|&v| take(imp, &name, v, 0, b))
            .collect::<Result<Vec<_>, String>>()
            .map_err(&err)?;
        per_batch.push(run(imp, scope, &spec, &entry[..n], &entry[n..])?);
    }
    (0..node.output.len())
        .map(|j| {
            let parts: Option<Vec<Handle<Value>>> = per_batch
                .iter()
                .map(|r| r.get(j).copied().flatten())
                .collect();
            match parts {
                Some(p) if !p.is_empty() => stack_along(imp, &name, &p, 0).map(Some).map_err(&err),
                _ => Ok(None),
            }
        })
        .collect()
}

/// One unrolled scan over `states` and `inputs` (no batch axis).
fn run(
    imp: &mut Importer,
    scope: &Scope,
    s: &ScanSpec<'_>,
    states: &[Handle<Value>],
    inputs: &[Handle<Value>],
) -> Result<Vec<Option<Handle<Value>>>, ImportError> {
    let err = node_error(s.node);
    let (n, m) = (states.len(), inputs.len());
    let lens: Vec<usize> = inputs
        .iter()
        .zip(&s.in_axes)
        .map(|(&v, &a)| imp.graph.ty(v).shape.dims()[a])
        .collect();
    let steps = lens[0];
    if lens.iter().any(|&l| l != steps) {
        return Err(err(format!(
            "the scan inputs have different lengths {lens:?}"
        )));
    }
    if steps > MAX_UNROLL_ITERATIONS {
        return Err(err(format!(
            "sequence length {steps} too long to unroll (at most {MAX_UNROLL_ITERATIONS})"
        )));
    }
    let base = subgraph_scope(imp, scope, s.body)?;
    let start_nodes = imp.graph.nodes.len();
    let mut carried = states.to_vec();
    let k = s.body.output.len() - n;
    let mut scans: Vec<Vec<Handle<Value>>> = vec![Vec::new(); k];
    for t in 0..steps {
        let mut inner = base.clone();
        for (vi, &v) in s.body.input.iter().zip(&carried) {
            inner.insert(vi.name.clone(), v);
        }
        for (j, &input) in inputs.iter().enumerate().take(m) {
            let at = if s.in_reverse[j] { steps - 1 - t } else { t };
            let elem = take(imp, &s.name, input, s.in_axes[j], at).map_err(&err)?;
            inner.insert(s.body.input[n + j].name.clone(), elem);
        }
        lower_nodes(imp, &mut inner, &s.body.node, s.opset, s.depth + 1)?;
        let outs = s
            .body
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
        carried.copy_from_slice(&outs[..n]);
        for (j, scan) in scans.iter_mut().enumerate() {
            scan.push(outs[n + j]);
        }
        if imp.graph.nodes.len() - start_nodes > MAX_UNROLL_NODES {
            return Err(err(format!(
                "unrolling adds too many nodes (at most {MAX_UNROLL_NODES})"
            )));
        }
    }
    let mut results: Vec<Option<Handle<Value>>> = carried.into_iter().map(Some).collect();
    for (j, mut per_step) in scans.into_iter().enumerate() {
        if s.out_reverse[j] {
            per_step.reverse();
        }
        if per_step.is_empty() {
            return Err(err(
                "an empty sequence gives scan outputs kiln cannot type".into()
            ));
        }
        results.push(Some(
            stack_along(imp, &s.name, &per_step, s.out_axes[j]).map_err(&err)?,
        ));
    }
    results.truncate(s.node.output.len());
    Ok(results)
}

/// Element `at` of `v` along `axis`, with that axis removed.
fn take(
    imp: &mut Importer,
    name: &str,
    v: Handle<Value>,
    axis: usize,
    at: usize,
) -> Result<Handle<Value>, String> {
    let node_err = |e: kiln_ir::NodeError| format!("{}: {}", e.op, e.reason);
    let dims = imp.graph.ty(v).shape.dims().to_vec();
    let mut starts = vec![0; dims.len()];
    starts[axis] = at;
    let mut lens = dims.clone();
    lens[axis] = 1;
    let slice = Op::Slice {
        starts,
        steps: vec![1; dims.len()],
        lens,
    };
    let sliced = imp.add_node(slice, &[v], Some(1), name).map_err(node_err)?[0];
    let mut kept = dims;
    kept.remove(axis);
    let out = imp.add_node(Op::Reshape { shape: kept }, &[sliced], Some(1), name);
    Ok(out.map_err(node_err)?[0])
}
