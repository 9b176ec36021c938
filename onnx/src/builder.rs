//! The import state (graph under construction, known values) and the per-node
//! lowering context [`Cx`] that op lowerings are written against.

use crate::error::{display_name, ImportError};
use crate::fold;
use crate::known::Known;
use crate::proto::{attr_type, AttributeProto, FunctionProto, NodeProto};
use kiln_ir::{BinaryOp, DType, Data, Graph, Handle, Op, Tensor, TensorType, UnaryOp, Value};
use std::collections::HashMap;
use std::rc::Rc;

/// Largest value (in elements) evaluated at import time.
const FOLD_LIMIT: usize = 1 << 16;

/// Largest element count of any value kiln imports; also bounds every dim, and the
/// product of a value's non-zero dims (so no product of its dims overflows).
pub(crate) const MAX_ELEMENTS: usize = 1 << 40;

/// Largest entry of a size-like attribute (strides, pads, kernel, dilations, ...).
pub(crate) const MAX_ATTR: usize = 1 << 20;

/// The element count of `dims` when the product of its non-zero dims is at most
/// [`MAX_ELEMENTS`]; `None` otherwise.
pub(crate) fn checked_numel(dims: &[usize]) -> Option<usize> {
    let mut nonzero: usize = 1;
    for &d in dims {
        nonzero = nonzero
            .checked_mul(d.max(1))
            .filter(|&n| n <= MAX_ELEMENTS)?;
    }
    Some(if dims.contains(&0) { 0 } else { nonzero })
}

/// ONNX value names in scope → IR values.
pub(crate) type Scope = HashMap<String, Handle<Value>>;

/// Import state shared by all nodes.
pub(crate) struct Importer<'m> {
    pub graph: Graph,
    /// Exact contents of values known at import (constants, shapes, small folds).
    known: HashMap<Handle<Value>, Rc<Known>>,
    /// Constants whose int64 values were saturated to fit i32; an error if still used
    /// by the graph when import ends.
    pub saturated: Vec<(Handle<Value>, String)>,
    /// Model-local functions by (domain, name).
    pub functions: HashMap<(String, String), &'m FunctionProto>,
    /// Opset versions of the model, by domain (`""` for ai.onnx).
    pub opsets: HashMap<String, i64>,
    /// ONNX nodes lowered so far (inlined function bodies and unrolled loop
    /// iterations counted each time).
    pub lowered: usize,
    /// Values the model types bfloat16 (computed as f32, see [`crate::bf16`]); `true`
    /// when the value holds bfloat16 values exactly.
    pub bf16: HashMap<Handle<Value>, bool>,
    /// Results whose length depends on the data (NonZero, Compress), in node order.
    pub dynamic: Vec<Dynamic>,
}

/// A result whose length along `axis` is the value of `count` (see
/// [`kiln_ir::Extent`]): allowed only as a graph output.
pub(crate) struct Dynamic {
    pub value: Handle<Value>,
    pub count: Handle<Value>,
    pub axis: usize,
    /// `name (OpType)`, for the error when another node reads it.
    pub node: String,
}

impl<'m> Importer<'m> {
    pub(crate) fn new(name: &str) -> Self {
        Importer {
            graph: Graph::new(name),
            known: HashMap::new(),
            saturated: Vec::new(),
            functions: HashMap::new(),
            opsets: HashMap::new(),
            lowered: 0,
            bf16: HashMap::new(),
            dynamic: Vec::new(),
        }
    }

    /// The known contents of `v`, if any (small constants are converted on demand).
    pub(crate) fn known_of(&mut self, v: Handle<Value>) -> Option<Rc<Known>> {
        if let Some(k) = self.known.get(&v) {
            return Some(k.clone());
        }
        let t = self.graph.constant(v)?;
        if t.numel() > FOLD_LIMIT {
            return None;
        }
        let k = Rc::new(Known::from_tensor(t));
        self.known.insert(v, k.clone());
        Some(k)
    }

