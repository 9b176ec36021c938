//! Lowering of `MatMul` (numpy semantics: 1-D operands promoted, batch axes
//! broadcast) to the matrix-product engines, with an epilogue hook applied to each
//! output before it is stored, and K/M splitting for operands over the binding limit.

pub(crate) mod dot4;
pub(crate) mod engine;
mod split;

use super::epilogue::{Epilogue, Tail};
use super::packed::WeightRead;
use super::placement::{OperandSet, PlacementSupport};
use super::{
    binding_decls, binding_decls_from, Binding, KernelSrc, Limits, Lowered, NodeCtx, Slot,
};
use crate::plan::Access;
use crate::CodegenError;
use engine::{batch_offset_fn, GemmShape, GemmSource};
use kiln_ir::DType;
use split::{Chunk, Split};

/// Both operands are read through the strides of a folded transpose, B packed and A
/// narrow, when the product runs as one dispatch over whole bindings
/// ([`reads_whole_operands`]; [`placement`] answers for a node's operand types).
pub(crate) const PLACEMENT: PlacementSupport = PlacementSupport {
    strided_reads: OperandSet::first(2),
    packed_reads: OperandSet::first(2).from_on(1),
    narrow_reads: OperandSet::first(1),
    narrow_write: true,
    ..PlacementSupport::NONE
};

/// [`PLACEMENT`] for a product of `a` by `b` on a device with `limits`: strided, packed
/// and narrow reads only when it runs as one dispatch over whole bindings.
pub(crate) fn placement(
    support: PlacementSupport,
    a: &kiln_ir::TensorType,
    b: &kiln_ir::TensorType,
    limits: &Limits,
) -> PlacementSupport {
    if reads_whole_operands(a, b, limits) {
        support
    } else {
        PlacementSupport {
            strided_reads: support.strided_reads.from_on(2),
            packed_reads: support.packed_reads.from_on(2),
            narrow_reads: support.narrow_reads.from_on(2),
            ..support
        }
    }
}

/// The kernels computing a `MatMul` node (or a `Fused` one anchored on it).
pub fn lower(ctx: &NodeCtx<'_>) -> Result<Lowered, CodegenError> {
    let node = ctx.node();
    let b = if node.inputs[0] == node.inputs[1] {
        "a"
    } else {
        "b"
    };
    let bound = [(0, "a".to_string()), (1, b.to_string())];
    let tail = Tail::of(ctx, &bound)?;
    lower_with(ctx, &Epilogue::identity().then(&tail)?)
}

/// The problem a `MatMul` node poses, with 1-D operands promoted and batch axes of
/// an `a` multiplied by an unbatched `b` folded into `a`'s rows (when `a` is
/// row-major).
pub(super) struct Problem {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub batch: Vec<usize>,
    pub a_batch: Vec<usize>,
    pub b_batch: Vec<usize>,
    pub a: Strides,
    pub b: Strides,
}

/// Where an operand's elements sit in its binding: the element strides of its own
/// batch axes, of its row axis and of its column axis (row-major unless the plan
/// builder folded a transpose into the product).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Strides {
    pub batch: Vec<usize>,
    pub row: usize,
    pub col: usize,
}

impl Strides {
    /// Splits `strides` (one per axis of an operand of `rank`) into batch, row and
    /// column strides; a promoted 1-D operand's missing axis gets stride 0 (`row` for
    /// `a`, `col` for `b`).
    pub fn of(strides: &[usize], is_a: bool) -> Strides {
        match strides {
            [s] if is_a => Strides {
                batch: Vec::new(),
                row: 0,
                col: *s,
            },
            [s] => Strides {
                batch: Vec::new(),
                row: *s,
                col: 0,
            },
            _ => {
                let r = strides.len();
                Strides {
                    batch: strides[..r - 2].to_vec(),
                    row: strides[r - 2],
                    col: strides[r - 1],
                }
            }
        }
    }
}

