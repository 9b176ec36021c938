//! An element-wise prologue as WGSL: `fn k_prologue(x0) -> f32` computes a `Fused`
//! node's prologue program on each element its anchor loads from operand 0 (a conv's
//! gather, a matmul's `load_a`), reading the single-element operands the program takes
//! besides it through the bindings the kernel already has. The steps the element does
//! not reach (a dynamic quantization's scale and zero point, from a range computed at
//! run time) are hoisted: computed into private variables by `k_prologue_init`, which
//! the product engines call first thing in `main` ([`init_call`]), so each load pays
//! only for the steps on its element ([`kiln_ir::Program::hoist_invariant`]; the cost
//! model prices the same). A flag tested at every load instead (initialising at the
//! first) cost lavapipe as much as the conv's own arithmetic: the dynamically quantized
//! CNN's depthwise convs ran 2.3× faster without it (`kiln bench`, 3 runs each).

use super::epilogue::Epilogue;
use super::{NodeCtx, Slot};
use crate::CodegenError;
use kiln_ir::{DType, Program};
use std::collections::BTreeSet;

/// The function computing a prologue's hoisted values.
const INIT: &str = "k_prologue_init";

/// The statements a product engine runs first in `main`: `k_prologue_init();` when
/// `helpers` hold a prologue with hoisted values, and the epilogue's
/// `k_epilogue_init();` likewise (which `fused` then finds done).
pub fn init_call(helpers: &str) -> String {
    [INIT, super::epilogue::EPI_INIT]
        .iter()
        .filter(|f| helpers.contains(&format!("fn {f}()")))
        .map(|f| format!("    {f}();\n"))
        .collect()
}

/// `fn k_prologue(x0) -> f32` for `program`, with the math helpers the epilogue `epi`
/// does not define already. `bound` names element 0 of anchor operands the kernel binds
/// itself, as `(operand, WGSL expression)`, for a single-element operand that is also
/// one of them.
pub fn function(
    ctx: &NodeCtx<'_>,
    program: &Program,
    epi: &Epilogue,
    bound: &[(usize, &str)],
) -> Result<String, CodegenError> {
    let mut helpers = BTreeSet::new();
    let mut x = inputs(ctx, program, epi, bound, &mut helpers)?;
    let (hoisted, varying) = program.hoist_invariant();
    let f16 = ctx.f16_arithmetic;
    let once =
        super::program::hoisted(&hoisted, &mut x, "k_pro_h", "", f16).map_err(|e| ctx.error(e))?;
    helpers.extend(once.helpers);
    let c = super::program::code(&varying, &x, "    ", f16).map_err(|e| ctx.error(e))?;
    helpers.extend(c.helpers);
    let once = if hoisted.is_empty() {
        String::new()
    } else {
        format!("{}fn {INIT}() {{\n{}}}\n", once.vars, once.init)
    };
    Ok(format!(
        "{}{once}fn k_prologue(x0: {}) -> f32 {{\n{}    return {};\n}}\n",
        super::elementwise::math::helpers_beside(&helpers, &epi.helpers)?,
        super::wgsl_type(ctx.operand(0).dtype),
        c.body,
        c.result
    ))
}

/// The WGSL expressions of the prologue's inputs, with their dtypes: `x0` (the loaded
/// element), then each single-element operand it reads after it (see `Op::Fused`): a
/// literal for a constant, else element 0 of the binding the epilogue `epi` reads that
/// operand through, or of an anchor operand in `bound`.
fn inputs(
    ctx: &NodeCtx<'_>,
    program: &Program,
    epi: &Epilogue,
    bound: &[(usize, &str)],
    helpers: &mut BTreeSet<&'static str>,
) -> Result<Vec<(String, DType)>, CodegenError> {
    let operands = &ctx.node().inputs;
    let mut x = vec![("x0".to_string(), ctx.operand(0).dtype)];
    for k in 1..program.num_inputs() {
        let i = ctx.arity() + k - 1;
        let same = |j: usize| operands.get(j) == operands.get(i);
        let read = if let Some(lit) = super::program::inline_constant(ctx, i) {
            lit
        } else if let Some(input) = epi
            .inputs
            .iter()
            .find(|e| matches!(e.slot, Slot::Operand(j) if same(j)))
        {
            super::range::read(ctx, i, &input.name, "0", helpers)
        } else if let Some((_, read)) = bound.iter().find(|(j, _)| same(*j)) {
            // An anchor operand: never a range word (no anchor decodes one).
            read.to_string()
        } else {
            return Err(ctx.error(format!(
                "the prologue reads operand {i}, which the kernel does not bind"
            )));
        };
        x.push((read, ctx.operand(i).dtype));
    }
    Ok(x)
}
