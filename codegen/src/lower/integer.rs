//! Lowering of `MatMulInteger` to the matrix-product engines' exact integer mode
//! (`engine::Acc::I32`: f32 arithmetic flushed into i32 totals while exact):
//! `(a - a_zero) · (b - b_zero)`, wrapping as the reference's i32 result does, batch
//! axes broadcast; a `Fused` node's epilogue (a requantization) applies
//! to each i32 result before it is stored. `ConvInteger` is the implicit-GEMM convolution's
//! integer form (`conv::lower_integer`). Where the plan asks for packed dot products
//! (`PlanOptions::packed_dot`) and both operands are 8-bit, both run on the packed
//! engine instead (`matmul::dot4`: four products per `dot4I8Packed`, exact in i32).
//! Operands 0 and 1 may be narrow (an 8-bit activation its producer stored packed, an
//! 8-bit constant weight the bundle's bytes hold packed: see `build.rs`), decoded as
//! they are loaded; the packed engine repacks them into its words.

use super::epilogue::Tail;
use super::matmul::dot4;
use super::matmul::engine::{self, batch_offset_fn, GemmShape, GemmSource};
use super::matmul::{problem_of, read_strides, Strides};
use super::placement::{OperandSet, PlacementSupport};
use super::{binding_decls, check_binding_sizes, Binding, Lowered, NodeCtx, Slot};
use crate::plan::Access;
use crate::CodegenError;

/// `ConvInteger` (`conv::lower_integer`): operands 0 and 1 (input and weight) are read
/// decoded where they are narrow, and the result may be stored narrow (a word at a
/// time: see [`super::narrow::store4`]).
pub(crate) const PLACEMENT: PlacementSupport = PlacementSupport {
    narrow_reads: OperandSet::first(2),
    narrow_write: true,
    ..PlacementSupport::NONE
};

/// `MatMulInteger`: as [`PLACEMENT`], and both operands are read through the strides of
/// a folded transpose (an attention's heads split, a key transposed), as a float
/// matmul's are.
pub(crate) const MATMUL_PLACEMENT: PlacementSupport = PlacementSupport {
    strided_reads: OperandSet::first(2),
    ..PLACEMENT
};

/// The epilogue and the bindings of an integer product: its four operands (value,
/// value, zero point, zero point) under `names`, the result `y` of the epilogue's dtype
/// (words where it is narrow), then the epilogue's own inputs.
pub(super) fn bindings(
    ctx: &NodeCtx<'_>,
    names: [&str; 4],
) -> Result<(Tail, String, Vec<Binding>), CodegenError> {
    let bound: Vec<(usize, String)> = (0..4).map(|i| (i, names[i].to_string())).collect();
    let tail = Tail::of(ctx, &bound)?;
    let dtype = |i: usize| ctx.operand(i).dtype;
    let mut decls = binding_decls(&[
        (names[0], ctx.binding_dtype(0, dtype(0)), Access::Read),
        (names[1], ctx.binding_dtype(1, dtype(1)), Access::Read),
        (names[2], dtype(2), Access::Read),
        (names[3], dtype(3), Access::Read),
        (
            "y",
            ctx.result_binding_dtype(tail.result),
            Access::ReadWrite,
        ),
    ]);
    decls.push_str(&tail.decls(5));
    let mut bindings: Vec<Binding> = (0..4).map(|i| Binding::read(Slot::Operand(i))).collect();
    bindings.push(Binding::write(Slot::Result(0)));
    bindings.extend(tail.bindings());
    Ok((tail, decls, bindings))
}

/// Operand `i`'s zero point as an i32 WGSL expression: a literal when it is one
/// constant value (most models), so the inner loop loads nothing for it; else element
/// `index` of binding `name` (element 0 when it holds one value).
pub(super) fn zero_point(ctx: &NodeCtx<'_>, i: usize, name: &str, index: &str) -> String {
    match constant_zero(ctx, i) {
        Some(v) => format!("{v}i"),
        None => format!("i32({})", zero_element(ctx, i, name, index)),
    }
}

/// Operand `i`'s zero point as the packed engine's signed byte ([`dot4::signed_byte`]),
/// an i32 WGSL expression: a literal when it is one constant value, else element
/// `index` of binding `name` (element 0 when it holds one value).
pub(super) fn zero_byte(ctx: &NodeCtx<'_>, i: usize, name: &str, index: &str) -> String {
    match constant_zero_byte(ctx, i) {
        Some(v) => format!("{v}i"),
        None => dot4::signed_byte(ctx.operand(i).dtype, &zero_element(ctx, i, name, index)),
    }
}