fn problem(ctx: &NodeCtx<'_>) -> Result<Problem, CodegenError> {
    // `a` as the product reads it: through an element-wise prologue, its result.
    let pre = ctx.prologue_input()?;
    let (a, b) = (pre.as_ref().unwrap_or(ctx.operand(0)), ctx.operand(1));
    let c = ctx.anchor_result()?;
    for (ty, what) in [(a, "a"), (b, "b"), (&c, "the result")] {
        if !matches!(ty.dtype, DType::F32 | DType::F16) {
            return Err(ctx.error(format!("{what} must be f32 or f16, got {}", ty.dtype)));
        }
    }
    problem_of(
        a.shape.dims(),
        b.shape.dims(),
        Strides::of(&read_strides(ctx, 0, a), true),
        Strides::of(&read_strides(ctx, 1, b), false),
        ctx.operand_strides(0).is_none(),
    )
    .map_err(|e| ctx.error(e))
}

/// The element strides operand `i` (of type `ty`) is read through: a folded
/// transpose's, else row-major.
pub(super) fn read_strides(ctx: &NodeCtx<'_>, i: usize, ty: &kiln_ir::TensorType) -> Vec<usize> {
    ctx.operand_strides(i)
        .map_or_else(|| ty.shape.strides(), <[usize]>::to_vec)
}

/// The problem of `a` (dims `ad`, laid out by `sa`) times `b`; `a_row_major` allows
/// folding `a`'s batch axes into its rows.
pub(super) fn problem_of(
    ad: &[usize],
    bd: &[usize],
    sa: Strides,
    sb: Strides,
    a_row_major: bool,
) -> Result<Problem, String> {
    if ad.is_empty() || bd.is_empty() {
        return Err("operands must have rank >= 1".into());
    }
    let (m, k) = if ad.len() == 1 {
        (1, ad[0])
    } else {
        (ad[ad.len() - 2], ad[ad.len() - 1])
    };
    let (k2, n) = if bd.len() == 1 {
        (bd[0], 1)
    } else {
        (bd[bd.len() - 2], bd[bd.len() - 1])
    };
    if k != k2 {
        return Err(format!("inner dims differ: a is {ad:?}, b is {bd:?}"));
    }
    let a_batch = ad[..ad.len().saturating_sub(2)].to_vec();
    let b_batch = bd[..bd.len().saturating_sub(2)].to_vec();
    if b_batch.iter().product::<usize>() == 1 && a_row_major {
        // b is one matrix: a's batch entries are just more rows.
        let rows = a_batch.iter().product::<usize>() * m;
        return Ok(Problem {
            m: rows,
            k,
            n,
            batch: Vec::new(),
            a_batch: Vec::new(),
            b_batch: Vec::new(),
            a: Strides {
                batch: Vec::new(),
                ..sa
            },
            b: Strides {
                batch: Vec::new(),
                ..sb
            },
        });
    }
    let rank = a_batch.len().max(b_batch.len());
    let mut batch = vec![1usize; rank];
    for (i, slot) in batch.iter_mut().enumerate() {
        let da = (i + a_batch.len())
            .checked_sub(rank)
            .map_or(1, |j| a_batch[j]);
        let db = (i + b_batch.len())
            .checked_sub(rank)
            .map_or(1, |j| b_batch[j]);
        *slot = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(format!(
                    "batch dims do not broadcast: a is {ad:?}, b is {bd:?}"
                ))
            }
        };
    }
    Ok(Problem {
        m,
        k,
        n,
        batch,
        a_batch,
        b_batch,
        a: sa,
        b: sb,
    })
}

