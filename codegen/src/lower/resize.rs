//! Lowering of `Resize` (nearest with every rounding mode, linear and cubic in N-d,
//! antialias, exclude_outside, every coordinate transform incl. tf_crop_and_resize):
//! the host computes each resized axis's taps in f64 exactly as the CPU reference
//! does and uploads them as one constant table (`Slot::Table`); one invocation per
//! output blends them (or, for nearest, copies the one tap bit-exactly). Coordinates,
//! strides and table offsets are literals in the generated code: CPU drivers copy a
//! WGSL `const` array indexed at run time for every access.

use super::check_binding_sizes;
use super::LINEAR_INDEX;
use super::{binding_decls, f32_literal, render, Binding, KernelSrc, Lowered, NodeCtx, Slot};
use crate::plan::Access;
use crate::CodegenError;
use kiln_ir::resize_geometry::{axis_scale, axis_taps, is_close, AxisTaps};
use kiln_ir::{CoordTransform, DType, ResizeAttrs};
use std::collections::BTreeSet;

const WG: u32 = 64;

/// One resized axis: its index, per-output-coordinate taps (all of one length) and
/// where its entries start in the kernel's table (in words).
struct Table {
    axis: usize,
    taps: AxisTaps,
    width: usize,
    offset: usize,
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
        return Err(ctx.too_large("result too large to index"));
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
        tables.push(Table {
            axis,
            taps,
            width,
            offset: 0,
        });
    }
    // Nearest (and any blend that is one-hot everywhere) copies one input element.
    let copy = tables
        .iter()
        .all(|t| t.taps.iter().flatten().all(|taps| one_hot(taps).is_some()));
    let mut words = Vec::new();
    for t in &mut tables {
        t.offset = words.len();
        words.extend(table_words(t, copy));
    }
    let in_strides = x.shape.strides();
    let body = if copy {
        copy_body(&tables, &in_strides, y.dtype)
    } else {
        blend_body(&tables, &in_strides, y.dtype)
    };
    let mut decls = vec![
        ("x", x.dtype, Access::Read),
        ("y", y.dtype, Access::ReadWrite),
    ];
    let mut bindings = vec![
        Binding::read(Slot::Operand(0)),
        Binding::write(Slot::Result(0)),
    ];
    let tables = if tables.is_empty() {
        Vec::new()
    } else {
        decls.push(("tbl", DType::U32, Access::Read));
        bindings.push(Binding::read(Slot::Table(0)));
        vec![words]
    };
    let mut bindings_code = binding_decls(&decls);
    if y.dtype == DType::F16 {
        bindings_code.push_str(&super::elementwise::math::helpers(&BTreeSet::from([
            "k_round_f16",
        ]))?);
    }
    let wgsl = render(
        kiln_shaders::RESIZE,
        &[
            ("BINDINGS", bindings_code),
            ("WG", WG.to_string()),
            ("TOTAL", total.to_string()),
            ("EXTRAPOLATION", f32_literal(a.extrapolation_value)),
            ("LINEAR_INDEX", LINEAR_INDEX.to_string()),
            ("COORDS", coords(y.shape.dims())),
            ("BODY", body),
        ],
    )?;
    Ok(Lowered {
        kernels: vec![KernelSrc::linear(
            "resize", wgsl, total, WG, ctx.limits, bindings,
        )?],
        tables,
        ..Lowered::default()
    })
}

