//! Lowering of max pooling (any 32-bit storage type, optional i32 indices,
//! storage_order) and average pooling (count_include_pad) over N-d windows with
//! pads, strides, dilations and ceil_mode (the result shape already reflects it):
//! one invocation per output element. `pool.wgsl` is the frame; this file writes the
//! window walk as straight-line code per spatial axis with literal bounds (no arrays
//! indexed at run time, which naga turns into a local copy per access), and each
//! pooling kind supplies a [`Reduction`] run at every tap.

use super::check_binding_sizes;
use super::epilogue::Tail;
use super::placement::{OperandSet, PlacementSupport};
use super::{binding_decls, render, Binding, KernelSrc, Lowered, NodeCtx, Slot, LINEAR_INDEX};
use crate::plan::Access;
use crate::CodegenError;
use kiln_ir::{DType, Op, PoolAttrs};

const WG: u32 = 64;

/// The input is read through [`NodeCtx::element`], so decoded where it is narrow.
pub(crate) const PLACEMENT: PlacementSupport = PlacementSupport {
    narrow_reads: OperandSet::first(1),
    ..PlacementSupport::NONE
};

/// The kernel computing a `MaxPool` or `AveragePool` node, or a `Fused` node anchored
/// on one.
pub fn lower(ctx: &NodeCtx<'_>, a: &PoolAttrs) -> Result<Lowered, CodegenError> {
    let max = matches!(ctx.op(), Op::MaxPool(_));
    let axes = geometry(ctx, a)?;
    let dtype = ctx.operand(0).dtype;
    if !max && !dtype.is_float() {
        return Err(ctx.error(format!("average pooling needs floats, got {dtype}")));
    }
    let total = ctx.result(0).shape.numel();
    let pin: usize = axes.iter().map(|ax| ax.input).product();
    let tail = Tail::of(ctx, &[(0, "x".to_string())])?;
    let mut decls = vec![
        ("x", ctx.binding_dtype(0, dtype), Access::Read),
        ("y", tail.result, Access::ReadWrite),
    ];
    let mut bindings = vec![
        Binding::read(Slot::Operand(0)),
        Binding::write(Slot::Result(0)),
    ];
    let with_indices = max && ctx.node().outputs.len() > 1;
    if with_indices {
        decls.push(("indices", DType::I32, Access::ReadWrite));
        bindings.push(Binding::write(Slot::Result(1)));
    }
    // Max-pool indices count the spatial position column-major with storage_order 1;
    // row-major they are the flat input offset itself.
    let column_major = with_indices && a.storage_order == 1;
    let read = ctx.element(0, "x", "off");
    let red = if max {
        Reduction::max(dtype, &read, with_indices, column_major)
    } else {
        Reduction::average(&axes, a.count_include_pad, &read)
    };
    let mut binding_code = binding_decls(&decls);
    binding_code.push_str(&tail.decls(bindings.len()));
    bindings.extend(tail.bindings());
    let walk = Walk {
        axes: &axes,
        column_major,
        tap: &red.tap,
    };
    let wgsl = render(
        kiln_shaders::POOL,
        &[
            ("BINDINGS", binding_code),
            ("WG", WG.to_string()),
            ("TOTAL", total.to_string()),
            ("HELPERS", tail.module_code(&Default::default())?),
            ("LINEAR_INDEX", LINEAR_INDEX.to_string()),
            (
                "COORDS",
                format!(
                    "{}    let base = {};\n",
                    coords(&axes, "t"),
                    times("r", pin)
                ),
            ),
            ("STATE", red.state),
            ("WINDOW", walk.code()),
            ("RESULT", red.result),
            ("STORE", tail.apply("v", "t")),
            ("EXTRA", red.extra),
        ],
    )?;
    let name = if max { "max_pool" } else { "average_pool" };
    Ok(Lowered {
        kernels: vec![KernelSrc::linear(
            name, wgsl, total, WG, ctx.limits, bindings,
        )?],
        ..Lowered::default()
    })
}