/// True when a product of `a` by `b` runs as one dispatch over whole bindings whether
/// or not `a`'s batch axes fold into its rows, so its operands may be read through
/// the strides of a transpose folded into it (the plan builder asks before folding).
pub(crate) fn reads_whole_operands(
    a: &kiln_ir::TensorType,
    b: &kiln_ir::TensorType,
    limits: &Limits,
) -> bool {
    let (ad, bd) = (a.shape.dims(), b.shape.dims());
    [true, false].iter().all(|&fold| {
        let sa = Strides::of(&a.shape.strides(), true);
        let sb = Strides::of(&b.shape.strides(), false);
        let Ok(p) = problem_of(ad, bd, sa, sb, fold) else {
            return false;
        };
        let z: usize = p.batch.iter().product();
        z <= limits.max_compute_workgroups_per_dimension as usize
            && matches!(
                Split::plan(p.m, p.k, p.n, z, false, limits),
                Ok(s) if !s.rows_bound && !s.k_bound && s.chunks().len() == 1
            )
    })
}

/// The kernels computing a `MatMul` node with `epi` applied to each output.
pub fn lower_with(ctx: &NodeCtx<'_>, epi: &Epilogue) -> Result<Lowered, CodegenError> {
    let p = problem(ctx)?;
    let z: usize = p.batch.iter().product();
    let node = ctx.node();
    let same = node.inputs[0] == node.inputs[1];
    let split = Split::plan(p.m, p.k, p.n, z, same, ctx.limits).map_err(|r| ctx.error(r))?;
    // An f16 result's words are f32 (rounded by the last chunk's epilogue).
    if split.k_bound && !matches!(epi.result, DType::F32 | DType::F16) {
        return Err(ctx.error(format!(
            "a product split along K accumulates in its result, which an epilogue giving {} cannot hold",
            epi.result
        )));
    }
    let split_up = split.rows_bound || split.k_bound || split.chunks().len() != 1;
    if ctx.result_place.narrow && split_up {
        return Err(CodegenError::WordStores(
            "the product is split into chunks".to_string(),
        ));
    }
    let mut kernels = Vec::new();
    for chunk in split.chunks() {
        kernels.push(chunk_kernel(ctx, &p, z, same, &split, &chunk, epi)?);
    }
    Ok(Lowered {
        kernels,
        ..Lowered::default()
    })
}

