//! Lowering of `Resize` (nearest with every rounding mode, linear and cubic in N-d,
//! antialias, exclude_outside, every coordinate transform incl. tf_crop_and_resize):
//! the host computes each resized axis's taps in f64 exactly as the CPU reference
//! does and bakes them into the kernel as tables; one invocation per output blends
//! them (or, for nearest, copies the one tap bit-exactly).

use super::conv::check_binding_sizes;
use super::LINEAR_INDEX;
use super::{
    binding_decls, f32_literal, grid_1d, render, u32_array, Binding, KernelSrc, Lowered, NodeCtx,
    Slot,
};
use crate::plan::Access;
use crate::CodegenError;
use kiln_ir::resize_geometry::{axis_scale, axis_taps, is_close, AxisTaps};
use kiln_ir::{CoordTransform, DType, ResizeAttrs};

const WG: u32 = 64;

/// One resized axis: its index and per-output-coordinate taps (all of one length).
struct Table {
    axis: usize,
    taps: AxisTaps,
    width: usize,
}

/// The kernel computing a `Resize` node.
pub fn lower(ctx: &NodeCtx<'_>, a: &ResizeAttrs) -> Result<Lowered, CodegenError> {
    let (x, y) = (ctx.operand(0), ctx.result(0));
    let dims = x.shape.dims();
    let rank = dims.len();
    if a.sizes.len() != rank || a.scales.len() != rank || y.shape.dims() != a.sizes.as_slice() {
        return Err(ctx.error(format!(
            "sizes {:?} / scales {:?} do not fit {x} → {y}",
            a.sizes, a.scales
        )));
    }
    let roi = match a.roi.len() {
        0 => None,
        n if n == 2 * rank => Some(&a.roi),
        n => return Err(ctx.error(format!("roi has {n} entries, expected {}", 2 * rank))),
    };
    if a.coord == CoordTransform::TfCropAndResize && roi.is_none() {
        return Err(ctx.error("tf_crop_and_resize needs a roi"));
    }
    check_binding_sizes(ctx)?;
    let total = y.shape.numel();
    if total > u32::MAX as usize {
        return Err(CodegenError::TooLarge(format!(
            "node '{}': result too large to index",
            ctx.node().name
        )));
    }
    let mut tables = Vec::new();
    for axis in 0..rank {
        let scale = axis_scale(a.scales[axis], a.sizes[axis], dims[axis]);
        let axis_roi = roi.map(|r| (r[axis] as f64, r[axis + rank] as f64));
        let identity = is_close(scale, 1.0)
            && a.sizes[axis] == dims[axis]
            && axis_roi.is_none_or(|(lo, hi)| is_close(lo, 0.0) && is_close(hi, 1.0));
        if identity {
            continue;
        }
        if dims[axis] == 0 && a.sizes[axis] > 0 {
            return Err(ctx.error(format!("cannot resize empty axis {axis}")));
        }
        let taps = axis_taps(a, dims[axis], a.sizes[axis], scale, axis_roi);
        let width = taps.iter().flatten().map(Vec::len).max().unwrap_or(1);
        tables.push(Table { axis, taps, width });
    }
    // Nearest (and any blend that is one-hot everywhere) copies one input element.
    let copy = tables
        .iter()
        .all(|t| t.taps.iter().flatten().all(|taps| one_hot(taps).is_some()));
    let in_strides = x.shape.strides();
    let body = if copy {
        copy_body(&tables, rank, y.dtype)
    } else {
        blend_body(&tables, rank, y.dtype)
    };
    let table_decls: String = tables.iter().map(|t| table_decl(t, copy)).collect();
    let wgsl = render(
        kiln_shaders::RESIZE,
        &[
            (
                "BINDINGS",
                binding_decls(&[
                    ("x", x.dtype, Access::Read),
                    ("y", y.dtype, Access::ReadWrite),
                ]),
            ),
            ("WG", WG.to_string()),
            ("TOTAL", total.to_string()),
            ("RANK", rank.max(1).to_string()),
            (
                "OUT_DIMS",
                u32_array(if rank == 0 { &[1] } else { y.shape.dims() }),
            ),
            (
                "IN_STRIDES",
                u32_array(if rank == 0 { &[1] } else { &in_strides }),
            ),
            ("EXTRAPOLATION", f32_literal(a.extrapolation_value)),
            ("TABLES", table_decls),
            ("LINEAR_INDEX", LINEAR_INDEX.to_string()),
            ("BODY", body),
        ],
    )?;
    Ok(Lowered {
        kernels: vec![KernelSrc {
            name: "resize".to_string(),
            wgsl,
            entry_point: "main".to_string(),
            workgroup_size: [WG, 1, 1],
            workgroups: grid_1d(total, WG, ctx.limits)?,
            bindings: vec![
                Binding::read(Slot::Operand(0)),
                Binding::write(Slot::Result(0)),
            ],
        }],
        scratch_bytes: Vec::new(),
    })
}