/// One spatial axis of a pooling window.
struct Axis {
    input: usize,
    output: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    /// Padding before the input (taps start this far before it).
    pad: usize,
    /// Padding after the input (only count_include_pad reads it).
    pad_end: usize,
    /// Row-major stride of the axis in the input.
    in_stride: usize,
    /// Stride of the axis in column-major max-pool indices.
    index_stride: usize,
}

impl Axis {
    /// The furthest tap from the padded input's start, over all windows.
    fn reach(&self) -> usize {
        self.output.saturating_sub(1) * self.stride + self.kernel.saturating_sub(1) * self.dilation
    }

    /// Whether some tap can fall before the input.
    fn below(&self) -> bool {
        self.pad > 0
    }

    /// Whether some tap can fall past the input.
    fn above(&self) -> bool {
        self.reach() >= self.input + self.pad
    }

    /// Whether taps on this axis need a bounds test.
    fn tested(&self) -> bool {
        self.below() || self.above()
    }
}

/// Checks shapes and attributes; the spatial axes, outermost first.
fn geometry(ctx: &NodeCtx<'_>, a: &PoolAttrs) -> Result<Vec<Axis>, CodegenError> {
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
    let too_large = || ctx.too_large("tensor too large to index");
    if ctx.result(0).shape.numel() > u32::MAX as usize
        || ctx.operand(0).shape.numel() > u32::MAX as usize
    {
        return Err(too_large());
    }
    let (in_sp, out_sp) = (&xs[2..], &ys[2..]);
    for i in 0..sp {
        // Coordinates are i32 in the kernel: the furthest tap must fit.
        let reach = out_sp[i].saturating_sub(1) as u128 * a.strides[i] as u128
            + a.kernel[i].saturating_sub(1) as u128 * a.dilations[i] as u128
            + (in_sp[i] + a.pads[i] + a.pads[sp + i]) as u128;
        if reach > i32::MAX as u128 {
            return Err(too_large());
        }
    }
    Ok(axes(a, in_sp, out_sp))
}

/// The spatial axes of a pool with attributes `a` from `in_sp` to `out_sp`, outermost
/// first.
fn axes(a: &PoolAttrs, in_sp: &[usize], out_sp: &[usize]) -> Vec<Axis> {
    let sp = in_sp.len();
    let mut row_major = vec![1; sp];
    for i in (0..sp.saturating_sub(1)).rev() {
        row_major[i] = row_major[i + 1] * in_sp[i + 1];
    }
    let mut column = 1;
    let mut axes = Vec::with_capacity(sp);
    for i in 0..sp {
        axes.push(Axis {
            input: in_sp[i],
            output: out_sp[i],
            kernel: a.kernel[i],
            stride: a.strides[i],
            dilation: a.dilations[i],
            pad: a.pads[i],
            pad_end: a.pads[sp + i],
            in_stride: row_major[i],
            index_stride: column,
        });
        column *= in_sp[i];
    }
    axes
}

/// Statements leaving `v`, the maximum of f32 `x` over the window of pooled position
/// `pos` in the plane that starts at `base` (both in scope), with the attributes `a`
/// pooling `in_sp` to `out_sp`: a max pool evaluated where a 1×1 convolution loads its
/// input (a `Fused` prologue). `read` is the f32 element at `off` (decoded where `x`
/// is narrow).
pub(super) fn max_window(a: &PoolAttrs, in_sp: &[usize], out_sp: &[usize], read: &str) -> String {
    let axes = axes(a, in_sp, out_sp);
    let red = Reduction::max(DType::F32, read, false, false);
    let walk = Walk {
        axes: &axes,
        column_major: false,
        tap: &red.tap,
    };
    format!(
        "{}{}{}{}",
        coords(&axes, "pos"),
        red.state,
        walk.code(),
        red.result
    )
}

