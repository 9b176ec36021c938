//! The IR verifier: checks every invariant of [`crate::Graph`].
//!
//! Handles are checked first (so later checks may index freely), then definitions and
//! back-pointers, ports, execution order, constants, and finally each node's op: the
//! constants of element-wise programs (exact in their dtype) and the result types
//! against [`crate::infer::infer`], which also checks programs (operands read earlier
//! steps, inputs exist, step dtypes fit) and fused ops (arity, epilogue broadcasting). Structs are destructured field by field so that adding a
//! field breaks the build here until the new field is checked (or explicitly ignored).

use crate::print::quote;
use crate::{
    infer, DType, Graph, Handle, Node, Op, Port, Program, Step, TensorType, Value, ValueDef,
};
use half::f16;

/// A broken invariant: the node, value or port it is about, and a message naming it
/// (handles written `n3` and `%v3`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VerifyError {
    /// A node breaks an invariant: an operand or result out of range or defined
    /// after it, an op that does not accept its operands, a wrong result type.
    #[error("{message}")]
    Node { node: Handle<Node>, message: String },
    /// A value's definition, or a constant's data, is inconsistent.
    #[error("{message}")]
    Value {
        value: Handle<Value>,
        message: String,
    },
    /// A graph input or output port is inconsistent.
    #[error("{message}")]
    Port { message: String },
}

impl VerifyError {
    /// The node the error is about, if it is about one.
    pub fn node(&self) -> Option<Handle<Node>> {
        match self {
            VerifyError::Node { node, .. } => Some(*node),
            _ => None,
        }
    }

    /// The value the error is about, if it is about one.
    pub fn value(&self) -> Option<Handle<Value>> {
        match self {
            VerifyError::Value { value, .. } => Some(*value),
            _ => None,
        }
    }
}

/// Checks every invariant: [`verify_structure`], then that each node's result types
/// equal what [`infer::infer`] computes from its operand types (a node may keep only a
/// prefix of the results the op defines).
pub fn verify(graph: &Graph) -> Result<(), VerifyError> {
    verify_structure(graph)?;
    check_types(graph)
}

/// Checks everything but result types: handles in range, each value's definition and
/// its back-pointer, ports, execution order and constant types.
pub fn verify_structure(graph: &Graph) -> Result<(), VerifyError> {
    check_handles(graph)?;
    check_definitions(graph)?;
    check_ports(graph)?;
    check_order(graph)
}

fn node_fail<T>(node: Handle<Node>, message: String) -> Result<T, VerifyError> {
    Err(VerifyError::Node { node, message })
}

fn value_fail<T>(value: Handle<Value>, message: String) -> Result<T, VerifyError> {
    Err(VerifyError::Value { value, message })
}

fn port_fail<T>(message: String) -> Result<T, VerifyError> {
    Err(VerifyError::Port { message })
}

/// `n3 (conv "conv1")`, or `n3 (conv)` when unnamed.
fn describe_node(graph: &Graph, handle: Handle<Node>) -> String {
    match graph.nodes.get(handle) {
        Some(n) if n.name.is_empty() => format!("{handle} ({})", n.op.name()),
        Some(n) => format!("{handle} ({} {})", n.op.name(), quote(&n.name)),
        None => handle.to_string(),
    }
}

/// `%v4 "y"`, or `%v4` when unnamed.
fn describe_value(graph: &Graph, handle: Handle<Value>) -> String {
    match graph.values.get(handle).and_then(|v| v.name.as_ref()) {
        Some(name) => format!("{handle} {}", quote(name)),
        None => handle.to_string(),
    }
}

fn describe_def(graph: &Graph, def: &ValueDef) -> String {
    match def {
        ValueDef::Input(i) => format!("input {i}"),
        ValueDef::Const(_) => "a constant".into(),
        ValueDef::Node { node, output } => {
            format!("result {output} of {}", describe_node(graph, *node))
        }
    }
}

