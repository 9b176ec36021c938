//! Lowering of `sparse_matmul` and `sparse_conv` (`sparse_matmul.wgsl`): one invocation
//! computes `TM` rows (a matmul's rows, a 1×1 convolution's pixels, a k×k
//! convolution's output pixels reading their windows) of one column unit — a column of
//! blocks (`C` columns) or one column of N:M weights — walking only the weights the
//! format stores. A workgroup's lanes share the column unit, so the stored weights are
//! uniform loads and each lane reads its own rows of `a`. A `Fused` node's epilogue
//! applies to each result before it is stored.

use super::epilogue::Tail;
use super::Slot;
use super::{binding_decls, check_binding_sizes, render, Binding, KernelSrc, Lowered, NodeCtx};
use crate::plan::Access;
use crate::CodegenError;
use kiln_ir::{ConvAttrs, DType, Op, SparseFormat};

/// Invocations per workgroup.
const WG: u32 = 64;

/// How the kernel reads `a`: along one axis (rows are the positions around it), or
/// through a convolution's windows (rows are output pixels; element `kk` of a row is
/// `x[b, c, oh·s + i·d - p, ..]` for `kk = (c · kh + i) · kw + j`, zero in the padding).
enum Reads {
    Axis,
    Window {
        conv: ConvAttrs,
        kernel: [usize; 2],
        input: [usize; 3],
        out_width: usize,
    },
}

