//! The e-class analysis: dtype and shape, constness, small constant values (folded
//! through the reference interpreter) and the constant table the leaves index.

use super::lang::{ConstLeaf, Kiln};
use egg::{Analysis, DidMerge, Id};
use kiln_ir::{
    infer::infer, interp::eval_op, Data as TensorData, KernelTarget, Op, Tensor, TensorType,
};
use std::collections::HashMap;
use std::sync::Arc;

/// The e-graph type of the optimizer.
pub type EGraph = egg::EGraph<Kiln, KilnAnalysis>;

/// Values with at most this many elements are known to the analysis and folded.
pub const SMALL: usize = 64;

/// Folding reads operands of at most this many elements.
const FOLD_OPERAND_MAX: usize = 4096;

/// Facts about every value of an e-class.
#[derive(Debug, Clone)]
pub struct Data {
    /// The type; `None` only when an e-node's operands do not fit its op (the e-node
    /// can then never be extracted).
    pub ty: Option<TensorType>,
    /// The value, when it is a constant of at most [`SMALL`] elements or a splat.
    pub value: Option<Tensor>,
    /// Computed from constants only.
    pub constant: bool,
    /// How many node operands and graph outputs read the value in the source graph
    /// (`None` for values the rules created).
    pub uses: Option<usize>,
}

/// The analysis state: the kernel target the rules ask about kernels, graph input
/// types, the constant table, memoized derived constants, and the first type
/// conflict a union ran into (a rule bug).
#[derive(Debug)]
pub struct KilnAnalysis {
    pub target: Arc<dyn KernelTarget>,
    pub inputs: Vec<TensorType>,
    pub consts: Vec<Tensor>,
    /// Constant-table index of a value derived at compile time, by a recipe key
    /// (`bn-fold:...`) or, for small values, by the value itself.
    pub memo: HashMap<String, usize>,
    pub conflict: Option<String>,
    /// The e-classes of the graph outputs.
    pub roots: Vec<Id>,
}

impl KilnAnalysis {
    /// An empty analysis for a graph with `inputs`, asking `target` about kernels.
    pub fn new(target: Arc<dyn KernelTarget>, inputs: Vec<TensorType>) -> Self {
        KilnAnalysis {
            target,
            inputs,
            consts: Vec::new(),
            memo: HashMap::new(),
            conflict: None,
            roots: Vec::new(),
        }
    }

    /// Adds `tensor` to the constant table under `key` (or finds the entry made before).
    pub fn intern(&mut self, key: String, tensor: impl FnOnce() -> Tensor) -> usize {
        if let Some(&i) = self.memo.get(&key) {
            return i;
        }
        self.consts.push(tensor());
        let i = self.consts.len() - 1;
        self.memo.insert(key, i);
        i
    }
}

/// The value an analysis knows for a constant: small or splat tensors only.
fn known(t: &Tensor) -> Option<Tensor> {
    (t.is_splat() || t.numel() <= SMALL).then(|| t.clone())
}

/// The memo key of a small constant value.
pub fn value_key(t: &Tensor) -> String {
    format!("value:{}:{}:{:?}", t.ty(), t.is_splat(), t.stored())
}

fn fold(op: &Op, result: usize, children: &[&Data], types: &[&TensorType]) -> Option<Tensor> {
    if let Op::Shape { start, end } = op {
        let dims = &types.first()?.shape.dims().get(*start..*end)?;
        let v: Option<Vec<i32>> = dims.iter().map(|&d| i32::try_from(d).ok()).collect();
        return Tensor::from_i32(vec![dims.len()], v?).ok();
    }
    let values: Option<Vec<&Tensor>> = children.iter().map(|d| d.value.as_ref()).collect();
    let values = values?;
    if values.iter().any(|t| t.numel() > FOLD_OPERAND_MAX) {
        return None;
    }
    let out_types = infer(op, types).ok()?;
    if out_types.get(result)?.shape.numel() > SMALL {
        return None;
    }
    let out = eval_op(op, &values, &out_types[..=result]).ok()?;
    out.into_iter().nth(result)
}

impl Analysis<Kiln> for KilnAnalysis {
    type Data = Data;