/// `let ocA = ...;` for every axis of the output `dims`, from the linear index `t`.
fn coords(dims: &[usize]) -> String {
    let mut out = String::from("    var rem = t;\n");
    for (a, d) in dims.iter().enumerate().rev() {
        if a == 0 {
            out.push_str("    let oc0 = rem;\n");
        } else {
            out.push_str(&format!(
                "    let oc{a} = rem % {d}u;\n    rem = rem / {d}u;\n"
            ));
        }
    }
    out
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

/// Words per tap in the table: the index, then (when blending) the weight's bits.
fn words_per_tap(copy: bool) -> usize {
    if copy {
        1
    } else {
        2
    }
}

/// One axis's table entries: per output coordinate, `width` taps (one when copying)
/// of an i32 index (-1 = outside the input) and, when blending, an f32 weight.
fn table_words(t: &Table, copy: bool) -> Vec<u32> {
    let width = if copy { 1 } else { t.width };
    let mut words = Vec::with_capacity(t.taps.len() * width * words_per_tap(copy));
    for taps in &t.taps {
        for i in 0..width {
            let (index, weight) = match taps {
                None => (-1i32, 0.0f32),
                Some(taps) if copy => (one_hot(taps).unwrap_or(0) as i32, 1.0),
                Some(taps) => {
                    let (j, c) = taps.get(i).copied().unwrap_or((0, 0.0));
                    (j as i32, c as f32)
                }
            };
            words.push(index as u32);
            if !copy {
                words.push(weight.to_bits());
            }
        }
    }
    words
}

/// WGSL for the first word of output coordinate `ocA`'s entries of table `t`.
fn entry(t: &Table, copy: bool) -> String {
    let per = if copy { 1 } else { t.width } * words_per_tap(copy);
    format!("{}u + oc{} * {per}u", t.offset, t.axis)
}

/// Offset of the identity axes and the early-out for extrapolated coordinates.
fn prelude(tables: &[Table], in_strides: &[usize], copy: bool, extrapolated: &str) -> String {
    let mut out = String::from("    var base = 0u;\n");
    for (axis, stride) in in_strides.iter().enumerate() {
        if !tables.iter().any(|t| t.axis == axis) {
            out.push_str(&format!("    base += oc{axis} * {stride}u;\n"));
        }
    }
    for t in tables {
        if t.taps.iter().any(Option::is_none) {
            out.push_str(&format!(
                "    if (bitcast<i32>(tbl[{}]) < 0) {{\n        y[t] = {extrapolated};\n        return;\n    }}\n",
                entry(t, copy)
            ));
        }
    }
    out
}

fn copy_body(tables: &[Table], in_strides: &[usize], dtype: DType) -> String {
    let mut out = prelude(tables, in_strides, true, &convert("extrapolation", dtype));
    for t in tables {
        out.push_str(&format!(
            "    base += u32(bitcast<i32>(tbl[{}])) * {}u;\n",
            entry(t, true),
            in_strides[t.axis]
        ));
    }
    out.push_str("    y[t] = x[base];\n");
    out
}

fn blend_body(tables: &[Table], in_strides: &[usize], dtype: DType) -> String {
    let mut out = prelude(tables, in_strides, false, &convert("extrapolation", dtype));
    out.push_str("    var acc = 0.0;\n");
    let mut indent = String::from("    ");
    let mut weight = "1.0".to_string();
    let mut offset = "base".to_string();
    for (i, t) in tables.iter().enumerate() {
        out.push_str(&format!(
            "{indent}for (var j{i} = 0u; j{i} < {w}u; j{i}++) {{\n",
            w = t.width
        ));
        indent.push_str("    ");
        out.push_str(&format!(
            "{indent}let e{i} = {} + j{i} * 2u;\n{indent}let w{i} = {weight} * bitcast<f32>(tbl[e{i} + 1u]);\n\
             {indent}let o{i} = {offset} + u32(bitcast<i32>(tbl[e{i}])) * {}u;\n",
            entry(t, false),
            in_strides[t.axis]
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
    match (dtype, dtype.int_range()) {
        (DType::F32, _) => v.to_string(),
        (DType::F16, _) => format!("k_round_f16({v})"),
        (DType::I32, _) => format!("i32(round({v}))"),
        (DType::U32, _) => format!("u32(round({v}))"),
        (_, Some((lo, hi))) if lo < 0 => format!("i32(clamp(round({v}), {lo}.0, {hi}.0))"),
        (_, Some((_, hi))) => format!("u32(clamp(round({v}), 0.0, {hi}.0))"),
        _ => format!("u32({v} != 0.0)"),
    }
}