fn check_handles(graph: &Graph) -> Result<(), VerifyError> {
    let Graph {
        name: _,
        values,
        nodes,
        inputs,
        outputs,
        extents: _,
    } = graph;
    let n_values = values.len();
    let in_range = |v: Handle<Value>, node: Option<Handle<Node>>, what: &dyn Fn() -> String| {
        if v.index() >= n_values {
            let message = format!("{} is {v}, but the graph has {n_values} values", what());
            return match node {
                Some(node) => node_fail(node, message),
                None => port_fail(message),
            };
        }
        Ok(())
    };
    for (kind, ports) in [("input", inputs), ("output", outputs)] {
        for (
            i,
            Port {
                name,
                value,
                wide: _,
            },
        ) in ports.iter().enumerate()
        {
            in_range(*value, None, &|| format!("{kind} port {i} {}", quote(name)))?;
        }
    }
    for (handle, node) in nodes.iter() {
        let Node {
            op: _,
            inputs,
            outputs,
            name: _,
        } = node;
        for (i, &v) in inputs.iter().enumerate() {
            in_range(v, Some(handle), &|| {
                format!("{}: operand {i}", describe_node(graph, handle))
            })?;
        }
        for (i, &v) in outputs.iter().enumerate() {
            in_range(v, Some(handle), &|| {
                format!("{}: result {i}", describe_node(graph, handle))
            })?;
        }
    }
    for (handle, value) in values.iter() {
        if let ValueDef::Node { node, output: _ } = value.def {
            if node.index() >= nodes.len() {
                return value_fail(
                    handle,
                    format!(
                        "{} is defined by {node}, but the graph has {} nodes",
                        describe_value(graph, handle),
                        nodes.len()
                    ),
                );
            }
        }
    }
    Ok(())
}

/// Each value's definition and the node or port it names agree, both ways.
fn check_definitions(graph: &Graph) -> Result<(), VerifyError> {
    for (node_handle, node) in graph.nodes.iter() {
        for (output, &v) in node.outputs.iter().enumerate() {
            let def = &graph.values[v].def;
            if *def
                != (ValueDef::Node {
                    node: node_handle,
                    output,
                })
            {
                return node_fail(
                    node_handle,
                    format!(
                        "{}: result {output} {} is defined as {}",
                        describe_node(graph, node_handle),
                        describe_value(graph, v),
                        describe_def(graph, def)
                    ),
                );
            }
        }
    }
    for (handle, value) in graph.values.iter() {
        let Value { ty, name: _, def } = value;
        let holds_it = match def {
            ValueDef::Input(i) => graph.inputs.get(*i).map(|p| p.value) == Some(handle),
            ValueDef::Node { node, output } => {
                graph.nodes[*node].outputs.get(*output) == Some(&handle)
            }
            ValueDef::Const(tensor) => {
                let data_ty = tensor.ty();
                if data_ty != *ty {
                    return value_fail(
                        handle,
                        format!(
                            "constant {} has type {ty} but its data is {data_ty}",
                            describe_value(graph, handle)
                        ),
                    );
                }
                true
            }
        };
        if !holds_it {
            return value_fail(
                handle,
                format!(
                    "{} claims to be {}, which does not hold it",
                    describe_value(graph, handle),
                    describe_def(graph, def)
                ),
            );
        }
    }
    Ok(())
}

/// Input ports hold `ValueDef::Input` of their own position; port names are unique.
fn check_ports(graph: &Graph) -> Result<(), VerifyError> {
    for (
        i,
        Port {
            name,
            value,
            wide: _,
        },
    ) in graph.inputs.iter().enumerate()
    {
        let def = &graph.values[*value].def;
        if *def != ValueDef::Input(i) {
            return port_fail(format!(
                "input port {i} {} holds {}, which is {}",
                quote(name),
                describe_value(graph, *value),
                describe_def(graph, def)
            ));
        }
    }
    for (kind, ports) in [("input", &graph.inputs), ("output", &graph.outputs)] {
        for (i, port) in ports.iter().enumerate() {
            if let Some(j) = ports[..i].iter().position(|p| p.name == port.name) {
                return port_fail(format!(
                    "{kind} ports {j} and {i} are both named {}",
                    quote(&port.name)
                ));
            }
        }
    }
    check_extents(graph)
}

/// Each extent names a model output and an axis of it, and a count output after every
/// model output that is a scalar i32 and counts nothing else.
fn check_extents(graph: &Graph) -> Result<(), VerifyError> {
    let model = graph.model_outputs().len();
    for (i, e) in graph.extents.iter().enumerate() {
        let fail = |why: String| port_fail(format!("extent {i}: {why}"));
        let Some(port) = graph.model_outputs().get(e.output) else {
            return fail(format!("output {} is not a model output", e.output));
        };
        let rank = graph.ty(port.value).shape.rank();
        if e.axis >= rank {
            return fail(format!("axis {} out of range for rank {rank}", e.axis));
        }
        if e.count < model || e.count >= graph.outputs.len() {
            return fail(format!(
                "count output {} is not one of the last {} outputs",
                e.count,
                graph.extents.len()
            ));
        }
        let ty = graph.ty(graph.outputs[e.count].value);
        if ty.dtype != DType::I32 || ty.shape.rank() != 0 {
            return fail(format!("count output {} is {ty}, not i32[]", e.count));
        }
        if graph.extents[..i]
            .iter()
            .any(|f| f.count == e.count || f.output == e.output)
        {
            return fail("another extent has the same output or count".into());
        }
    }
    Ok(())
}