    fn make(egraph: &mut EGraph, enode: &Kiln) -> Data {
        match enode {
            Kiln::Input(i) => Data {
                ty: egraph.analysis.inputs.get(i.0).cloned(),
                value: None,
                constant: false,
                uses: None,
            },
            Kiln::Const(c) => {
                let t = egraph.analysis.consts.get(c.0);
                Data {
                    ty: t.map(|t| t.ty()),
                    value: t.and_then(known),
                    constant: true,
                    uses: None,
                }
            }
            Kiln::Op(op, children) => {
                let data: Vec<&Data> = children.iter().map(|&c| &egraph[c].data).collect();
                let types: Option<Vec<&TensorType>> = data.iter().map(|d| d.ty.as_ref()).collect();
                let Some(types) = types else {
                    return Data {
                        ty: None,
                        value: None,
                        constant: false,
                        uses: None,
                    };
                };
                let ty = infer(op.op(), &types)
                    .ok()
                    .and_then(|mut t| (op.result() < t.len()).then(|| t.swap_remove(op.result())));
                let constant = data.iter().all(|d| d.constant);
                let value = match ty {
                    Some(_) => fold(op.op(), op.result(), &data, &types),
                    None => None,
                };
                let constant = constant || value.is_some();
                Data {
                    ty,
                    value,
                    constant,
                    uses: None,
                }
            }
        }
    }

    fn merge(&mut self, a: &mut Data, b: Data) -> DidMerge {
        let mut changed_a = false;
        let mut changed_b = false;
        match (&a.ty, &b.ty) {
            (None, Some(_)) => {
                a.ty = b.ty.clone();
                changed_a = true;
            }
            (Some(_), None) => changed_b = true,
            (Some(x), Some(y)) if x != y && self.conflict.is_none() => {
                self.conflict = Some(format!("a rule equated a {x} value with a {y} value"));
            }
            _ => {}
        }
        match (&a.value, &b.value) {
            (None, Some(_)) => {
                a.value = b.value.clone();
                changed_a = true;
            }
            (Some(_), None) => changed_b = true,
            (Some(x), Some(y)) if !same_bits(x, y) && self.conflict.is_none() => {
                self.conflict = Some(format!(
                    "a rule equated two different constants, {} and {}",
                    summary(x),
                    summary(y)
                ));
            }
            _ => {}
        }
        if a.constant != b.constant {
            changed_a |= !a.constant;
            changed_b |= a.constant;
            a.constant = true;
        }
        let uses = match (a.uses, b.uses) {
            (Some(x), Some(y)) => Some(x.max(y)),
            (x, y) => x.or(y),
        };
        changed_a |= uses != a.uses;
        changed_b |= uses != b.uses;
        a.uses = uses;
        DidMerge(changed_a, changed_b)
    }

    fn modify(egraph: &mut EGraph, id: Id) {
        let Some(value) = egraph[id].data.value.clone() else {
            return;
        };
        if egraph[id].nodes.iter().any(|n| matches!(n, Kiln::Const(_))) {
            return;
        }
        let index = egraph.analysis.intern(value_key(&value), || value.clone());
        let leaf = egraph.add(Kiln::Const(ConstLeaf(index)));
        egraph.union(id, leaf);
    }
}

/// The single value of `id` as f64 when it is a constant whose elements are all equal.
pub fn uniform_value(egraph: &EGraph, id: Id) -> Option<f64> {
    let t = egraph[id].data.value.as_ref()?;
    let first = match t.stored() {
        TensorData::F32(v) => *v.first()? as f64,
        d => *d.to_f64_vec().first()?,
    };
    let all = t.is_splat() || t.stored().to_f64_vec().iter().all(|&x| x == first);
    all.then_some(first)
}

/// The type of e-class `id` (classes without one never match a rule).
pub fn ty(egraph: &EGraph, id: Id) -> Option<&TensorType> {
    egraph[id].data.ty.as_ref()
}

/// Whether two constants hold the same elements bit for bit (so NaNs of one payload
/// are equal, and 0.0 differs from -0.0).
fn same_bits(x: &Tensor, y: &Tensor) -> bool {
    let bits = |t: &Tensor| -> Vec<u64> { t.to_f64_vec().iter().map(|v| v.to_bits()).collect() };
    x.ty() == y.ty() && bits(x) == bits(y)
}

/// A constant's type and first few elements, for error messages.
fn summary(t: &Tensor) -> String {
    let head: Vec<String> = t
        .to_f64_vec()
        .iter()
        .take(4)
        .map(|v| v.to_string())
        .collect();
    let more = if t.numel() > 4 { ", ..." } else { "" };
    format!("{} [{}{more}]", t.ty(), head.join(", "))
}
