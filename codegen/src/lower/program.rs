//! Element-wise programs in WGSL: each [`Step`] of a [`Program`] becomes `let sN = ...;`
//! through the elementwise lowering's expression generator, and `Op::Elementwise`
//! becomes one `elementwise.wgsl` kernel (one invocation per result element).

use super::elementwise::index::{storage, Affine, BindingSet};
use super::elementwise::{broadcast_offset, kernel};
use super::elementwise::{expr, half};
use super::placement::{OperandSet, PlacementSupport};
use super::{f32_literal, Lowered, NodeCtx, Slot};
use crate::plan::Access;
use crate::CodegenError;
use kiln_ir::{DType, Program, Step};
use std::collections::BTreeSet;

/// A program's WGSL: statements, the name of the value holding the result, its dtype
/// and the math helpers the statements call.
#[derive(Debug)]
pub struct Code {
    pub body: String,
    pub result: String,
    pub dtype: DType,
    pub helpers: BTreeSet<&'static str>,
    /// The values integer divisions divide by, unless a constant step: each must be
    /// checked for zero (WGSL's `x / 0` is `x`, the reference fails).
    pub divisors: Vec<String>,
}

/// The statements computing `program` on `inputs` (a WGSL identifier holding each input's
/// value in its storage type, and its dtype), one typed `let` per step, indented by `indent`.
/// With `f16`, the f16 steps [`half`] knows compute in f16 (`h{i}`, also kept as `s{i}`).
pub fn code(
    program: &Program,
    inputs: &[(String, DType)],
    indent: &str,
    f16: bool,
) -> Result<Code, String> {
    let dtypes: Vec<DType> = inputs.iter().map(|(_, d)| *d).collect();
    let types = program.step_types(&dtypes).map_err(|e| e.to_string())?;
    let name = |i: usize| format!("s{i}");
    let mut body = String::new();
    let mut helpers = BTreeSet::new();
    let mut native = vec![false; program.steps.len()];
    for (i, step) in program.steps.iter().enumerate() {
        if f16 && types[i] == DType::F16 {
            // An f16 step's f32 value holds an f16 exactly: converting it is exact.
            let h = |j: usize| {
                if native[j] {
                    format!("h{j}")
                } else {
                    format!("f16({})", name(j))
                }
            };
            let e = match *step {
                Step::Unary(op, a) => half::unary(op, &h(a)),
                Step::Binary(op, a, b) => half::binary(op, &h(a), &h(b)),
                Step::Cast(DType::F16, a) => half::cast(types[a], &name(a)),
                Step::Where(c, a, b) if native[a] || native[b] => {
                    Some(format!("select({}, {}, {} != 0u)", h(b), h(a), name(c)))
                }
                _ => None,
            };
            if let Some(e) = e {
                native[i] = true;
                body.push_str(&format!(
                    "{indent}let h{i}: f16 = {e};\n{indent}let {}: f32 = f32(h{i});\n",
                    name(i)
                ));
                continue;
            }
        }
        let e = match *step {
            Step::Input(k) => inputs[k].0.clone(),
            Step::Const { dtype, value } => literal(dtype, value),
            Step::Unary(op, a) => {
                let e = expr::unary(op, types[a], &name(a))?;
                helpers.extend(e.helpers);
                e.code
            }
            Step::Binary(op, a, b) => {
                let e = expr::binary(op, types[a], types[b], &name(a), &name(b))?;
                helpers.extend(e.helpers);
                e.code
            }
            Step::Where(c, a, b) => format!("select({}, {}, {} != 0u)", name(b), name(a), name(c)),
            Step::Cast(to, a) => {
                let e = expr::cast(types[a], to, &name(a));
                helpers.extend(e.helpers);
                e.code
            }
            Step::Quantize { saturate, args } => {
                let operands = args.map(|a| (name(a), types[a]));
                let refs = [0, 1, 2].map(|j| (operands[j].0.as_str(), operands[j].1));
                let e = expr::quantize(types[i], saturate, refs)?;
                helpers.extend(e.helpers);
                e.code
            }
            Step::Dequantize(args) => {
                let operands = args.map(|a| (name(a), types[a]));
                let refs = [0, 1, 2].map(|j| (operands[j].0.as_str(), operands[j].1));
                let e = expr::dequantize(types[i], refs);
                helpers.extend(e.helpers);
                e.code
            }
        };
        body.push_str(&format!(
            "{indent}let {}: {} = {e};\n",
            name(i),
            storage(types[i])
        ));
    }
    let last = program.steps.len() - 1;
    Ok(Code {
        body,
        result: name(last),
        dtype: types[last],
        helpers,
        divisors: program
            .integer_divisors(&types)
            .into_iter()
            .map(name)
            .collect(),
    })
}

