//! A stable machine-readable JSON dump of a graph (not a serialization: constant data
//! is summarized, not included).
//!
//! Shape of the document (keys are stable; values are referenced by arena index):
//! `{"name", "inputs": [{"name","value","i64","wide"}], "outputs": [...],
//!   "values": [{"id","name","dtype","shape","def"}],
//!   "nodes": [{"id","op","name","attributes":{..},"operands":[..],"results":[..]}]}`
//! where a port's `wide` is the kind it is declared as (`no`, `i64`, `u64`, `f64`,
//! `bf16`; see [`crate::Wide`]) and `i64` (declared int64) is kept for older readers;
//! `def` is `{"kind":"input","port":i}`, `{"kind":"node","node":n,"output":k}` or
//! `{"kind":"const","splat":bool,"stored":count,"numel":count}` (a splat also has
//! `"value"`). Non-finite floats are the strings `"nan"`, `"inf"`, `"-inf"`.
//!
//! Fused ops: a program attribute (`program`, `epilogue`) is the list of its steps in
//! the IR text syntax (`["in0", "in1", "add(%0,%1)"]`), an `anchor` is
//! `{"op", "attributes"}`, and the node has an extra `"expression"`: the program as
//! nested calls (`"relu(add(conv, in1))"`, shared steps bound first as `t2 = ...; `).

use crate::print::{attributes, fmt_f32, op_expression, AttrValue};
use crate::{Data, Graph, Op, Port, Tensor, ValueDef};
use serde_json::{json, Map, Value as Json};

/// The JSON dump of `graph`.
pub fn to_json(graph: &Graph) -> Json {
    let values: Vec<Json> = graph
        .values
        .iter()
        .map(|(handle, v)| {
            json!({
                "id": handle.index(),
                "name": v.name,
                "dtype": v.ty.dtype.name(),
                "shape": v.ty.shape.dims(),
                "def": def_json(&v.def),
            })
        })
        .collect();
    let nodes: Vec<Json> = graph
        .nodes
        .iter()
        .map(|(handle, node)| {
            let mut obj = json!({
                "id": handle.index(),
                "op": node.op.name(),
                "name": node.name,
                "attributes": attrs_json(&node.op),
                "operands": node.inputs.iter().map(|h| h.index()).collect::<Vec<_>>(),
                "results": node.outputs.iter().map(|h| h.index()).collect::<Vec<_>>(),
            });
            if let Some(lines) = op_expression(&node.op) {
                obj["expression"] = json!(lines.join("; "));
            }
            obj
        })
        .collect();
    json!({
        "name": graph.name,
        "inputs": ports_json(&graph.inputs),
        "outputs": ports_json(&graph.outputs),
        "values": values,
        "nodes": nodes,
    })
}

fn ports_json(ports: &[Port]) -> Json {
    ports
        .iter()
        .map(|p| json!({"name": p.name, "value": p.value.index(), "i64": p.wide == crate::Wide::I64, "wide": p.wide.marker()}))
        .collect()
}

fn def_json(def: &ValueDef) -> Json {
    match def {
        ValueDef::Input(i) => json!({"kind": "input", "port": i}),
        ValueDef::Node { node, output } => {
            json!({"kind": "node", "node": node.index(), "output": output})
        }
        ValueDef::Const(t) => const_json(t),
    }
}

fn const_json(t: &Tensor) -> Json {
    let numel = t
        .shape()
        .dims()
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d));
    let mut obj = json!({
        "kind": "const",
        "splat": t.is_splat(),
        "stored": t.stored().len(),
        "numel": numel,
    });
    if t.is_splat() {
        obj["value"] = first_element(t.stored());
    }
    obj
}

fn first_element(data: &Data) -> Json {
    match data {
        Data::F32(v) => v.first().map_or(Json::Null, |&x| float_json(x)),
        Data::F16(v) => v.first().map_or(Json::Null, |&x| float_json(x.to_f32())),
        Data::Bool(v) => json!(v.first()),
        d if d.dtype().is_int() => json!(d.to_i64_vec().and_then(|v| v.first().copied())),
        // Minifloats: their value.
        d => d
            .to_f64_vec()
            .first()
            .map_or(Json::Null, |&x| float_json(x as f32)),
    }
}

/// A float as its shortest decimal (0.1f32 is `0.1`, not `0.10000000149011612`).
fn float_json(x: f32) -> Json {
    let text = fmt_f32(x);
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => json!(f),
        _ => Json::String(text),
    }
}

fn attrs_json(op: &Op) -> Map<String, Json> {
    attributes(op)
        .into_iter()
        .map(|(k, v)| (k.to_string(), attr_json(&v)))
        .collect()
}

fn attr_json(value: &AttrValue) -> Json {
    match value {
        AttrValue::UInt(v) => json!(v),
        AttrValue::Float(v) => float_json(*v),
        AttrValue::Bool(v) => json!(v),
        AttrValue::UInts(v) => json!(v),
        AttrValue::Ints(v) => json!(v),
        AttrValue::Floats(v) => v.iter().map(|&x| float_json(x)).collect(),
        AttrValue::Word(w) => json!(w),
        AttrValue::Op(op) => json!({"op": op.name(), "attributes": attrs_json(op)}),
        AttrValue::Program(p) => p.steps.iter().map(|s| json!(s.to_string())).collect(),
    }
}