/// The kernel of a `sparse_matmul` or `sparse_conv` node (or a `Fused` node anchored on
/// one).
pub fn lower(ctx: &NodeCtx<'_>) -> Result<Lowered, CodegenError> {
    if ctx.prologue().is_some() {
        return Err(ctx.error(format!(
            "the GPU backend cannot run a prologue before {}",
            ctx.op().name()
        )));
    }
    let a_dims = ctx.operand(0).shape.dims();
    let out_dims = ctx.anchor_result()?.shape.dims().to_vec();
    // Rows are (outer, inner) pairs around the output channels: `inner` is 1 for a
    // matmul, the pixels for a convolution.
    let (format, k, n, inner, reads) = match ctx.op() {
        &Op::SparseMatMul { format, axis, k, n } => {
            let inner = a_dims.get(axis + 1..).map_or(1, |d| d.iter().product());
            (format, k, n, inner, Reads::Axis)
        }
        Op::SparseConv {
            format,
            conv,
            kernel,
            n,
        } => {
            let (&[_, c, h, w], &[kh, kw], &[_, _, _, ow]) =
                (a_dims, kernel.as_slice(), out_dims.as_slice())
            else {
                return Err(ctx.error("sparse convolutions are 2-D"));
            };
            let reads = Reads::Window {
                conv: conv.clone(),
                kernel: [kh, kw],
                input: [c, h, w],
                out_width: ow,
            };
            (*format, c * kh * kw, *n, out_dims[2] * ow, reads)
        }
        op => return Err(ctx.error(format!("{} is not a sparse product", op.name()))),
    };
    let rows = out_dims.iter().product::<usize>() / n.max(1);
    if rows == 0 || n == 0 {
        return Ok(Lowered::default());
    }
    check_binding_sizes(ctx)?;
    // One column of blocks holds `cols` result columns; an N:M unit is one column.
    let (unit_cols, mut names): (usize, Vec<&str>) = match format {
        SparseFormat::Blocks { cols, .. } => (cols, vec!["a", "values", "block_rows", "starts"]),
        SparseFormat::NOfM { .. } => (1, vec!["a", "values", "positions"]),
    };
    let bias = ctx.arity() == names.len() + 1;
    if bias {
        names.push("bias");
    }
    // More rows per invocation amortise the index loads of one stored weight.
    let tm = rows.min(if unit_cols == 1 { 8 } else { 4 });
    let groups = rows.div_ceil(tm);
    let units = n.div_ceil(unit_cols);
    let wgx = (groups.next_power_of_two() as u32).min(WG);
    let wgy = WG / wgx;
    let max = ctx.limits.max_compute_workgroups_per_dimension as usize;
    let grid = [groups.div_ceil(wgx as usize), units.div_ceil(wgy as usize)];
    if grid.iter().any(|&g| g > max) {
        return Err(ctx.too_large(format!(
            "{rows} rows × {units} column units exceed the dispatch limits"
        )));
    }

    let bound: Vec<(usize, String)> = names
        .iter()
        .enumerate()
        .map(|(i, s)| (i, s.to_string()))
        .collect();
    let tail = Tail::of(ctx, &bound)?;
    let mut entries: Vec<(&str, DType, Access)> = names
        .iter()
        .enumerate()
        .map(|(i, &s)| (s, ctx.operand(i).dtype, Access::Read))
        .collect();
    entries.push(("y", tail.result, Access::ReadWrite));
    let mut decls = binding_decls(&entries);
    decls.push_str(&tail.decls(entries.len()));
    let mut bindings: Vec<Binding> = (0..names.len())
        .map(|i| Binding::read(Slot::Operand(i)))
        .collect();
    bindings.push(Binding::write(Slot::Result(0)));
    bindings.extend(tail.bindings());

    // Where row `t` starts, and how it reads element `kk`.
    let (row_bases, helpers) = match &reads {
        Reads::Axis if inner == 1 => (
            (0..tm)
                .map(|t| format!("    let r{t} = min(m0 + {t}u, ROWS - 1u) * K;\n"))
                .collect(),
            String::new(),
        ),
        Reads::Axis => (
            (0..tm)
                .map(|t| {
                    format!(
                        "    let q{t} = min(m0 + {t}u, ROWS - 1u);\n    \
                         let r{t} = q{t} / {inner}u * K * {inner}u + q{t} % {inner}u;\n"
                    )
                })
                .collect(),
            String::new(),
        ),
        Reads::Window {
            conv,
            kernel,
            input,
            out_width,
        } => (
            (0..tm)
                .map(|t| {
                    format!(
                        "    let q{t} = min(m0 + {t}u, ROWS - 1u);\n    \
                         let b{t} = q{t} / {inner}u;\n    \
                         let oh{t} = q{t} % {inner}u / {out_width}u;\n    \
                         let ow{t} = q{t} % {out_width}u;\n"
                    )
                })
                .collect(),
            window_loader(conv, *kernel, *input),
        ),
    };
    let load = |t: usize, kk: &str| match &reads {
        Reads::Axis if inner == 1 => format!("a[r{t} + {kk}]"),
        Reads::Axis => format!("a[r{t} + ({kk}) * {inner}u]"),
        Reads::Window { .. } => format!("load_a(b{t}, oh{t}, ow{t}, {kk})"),
    };
    let acc: String = (0..tm)
        .flat_map(|t| (0..unit_cols).map(move |j| format!("    var acc_{t}_{j} = 0.0;\n")))
        .collect();
    let body = match format {
        SparseFormat::Blocks { rows: r, cols: c } => blocks_loop(r, c, tm, k, &load),
        SparseFormat::NOfM { keep, group } => n_of_m_loop(keep, group, tm, k, &load),
    };
    let mut store = String::new();
    for t in 0..tm {
        for j in 0..unit_cols {
            let col = format!("u * {unit_cols}u + {j}u");
            let in_range = if n.is_multiple_of(unit_cols) {
                format!("m0 + {t}u < ROWS")
            } else {
                format!("m0 + {t}u < ROWS && {col} < N")
            };
            let idx = if inner == 1 {
                format!("(m0 + {t}u) * N + {col}")
            } else {
                format!("(m0 + {t}u) / {inner}u * N * {inner}u + ({col}) * {inner}u + (m0 + {t}u) % {inner}u")
            };
            let value = if bias {
                format!("acc_{t}_{j} + bias[{col}]")
            } else {
                format!("acc_{t}_{j}")
            };
            store.push_str(&format!(
                "    if {in_range} {{\n        let idx = {idx};\n        y[idx] = {};\n    }}\n",
                tail.apply(&value, "idx")
            ));
        }
    }
    let wgsl = render(
        kiln_shaders::SPARSE_MATMUL,
        &[
            ("BINDINGS", decls),
            (
                "HELPERS",
                format!("{helpers}{}", tail.module_code(&Default::default())?),
            ),
            ("ROWS", rows.to_string()),
            ("K", k.to_string()),
            ("N", n.to_string()),
            ("GROUPS", groups.to_string()),
            ("UNITS", units.to_string()),
            ("TM", tm.to_string()),
            ("WGX", wgx.to_string()),
            ("WGY", wgy.to_string()),
            ("ROW_BASES", row_bases),
            ("ACC", acc),
            ("LOOP", body),
            ("STORE", store),
        ],
    )?;
    Ok(Lowered {
        kernels: vec![KernelSrc {
            name: format!("{}_{}", ctx.op().name(), format.label().replace(':', "of")),
            wgsl,
            entry_point: "main".into(),
            workgroup_size: [wgx, wgy, 1],
            workgroups: [grid[0] as u32, grid[1] as u32, 1],
            bindings,
        }],
        ..Lowered::default()
    })
}