/// The values a prologue or an epilogue computes once per invocation
/// ([`Program::hoist_invariant`], [`Program::hoist_fixed`]).
#[derive(Debug, Default)]
pub struct Hoisted {
    /// `var<private> {prefix}{j}: T;` for each value.
    pub vars: String,
    /// A block per value assigning its variable.
    pub init: String,
    /// The math helpers the blocks call.
    pub helpers: BTreeSet<&'static str>,
}

/// [`Hoisted`] for `programs` on `inputs` (the values they read): value `j` in the
/// private variable `{prefix}{j}`, each block opening with `preamble` (statements
/// defining inputs it reads); each variable is appended to `inputs`, for the program
/// reading them.
pub fn hoisted(
    programs: &[Program],
    inputs: &mut Vec<(String, DType)>,
    prefix: &str,
    preamble: &str,
    f16: bool,
) -> Result<Hoisted, String> {
    let fixed = inputs.clone();
    let mut out = Hoisted::default();
    for (j, p) in programs.iter().enumerate() {
        let c = code(p, &fixed, "        ", f16)?;
        let name = format!("{prefix}{j}");
        out.vars
            .push_str(&format!("var<private> {name}: {};\n", storage(c.dtype)));
        out.init.push_str(&format!(
            "    {{\n{preamble}{}        {name} = {};\n    }}\n",
            c.body, c.result
        ));
        out.helpers.extend(c.helpers);
        inputs.push((name, c.dtype));
    }
    Ok(out)
}

/// A WGSL literal of `value` in `dtype`'s storage type (`value` is exact for the dtype).
pub fn literal(dtype: DType, value: f64) -> String {
    match dtype {
        DType::F32 | DType::F16 => f32_literal(value as f32),
        DType::Bool => if value != 0.0 { "1u" } else { "0u" }.to_string(),
        d if d.is_int() => super::elementwise::expr::int_literal(d, value as i64),
        // A minifloat: its bit pattern.
        d => {
            let f = kiln_ir::minifloat::Format::of(d).expect("a minifloat");
            format!("{}u", f.encode(value as f32, false))
        }
    }
}

/// The value of operand `i` as a WGSL literal when it is a constant holding one value
/// everywhere (a scalar or splat): such operands are inlined, not bound.
pub fn inline_constant(ctx: &NodeCtx<'_>, i: usize) -> Option<String> {
    let t = ctx.graph.constant(ctx.node().inputs[i])?;
    if !(t.is_splat() || t.numel() == 1) {
        return None;
    }
    let value = *t.stored().to_f64_vec().first()?;
    Some(literal(t.dtype(), value))
}

/// `epilogue ∘ anchor` as one program: anchor inputs keep their indices, epilogue input 0
/// is the anchor's result and epilogue input `1 + j` becomes input `arity + j`.
pub fn compose(anchor: &Program, arity: usize, epilogue: &Program) -> Program {
    let mut steps = anchor.steps.clone();
    let result = steps.len().saturating_sub(1);
    let mut map: Vec<usize> = Vec::with_capacity(epilogue.steps.len());
    for step in &epilogue.steps {
        let new = match *step {
            Step::Input(0) => {
                map.push(result);
                continue;
            }
            Step::Input(j) => Step::Input(arity + j - 1),
            ref s => s.map_operands(|i| map.get(i).copied().unwrap_or(result)),
        };
        steps.push(new);
        map.push(steps.len() - 1);
    }
    // The result may be an earlier step (an epilogue returning one of its inputs):
    // nothing after it can feed it, so the steps after it are dropped.
    let last = map.last().copied().unwrap_or(result);
    steps.truncate(last + 1);
    Program { steps }
}

