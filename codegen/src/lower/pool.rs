//! Lowering of max pooling (any 32-bit storage type, optional i32 indices,
//! storage_order) and average pooling (count_include_pad) over N-d windows with
//! pads, strides, dilations and ceil_mode (the result shape already reflects it):
//! one invocation per output element.

use super::conv::check_binding_sizes;
use super::epilogue::Tail;
use super::{
    binding_decls, grid_1d, render, u32_array, Binding, KernelSrc, Lowered, NodeCtx, Slot,
    LINEAR_INDEX,
};
use crate::plan::Access;
use crate::CodegenError;
use kiln_ir::{DType, Op, PoolAttrs};

const WG: u32 = 64;

/// The kernel computing a `MaxPool` or `AveragePool` node.
pub fn lower(ctx: &NodeCtx<'_>, a: &PoolAttrs) -> Result<Lowered, CodegenError> {
    let max = matches!(ctx.op(), Op::MaxPool(_));
    let (xs, ys) = (ctx.operand(0).shape.dims(), ctx.result(0).shape.dims());
    if xs.len() < 3 || ys.len() != xs.len() || xs[..2] != ys[..2] {
        return Err(ctx.error(format!(
            "pooling needs N×C×spatial input and result, got {xs:?} and {ys:?}"
        )));
    }
    let sp = xs.len() - 2;
    if a.kernel.len() != sp
        || a.strides.len() != sp
        || a.dilations.len() != sp
        || a.pads.len() != 2 * sp
    {
        return Err(ctx.error(format!("attributes do not fit {sp} spatial axes")));
    }
    if a.strides.contains(&0) || a.dilations.contains(&0) {
        return Err(ctx.error("strides and dilations must be positive"));
    }
    check_binding_sizes(ctx)?;
    let dtype = ctx.operand(0).dtype;
    if !max && !dtype.is_float() {
        return Err(ctx.error(format!("average pooling needs floats, got {dtype}")));
    }
    let (in_sp, out_sp) = (&xs[2..], &ys[2..]);
    let total = ctx.result(0).shape.numel();
    if total > u32::MAX as usize || ctx.operand(0).shape.numel() > u32::MAX as usize {
        return Err(CodegenError::TooLarge(format!(
            "node '{}': tensor too large to index",
            ctx.node().name
        )));
    }
    let row_major = ctx.operand(0).shape.strides()[2..].to_vec();
    let mut values = vec![
        ("WG", WG.to_string()),
        ("TOTAL", total.to_string()),
        ("P", out_sp.iter().product::<usize>().to_string()),
        ("PIN", in_sp.iter().product::<usize>().to_string()),
        ("KK", a.kernel.iter().product::<usize>().to_string()),
        ("RANK", sp.to_string()),
        ("OUT_DIMS", u32_array(out_sp)),
        ("IN_DIMS", u32_array(in_sp)),
        ("KERNEL", u32_array(&a.kernel)),
        ("STRIDES", u32_array(&a.strides)),
        ("PADS", u32_array(&a.pads[..sp])),
        ("DILATIONS", u32_array(&a.dilations)),
        ("IN_STRIDES", u32_array(&row_major)),
        ("LINEAR_INDEX", LINEAR_INDEX.to_string()),
    ];
    let tail = Tail::of(ctx, &[(0, "x".to_string())])?;
    let mut decls = vec![
        ("x", dtype, Access::Read),
        ("y", tail.result, Access::ReadWrite),
    ];
    let mut bindings = vec![
        Binding::read(Slot::Operand(0)),
        Binding::write(Slot::Result(0)),
    ];
    let (template, name) = if max {
        let with_indices = ctx.node().outputs.len() > 1;
        if with_indices {
            decls.push(("indices", DType::I32, Access::ReadWrite));
            bindings.push(Binding::write(Slot::Result(1)));
        }
        values.extend([
            ("T", super::wgsl_type(dtype).to_string()),
            ("LOWEST", lowest(dtype).to_string()),
            (
                "INDEX_STRIDES",
                u32_array(&index_strides(in_sp, &row_major, a.storage_order)),
            ),
            ("STORE", tail.apply("best", "t")),
            (
                "STORE_INDEX",
                if with_indices {
                    "indices[t] = select(0, i32(plane * PIN + best_index), found);".to_string()
                } else {
                    String::new()
                },
            ),
        ]);
        (kiln_shaders::POOL_MAX, "max_pool")
    } else {
        let padded: Vec<usize> = (0..sp)
            .map(|i| in_sp[i] + a.pads[i] + a.pads[sp + i])
            .collect();
        values.extend([
            ("COUNT_INCLUDE_PAD", a.count_include_pad.to_string()),
            ("PADDED_DIMS", u32_array(&padded)),
            ("STORE", tail.apply("v", "t")),
        ]);
        (kiln_shaders::POOL_AVG, "average_pool")
    };
    let mut binding_code = binding_decls(&decls);
    binding_code.push_str(&tail.decls(bindings.len()));
    bindings.extend(tail.bindings());
    values.push(("BINDINGS", binding_code));
    values.push(("HELPERS", tail.module_code(&Default::default())?));
    let wgsl = render(template, &values)?;
    Ok(Lowered {
        kernels: vec![KernelSrc {
            name: name.to_string(),
            wgsl,
            entry_point: "main".to_string(),
            workgroup_size: [WG, 1, 1],
            workgroups: grid_1d(total, WG, ctx.limits)?,
            bindings,
        }],
        scratch_bytes: Vec::new(),
    })
}

/// The value of a window entirely in padding, as the reference stores it (-inf
/// converted to the dtype, saturating).
fn lowest(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 | DType::F16 => "bitcast<f32>(0xff800000u)",
        DType::I32 => "bitcast<i32>(0x80000000u)",
        DType::I8 => "-128i",
        DType::U32 | DType::U8 | DType::Bool => "0u",
    }
}

/// Spatial strides of the index result: row-major, or column-major with
/// `storage_order = 1`.
fn index_strides(dims: &[usize], row_major: &[usize], storage_order: usize) -> Vec<usize> {
    if storage_order != 1 {
        return row_major.to_vec();
    }
    let mut out = Vec::with_capacity(dims.len());
    let mut s = 1;
    for &d in dims {
        out.push(s);
        s *= d;
    }
    out
}
