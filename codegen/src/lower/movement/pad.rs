//! Data movement with its own templates: Pad (every mode, negative pads), Gather
//! (negative indices) and Shape (baked-in dims).

use crate::lower::elementwise::index::BindingSet;
use crate::lower::elementwise::WG;
use crate::lower::packed::WeightRead;
use crate::lower::Binding;
use crate::lower::{render, KernelSrc, Lowered, NodeCtx, Slot, LINEAR_INDEX};
use crate::plan::Access;
use crate::CodegenError;
use kiln_ir::PadMode;

/// A one-invocation-per-result-element kernel over `n` elements.
fn kernel(
    ctx: &NodeCtx<'_>,
    wgsl: String,
    n: usize,
    bindings: Vec<Binding>,
) -> Result<KernelSrc, CodegenError> {
    let wg = WG.min(ctx.limits.max_compute_invocations_per_workgroup);
    KernelSrc::linear(ctx.node().op.name(), wgsl, n, wg, ctx.limits, bindings)
}

/// Pad by `pads = [begin.., end..]`: each axis maps a result coordinate to a source
/// coordinate (cropping first where an amount is negative) or marks it outside.
pub(super) fn lower(
    ctx: &NodeCtx<'_>,
    mode: PadMode,
    pads: &[i64],
) -> Result<Vec<KernelSrc>, CodegenError> {
    let dims = ctx.operand(0).shape.dims();
    let rank = dims.len();
    if pads.len() != 2 * rank {
        return Err(ctx.error(format!("pads {pads:?} do not fit rank {rank}")));
    }
    let out = ctx.result(0).shape.dims();
    let n: usize = out.iter().product();
    if n == 0 {
        return Ok(Vec::new());
    }
    let strides = crate::lower::elementwise::index::Affine::contiguous(dims).strides;
    let mut axes = String::new();
    for a in (0..rank).rev() {
        let (pb, pe) = (pads[a], pads[rank + a]);
        let (c0, c1) = ((-pb).max(0), (-pe).max(0));
        let kept = dims[a] as i64 - c0 - c1;
        if kept < 0 {
            return Err(ctx.error(format!("pads {pads:?} crop more than axis {a} holds")));
        }
        if kept == 0 && mode != PadMode::Constant {
            return Err(ctx.error(format!("cannot pad an empty axis {a} in {mode:?} mode")));
        }
        let len = out[a];
        let coord = if a == 0 {
            "r".to_string()
        } else {
            format!("r % {len}u")
        };
        axes.push_str(&format!("    {{\n        let o = i32({coord});\n"));
        if a != 0 {
            axes.push_str(&format!("        r = r / {len}u;\n"));
        }
        let pb = pb.max(0);
        axes.push_str(&format!("        var j = o - {pb};\n"));
        let fix = match mode {
            PadMode::Constant => format!(
                "        if j < 0 || j >= {kept} {{\n            inside = false;\n        }}\n"
            ),
            PadMode::Edge => format!("        j = clamp(j, 0, {});\n", kept - 1),
            // `j >= -pb`: shifted by a whole number of periods it is never negative,
            // so the remainder is taken of unsigned values. (A signed `%` of a negative
            // value is undefined in GLSL, and Mesa's GL driver gave other results than
            // WGSL defines.)
            PadMode::Wrap => format!(
                "        j = i32(u32(j + {}) % {kept}u);\n",
                periods_above(pb, kept)
            ),
            PadMode::Reflect if kept == 1 => "        j = 0;\n".to_string(),
            PadMode::Reflect => {
                let p = 2 * (kept - 1);
                let shift = periods_above(pb, p);
                format!("        j = i32(u32(j + {shift}) % {p}u);\n        if j >= {kept} {{\n            j = {p} - j;\n        }}\n")
            }
        };
        axes.push_str(&fix);
        axes.push_str(&format!(
            "        s = s + u32(j + {c0}) * {}u;\n    }}\n",
            strides[a]
        ));
    }
    let mut bindings = vec![
        Binding::read(Slot::Operand(0)),
        Binding::write(Slot::Result(0)),
    ];
    let (value_binding, fill) = match ctx.node().inputs.get(1) {
        Some(v) if mode == PadMode::Constant && *v == ctx.node().inputs[0] => {
            (String::new(), "src[0]".to_string())
        }
        Some(_) if mode == PadMode::Constant => {
            bindings.push(Binding {
                slot: Slot::Operand(1),
                access: Access::Read,
                range: None,
            });
            (
                "@group(0) @binding(2) var<storage, read> value: array<u32>;\n".to_string(),
                "value[0]".to_string(),
            )
        }
        _ => (String::new(), "0u".to_string()),
    };
    let wg = WG.min(ctx.limits.max_compute_invocations_per_workgroup);
    let wgsl = render(
        kiln_shaders::MOVEMENT_PAD,
        &[
            ("VALUE_BINDING", value_binding),
            ("WG", wg.to_string()),
            ("N", n.to_string()),
            ("INDEX", LINEAR_INDEX.to_string()),
            ("AXES", axes),
            ("FILL", fill),
        ],
    )?;
    Ok(vec![kernel(ctx, wgsl, n, bindings)?])
}