/// The kernel for one (row, k) chunk of the product.
fn chunk_kernel(
    ctx: &NodeCtx<'_>,
    p: &Problem,
    z: usize,
    same: bool,
    split: &Split,
    chunk: &Chunk,
    epi: &Epilogue,
) -> Result<KernelSrc, CodegenError> {
    let f = DType::F32;
    // Operand 1 as the kernel reads it: `a` again, f32 words or packed weights.
    let w = if same {
        WeightRead::new("a", 0, None)
    } else {
        WeightRead::new("b", 1, ctx.operand_packed(1))
    };
    // `a` as stored: f32, or what an element-wise prologue converts (a quantized type).
    let a_stored = if ctx.prologue().is_some() {
        ctx.operand(0).dtype
    } else {
        f
    };
    let mut decls = binding_decls(&[("a", ctx.binding_dtype(0, a_stored), Access::Read)]);
    let mut bindings = vec![Binding::read(Slot::Operand(0))];
    if !same {
        let (b_decls, b_bindings) = w.bindings(1);
        decls.push_str(&b_decls);
        bindings.extend(b_bindings);
    }
    decls.push_str(&binding_decls_from(
        bindings.len(),
        &[("c", ctx.result_binding_dtype(epi.result), Access::ReadWrite)],
    ));
    bindings.push(Binding::write(Slot::Result(0)));
    // Element offsets of the chunk's first element inside what is bound.
    let (a_off, b_off, c_off) = split.offsets(chunk, p.k, p.n);
    if split.rows_bound {
        bindings[0].range = Some(chunk.a_range(p.k));
        let c = bindings.len() - 1;
        bindings[c].range = Some(chunk.c_range(p.n));
    }
    if split.k_bound {
        if ctx.operand_packed(1).is_some() {
            return Err(ctx.error("packed weights are read whole, not split along K"));
        }
        bindings[1].range = Some(chunk.b_range(p.n));
    }
    decls.push_str(&epi.decls(bindings.len()));
    bindings.extend(epi.bindings());
    let stored = match (chunk.first_k, chunk.last_k) {
        (true, true) => "epilogue(v, row, col, idx)",
        (true, false) => "v",
        (false, false) => "c[i] + v",
        (false, true) => "epilogue(c[i] + v, row, col, idx)",
    };
    let mut helpers = String::new();
    helpers.push_str(&batch_offset_fn(
        "a_batch", &p.batch, &p.a_batch, &p.a.batch,
    ));
    helpers.push_str(&batch_offset_fn(
        "b_batch", &p.batch, &p.b_batch, &p.b.batch,
    ));
    helpers.push_str(&epi.function());
    helpers.push_str(&w.function());
    // An element-wise prologue applies to every element of `a` as it is loaded.
    let a_at = ctx.element(
        0,
        "a",
        &format!(
            "a_batch(z) + A_OFF{}{}",
            term("m", p.a.row),
            term("k", p.a.col)
        ),
    );
    let load_a = match ctx.prologue() {
        Some(kiln_ir::Op::Elementwise { program }) => {
            helpers.push_str(&super::prologue::function(ctx, program, epi, &[])?);
            format!("k_prologue({a_at})")
        }
        Some(p) => {
            return Err(ctx.error(format!("a matmul cannot run a {} prologue", p.name())));
        }
        None => a_at,
    };
    let b_at = w.at(&format!(
        "b_batch(z) + B_OFF{}{}",
        term("k", p.b.row),
        term("n", p.b.col)
    ));
    let store = if ctx.result_place.narrow {
        // One chunk (see `lower_with`): `C_OFF` and `ROW0` are 0, the element is `idx`.
        super::narrow::store4(
            ctx.result(0).dtype,
            p.n,
            engine::Acc::F32.result_type(),
            "c",
            "    let row = ROW0 + m;\n",
            "(z * MT + row) * N + col",
            (stored, epi.storage()),
        )?
    } else {
        format!(
            "fn store(z: u32, m: u32, n: u32, v: f32) {{\n    let i = C_OFF + (z * M + m) * N + n;\n    \
             let row = ROW0 + m;\n    let col = n;\n    let idx = (z * MT + row) * N + col;\n    c[i] = {stored};\n}}\n"
        )
    };
    helpers.push_str(&format!(
        "const A_OFF: u32 = {a_off}u;\nconst B_OFF: u32 = {b_off}u;\nconst C_OFF: u32 = {c_off}u;\n\
         const ROW0: u32 = {row0}u;\nconst MT: u32 = {mt}u;\n\
         fn load_a(z: u32, m: u32, k: u32) -> f32 {{\n    return {load_a};\n}}\n\
         fn load_b(z: u32, k: u32, n: u32) -> f32 {{\n    return {b_at};\n}}\n{store}",
        row0 = chunk.m0,
        mt = p.m,
    ));
    let shape = GemmShape {
        z,
        m: chunk.mlen,
        n: p.n,
        k: chunk.klen,
    };
    let src = GemmSource {
        bindings: &decls,
        helpers: &helpers,
        acc: engine::Acc::F32,
        words: ctx.result_place.narrow,
        load_b4: false,
        load_a4: false,
    };
    // A matrix-vector product (a few rows) has nothing to share through workgroup
    // memory: the direct engine reads each B element once for all rows.
    let kernel = if shape.m <= engine::NAIVE_ROWS {
        engine::naive(shape, &src, ctx.limits)?
    } else {
        engine::tiled(shape, split.tile, &src, ctx.limits)?
    };
    Ok(kernel.into_src("matmul", bindings))
}

/// `+ var * stride` in an element offset (`+ var` for stride 1, nothing for 0).
fn term(var: &str, stride: usize) -> String {
    match stride {
        0 => String::new(),
        1 => format!(" + {var}"),
        s => format!(" + {var} * {s}u"),
    }
}

#[cfg(test)]
mod tests;