    /// Adds a constant holding `k`. Integers that do not fit the IR dtype saturate and
    /// are recorded, so that import fails if the graph still computes with them.
    pub(crate) fn add_known(
        &mut self,
        name: Option<String>,
        k: Known,
    ) -> Result<Handle<Value>, ImportError> {
        let label = name.clone().unwrap_or_else(|| "<constant>".into());
        let t = k.to_tensor().map_err(|e| ImportError::tensor(&label, e))?;
        let fits = k.fits();
        let v = self.graph.add_const(name, t);
        if !fits {
            self.saturated.push((v, label));
        }
        self.known.insert(v, Rc::new(k));
        Ok(v)
    }

    /// Adds a node and records the known contents of its results when every operand
    /// is known and small (or the op is `Shape`, whose result the types decide).
    pub(crate) fn add_node(
        &mut self,
        op: Op,
        inputs: &[Handle<Value>],
        num_outputs: Option<usize>,
        name: &str,
    ) -> Result<Vec<Handle<Value>>, kiln_ir::NodeError> {
        let outs = self.graph.add_node(op.clone(), inputs, num_outputs, name)?;
        if let Some(&big) = outs
            .iter()
            .find(|&&v| checked_numel(self.graph.ty(v).shape.dims()).is_none())
        {
            return Err(kiln_ir::NodeError {
                node: name.to_string(),
                op: op.name(),
                reason: format!(
                    "result {} is too large (kiln imports values of at most 2^40 elements)",
                    self.graph.ty(big)
                ),
            });
        }
        let mut knowns = Vec::new();
        let shape_op = matches!(op, Op::Shape { .. });
        for &v in inputs {
            if shape_op {
                let ty = self.graph.ty(v);
                knowns.push(Rc::new(Known::new(
                    ty.dtype,
                    ty.shape.dims().to_vec(),
                    crate::known::KData::Int(vec![]),
                )));
                continue;
            }
            match self.known_of(v) {
                Some(k) if k.numel() <= FOLD_LIMIT => knowns.push(k),
                _ => return Ok(outs),
            }
        }
        let out_types: Vec<TensorType> = outs.iter().map(|&v| self.graph.ty(v).clone()).collect();
        if out_types.iter().any(|t| t.shape.numel() > FOLD_LIMIT) {
            return Ok(outs);
        }
        let refs: Vec<&Known> = knowns.iter().map(|k| &**k).collect();
        if let Some(results) = fold::eval(&op, &refs, &out_types) {
            for (&v, k) in outs.iter().zip(results) {
                if k.numel() == self.graph.ty(v).shape.numel() {
                    self.known.insert(v, Rc::new(k));
                }
            }
        }
        Ok(outs)
    }
}

/// Lowering context of one ONNX node.
pub(crate) struct Cx<'a, 'm> {
    pub imp: &'a mut Importer<'m>,
    pub scope: &'a Scope,
    pub node: &'a NodeProto,
    /// The ai.onnx opset version in effect for this node.
    pub opset: i64,
}

impl Cx<'_, '_> {
    /// The node's name for messages (its first output when it has no name).
    pub(crate) fn node_name(&self) -> String {
        if !self.node.name.is_empty() {
            return self.node.name.clone();
        }
        display_name(self.node.output.first().map(String::as_str).unwrap_or(""))
    }

    /// An error about this node.
    pub(crate) fn err(&self, reason: impl Into<String>) -> ImportError {
        ImportError::Node {
            node: self.node_name(),
            op: self.node.op_type.clone(),
            reason: reason.into(),
        }
    }

    // ---- operands ----

    /// True when operand `i` is given (present and not the empty name).
    pub(crate) fn has(&self, i: usize) -> bool {
        self.node.input.get(i).is_some_and(|n| !n.is_empty())
    }

    /// The number of operand slots (including absent optional ones).
    pub(crate) fn num_inputs(&self) -> usize {
        self.node.input.len()
    }