/// Every operand the program reads is loaded through [`NodeCtx::operand_map`], so
/// through the strides of a transpose folded into the node, and decoded where it is a
/// range word or narrow; the result may be stored narrow.
pub(crate) const PLACEMENT: PlacementSupport = PlacementSupport {
    strided_reads: OperandSet::ALL,
    range_reads: OperandSet::ALL,
    narrow_reads: OperandSet::ALL,
    narrow_write: true,
    ..PlacementSupport::NONE
};

/// The kernel computing an `Elementwise` node (or an element-wise anchor composed with
/// its epilogue): operands the program reads are bound once each (constant splats
/// inlined), loaded at their broadcast offsets, and fed to the program.
pub fn lower(ctx: &NodeCtx<'_>, program: &Program) -> Result<Lowered, CodegenError> {
    let node = ctx.node();
    let out = ctx.result(0);
    let n = out.shape.numel();
    if program.num_inputs() > node.inputs.len() {
        return Err(ctx.error(format!(
            "the program reads {} inputs, the node has {} operands",
            program.num_inputs(),
            node.inputs.len()
        )));
    }
    if n == 0 {
        return Ok(Lowered::default());
    }
    let used: BTreeSet<usize> = program
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Input(i) => Some(*i),
            _ => None,
        })
        .collect();
    let dims = out.shape.dims();
    let mut set = BindingSet::new();
    let mut inputs = Vec::new();
    let mut loads = String::new();
    let mut maps: Vec<(String, Affine)> = Vec::new();
    let mut decoders = BTreeSet::new();
    for i in 0..node.inputs.len() {
        let dtype = ctx.operand(i).dtype;
        let x = format!("x{i}");
        inputs.push((x.clone(), dtype));
        if !used.contains(&i) {
            continue;
        }
        if let Some(lit) = inline_constant(ctx, i) {
            loads.push_str(&format!("    let {x}: {} = {lit};\n", storage(dtype)));
            continue;
        }
        let word = super::wgsl_type(ctx.binding_dtype(i, dtype));
        let buf = set.operand(i, &node.inputs, word);
        let a = ctx.operand_map(i, dims);
        let off = broadcast_offset(i, a, dims, &mut maps);
        let load = super::range::read(ctx, i, &buf, &off, &mut decoders);
        loads.push_str(&format!("    let {x} = {load};\n"));
    }
    let mut code = code(program, &inputs, "    ", ctx.f16_arithmetic).map_err(|r| ctx.error(r))?;
    code.helpers.extend(decoders);
    if code.dtype != out.dtype {
        return Err(ctx.error(format!(
            "the program gives {}, the node's result is {}",
            code.dtype, out.dtype
        )));
    }
    let dst = set.add(
        Slot::Result(0),
        Access::ReadWrite,
        super::wgsl_type(ctx.result_binding_dtype(out.dtype)),
    );
    let mut checks = String::new();
    if !code.divisors.is_empty() {
        let chk = set.add(Slot::Check(0), Access::ReadWrite, "u32");
        for d in &code.divisors {
            checks.push_str(&format!(
                "    if ({d} == 0) {{\n        {chk}[0] = 1u;\n    }}\n"
            ));
        }
    }
    let mut lowered = kernel(
        ctx,
        "elementwise",
        set,
        dst,
        &maps,
        &format!("{loads}{}{checks}", code.body),
        expr::Expr {
            code: code.result,
            helpers: code.helpers,
        },
    )?;
    if !checks.is_empty() {
        lowered.checks = vec!["an integer is divided by zero".to_string()];
    }
    Ok(lowered)
}