/// `expr * n`, without the product when `n` is 1.
fn times(expr: &str, n: usize) -> String {
    if n == 1 {
        expr.to_string()
    } else {
        format!("{expr} * {n}u")
    }
}

/// WGSL splitting `from` into output coordinates `o{a}` (innermost axis first),
/// leaving the plane index in `r`.
fn coords(axes: &[Axis], from: &str) -> String {
    let mut code = format!("    var r = {from};\n");
    for (i, ax) in axes.iter().enumerate().rev() {
        if ax.output <= 1 {
            code.push_str(&format!("    let o{i} = 0u;\n"));
        } else {
            code.push_str(&format!(
                "    let o{i} = r % {d}u;\n    r = r / {d}u;\n",
                d = ax.output
            ));
        }
    }
    code
}

/// The window walk: every tap of the window inside the input, row-major over the
/// kernel, with `tap` run at each (`off`: the flat input offset; `index`: the flat
/// max-pool index when it differs from `off`). Each axis tests its own coordinate once,
/// outside the loops of the axes inside it, and only when a tap can cross the input's
/// edge on that axis.
struct Walk<'a> {
    axes: &'a [Axis],
    column_major: bool,
    tap: &'a str,
}

impl Walk<'_> {
    fn code(&self) -> String {
        let mut code = String::new();
        self.axis(0, "base", "base", "    ", &mut code);
        code
    }

    /// Appends the walk of axis `i` and those inside it; `off` and `index` are the
    /// offsets of the outer axes' coordinates.
    fn axis(&self, i: usize, off: &str, index: &str, ind: &str, code: &mut String) {
        let Some(ax) = self.axes.get(i) else {
            code.push_str(&format!("{ind}let off = {off};\n"));
            if index != off {
                code.push_str(&format!("{ind}let index = {index};\n"));
            }
            for line in self.tap.lines() {
                code.push_str(&format!("{ind}{line}\n"));
            }
            return;
        };
        let mut ind = ind.to_string();
        let o = times(&format!("o{i}"), ax.stride);
        let tested = ax.tested();
        // The tap's coordinate: signed when it may fall before the input.
        let start = match (tested, ax.pad) {
            (false, _) => o,
            (true, 0) => format!("i32({o})"),
            (true, pad) => format!("i32({o}) - {pad}"),
        };
        let step = match (ax.kernel, tested) {
            (1, _) => String::new(),
            (_, false) => format!(" + {}", times(&format!("k{i}"), ax.dilation)),
            (_, true) => format!(" + i32({})", times(&format!("k{i}"), ax.dilation)),
        };
        let mut closers = Vec::new();
        if ax.kernel != 1 {
            code.push_str(&format!(
                "{ind}for (var k{i} = 0u; k{i} < {}u; k{i}++) {{\n",
                ax.kernel
            ));
            closers.push(format!("{ind}}}\n"));
            ind.push_str("    ");
        }
        code.push_str(&format!("{ind}let c{i} = {start}{step};\n"));
        let coord = if tested {
            let mut tests = Vec::new();
            if ax.below() {
                tests.push(format!("c{i} >= 0"));
            }
            if ax.above() {
                tests.push(format!("c{i} < {}", ax.input));
            }
            code.push_str(&format!("{ind}if ({}) {{\n", tests.join(" && ")));
            closers.push(format!("{ind}}}\n"));
            ind.push_str("    ");
            format!("u32(c{i})")
        } else {
            format!("c{i}")
        };
        let p = format!("p{i}");
        code.push_str(&format!(
            "{ind}let {p} = {off} + {};\n",
            times(&coord, ax.in_stride)
        ));
        let q = if self.column_major {
            code.push_str(&format!(
                "{ind}let q{i} = {index} + {};\n",
                times(&coord, ax.index_stride)
            ));
            format!("q{i}")
        } else {
            p.clone()
        };
        self.axis(i + 1, &p, &q, &ind, code);
        while let Some(close) = closers.pop() {
            code.push_str(&close);
        }
    }
}