/// The least multiple of `period` (positive) that is at least `amount` (not negative).
fn periods_above(amount: i64, period: i64) -> i64 {
    (amount + period - 1) / period * period
}

/// Gather along `axis` with i32 indices (negative ones count from the end). Constant
/// indices are checked here; others on the device, where an index outside
/// `[-extent, extent)` fails the run ([`Slot::Check`]; the read is clamped so it stays
/// in bounds).
pub(super) fn gather(ctx: &NodeCtx<'_>, axis: usize) -> Result<Lowered, CodegenError> {
    let dims = ctx.operand(0).shape.dims();
    if axis >= dims.len() {
        return Err(ctx.error(format!(
            "axis {axis} is out of range for rank {}",
            dims.len()
        )));
    }
    let extent = dims[axis];
    let range = format!("[-{extent}, {extent})");
    let n = ctx.result(0).shape.numel();
    if n == 0 {
        return Ok(Lowered::default());
    }
    if extent == 0 {
        return Err(ctx.error(format!("cannot gather from axis {axis} of extent 0")));
    }
    let constant = ctx.graph.constant(ctx.node().inputs[1]);
    if let Some(indices) = constant.and_then(|t| t.to_i64_vec()) {
        if let Some(bad) = indices
            .iter()
            .find(|&&i| i < -(extent as i64) || i >= extent as i64)
        {
            return Err(ctx.error(format!("index {bad} is out of range {range}")));
        }
    }
    // The table as words: read, decoded from a narrow table's words, or from the
    // words of packed weights.
    let mut set = BindingSet::new();
    let data = WeightRead::new("data", 0, ctx.operand_packed(0))
        .narrow(ctx.operand_narrow(0), ctx.operand(0).dtype);
    let data_word = data.bind_words(&mut set, &ctx.node().inputs);
    let indices = set.operand(1, &ctx.node().inputs, "u32");
    let dst = set.add(Slot::Result(0), Access::ReadWrite, "u32");
    // Run-time indices are checked on the device.
    let checked = constant.is_none();
    let check = if checked {
        let chk = set.add(Slot::Check(0), Access::ReadWrite, "u32");
        format!("        {chk}[0] = 1u;\n        {chk}[1] = bitcast<u32>(j);\n")
    } else {
        String::new()
    };
    let wg = WG.min(ctx.limits.max_compute_invocations_per_workgroup);
    let wgsl = render(
        kiln_shaders::MOVEMENT_GATHER,
        &[
            ("BINDINGS", set.decls()),
            ("WG", wg.to_string()),
            ("N", n.to_string()),
            ("K", ctx.operand(1).shape.numel().to_string()),
            (
                "INNER",
                dims[axis + 1..].iter().product::<usize>().to_string(),
            ),
            ("EXTENT", extent.to_string()),
            ("INDEX", LINEAR_INDEX.to_string()),
            ("INDICES", indices),
            ("DST", dst),
            ("DATA", data_word),
            ("CHECK", check),
        ],
    )?;
    Ok(Lowered {
        kernels: vec![kernel(ctx, wgsl, n, set.bindings)?],
        checks: if checked {
            vec![format!("an index is out of range {range} (got {{value}})")]
        } else {
            Vec::new()
        },
        ..Lowered::default()
    })
}

/// Shape: the result's values are known at compile time; one invocation stores them.
pub(super) fn shape(ctx: &NodeCtx<'_>) -> Result<Vec<KernelSrc>, CodegenError> {
    let kiln_ir::Op::Shape { start, end } = ctx.node().op else {
        return Err(ctx.error("not a shape op"));
    };
    let dims = ctx.operand(0).shape.dims();
    let end = end.min(dims.len());
    let picked = dims.get(start..end.max(start)).unwrap_or(&[]);
    if picked.is_empty() {
        return Ok(Vec::new());
    }
    let mut stores = String::new();
    for (i, &d) in picked.iter().enumerate() {
        let d = i32::try_from(d).map_err(|_| ctx.error(format!("dim {d} does not fit i32")))?;
        stores.push_str(&format!("    dst[{i}] = {}u;\n", d as u32));
    }
    let wgsl = render(kiln_shaders::MOVEMENT_SHAPE, &[("STORES", stores)])?;
    Ok(vec![KernelSrc {
        name: "shape".into(),
        wgsl,
        entry_point: "main".into(),
        workgroup_size: [1, 1, 1],
        workgroups: [1, 1, 1],
        bindings: vec![Binding::write(Slot::Result(0))],
    }])
}
