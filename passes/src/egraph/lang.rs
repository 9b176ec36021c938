//! The e-graph language: IR ops as e-node payloads, graph inputs and constants as leaves.
//!
//! An e-node is `Op(IrOp, children)`: result `IrOp::result` of the IR op applied to
//! the child e-classes, or a leaf naming a graph input or a constant of the constant
//! table (weights stay in the table, referenced by index). Operator names are the IR
//! text syntax, so patterns read `(relu (add ?a ?b))` and attributes are written as in
//! the IR text without spaces: `(hard_sigmoid{alpha=0.16666667,beta=0.5} ?x)`.

use egg::{define_language, Id};
use kiln_ir::Op;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::Arc;

define_language! {
    /// kiln's e-graph language.
    pub enum Kiln {
        Input(InputLeaf),
        Const(ConstLeaf),
        Op(IrOp, Vec<Id>),
    }
}

/// A graph input, by port index; written `%in0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InputLeaf(pub usize);

/// A constant, by index into the analysis' constant table; written `%c3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConstLeaf(pub usize);

/// An IR op with the index of the result an e-node stands for. Compared and hashed by a
/// canonical text key (attributes include f32s, so [`Op`] itself is not `Eq`/`Hash`);
/// cloning is cheap.
#[derive(Clone)]
pub struct IrOp(Arc<Inner>);

struct Inner {
    op: Op,
    result: usize,
    key: String,
}

impl IrOp {
    /// Result `result` of `op`.
    pub fn new(op: Op, result: usize) -> IrOp {
        // `Debug` prints every attribute exactly (f32s in round-trip form), including
        // the programs of fused ops.
        let key = format!("{op:?}#{result}");
        IrOp(Arc::new(Inner { op, result, key }))
    }

    /// The op.
    pub fn op(&self) -> &Op {
        &self.0.op
    }

    /// Which result of the op this e-node stands for.
    pub fn result(&self) -> usize {
        self.0.result
    }

    /// The key of the op without the result index: e-nodes with equal `group_key` and
    /// children are results of one IR node.
    pub fn group_key(&self) -> &str {
        let key = &self.0.key;
        key.rfind('#').map_or(key.as_str(), |i| &key[..i])
    }
}

impl PartialEq for IrOp {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.key == other.0.key
    }
}
impl Eq for IrOp {}
impl PartialOrd for IrOp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for IrOp {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.key.cmp(&other.0.key)
    }
}
impl Hash for IrOp {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.key.hash(state)
    }
}

impl fmt::Debug for IrOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for IrOp {
    /// The IR op text without spaces (an s-expression atom), `#k` for result `k > 0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text: String = kiln_ir::print::op_text(&self.0.op)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        f.write_str(&text)?;
        if self.0.result > 0 {
            write!(f, "#{}", self.0.result)?;
        }
        Ok(())
    }
}

impl FromStr for IrOp {
    type Err = String;

    /// Op text as the IR parser reads it (`relu`, `transpose{perm=[1,0]}`), with an
    /// optional `#k` result suffix.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (text, result) = match s.rsplit_once('#') {
            Some((text, k)) => (text, k.parse::<usize>().map_err(|e| e.to_string())?),
            None => (s, 0),
        };
        if text.is_empty() || text.starts_with(['%', '?', '"']) || text.contains('\n') {
            return Err(format!("`{s}` is not an op"));
        }
        // Parse through the IR parser: a node with no operands and no results.
        let graph = kiln_ir::parse::parse(&format!("graph \"op\" {{\n () = {text}()\n}}\n"))
            .map_err(|e| e.to_string())?;
        let op = graph
            .nodes
            .iter()
            .next()
            .map(|(_, node)| node.op.clone())
            .ok_or_else(|| format!("`{s}` is not an op"))?;
        Ok(IrOp::new(op, result))
    }
}

impl fmt::Display for InputLeaf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%in{}", self.0)
    }
}

impl FromStr for InputLeaf {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.strip_prefix("%in")
            .and_then(|n| n.parse().ok())
            .map(InputLeaf)
            .ok_or_else(|| format!("`{s}` is not an input leaf"))
    }
}

impl fmt::Display for ConstLeaf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%c{}", self.0)
    }
}

impl FromStr for ConstLeaf {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.strip_prefix("%c")
            .and_then(|n| n.parse().ok())
            .map(ConstLeaf)
            .ok_or_else(|| format!("`{s}` is not a constant leaf"))
    }
}

impl Kiln {
    /// The IR op of an op e-node.
    pub fn ir_op(&self) -> Option<&IrOp> {
        match self {
            Kiln::Op(op, _) => Some(op),
            _ => None,
        }
    }
}
