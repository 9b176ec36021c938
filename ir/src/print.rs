//! The IR text printer; [`crate::parse`] reads its output back to an equal graph.
//!
//! The syntax, one item per line, in the order the printer writes them:
//!
//! ```text
//! graph "name" {
//!   input %v0 "x" : f32[1,3,8,8]
//!   input %v1 "idx" : i32[3] (i64)
//!   const %v2 "w" : f32[4,3,3,3] = splat(0.01)
//!   const %v3 : i32[3] = [1, 2, -3]
//!   %v4 "y" = conv{strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1}(%v0, %v2) : f32[1,4,8,8] @"conv1"
//!   %v5, %v6 = split{axis=1, sizes=[2,2]}(%v4) : f32[1,2,8,8], f32[1,2,8,8]
//!   output "y" = %v4
//! }
//! ```
//!
//! Inputs come first in port order (the value name doubles as the port name unless a
//! `port "name"` clause follows), then constants in arena order, then nodes in
//! execution order, then outputs in port order. Values keep their arena index (`%v4`
//! is arena slot 4). Every attribute of an op is printed (see [`attributes`]); floats
//! use Rust's shortest round-trip form, with `nan`, `inf` and `-inf`. A node with no
//! results prints `() = op(...)`; `@"name"` is omitted for unnamed nodes. `//` starts
//! a comment.
//!
//! Fused ops print their anchors and programs inside their attributes:
//!
//! ```text
//! %v5 = elementwise{program=[in0, in1, add(%0,%1), const(f32 0.5), mul(%2,%3), relu(%4)]}(%v0, %v1) : f32[2,3]
//! %v6 = fused{anchor=conv{strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1}, arity=2, epilogue=[in0, in1, add(%0,%1), relu(%2)]}(%v0, %v2, %v3) : f32[1,4,8,8]
//! %v7 = attention{scale=0.125}(%v0, %v1, %v2, %v3) : f32[2,4,16,8]
//! ```
//!
//! In a program step `i` is the `i`-th list entry and `%i` reads it; `inK` is program
//! input `K` (for an epilogue, `in0` is the anchor's result and `in1..` the operands
//! after the anchor's); `const(DTYPE VALUE)` is a constant; other steps are unary,
//! binary, `where` and `cast` ops in their op text (`leaky_relu{alpha=0.01}(%2)`).
//! Constants are written in their dtype: `const(f16 0.099975586)`, `const(i32 -3)`,
//! `const(bool true)`; floats in the shortest form that reads back to the same value
//! (an f16 constant is rounded to f16 when read). [`expression`] renders a program as
//! nested calls for readers (DOT, JSON).

mod attrs;
mod program;

pub use attrs::{attributes, fmt_f32, AttrValue};
pub(crate) use attrs::{
    from_word, ARG, COORD_TRANSFORMS, DEPTH_TO_SPACE_MODES, NEAREST_MODES, PAD_MODES, PLAIN_UNARY,
    REDUCE, RESIZE_MODES, SCATTER_REDUCTIONS,
};
pub use program::{expression, op_expression};

use crate::{Data, Graph, Handle, Node, Op, Port, Tensor, Value, ValueDef};
use std::fmt::Write;

/// How to print constants.
#[derive(Clone, Debug, Default)]
pub struct PrintOptions {
    /// Print non-splat constants with more elements than this as an elided summary
    /// (which does not parse back). `None` prints every constant in full.
    pub elide_constants_over: Option<usize>,
}

/// The text form of `graph`, every constant in full (parses back to an equal graph).
pub fn print(graph: &Graph) -> String {
    print_with(graph, &PrintOptions::default())
}

/// The text form of `graph` under `options`. Never panics, even on a graph that fails
/// [`crate::verify`]; parts that cannot be printed faithfully become `//` comments.
pub fn print_with(graph: &Graph, options: &PrintOptions) -> String {
    let mut out = String::new();
    let p = Printer { graph, options };
    let _ = writeln!(out, "graph {} {{", quote(&graph.name));
    for (i, port) in graph.inputs.iter().enumerate() {
        p.input(&mut out, i, port);
    }
    for (handle, value) in graph.values.iter() {
        match &value.def {
            ValueDef::Const(tensor) => p.constant(&mut out, handle, value, tensor),
            ValueDef::Input(i) => {
                if graph.inputs.get(*i).map(|port| port.value) != Some(handle) {
                    let _ = writeln!(
                        out,
                        "  // %v{} is input {i}, which no input port holds",
                        handle.index()
                    );
                }
            }
            ValueDef::Node { .. } => {}
        }
    }
    for (_, node) in graph.nodes.iter() {
        p.node(&mut out, node);
    }
    for port in &graph.outputs {
        let _ = write!(
            out,
            "  output {} = %v{}",
            quote(&port.name),
            port.value.index()
        );
        if port.wide.is_wide() {
            let _ = write!(out, " ({})", port.wide);
        }
        out.push('\n');
    }
    for e in &graph.extents {
        let _ = writeln!(
            out,
            "  extent output {} axis {} count {}",
            e.output, e.axis, e.count
        );
    }
    out.push_str("}\n");
    out
}