    /// The number of results the model reads (trailing absent ones excluded).
    pub(crate) fn num_outputs(&self) -> usize {
        self.node
            .output
            .iter()
            .rposition(|n| !n.is_empty())
            .map_or(0, |i| i + 1)
    }

    /// Required operand `i`.
    pub(crate) fn input(&self, i: usize) -> Result<Handle<Value>, ImportError> {
        self.opt_input(i)?
            .ok_or_else(|| self.err(format!("operand #{i} is required")))
    }

    /// Optional operand `i`.
    pub(crate) fn opt_input(&self, i: usize) -> Result<Option<Handle<Value>>, ImportError> {
        if !self.has(i) {
            return Ok(None);
        }
        let name = &self.node.input[i];
        self.scope
            .get(name)
            .copied()
            .map(Some)
            .ok_or_else(|| self.err(format!("operand '{name}' is not defined before this node")))
    }

    /// All given operands, in order.
    pub(crate) fn inputs(&self) -> Result<Vec<Handle<Value>>, ImportError> {
        (0..self.num_inputs())
            .filter(|&i| self.has(i))
            .map(|i| self.input(i))
            .collect()
    }

    /// The known contents of operand `i`, or `None` when absent or not known.
    pub(crate) fn known(&mut self, i: usize) -> Result<Option<Rc<Known>>, ImportError> {
        match self.opt_input(i)? {
            Some(v) => Ok(self.imp.known_of(v)),
            None => Ok(None),
        }
    }

    fn not_static(&self, i: usize, role: &str) -> ImportError {
        self.err(format!(
            "{role} operand '{}' must be a constant or a specialised input; pass its value with --input",
            self.node.input[i]
        ))
    }

    /// The integer values of optional shape-like operand `i` (`None` when absent).
    pub(crate) fn opt_static_ints(
        &mut self,
        i: usize,
        role: &str,
    ) -> Result<Option<Vec<i64>>, ImportError> {
        if !self.has(i) {
            return Ok(None);
        }
        let k = self.known(i)?.ok_or_else(|| self.not_static(i, role))?;
        match k.as_ints() {
            Some(v) => Ok(Some(v.to_vec())),
            None => Err(self.err(format!(
                "{role} operand '{}' must be integer",
                self.node.input[i]
            ))),
        }
    }

    /// The integer values of required shape-like operand `i`.
    pub(crate) fn static_ints(&mut self, i: usize, role: &str) -> Result<Vec<i64>, ImportError> {
        self.opt_static_ints(i, role)?
            .ok_or_else(|| self.err(format!("{role} operand #{i} is required")))
    }

    /// The values of optional static operand `i` as f64 (`None` when absent).
    pub(crate) fn opt_static_floats(
        &mut self,
        i: usize,
        role: &str,
    ) -> Result<Option<Vec<f64>>, ImportError> {
        if !self.has(i) {
            return Ok(None);
        }
        let k = self.known(i)?.ok_or_else(|| self.not_static(i, role))?;
        Ok(Some(k.data.to_f64()))
    }

    // ---- types ----

    pub(crate) fn ty(&self, v: Handle<Value>) -> TensorType {
        self.imp.graph.ty(v).clone()
    }

    pub(crate) fn dims(&self, v: Handle<Value>) -> Vec<usize> {
        self.imp.graph.ty(v).shape.dims().to_vec()
    }

    pub(crate) fn rank(&self, v: Handle<Value>) -> usize {
        self.imp.graph.ty(v).shape.rank()
    }

    /// Normalizes a possibly negative axis against `rank`.
    pub(crate) fn axis(&self, axis: i64, rank: usize) -> Result<usize, ImportError> {
        let r = rank as i64;
        let a = if axis < 0 { axis + r } else { axis };
        if a < 0 || a >= r {
            return Err(self.err(format!("axis {axis} is out of range for rank {rank}")));
        }
        Ok(a as usize)
    }