/// Nodes read only inputs, constants and results of earlier nodes.
fn check_order(graph: &Graph) -> Result<(), VerifyError> {
    let mut defined: Vec<bool> = graph
        .values
        .iter()
        .map(|(_, v)| !matches!(v.def, ValueDef::Node { .. }))
        .collect();
    for (handle, node) in graph.nodes.iter() {
        for (i, &v) in node.inputs.iter().enumerate() {
            if !defined[v.index()] {
                return node_fail(
                    handle,
                    format!(
                        "{}: operand {i} {} is not defined before the node (nodes must be in \
                         execution order)",
                        describe_node(graph, handle),
                        describe_value(graph, v)
                    ),
                );
            }
        }
        for &v in &node.outputs {
            defined[v.index()] = true;
        }
    }
    Ok(())
}

/// Each node's programs are well formed and its result types equal the inferred ones
/// (a prefix of them).
fn check_types(graph: &Graph) -> Result<(), VerifyError> {
    for (handle, node) in graph.nodes.iter() {
        let Node {
            op,
            inputs,
            outputs,
            name: _,
        } = node;
        if let Err(e) = check_programs(op) {
            return node_fail(handle, format!("{}: {e}", describe_node(graph, handle)));
        }
        let operand_types: Vec<&TensorType> = inputs.iter().map(|&v| &graph.values[v].ty).collect();
        let inferred = match infer::infer(op, &operand_types) {
            Ok(types) => types,
            Err(e) => return node_fail(handle, format!("{}: {e}", describe_node(graph, handle))),
        };
        if outputs.len() > inferred.len() {
            return node_fail(
                handle,
                format!(
                    "{} has {} results, but `{}` defines {}",
                    describe_node(graph, handle),
                    outputs.len(),
                    op.name(),
                    inferred.len()
                ),
            );
        }
        for (i, (&v, want)) in outputs.iter().zip(&inferred).enumerate() {
            let got = &graph.values[v].ty;
            if got != want {
                return node_fail(
                    handle,
                    format!(
                        "{}: result {i} {} has type {got}, but the op computes {want}",
                        describe_node(graph, handle),
                        describe_value(graph, v)
                    ),
                );
            }
        }
    }
    Ok(())
}

/// The programs of `op` (a fused op's anchor included) hold only constants their dtype
/// represents exactly: the text form and generated kernels write them in that dtype.
fn check_programs(op: &Op) -> Result<(), String> {
    match op {
        Op::Elementwise { program } => check_program(program, "program"),
        Op::Fused {
            anchor,
            // Infer checks the prologue's kind and types.
            prologue,
            arity: _,
            epilogue,
        } => {
            check_programs(anchor).map_err(|e| format!("anchor {e}"))?;
            if let Some(p) = prologue {
                check_programs(p).map_err(|e| format!("prologue {e}"))?;
            }
            check_program(epilogue, "epilogue")
        }
        _ => Ok(()),
    }
}

fn check_program(program: &Program, what: &str) -> Result<(), String> {
    let Program { steps } = program;
    for (i, step) in steps.iter().enumerate() {
        if let Step::Const { dtype, value } = *step {
            if !holds_exactly(dtype, value) {
                return Err(format!(
                    "{what} step {i}: constant {value:?} is not a {dtype} value"
                ));
            }
        }
    }
    Ok(())
}

/// `value` is one of `dtype`'s values (NaN for any float dtype).
fn holds_exactly(dtype: DType, value: f64) -> bool {
    let int_in = |min: f64, max: f64| value.fract() == 0.0 && (min..=max).contains(&value);
    match dtype {
        DType::F32 => value.is_nan() || value as f32 as f64 == value,
        DType::F16 => value.is_nan() || f16::from_f64(value).to_f64() == value,
        DType::Bool => value == 0.0 || value == 1.0,
        d => match (d.int_range(), crate::minifloat::Format::of(d)) {
            (Some((lo, hi)), _) => int_in(lo as f64, hi as f64),
            (None, Some(f)) => {
                value.is_nan() || f.decode(f.encode(value as f32, false)) as f64 == value
            }
            (None, None) => false,
        },
    }
}
