//! The epilogue of a `Fused` node as WGSL: `fn fused(x0: V, idx: u32) -> R` applies the
//! epilogue program to the anchor's value `x0` for output element `idx` (its linear
//! index in the result), reading the extra operands at their broadcast offsets of `idx`.
//!
//! Every anchor family calls [`Tail::of`] with the names it already binds operands
//! under, so an extra operand that is also an anchor operand (`x + relu(conv(x))`) is
//! read through the anchor's binding instead of being bound twice, and stores
//! `tail.apply(value, index)` instead of the value. For a node that is not `Fused` the
//! tail is the identity and changes nothing in the kernel.
//!
//! An f16 result is computed in f32 and rounded to f16 once per op, as the reference
//! does: the tail rounds the anchor's value of an f16 anchor (its own result, or the
//! epilogue program's `x0`), and the program rounds each f16 step (`expr`); with
//! `PlanOptions::f16_arithmetic`, natively (`elementwise/half.rs`).

use super::elementwise::index::{offsets_code, storage, Affine, BindingSet};
use super::elementwise::{half, math};
use super::program::{self, inline_constant};
use super::{range, Binding, NodeCtx, Slot};
use crate::plan::Access;
use crate::CodegenError;
use kiln_ir::{DType, Op};
use std::collections::BTreeSet;

/// The values an epilogue computes once per invocation (`k_epi_h{j}`), the function
/// computing them, and whether it has run.
const EPI_HOISTED: &str = "k_epi_h";
pub(super) const EPI_INIT: &str = "k_epilogue_init";
const EPI_READY: &str = "k_epi_ready";
/// The statement opening `fused` where it computes hoisted values: the init on the
/// first stored value, for kernels that do not run it first ([`eager`]).
const LAZY_INIT: &str = "    if !k_epi_ready {\n        k_epilogue_init();\n    }\n";

/// `helpers` for a kernel whose invocations run `k_epilogue_init()` first thing (the
/// product engines: [`super::prologue::init_call`]): `fused` without the test of
/// [`LAZY_INIT`] at every stored value, which on lavapipe cost 3–7% of the
/// dynamically quantized CNN's conv time.
pub fn eager(helpers: &str) -> String {
    helpers.replace(LAZY_INIT, "")
}

/// A compiled epilogue (or the identity).
#[derive(Clone, Debug)]
pub struct Tail {
    /// The `fn fused` definition (empty for the identity); math helpers are separate.
    pub function: String,
    /// Math helpers `function` calls (see [`math::helpers`]).
    pub helpers: BTreeSet<&'static str>,
    /// Operand buffers the epilogue reads that the anchor does not bind.
    pub inputs: Vec<EpilogueInput>,
    /// The dtype of the stored result.
    pub result: DType,
    identity: bool,
    /// Stored values also fold the result's range ([`super::range`]).
    fold: bool,
    /// An f16 anchor's value is rounded by a native conversion (`half::round`).
    native_f16: bool,
}

impl Tail {
    /// The tail of `ctx`'s node: its epilogue program when it is `Fused`, the identity
    /// otherwise. `bound` lists the anchor's operand bindings as (operand, WGSL name).
    /// Where the plan builder asks for it ([`NodeCtx::fold_range`]), the tail also folds
    /// the range of the stored values.
    pub fn of(ctx: &NodeCtx<'_>, bound: &[(usize, String)]) -> Result<Tail, CodegenError> {
        let mut tail = Tail::program(ctx, bound)?;
        tail.fold = range::wanted(ctx, tail.result);
        if ctx.f16_arithmetic && tail.function.is_empty() {
            tail.native_f16 = true;
            tail.helpers.remove("k_round_f16");
        }
        Ok(tail)
    }