    // ---- building ----

    /// Adds a single-result node.
    pub(crate) fn add(
        &mut self,
        op: Op,
        inputs: &[Handle<Value>],
    ) -> Result<Handle<Value>, ImportError> {
        Ok(self.add_n(op, inputs, Some(1))?[0])
    }

    /// Adds a node with its first `n` results (all when `None`).
    pub(crate) fn add_n(
        &mut self,
        op: Op,
        inputs: &[Handle<Value>],
        n: Option<usize>,
    ) -> Result<Vec<Handle<Value>>, ImportError> {
        let name = self.node_name();
        self.imp
            .add_node(op, inputs, n, &name)
            .map_err(|e| self.err(format!("{}: {}", e.op, e.reason)))
    }

    pub(crate) fn unary(
        &mut self,
        u: UnaryOp,
        x: Handle<Value>,
    ) -> Result<Handle<Value>, ImportError> {
        self.add(Op::Unary(u), &[x])
    }

    pub(crate) fn binary(
        &mut self,
        b: BinaryOp,
        x: Handle<Value>,
        y: Handle<Value>,
    ) -> Result<Handle<Value>, ImportError> {
        self.add(Op::Binary(b), &[x, y])
    }

    /// `x` reshaped to `dims` (no node when it already has them).
    pub(crate) fn reshape(
        &mut self,
        x: Handle<Value>,
        dims: Vec<usize>,
    ) -> Result<Handle<Value>, ImportError> {
        if self.dims(x) == dims {
            return Ok(x);
        }
        self.add(Op::Reshape { shape: dims }, &[x])
    }

    /// `x[start..start + len]` along `axis` (no node when that is all of `x`).
    pub(crate) fn slice_axis(
        &mut self,
        x: Handle<Value>,
        axis: usize,
        start: usize,
        len: usize,
    ) -> Result<Handle<Value>, ImportError> {
        if start == 0 && len == self.dims(x)[axis] {
            return Ok(x);
        }
        self.slice_strided(x, axis, start, 1, len)
    }

    /// `x[.., start + i·step, ..]` for `i < len` along `axis`.
    pub(crate) fn slice_strided(
        &mut self,
        x: Handle<Value>,
        axis: usize,
        start: usize,
        step: usize,
        len: usize,
    ) -> Result<Handle<Value>, ImportError> {
        let mut lens = self.dims(x);
        let mut starts = vec![0; lens.len()];
        let mut steps = vec![1i64; lens.len()];
        starts[axis] = start;
        steps[axis] = step as i64;
        lens[axis] = len;
        self.add(
            Op::Slice {
                starts,
                steps,
                lens,
            },
            &[x],
        )
    }

    /// `x` cast to `to` (no node when it already has that dtype).
    pub(crate) fn cast(
        &mut self,
        x: Handle<Value>,
        to: DType,
    ) -> Result<Handle<Value>, ImportError> {
        if self.ty(x).dtype == to {
            return Ok(x);
        }
        self.add(Op::Cast { to }, &[x])
    }

    /// A constant tensor.
    pub(crate) fn constant(&mut self, t: Tensor) -> Handle<Value> {
        self.imp.graph.add_const(None, t)
    }

    /// A constant holding known contents.
    pub(crate) fn known_const(&mut self, k: Known) -> Result<Handle<Value>, ImportError> {
        self.imp.add_known(None, k)
    }

    /// A rank-0 constant of `dtype` holding `v`.
    pub(crate) fn scalar(&mut self, dtype: DType, v: f64) -> Result<Handle<Value>, ImportError> {
        let t = Tensor::scalar(scalar_data(dtype, v)).map_err(|e| self.err(e.to_string()))?;
        Ok(self.constant(t))
    }

