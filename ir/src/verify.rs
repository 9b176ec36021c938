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

/// A broken invariant, naming the node or value involved.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct VerifyError(pub String);

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

fn fail<T>(message: String) -> Result<T, VerifyError> {
    Err(VerifyError(message))
}

/// `node 3 (conv "conv1")`, or `node 3 (conv)` when unnamed.
fn describe_node(graph: &Graph, handle: Handle<Node>) -> String {
    match graph.nodes.get(handle) {
        Some(n) if n.name.is_empty() => format!("node {} ({})", handle.index(), n.op.name()),
        Some(n) => format!(
            "node {} ({} {})",
            handle.index(),
            n.op.name(),
            quote(&n.name)
        ),
        None => format!("node {}", handle.index()),
    }
}

/// `%v4 "y"`, or `%v4` when unnamed.
fn describe_value(graph: &Graph, handle: Handle<Value>) -> String {
    match graph.values.get(handle).and_then(|v| v.name.as_ref()) {
        Some(name) => format!("%v{} {}", handle.index(), quote(name)),
        None => format!("%v{}", handle.index()),
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
    } = graph;
    let n_values = values.len();
    let in_range = |v: Handle<Value>, what: &dyn Fn() -> String| {
        if v.index() >= n_values {
            return fail(format!(
                "{} is %v{}, but the graph has {n_values} values",
                what(),
                v.index()
            ));
        }
        Ok(())
    };
    for (kind, ports) in [("input", inputs), ("output", outputs)] {
        for (
            i,
            Port {
                name,
                value,
                i64: _,
            },
        ) in ports.iter().enumerate()
        {
            in_range(*value, &|| format!("{kind} port {i} {}", quote(name)))?;
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
            in_range(v, &|| {
                format!("{}: operand {i}", describe_node(graph, handle))
            })?;
        }
        for (i, &v) in outputs.iter().enumerate() {
            in_range(v, &|| {
                format!("{}: result {i}", describe_node(graph, handle))
            })?;
        }
    }
    for (handle, value) in values.iter() {
        if let ValueDef::Node { node, output: _ } = value.def {
            if node.index() >= nodes.len() {
                return fail(format!(
                    "{} is defined by node {}, but the graph has {} nodes",
                    describe_value(graph, handle),
                    node.index(),
                    nodes.len()
                ));
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
                return fail(format!(
                    "{}: result {output} {} is defined as {}",
                    describe_node(graph, node_handle),
                    describe_value(graph, v),
                    describe_def(graph, def)
                ));
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
                    return fail(format!(
                        "constant {} has type {ty} but its data is {data_ty}",
                        describe_value(graph, handle)
                    ));
                }
                true
            }
        };
        if !holds_it {
            return fail(format!(
                "{} claims to be {}, which does not hold it",
                describe_value(graph, handle),
                describe_def(graph, def)
            ));
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
            i64: _,
        },
    ) in graph.inputs.iter().enumerate()
    {
        let def = &graph.values[*value].def;
        if *def != ValueDef::Input(i) {
            return fail(format!(
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
                return fail(format!(
                    "{kind} ports {j} and {i} are both named {}",
                    quote(&port.name)
                ));
            }
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
                return fail(format!(
                    "{}: operand {i} {} is not defined before the node (nodes must be in execution order)",
                    describe_node(graph, handle),
                    describe_value(graph, v)
                ));
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
            return fail(format!("{}: {e}", describe_node(graph, handle)));
        }
        let operand_types: Vec<&TensorType> = inputs.iter().map(|&v| &graph.values[v].ty).collect();
        let inferred = match infer::infer(op, &operand_types) {
            Ok(types) => types,
            Err(e) => return fail(format!("{}: {e}", describe_node(graph, handle))),
        };
        if outputs.len() > inferred.len() {
            return fail(format!(
                "{} has {} results, but `{}` defines {}",
                describe_node(graph, handle),
                outputs.len(),
                op.name(),
                inferred.len()
            ));
        }
        for (i, (&v, want)) in outputs.iter().zip(&inferred).enumerate() {
            let got = &graph.values[v].ty;
            if got != want {
                return fail(format!(
                    "{}: result {i} {} has type {got}, but the op computes {want}",
                    describe_node(graph, handle),
                    describe_value(graph, v)
                ));
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
            // A prologue holds no program; infer checks its kind and types.
            prologue: _,
            arity: _,
            epilogue,
        } => {
            check_programs(anchor).map_err(|e| format!("anchor {e}"))?;
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
        DType::I32 => int_in(i32::MIN as f64, i32::MAX as f64),
        DType::U32 => int_in(0.0, u32::MAX as f64),
        DType::I8 => int_in(i8::MIN as f64, i8::MAX as f64),
        DType::U8 => int_in(0.0, u8::MAX as f64),
        DType::Bool => value == 0.0 || value == 1.0,
    }
}