/// Operand `i`'s zero point when it is one constant value.
fn constant_zero(ctx: &NodeCtx<'_>, i: usize) -> Option<i64> {
    if ctx.operand(i).shape.numel() != 1 {
        return None;
    }
    Some(ctx.graph.constant(ctx.node().inputs[i])?.to_f64_vec()[0] as i64)
}

/// [`constant_zero`] as the packed engine's signed byte.
fn constant_zero_byte(ctx: &NodeCtx<'_>, i: usize) -> Option<i64> {
    constant_zero(ctx, i).map(|v| dot4::byte_value(ctx.operand(i).dtype, v))
}

/// The element of binding `name` holding operand `i`'s zero point at `index` (element
/// 0 when it holds one value).
fn zero_element(ctx: &NodeCtx<'_>, i: usize, name: &str, index: &str) -> String {
    let one = ctx.operand(i).shape.numel() == 1;
    format!("{name}[{}]", if one { "0u" } else { index })
}

/// Whether an integer product of `shape` whose left and right operands are operands
/// `a` and `b` (their zero points `a + 2`, `b + 2`; all 8-bit, as shape inference
/// requires) runs on the packed 8-bit engine, and with which corrections: where the plan
/// asks for it ([`NodeCtx::packed_dot`]) and the product is wide enough to tile.
pub(super) fn packed_sums(
    ctx: &NodeCtx<'_>,
    shape: GemmShape,
    [a, b]: [usize; 2],
) -> Option<dot4::Sums> {
    let eligible = ctx.packed_dot && engine::worth_tiling(shape);
    let nonzero = |i: usize| constant_zero_byte(ctx, i) != Some(0);
    eligible.then(|| dot4::Sums {
        a: nonzero(b + 2),
        b: nonzero(a + 2),
    })
}

/// The kernel computing a `MatMulInteger` node.
pub fn lower(ctx: &NodeCtx<'_>) -> Result<Lowered, CodegenError> {
    if ctx.result(0).shape.numel() == 0 {
        return Ok(Lowered::default());
    }
    check_binding_sizes(ctx)?;
    // The geometry of a float matmul of these shapes; rows never fold (a's zero point
    // may be one per row).
    let (a, b) = (ctx.operand(0), ctx.operand(1));
    let p = problem_of(
        a.shape.dims(),
        b.shape.dims(),
        Strides::of(&read_strides(ctx, 0, a), true),
        Strides::of(&read_strides(ctx, 1, b), false),
        false,
    )
    .map_err(|e| ctx.error(e))?;
    let shape = GemmShape {
        z: p.batch.iter().product(),
        m: p.m,
        n: p.n,
        k: p.k,
    };
    let packed = packed_sums(ctx, shape, [0, 1]);
    // Word-at-a-time reads on the direct engine (the packed engine repacks its own).
    let words = packed.is_none().then(|| WordReads::of(ctx, shape, &p));
    let a_elem = ctx.element(
        0,
        "a",
        &format!("a_off(z) + m * {}u + k * {}u", p.a.row, p.a.col),
    );
    let b_elem = ctx.element(
        1,
        "b",
        &format!("b_off(z) + k * {}u + n * {}u", p.b.row, p.b.col),
    );
    let (loads, acc) = if let Some(sums) = packed {
        let byte = |i: usize, e: &str| dot4::signed_byte(ctx.operand(i).dtype, e);
        let loads = format!(
            "fn load_a(z: u32, m: u32, k: u32) -> i32 {{\n    return {};\n}}\n\
             fn load_b(z: u32, k: u32, n: u32) -> i32 {{\n    return {};\n}}\n\
             fn zero_a(z: u32, m: u32) -> i32 {{\n    return {};\n}}\n\
             fn zero_b(z: u32, n: u32) -> i32 {{\n    return {};\n}}\n",
            byte(0, &a_elem),
            byte(1, &b_elem),
            zero_byte(ctx, 2, "za", "m"),
            zero_byte(ctx, 3, "zb", "n"),
        );
        (loads, engine::Acc::Dot4(sums))
    } else {
        let loads = format!(
            "fn load_a(z: u32, m: u32, k: u32) -> f32 {{\n    return f32(i32({a_elem}) - {});\n}}\n\
             fn load_b(z: u32, k: u32, n: u32) -> f32 {{\n    return f32(i32({b_elem}) - {});\n}}\n",
            zero_point(ctx, 2, "za", "m"),
            zero_point(ctx, 3, "zb", "n"),
        );
        let loads = loads + &words.as_ref().map_or(String::new(), |w| w.loads(ctx, &p));
        (loads, engine::Acc::I32)
    };
    let (tail, decls, bindings) = bindings(ctx, ["a", "b", "za", "zb"])?;
    let narrow = ctx.result_place.narrow;
    let store = if narrow {
        super::narrow::store4(
            ctx.result(0).dtype,
            p.n,
            acc.result_type(),
            "y",
            "",
            "(z * M + m) * N + col",
            (&tail.apply("v", "idx"), tail.storage()),
        )?
    } else {
        format!(
            "fn store(z: u32, m: u32, n: u32, v: i32) {{\n    let idx = (z * M + m) * N + n;\n    \
             y[idx] = {};\n}}\n",
            tail.apply("v", "idx"),
        )
    };
    let helpers = format!(
        "{}{}{}{loads}{store}",
        tail.module_code(&Default::default())?,
        batch_offset_fn("a_off", &p.batch, &p.a_batch, &p.a.batch),
        batch_offset_fn("b_off", &p.batch, &p.b_batch, &p.b.batch),
    );
    let kernel = engine::either(
        shape,
        &GemmSource {
            bindings: &decls,
            helpers: &helpers,
            acc,
            words: narrow,
            load_a4: words.as_ref().is_some_and(|w| w.a),
            load_b4: words.as_ref().is_some_and(|w| w.b),
        },
        ctx.limits,
    )?;
    Ok(Lowered {
        kernels: vec![kernel.into_src("matmul_integer", bindings)],
        packed_dot: packed.is_some(),
        ..Lowered::default()
    })
}