/// The walk over column of blocks `u`: each stored `r × c` block multiplies `a`'s
/// `r` elements from the block's row on; elements past `k` (a last, partial block row)
/// read as zero.
fn blocks_loop(
    r: usize,
    c: usize,
    tm: usize,
    k: usize,
    load: &dyn Fn(usize, &str) -> String,
) -> String {
    let mut s = format!(
        "    for (var b = u32(starts[u]); b < u32(starts[u + 1u]); b++) {{\n        \
         let k0 = u32(block_rows[b]) * {r}u;\n        \
         for (var i = 0u; i < {r}u; i++) {{\n            \
         let kk = k0 + i;\n            let wi = (b * {r}u + i) * {c}u;\n"
    );
    for j in 0..c {
        s.push_str(&format!("            let w{j} = values[wi + {j}u];\n"));
    }
    for t in 0..tm {
        let load = if k.is_multiple_of(r) {
            load(t, "kk")
        } else {
            format!("select(0.0, {}, kk < K)", load(t, "min(kk, K - 1u)"))
        };
        s.push_str(&format!("            let x{t} = {load};\n"));
        for j in 0..c {
            s.push_str(&format!("            acc_{t}_{j} += x{t} * w{j};\n"));
        }
    }
    s.push_str("        }\n    }\n");
    s
}

/// The walk over column `u`'s kept weights: weight `e` sits at its position within
/// group `e / keep` along `k`.
fn n_of_m_loop(
    keep: usize,
    group: usize,
    tm: usize,
    k: usize,
    load: &dyn Fn(usize, &str) -> String,
) -> String {
    let per_col = k / group * keep;
    let mut s = format!(
        "    let base = u * {per_col}u;\n    \
         for (var e = 0u; e < {per_col}u; e++) {{\n        \
         let w = values[base + e];\n        \
         let kk = e / {keep}u * {group}u + u32(positions[base + e]);\n"
    );
    for t in 0..tm {
        s.push_str(&format!("        acc_{t}_0 += {} * w;\n", load(t, "kk")));
    }
    s.push_str("    }\n");
    s
}

/// `fn load_a(b, oh, ow, kk)`: element `kk` of output pixel `(b, oh, ow)`'s window, zero
/// in the padding.
fn window_loader(conv: &ConvAttrs, [kh, kw]: [usize; 2], [c, h, w]: [usize; 3]) -> String {
    let (sh, sw) = (conv.strides[0], conv.strides[1]);
    let (dh, dw) = (conv.dilations[0], conv.dilations[1]);
    let (ph, pw) = (conv.pads[0], conv.pads[1]);
    format!(
        "fn load_a(b: u32, oh: u32, ow: u32, kk: u32) -> f32 {{\n    \
         let ch = kk / {khw}u;\n    let i = kk % {khw}u / {kw}u;\n    let j = kk % {kw}u;\n    \
         let ih = i32(oh * {sh}u + i * {dh}u) - {ph};\n    \
         let iw = i32(ow * {sw}u + j * {dw}u) - {pw};\n    \
         if ih < 0 || iw < 0 || ih >= {h} || iw >= {w} {{\n        return 0.0;\n    }}\n    \
         return a[((b * {c}u + ch) * {h}u + u32(ih)) * {w}u + u32(iw)];\n}}\n",
        khw = kh * kw,
    )
}
