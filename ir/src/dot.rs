//! Graphviz DOT output of a graph.
//!
//! Inputs are `invhouse` shapes, constants `note`s, nodes boxes labelled with the op
//! name and its attributes, outputs `house`s; each edge carries the value (`%v4`) and
//! its type. A fused op shows its anchor with the anchor's attributes and its program
//! as a nested expression (`epilogue: relu(add(conv, in1))`), never shortened. Never
//! panics, even for graphs that fail [`crate::verify`].

use crate::print::{attributes, elements, op_expression, AttrValue};
use crate::{Graph, Op, ValueDef};
use std::fmt::Write;

/// Attribute values longer than this are shortened in node labels.
const MAX_ATTR_CHARS: usize = 40;

/// The graph as a DOT digraph.
pub fn to_dot(graph: &Graph) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", dot_str(&graph.name));
    out.push_str("  node [fontname=\"monospace\"];\n");
    out.push_str("  edge [fontname=\"monospace\", fontsize=10];\n");
    for (handle, value) in graph.values.iter() {
        let title = match &value.def {
            ValueDef::Input(i) => {
                let port = graph.inputs.get(*i).map_or("?", |p| p.name.as_str());
                format!("input {port}")
            }
            ValueDef::Const(t) => {
                let kind = if t.is_splat() {
                    format!("splat({})", elements(t.stored()).join(", "))
                } else {
                    "const".to_string()
                };
                let name = value.name.as_deref().unwrap_or("");
                format!("{kind} {name}").trim_end().to_string()
            }
            ValueDef::Node { .. } => continue,
        };
        let shape = if matches!(value.def, ValueDef::Input(_)) {
            "invhouse"
        } else {
            "note"
        };
        let label = format!("{title}\n%v{} : {}", handle.index(), value.ty);
        let _ = writeln!(
            out,
            "  v{} [shape={shape}, label={}];",
            handle.index(),
            dot_str(&label)
        );
    }
    for (handle, node) in graph.nodes.iter() {
        let mut label = node.op.name().to_string();
        if !node.name.is_empty() {
            let _ = write!(label, " \"{}\"", node.name);
        }
        attribute_lines(&node.op, &mut label);
        let _ = writeln!(
            out,
            "  n{} [shape=box, label={}];",
            handle.index(),
            dot_str(&label)
        );
        for &v in &node.inputs {
            edge(&mut out, graph, v, &format!("n{}", handle.index()));
        }
    }
    for (i, port) in graph.outputs.iter().enumerate() {
        let label = format!("output {}", port.name);
        let _ = writeln!(out, "  o{i} [shape=house, label={}];", dot_str(&label));
        edge(&mut out, graph, port.value, &format!("o{i}"));
    }
    out.push_str("}\n");
    out
}

/// An edge from whatever defines `value` to `to`, labelled `%v4 : f32[1,3]`.
fn edge(out: &mut String, graph: &Graph, value: crate::Handle<crate::Value>, to: &str) {
    let Some(v) = graph.values.get(value) else {
        let _ = writeln!(
            out,
            "  // {to} reads %v{}, which does not exist",
            value.index()
        );
        return;
    };
    let from = match v.def {
        ValueDef::Node { node, .. } => format!("n{}", node.index()),
        _ => format!("v{}", value.index()),
    };
    let label = format!("%v{} : {}", value.index(), v.ty);
    let _ = writeln!(out, "  {from} -> {to} [label={}];", dot_str(&label));
}

/// One line per attribute of `op`: `key=value` (long values shortened), an anchor as
/// `anchor=conv` followed by its own attributes, a program as its expression lines.
fn attribute_lines(op: &Op, label: &mut String) {
    for (key, value) in attributes(op) {
        match value {
            AttrValue::Op(anchor) => {
                let _ = write!(label, "\n{key}={}", anchor.name());
                attribute_lines(&anchor, label);
            }
            AttrValue::Program(_) => {
                for line in op_expression(op).unwrap_or_default() {
                    let _ = write!(label, "\n{key}: {line}");
                }
            }
            value => {
                let _ = write!(label, "\n{key}={}", short(&value));
            }
        }
    }
}

fn short(value: &AttrValue) -> String {
    let s = value.to_string();
    if s.chars().count() <= MAX_ATTR_CHARS {
        return s;
    }
    let head: String = s.chars().take(MAX_ATTR_CHARS - 3).collect();
    format!("{head}...")
}

/// A DOT string literal; `\n` in `s` becomes a centred line break.
fn dot_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