/// Whether the direct engine may read operand `i` (laid out by `strides`, its
/// contiguous axis `extent` long) a word of four elements at a time along that axis
/// ([`engine::GemmSource::load_a4`], [`engine::GemmSource::load_b4`]): an 8-bit operand
/// stored packed, the axis adjacent in memory, and every row, batch entry and run of
/// four elements starting on a word, in a product too thin to tile.
fn word_reads(
    ctx: &NodeCtx<'_>,
    shape: GemmShape,
    i: usize,
    strides: &super::matmul::Strides,
    extent: usize,
) -> bool {
    !engine::worth_tiling(shape)
        && ctx.operand_narrow(i)
        && super::narrow::per_word(ctx.operand(i).dtype) == Some(4)
        && extent.is_multiple_of(4)
        && strides.col == 1
        && strides.row.is_multiple_of(4)
        && strides.batch.iter().all(|s| s.is_multiple_of(4))
}

/// `fn NAME(z: u32, x: u32, y: u32) -> vec4<f32>`: the four elements of operand `i`
/// bound as `buf` in the word at element `off` (a WGSL expression of `z`, `x`, `y`),
/// each less its zero point (`zeros`, i32 expressions).
fn load4(ctx: &NodeCtx<'_>, i: usize, header: &str, off: &str, zeros: [String; 4]) -> String {
    let buf = ["a", "b"][i];
    let lanes = super::narrow::lanes4(ctx.operand(i).dtype, "w");
    format!(
        "fn {header} -> vec4<f32> {{\n    let w = {buf}[({off}) / 4u];\n    \
         return vec4<f32>({lanes} - vec4<i32>({}));\n}}\n",
        zeros.join(", ")
    )
}

/// Which operands the direct engine reads a word of four elements at a time
/// ([`word_reads`]): A along k, B along n.
struct WordReads {
    a: bool,
    b: bool,
}

impl WordReads {
    fn of(ctx: &NodeCtx<'_>, shape: GemmShape, p: &super::matmul::Problem) -> WordReads {
        WordReads {
            a: word_reads(ctx, shape, 0, &p.a, shape.k),
            b: word_reads(ctx, shape, 1, &p.b, shape.n),
        }
    }

    /// `load_a4` (four elements of a row of A, less the row's zero point) and `load_b4`
    /// (four columns of a row of B, less theirs), where allowed.
    fn loads(&self, ctx: &NodeCtx<'_>, p: &super::matmul::Problem) -> String {
        let mut loads = String::new();
        if self.a {
            let zero = zero_point(ctx, 2, "za", "m");
            loads.push_str(&load4(
                ctx,
                0,
                "load_a4(z: u32, m: u32, k: u32)",
                &format!("a_off(z) + m * {}u + k", p.a.row),
                [(); 4].map(|_| zero.clone()),
            ));
        }
        if self.b {
            let zeros = [0, 1, 2, 3].map(|j| zero_point(ctx, 3, "zb", &format!("n + {j}u")));
            loads.push_str(&load4(
                ctx,
                1,
                "load_b4(z: u32, k: u32, n: u32)",
                &format!("b_off(z) + k * {}u + n", p.b.row),
                zeros,
            ));
        }
        loads
    }
}