/// The index of the single weight-1 tap when all others weigh 0.
fn one_hot(taps: &[(usize, f64)]) -> Option<usize> {
    let mut hit = None;
    for &(j, w) in taps {
        if w == 1.0 && hit.is_none() {
            hit = Some(j);
        } else if w != 0.0 {
            return None;
        }
    }
    hit
}

/// `TAPS_a`, `IDX_a` (i32, -1 = outside) and, when blending, `W_a` for one axis.
fn table_decl(t: &Table, copy: bool) -> String {
    let a = t.axis;
    let width = if copy { 1 } else { t.width };
    let (mut idx, mut w) = (Vec::new(), Vec::new());
    for taps in &t.taps {
        match taps {
            None => {
                idx.extend(std::iter::repeat_n("-1".to_string(), width));
                w.extend(std::iter::repeat_n("0.0".to_string(), width));
            }
            Some(taps) if copy => idx.push(format!("{}", one_hot(taps).unwrap_or(0))),
            Some(taps) => {
                for i in 0..width {
                    let (j, c) = taps.get(i).copied().unwrap_or((0, 0.0));
                    idx.push(j.to_string());
                    w.push(f32_literal(c as f32));
                }
            }
        }
    }
    let len = idx.len().max(1);
    let mut out = format!(
        "const TAPS_{a}: u32 = {width}u;\nconst IDX_{a} = array<i32, {len}>({});\n",
        if idx.is_empty() {
            "0".to_string()
        } else {
            idx.join(", ")
        }
    );
    if !copy {
        out.push_str(&format!(
            "const W_{a} = array<f32, {len}>({});\n",
            if w.is_empty() {
                "0.0".to_string()
            } else {
                w.join(", ")
            }
        ));
    }
    out
}

/// Offset of the identity axes and the early-out for extrapolated coordinates.
fn prelude(tables: &[Table], rank: usize, extrapolated: &str) -> String {
    let mut out = String::from("    var base = 0u;\n");
    for axis in 0..rank {
        if !tables.iter().any(|t| t.axis == axis) {
            out.push_str(&format!("    base += oc[{axis}] * IN_STRIDES[{axis}];\n"));
        }
    }
    for t in tables {
        if t.taps.iter().any(Option::is_none) {
            let a = t.axis;
            out.push_str(&format!(
                "    if (IDX_{a}[oc[{a}] * TAPS_{a}] < 0) {{\n        y[t] = {extrapolated};\n        return;\n    }}\n"
            ));
        }
    }
    out
}

fn copy_body(tables: &[Table], rank: usize, dtype: DType) -> String {
    let mut out = prelude(tables, rank, &convert("extrapolation", dtype));
    for t in tables {
        let a = t.axis;
        out.push_str(&format!(
            "    base += u32(IDX_{a}[oc[{a}]]) * IN_STRIDES[{a}];\n"
        ));
    }
    out.push_str("    y[t] = x[base];\n");
    out
}

fn blend_body(tables: &[Table], rank: usize, dtype: DType) -> String {
    let mut out = prelude(tables, rank, &convert("extrapolation", dtype));
    out.push_str("    var acc = 0.0;\n");
    let mut indent = String::from("    ");
    let mut weight = "1.0".to_string();
    let mut offset = "base".to_string();
    for (i, t) in tables.iter().enumerate() {
        let a = t.axis;
        out.push_str(&format!(
            "{indent}for (var j{i} = 0u; j{i} < TAPS_{a}; j{i}++) {{\n"
        ));
        indent.push_str("    ");
        out.push_str(&format!(
            "{indent}let e{i} = oc[{a}] * TAPS_{a} + j{i};\n{indent}let w{i} = {weight} * W_{a}[e{i}];\n\
             {indent}let o{i} = {offset} + u32(IDX_{a}[e{i}]) * IN_STRIDES[{a}];\n"
        ));
        weight = format!("w{i}");
        offset = format!("o{i}");
    }
    out.push_str(&format!("{indent}acc += {weight} * f32(x[{offset}]);\n"));
    for _ in tables {
        indent.truncate(indent.len() - 4);
        out.push_str(&format!("{indent}}}\n"));
    }
    out.push_str(&format!("    y[t] = {};\n", convert("acc", dtype)));
    out
}

/// WGSL converting f32 `v` to the storage of `dtype` as the reference does
/// (integers round half to even and saturate).
fn convert(v: &str, dtype: DType) -> String {
    match dtype {
        DType::F32 | DType::F16 => v.to_string(),
        DType::I32 => format!("i32(round({v}))"),
        DType::I8 => format!("i32(clamp(round({v}), -128.0, 127.0))"),
        DType::U32 => format!("u32(round({v}))"),
        DType::U8 => format!("u32(clamp(round({v}), 0.0, 255.0))"),
        DType::Bool => format!("u32({v} != 0.0)"),
    }
}