    /// A constant of `dtype` and `dims` holding `v` everywhere (one element stored).
    pub(crate) fn splat(
        &mut self,
        dtype: DType,
        dims: Vec<usize>,
        v: f64,
    ) -> Result<Handle<Value>, ImportError> {
        let t = Tensor::splat(dims, scalar_data(dtype, v)).map_err(|e| self.err(e.to_string()))?;
        Ok(self.constant(t))
    }

    // ---- attributes ----

    pub(crate) fn attr(&self, name: &str) -> Option<&AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == name)
    }

    fn check_type(&self, a: &AttributeProto, want: i32, what: &str) -> Result<(), ImportError> {
        if a.r#type != 0 && a.r#type != want {
            return Err(self.err(format!("attribute '{}' must be {what}", a.name)));
        }
        Ok(())
    }

    pub(crate) fn attr_i(&self, name: &str, default: i64) -> Result<i64, ImportError> {
        match self.attr(name) {
            Some(a) => self.check_type(a, attr_type::INT, "an int").map(|_| a.i),
            None => Ok(default),
        }
    }

    pub(crate) fn attr_f(&self, name: &str, default: f32) -> Result<f32, ImportError> {
        match self.attr(name) {
            Some(a) => self.check_type(a, attr_type::FLOAT, "a float").map(|_| a.f),
            None => Ok(default),
        }
    }

    pub(crate) fn attr_s(&self, name: &str) -> Result<Option<String>, ImportError> {
        match self.attr(name) {
            Some(a) => {
                self.check_type(a, attr_type::STRING, "a string")?;
                Ok(Some(String::from_utf8_lossy(&a.s).into_owned()))
            }
            None => Ok(None),
        }
    }

    pub(crate) fn attr_ints(&self, name: &str) -> Result<Option<Vec<i64>>, ImportError> {
        match self.attr(name) {
            Some(a) => self
                .check_type(a, attr_type::INTS, "a list of ints")
                .map(|_| Some(a.ints.clone())),
            None => Ok(None),
        }
    }

    pub(crate) fn attr_floats(&self, name: &str) -> Result<Option<Vec<f32>>, ImportError> {
        match self.attr(name) {
            Some(a) => self
                .check_type(a, attr_type::FLOATS, "a list of floats")
                .map(|_| Some(a.floats.clone())),
            None => Ok(None),
        }
    }

    pub(crate) fn attr_strings(&self, name: &str) -> Result<Option<Vec<String>>, ImportError> {
        match self.attr(name) {
            Some(a) => {
                self.check_type(a, attr_type::STRINGS, "a list of strings")?;
                Ok(Some(
                    a.strings
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect(),
                ))
            }
            None => Ok(None),
        }
    }

    /// Non-negative, size-like ints attribute as usize (entries at most [`MAX_ATTR`]).
    pub(crate) fn attr_usizes(&self, name: &str) -> Result<Option<Vec<usize>>, ImportError> {
        match self.attr_ints(name)? {
            Some(v) => v
                .iter()
                .map(|&x| {
                    let u = usize::try_from(x).map_err(|_| {
                        self.err(format!("attribute '{name}' has negative entry {x}"))
                    })?;
                    if u > MAX_ATTR {
                        return Err(self.err(format!(
                            "attribute '{name}' entry {x} is too large (at most {MAX_ATTR})"
                        )));
                    }
                    Ok(u)
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            None => Ok(None),
        }
    }
}

/// One element of `dtype` holding `v` (integers truncated, minifloats saturated).
fn scalar_data(dtype: DType, v: f64) -> Data {
    match dtype {
        DType::F32 => Data::F32(vec![v as f32]),
        DType::F16 => Data::F16(vec![half::f16::from_f64(v)]),
        d if d.is_int() || d == DType::Bool => {
            Data::from_i64s(d, std::iter::once(v as i64)).expect("an integer type")
        }
        d => {
            let f = kiln_ir::minifloat::Format::of(d).expect("a minifloat");
            Data::minifloats(d, vec![f.encode(v as f32, true)]).expect("a minifloat")
        }
    }
}
