//! Lowering of `MatMulInteger` to the matrix-product engines' exact integer mode
//! (`engine::Acc::I32`: f32 arithmetic flushed into i32 totals while exact):
//! `(a - a_zero) · (b - b_zero)`, wrapping as the reference's i32 result does, batch
//! axes broadcast; a `Fused` node's epilogue (a requantization) applies
//! to each i32 result before it is stored. `ConvInteger` is the implicit-GEMM convolution's
//! integer form (`conv::lower_integer`). Operands stay one word per element; packed
//! 8-bit loads with `dot4I8Packed` are not used yet.

use super::epilogue::Tail;
use super::matmul::engine::{self, batch_offset_fn, GemmShape, GemmSource};
use super::{binding_decls, check_binding_sizes, Binding, KernelSrc, Lowered, NodeCtx, Slot};
use crate::plan::Access;
use crate::CodegenError;

/// The epilogue and the bindings of an integer product: its four operands (value,
/// value, zero point, zero point) under `names`, the result `y` of the epilogue's dtype,
/// then the epilogue's own inputs.
pub(super) fn bindings(
    ctx: &NodeCtx<'_>,
    names: [&str; 4],
) -> Result<(Tail, String, Vec<Binding>), CodegenError> {
    let bound: Vec<(usize, String)> = (0..4).map(|i| (i, names[i].to_string())).collect();
    let tail = Tail::of(ctx, &bound)?;
    let dtype = |i: usize| ctx.operand(i).dtype;
    let mut decls = binding_decls(&[
        (names[0], dtype(0), Access::Read),
        (names[1], dtype(1), Access::Read),
        (names[2], dtype(2), Access::Read),
        (names[3], dtype(3), Access::Read),
        ("y", tail.result, Access::ReadWrite),
    ]);
    decls.push_str(&tail.decls(5));
    let mut bindings: Vec<Binding> = (0..4).map(|i| Binding::read(Slot::Operand(i))).collect();
    bindings.push(Binding::write(Slot::Result(0)));
    bindings.extend(tail.bindings());
    Ok((tail, decls, bindings))
}

/// The kernel computing a `MatMulInteger` node.
pub fn lower(ctx: &NodeCtx<'_>) -> Result<Lowered, CodegenError> {
    if ctx.result(0).shape.numel() == 0 {
        return Ok(Lowered::default());
    }
    check_binding_sizes(ctx)?;
    let (ad, bd) = (ctx.operand(0).shape.dims(), ctx.operand(1).shape.dims());
    let (m, k) = match ad {
        [k] => (1, *k),
        [.., m, k] => (*m, *k),
        [] => return Err(ctx.error("a must have rank >= 1")),
    };
    let n = match bd {
        [_] => 1,
        [.., n] => *n,
        [] => return Err(ctx.error("b must have rank >= 1")),
    };
    let (ab, bb) = (
        &ad[..ad.len().saturating_sub(2)],
        &bd[..bd.len().saturating_sub(2)],
    );
    let rank = ab.len().max(bb.len());
    let batch: Vec<usize> = (0..rank)
        .map(|i| {
            let dim = |d: &[usize]| (i + d.len()).checked_sub(rank).map_or(1, |j| d[j]);
            dim(ab).max(dim(bb))
        })
        .collect();
    // Element strides of each operand's batch axes (row-major over its own dims).
    let strides = |dims: &[usize], matrix: usize| -> Vec<usize> {
        let mut s = vec![0; dims.len()];
        let mut stride = matrix;
        for i in (0..dims.len()).rev() {
            s[i] = stride;
            stride *= dims[i];
        }
        s
    };
    let zero = |i: usize, index: &str| {
        if ctx.operand(i).shape.numel() > 1 {
            format!("i32({}[{index}])", ["", "", "za", "zb"][i])
        } else {
            format!("i32({}[0])", ["", "", "za", "zb"][i])
        }
    };
    let (tail, decls, bindings) = bindings(ctx, ["a", "b", "za", "zb"])?;
    let helpers = format!(
        "{}{}\
         fn load_a(z: u32, m: u32, k: u32) -> f32 {{\n    return f32(i32(a[a_off(z) + m * K + k]) - {});\n}}\n\
         fn load_b(z: u32, k: u32, n: u32) -> f32 {{\n    return f32(i32(b[b_off(z) + k * N + n]) - {});\n}}\n\
         fn store(z: u32, m: u32, n: u32, v: i32) {{\n    let idx = (z * M + m) * N + n;\n    \
         y[idx] = {};\n}}\n",
        batch_offset_fn("a_off", &batch, ab, &strides(ab, m * k)),
        batch_offset_fn("b_off", &batch, bb, &strides(bb, k * n)),
        zero(2, "m"),
        zero(3, "n"),
        tail.apply("v", "idx"),
    );
    let helpers = format!("{}{helpers}", tail.module_code(&Default::default())?);
    let shape = GemmShape {
        z: batch.iter().product(),
        m,
        n,
        k,
    };
    let kernel = engine::either(
        shape,
        &GemmSource {
            bindings: &decls,
            helpers: &helpers,
            acc: engine::Acc::I32,
        },
        ctx.limits,
    )?;
    Ok(Lowered {
        kernels: vec![KernelSrc {
            name: "matmul_integer".to_string(),
            wgsl: kernel.wgsl,
            entry_point: "main".to_string(),
            workgroup_size: kernel.workgroup_size,
            workgroups: kernel.workgroups,
            bindings,
        }],
        ..Lowered::default()
    })
}