/// What one pooling kind does with a window: the hook the walk runs at each tap.
struct Reduction {
    /// Accumulator declarations.
    state: String,
    /// Code run at each tap inside the input (reads `off`, and `index` for
    /// column-major indices).
    tap: String,
    /// Statements defining `v`, the pooled value.
    result: String,
    /// Statements storing further results.
    extra: String,
}

impl Reduction {
    /// Max pooling of the elements `read` loads at `off`: the first maximum in window
    /// order wins (a NaN first tap stays); a window entirely in padding yields the
    /// lowest value and index 0.
    fn max(dtype: DType, read: &str, with_indices: bool, column_major: bool) -> Reduction {
        let ty = super::wgsl_type(dtype);
        let mut state = format!(
            "    var best: {ty} = {};\n    var found = false;\n",
            lowest(dtype)
        );
        let mut tap = format!(
            "let xv = {read};\nif (!found || xv > best) {{\n    best = xv;\n    found = true;\n"
        );
        let mut extra = String::new();
        if with_indices {
            state.push_str("    var best_index = 0u;\n");
            let index = if column_major { "index" } else { "off" };
            tap.push_str(&format!("    best_index = {index};\n"));
            extra.push_str("    indices[t] = select(0, i32(best_index), found);\n");
        }
        tap.push_str("}\n");
        Reduction {
            state,
            tap,
            result: "    let v = best;\n".to_string(),
            extra,
        }
    }

    /// Average pooling: the divisor counts the taps inside the input, or with
    /// `count_include_pad` those inside the explicitly padded input (never the extra
    /// region ceil_mode adds); a window with no taps yields NaN.
    fn average(axes: &[Axis], count_include_pad: bool, read: &str) -> Reduction {
        let mut state = String::from("    var sum = 0.0;\n");
        let mut tap = format!("sum += {read};\n");
        let mut result = String::new();
        if count_include_pad {
            // Per axis, the taps before the end of the padded input (every window
            // starts at or after its start).
            let mut factors = Vec::new();
            for (i, ax) in axes.iter().enumerate() {
                let padded = ax.input + ax.pad + ax.pad_end;
                if ax.reach() < padded {
                    factors.push(format!("{}u", ax.kernel));
                    continue;
                }
                let at = times(&format!("o{i}"), ax.stride);
                result.push_str(&format!(
                    "    let n{i} = min({k}u, ({padded}u - min({at}, {padded}u) + {d1}u) / {d}u);\n",
                    k = ax.kernel,
                    d1 = ax.dilation - 1,
                    d = ax.dilation,
                ));
                factors.push(format!("n{i}"));
            }
            result.push_str(&format!("    let count = {};\n", factors.join(" * ")));
        } else if axes.iter().any(Axis::tested) {
            state.push_str("    var count = 0u;\n");
            tap.push_str("count += 1u;\n");
        } else {
            let kk: usize = axes.iter().map(|ax| ax.kernel).product();
            result.push_str(&format!("    let count = {kk}u;\n"));
        }
        result.push_str(
            "    var v = bitcast<f32>(0x7fc00000u);\n    if (count != 0u) {\n        \
             v = sum / f32(count);\n    }\n",
        );
        Reduction {
            state,
            tap,
            result,
            extra: String::new(),
        }
    }
}

/// The value of a window entirely in padding, as the reference stores it (-inf
/// converted to the dtype, saturating).
fn lowest(dtype: DType) -> String {
    match dtype.int_range() {
        _ if dtype.is_float() => "bitcast<f32>(0xff800000u)".to_string(),
        Some((lo, _)) => super::elementwise::expr::int_literal(dtype, lo),
        None => "0u".to_string(),
    }
}

#[cfg(test)]
mod tests;