struct Printer<'a> {
    graph: &'a Graph,
    options: &'a PrintOptions,
}

impl Printer<'_> {
    fn value(&self, handle: Handle<Value>) -> Option<&Value> {
        self.graph.values.get(handle)
    }

    fn ty(&self, handle: Handle<Value>) -> String {
        self.value(handle)
            .map_or_else(|| "?".to_string(), |v| v.ty.to_string())
    }

    /// `%v3` followed by ` "name"` when the value has a name.
    fn def(&self, handle: Handle<Value>) -> String {
        match self.value(handle).and_then(|v| v.name.as_ref()) {
            Some(name) => format!("%v{} {}", handle.index(), quote(name)),
            None => format!("%v{}", handle.index()),
        }
    }

    fn input(&self, out: &mut String, index: usize, port: &Port) {
        let Port { name, value, wide } = port;
        let Some(v) = self.value(*value) else {
            let _ = writeln!(
                out,
                "  // input {index} {} holds %v{}, which does not exist",
                quote(name),
                value.index()
            );
            return;
        };
        let _ = write!(out, "  input %v{}", value.index());
        let port_clause = match &v.name {
            Some(n) if n == name => {
                let _ = write!(out, " {}", quote(n));
                false
            }
            Some(n) => {
                let _ = write!(out, " {}", quote(n));
                true
            }
            None => true,
        };
        let _ = write!(out, " : {}", v.ty);
        if wide.is_wide() {
            let _ = write!(out, " ({wide})");
        }
        if port_clause {
            let _ = write!(out, " port {}", quote(name));
        }
        out.push('\n');
    }

    fn constant(&self, out: &mut String, handle: Handle<Value>, value: &Value, tensor: &Tensor) {
        let _ = write!(out, "  const {} : {} = ", self.def(handle), value.ty);
        if tensor.is_splat() {
            let _ = writeln!(out, "splat({})", elements(tensor.stored()).join(", "));
        } else if self
            .options
            .elide_constants_over
            .is_some_and(|n| tensor.stored().len() > n)
        {
            let _ = writeln!(out, "<elided {} values>", tensor.stored().len());
        } else {
            let _ = writeln!(out, "[{}]", elements(tensor.stored()).join(", "));
        }
    }

    fn node(&self, out: &mut String, node: &Node) {
        let Node {
            op,
            inputs,
            outputs,
            name,
        } = node;
        out.push_str("  ");
        if outputs.is_empty() {
            out.push_str("()");
        } else {
            let defs: Vec<String> = outputs.iter().map(|&h| self.def(h)).collect();
            out.push_str(&defs.join(", "));
        }
        let _ = write!(out, " = {}", op_text(op));
        let operands: Vec<String> = inputs.iter().map(|h| format!("%v{}", h.index())).collect();
        let _ = write!(out, "({})", operands.join(", "));
        if !outputs.is_empty() {
            let types: Vec<String> = outputs.iter().map(|&h| self.ty(h)).collect();
            let _ = write!(out, " : {}", types.join(", "));
        }
        if !name.is_empty() {
            let _ = write!(out, " @{}", quote(name));
        }
        out.push('\n');
    }
}

/// The op name with its attributes: `conv{strides=[1,1], ..., group=1}`, or just the
/// name for ops without attributes.
pub fn op_text(op: &Op) -> String {
    let attrs = attributes(op);
    if attrs.is_empty() {
        return op.name().to_string();
    }
    let list: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{}{{{}}}", op.name(), list.join(", "))
}

/// Each stored element in its text form.
pub(crate) fn elements(data: &Data) -> Vec<String> {
    match data {
        Data::F32(v) => v.iter().map(|&x| fmt_f32(x)).collect(),
        Data::F16(v) => v.iter().map(|&x| fmt_f32(x.to_f32())).collect(),
        Data::Bool(v) => v.iter().map(|x| x.to_string()).collect(),
        Data::F8E4M3FN(_)
        | Data::F8E5M2(_)
        | Data::F4E2M1(_)
        | Data::F8E4M3FNUZ(_)
        | Data::F8E5M2FNUZ(_) => data
            .to_f64_vec()
            .into_iter()
            .map(|x| fmt_f32(x as f32))
            .collect(),
        d => d
            .to_i64_vec()
            .expect("integer data")
            .iter()
            .map(|x| x.to_string())
            .collect(),
    }
}

/// `s` in double quotes, with `"`, `\` and control characters escaped.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