    /// The tail of `ctx`'s node's epilogue program (the identity when not `Fused`).
    fn program(ctx: &NodeCtx<'_>, bound: &[(usize, String)]) -> Result<Tail, CodegenError> {
        let anchor = ctx.anchor_result()?;
        let Op::Fused { epilogue, .. } = &ctx.node().op else {
            return Ok(Tail::identity(anchor.dtype));
        };
        let round = anchor.dtype == DType::F16;
        let node = ctx.node();
        let arity = ctx.arity();
        let dims = anchor.shape.dims();
        let mut inputs: Vec<(String, DType)> = vec![("x0".to_string(), anchor.dtype)];
        let mut new_inputs: Vec<EpilogueInput> = Vec::new();
        let mut loads = String::new();
        let mut maps: Vec<(String, Affine)> = Vec::new();
        let mut decoders = BTreeSet::new();
        // Loads of the single-element operands, the same for every element.
        let mut fixed_loads = String::new();
        let mut fixed = vec![false];
        for i in arity..node.inputs.len() {
            let ty = ctx.operand(i);
            let x = format!("x{}", 1 + i - arity);
            inputs.push((x.clone(), ty.dtype));
            if let Some(lit) = inline_constant(ctx, i) {
                let load = format!("    let {x}: {} = {lit};\n", storage(ty.dtype));
                loads.push_str(&load);
                fixed_loads.push_str(&load);
                fixed.push(true);
                continue;
            }
            let one = ty.shape.numel() == 1;
            fixed.push(one);
            let buf = if let Some((_, name)) = bound
                .iter()
                .find(|(j, _)| node.inputs[*j] == node.inputs[i])
            {
                name.clone()
            } else if let Some(e) = new_inputs.iter().find(|e| match e.slot {
                Slot::Operand(j) => node.inputs[j] == node.inputs[i],
                _ => false,
            }) {
                e.name.clone()
            } else {
                let name = format!("ep{}", i - arity);
                new_inputs.push(EpilogueInput {
                    name: name.clone(),
                    dtype: ctx.binding_dtype(i, ty.dtype),
                    slot: Slot::Operand(i),
                });
                name
            };
            let a = ctx.operand_map(i, dims);
            let off = if a.is_identity(dims) {
                "idx".to_string()
            } else {
                maps.push((format!("o{}", i - arity), a));
                format!("o{}", i - arity)
            };
            let load = range::read(ctx, i, &buf, &off, &mut decoders);
            loads.push_str(&format!("    let {x} = {load};\n"));
            if one {
                let load = range::read(ctx, i, &buf, "0u", &mut decoders);
                fixed_loads.push_str(&format!("        let {x} = {load};\n"));
            }
        }
        let native = ctx.f16_arithmetic;
        // Steps reading only single-element operands are computed once per invocation
        // (a dynamically quantized layer's scale from its input's range, say), not once
        // per element.
        let (hoisted, varying) = epilogue.hoist_fixed(|k| !fixed.get(k).copied().unwrap_or(false));
        let values = program::hoisted(&hoisted, &mut inputs, EPI_HOISTED, &fixed_loads, native)
            .map_err(|r| ctx.error(r))?;
        let mut helpers = values.helpers;
        let mut once = String::new();
        if !hoisted.is_empty() {
            once = format!(
                "{}var<private> {EPI_READY}: bool = false;\nfn {EPI_INIT}() {{\n{}    {EPI_READY} = true;\n}}\n",
                values.vars, values.init
            );
            loads = format!("{LAZY_INIT}{loads}");
        }
        let code = program::code(&varying, &inputs, "    ", native).map_err(|r| ctx.error(r))?;
        // The anchor's own result is f16 before the epilogue reads it.
        let (param, x0) = if round {
            let x0 = format!("    let x0 = {};\n", half::round("k_anchor", native));
            ("k_anchor", x0)
        } else {
            ("x0", String::new())
        };
        helpers.extend(code.helpers);
        helpers.extend(decoders);
        if round && !native {
            helpers.insert("k_round_f16");
        }
        let map_refs: Vec<(&str, &Affine)> = maps.iter().map(|(n, a)| (n.as_str(), a)).collect();
        let offsets = if map_refs.is_empty() {
            String::new()
        } else {
            offsets_code("idx", dims, &map_refs, "e")
        };
        let function = format!(
            "{once}fn fused({param}: {}, idx: u32) -> {} {{\n{x0}{offsets}{loads}{}    return {};\n}}\n",
            storage(anchor.dtype),
            storage(code.dtype),
            code.body,
            code.result
        );
        Ok(Tail {
            function,
            helpers,
            inputs: new_inputs,
            result: code.dtype,
            identity: false,
            fold: false,
            native_f16: native,
        })
    }

    /// The tail that stores values unchanged (an f16 value rounded to f16).
    pub fn identity(dtype: DType) -> Tail {
        let round = dtype == DType::F16;
        Tail {
            function: String::new(),
            helpers: if round {
                BTreeSet::from(["k_round_f16"])
            } else {
                BTreeSet::new()
            },
            inputs: Vec::new(),
            result: dtype,
            identity: !round,
            fold: false,
            native_f16: false,
        }
    }

    /// True when the tail stores values unchanged.
    pub fn is_identity(&self) -> bool {
        self.identity && !self.fold
    }

    /// The WGSL expression storing `value` (of the anchor's storage type) as output
    /// element `idx` (a `u32` expression).
    pub fn apply(&self, value: &str, idx: &str) -> String {
        let stored = if self.identity {
            value.to_string()
        } else if self.function.is_empty() {
            // Not fused: an f16 result, rounded.
            half::round(value, self.native_f16)
        } else {
            format!("fused({value}, {idx})")
        };
        if self.fold {
            range::fold(&stored)
        } else {
            stored
        }
    }

    /// The WGSL storage type of the stored result.
    pub fn storage(&self) -> &'static str {
        storage(self.result)
    }

    /// Module-scope WGSL: the math helpers of `family` and of the tail (each once),
    /// then `fn fused`.
    pub fn module_code(&self, family: &BTreeSet<&'static str>) -> Result<String, CodegenError> {
        let mut all = family.clone();
        all.extend(self.helpers.iter().copied());
        let fold = if self.fold { range::FOLD } else { "" };
        Ok(format!("{}{}{fold}", math::helpers(&all)?, self.function))
    }

    /// Declarations of the tail's own inputs (and range words), from binding `first` on.
    pub fn decls(&self, first: usize) -> String {
        input_decls(&self.inputs, self.fold, first)
    }

    /// Bindings of the tail's own inputs (and range words).
    pub fn bindings(&self) -> impl Iterator<Item = Binding> + '_ {
        input_bindings(&self.inputs, self.fold)
    }

    /// Adds the tail's own inputs (and range words) to a kernel's binding set (after
    /// the anchor's).
    pub fn bind(&self, set: &mut BindingSet) {
        for input in &self.inputs {
            set.add_named(
                input.slot,
                Access::Read,
                storage(input.dtype),
                input.name.clone(),
            );
        }
        if self.fold {
            set.add(Slot::Range, Access::ReadWrite, "atomic<u32>");
        }
    }
}

/// A WGSL expression applied to every output value before it is stored: `v` is
/// the value, `row` and `col` its row (output channel for convolutions) and column,
/// `idx` its linear index in the result. Identity for plain ops; convolutions add
/// their bias here and `Fused` nodes their epilogue program.
#[derive(Clone, Debug, PartialEq)]
pub struct Epilogue {
    /// WGSL statements run first, in order; they may update `v` (e.g. add a bias).
    pub pre: Vec<String>,
    /// WGSL expression of the result's storage type over `v: f32`, `row: u32`,
    /// `col: u32` and `idx: u32`.
    pub expr: String,
    /// Extra read-only buffers the expression reads, bound after the kernel's own.
    pub inputs: Vec<EpilogueInput>,
    /// Module-scope WGSL the expression calls (helper functions).
    pub helpers: String,
    /// The dtype of the stored result (f32 unless an epilogue program changes it).
    pub result: DType,
    /// The expression folds the stored values' range: the range words are bound after
    /// the inputs ([`super::range`]).
    pub range: bool,
}

/// A buffer an epilogue reads, declared as `array<T>` named `name`.
#[derive(Clone, Debug, PartialEq)]
pub struct EpilogueInput {
    pub name: String,
    /// The dtype its binding is declared with (a narrow operand's words: see
    /// [`NodeCtx::binding_dtype`]).
    pub dtype: DType,
    pub slot: Slot,
}

impl Epilogue {
    /// Stores values unchanged.
    pub fn identity() -> Self {
        Epilogue {
            pre: Vec::new(),
            expr: "v".to_string(),
            inputs: Vec::new(),
            helpers: String::new(),
            result: DType::F32,
            range: false,
        }
    }

    /// The epilogue of a `Fused` node's program (see [`Tail`]) after `self`.
    pub fn then(mut self, tail: &Tail) -> Result<Self, CodegenError> {
        if tail.is_identity() {
            return Ok(self);
        }
        self.helpers.push_str(&tail.module_code(&BTreeSet::new())?);
        self.expr = tail.apply(&format!("({})", self.expr), "idx");
        self.inputs.extend(tail.inputs.iter().cloned());
        self.result = tail.result;
        self.range = tail.fold;
        Ok(self)
    }

    /// The WGSL storage type of the stored result.
    pub fn storage(&self) -> &'static str {
        super::wgsl_type(self.result)
    }

    /// The WGSL helpers and function `epilogue(v, row, col, idx)`.
    pub fn function(&self) -> String {
        let pre: String = self.pre.iter().map(|s| format!("    {s}\n")).collect();
        format!(
            "{}fn epilogue(value: f32, row: u32, col: u32, idx: u32) -> {} {{\n    var v = value;\n{pre}    return {};\n}}\n",
            self.helpers,
            self.storage(),
            self.expr
        )
    }

    /// Declarations of the extra inputs (and range words), starting at binding `first`.
    pub fn decls(&self, first: usize) -> String {
        input_decls(&self.inputs, self.range, first)
    }

    /// Bindings of the extra inputs (and range words).
    pub fn bindings(&self) -> impl Iterator<Item = Binding> + '_ {
        input_bindings(&self.inputs, self.range)
    }
}

/// `var<storage, read>` declarations of epilogue `inputs`, from binding `first` on,
/// and, when `words`, of the range words after them.
fn input_decls(inputs: &[EpilogueInput], words: bool, first: usize) -> String {
    let mut decls: String = inputs
        .iter()
        .enumerate()
        .map(|(i, input)| {
            format!(
                "@group(0) @binding({}) var<storage, read> {}: array<{}>;\n",
                first + i,
                input.name,
                storage(input.dtype)
            )
        })
        .collect();
    if words {
        decls.push_str(&range::decl(first + inputs.len()));
    }
    decls
}

/// The bindings of epilogue `inputs`, and, when `words`, of the range words after them
/// (in [`input_decls`] order).
fn input_bindings(inputs: &[EpilogueInput], words: bool) -> impl Iterator<Item = Binding> + '_ {
    let range = words.then(range::binding);
    inputs.iter().map(|i| Binding::read(i.slot)).chain(range)
}
