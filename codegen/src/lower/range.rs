//! A whole tensor's range folded into the kernel that stores it, instead of a `min_max`
//! pass reading it again (dynamic quantization takes the range of each layer's input).
//!
//! The plan builder asks the producer of a `min_max` operand to fold
//! ([`super::NodeCtx::fold_range`]); a lowering that does binds the two range words
//! ([`Slot::Range`]: one buffer, the low word then the high word; one binding more)
//! and updates them with `atomicMax` as it stores each value. The runtime zeroes them
//! before every run (`KernelPlan::zeroed`): zero is both words' identity. The
//! `min_max` then runs no kernel where every reader of its results decodes the words
//! where it loads them ([`RangeWord`] placements: epilogue and prologue operands,
//! element-wise programs); otherwise it becomes [`decode`], one invocation writing the
//! two results.
//!
//! The words hold order-preserving keys of f32 values: a non-negative value's bits with
//! the sign bit set, a negative value's bits inverted, so that larger keys are larger
//! values; NaN is `0xffffffff`, above every value, as the reference's NaN-propagating
//! extremes want. The high word holds the largest key (the maximum); the low word the
//! largest inverted key (the minimum), or the NaN key itself. An invocation reads the
//! words once, at its first value, and keeps what it last saw of them (a lower bound of
//! each); it writes only a key beyond that: most values are inside the range found so
//! far, so few invocations write at all, and one storing many values reads the words
//! once. The product engines' invocations instead keep their values' largest keys in
//! registers and fold them once, after their last store ([`FOLD_DEFERRED`]).

use super::{Binding, KernelSrc, Lowered, NodeCtx, Slot};
use crate::CodegenError;
use kiln_ir::{DType, Op};
use std::collections::BTreeSet;

/// Which range word an operand is: the low word (element 0 of the range buffer) holds
/// the minimum, the high word (element 1) the maximum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RangeWord {
    Low,
    High,
}

impl RangeWord {
    /// The math helper decoding the word (`k_range_low` or `k_range_high`).
    pub fn helper(self) -> &'static str {
        match self {
            RangeWord::Low => "k_range_low",
            RangeWord::High => "k_range_high",
        }
    }

    /// The word's element in the range buffer.
    pub fn index(self) -> u32 {
        match self {
            RangeWord::Low => 0,
            RangeWord::High => 1,
        }
    }
}

/// Module-scope WGSL defining `kiln_range_key(v: f32) -> u32`, a value's key.
macro_rules! key_fn {
    () => {
        "fn kiln_range_key(v: f32) -> u32 {
    let b = bitcast<u32>(v);
    if (b & 0x7fffffffu) > 0x7f800000u {
        return 0xffffffffu;
    }
    return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}
"
    };
}

/// Module-scope WGSL defining `kiln_range_fold(v: f32) -> f32`, which folds `v` into the
/// range words and returns it.
pub const FOLD: &str = concat!(
    key_fn!(),
    "var<private> kiln_range_seen: vec2<u32>;
var<private> kiln_range_read: bool = false;
fn kiln_range_fold(v: f32) -> f32 {
    if !kiln_range_read {
        kiln_range_seen = vec2<u32>(atomicLoad(&kiln_range[0]), atomicLoad(&kiln_range[1]));
        kiln_range_read = true;
    }
    let k = kiln_range_key(v);
    if k > kiln_range_seen.y {
        kiln_range_seen.y = max(atomicMax(&kiln_range[1], k), k);
    }
    let low = select(~k, k, k == 0xffffffffu);
    if low > kiln_range_seen.x {
        kiln_range_seen.x = max(atomicMax(&kiln_range[0], low), low);
    }
    return v;
}
"
);

/// [`FOLD`] for a kernel that calls `kiln_range_flush()` after its last store (the
/// product engines, whose invocations store many values: [`defer`]): `kiln_range_fold`
/// only keeps the largest keys of the invocation's values in registers, without a
/// branch, and the flush folds them into the words once. On lavapipe this took the
/// folding's cost in the dynamically quantized CNN's convolutions from about 5% of
/// their time to nothing measurable.
pub const FOLD_DEFERRED: &str = concat!(
    key_fn!(),
    "var<private> kiln_range_acc: vec2<u32>;
fn kiln_range_fold(v: f32) -> f32 {
    let k = kiln_range_key(v);
    kiln_range_acc = max(kiln_range_acc, vec2<u32>(select(~k, k, k == 0xffffffffu), k));
    return v;
}
fn kiln_range_flush() {
    if kiln_range_acc.y == 0u {
        return;
    }
    let seen = vec2<u32>(atomicLoad(&kiln_range[0]), atomicLoad(&kiln_range[1]));
    if kiln_range_acc.y > seen.y {
        atomicMax(&kiln_range[1], kiln_range_acc.y);
    }
    if kiln_range_acc.x > seen.x {
        atomicMax(&kiln_range[0], kiln_range_acc.x);
    }
}
"
);

/// A product engine's helpers with an immediate [`FOLD`] replaced by [`FOLD_DEFERRED`],
/// and the statement its invocations run after their last store: the flush, or nothing
/// where no range folds.
pub fn defer(helpers: &str) -> (String, &'static str) {
    if helpers.contains(FOLD) {
        (
            helpers.replace(FOLD, FOLD_DEFERRED),
            "    kiln_range_flush();\n",
        )
    } else {
        (helpers.to_string(), "")
    }
}

/// The WGSL expression storing `value` (an f32 expression) that also folds it into the
/// range words ([`FOLD`] defines the function).
pub fn fold(value: &str) -> String {
    format!("kiln_range_fold({value})")
}

/// The declaration of the range words as binding `binding`.
pub fn decl(binding: usize) -> String {
    format!("@group(0) @binding({binding}) var<storage, read_write> {NAME}: array<atomic<u32>>;\n")
}

/// The binding of the range words.
pub fn binding() -> Binding {
    Binding::write(Slot::Range)
}

/// The WGSL name of the range words.
pub const NAME: &str = "kiln_range";

/// Whether `ctx`'s lowering should fold the range of a result of dtype `dtype` (only
/// f32 ranges are taken).
pub fn wanted(ctx: &NodeCtx<'_>, dtype: DType) -> bool {
    ctx.fold_range && dtype == DType::F32
}

/// The WGSL expression loading element `off` of operand `i` of `ctx`'s node, bound as
/// `buf`: [`NodeCtx::element`] (`buf[off]`, or decoded from its word when narrow), or,
/// when the operand is a range word, that word of the range buffer decoded (the
/// decoding helper joins `helpers`).
pub fn read(
    ctx: &NodeCtx<'_>,
    i: usize,
    buf: &str,
    off: &str,
    helpers: &mut BTreeSet<&'static str>,
) -> String {
    match ctx.operand_places.get(i).and_then(|p| p.range) {
        Some(word) => {
            helpers.insert(word.helper());
            format!("{}(bitcast<u32>({buf}[{}u]))", word.helper(), word.index())
        }
        None => ctx.element(i, buf, off),
    }
}

/// The `min_max` node of `ctx` whose operand's producer folded its range, where a
/// reader of its results cannot decode the words: one invocation writing them as
/// results 0 (minimum) and 1 (maximum).
pub fn decode(ctx: &NodeCtx<'_>) -> Result<Lowered, CodegenError> {
    if !matches!(ctx.node().op, Op::MinMax { .. })
        || (0..2).any(|i| ctx.result(i).shape.numel() != 1 || ctx.result(i).dtype != DType::F32)
    {
        return Err(ctx.error("only a min_max of a whole f32 tensor reads a folded range"));
    }
    let helpers =
        super::elementwise::math::helpers(&BTreeSet::from(["k_range_low", "k_range_high"]))?;
    let wgsl = format!(
        "// kiln range decode: the extremes a kernel folded into the range words as it
// stored the tensor, as f32.
{}@group(0) @binding(1) var<storage, read_write> dst0: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst1: array<f32>;

{helpers}@compute @workgroup_size(1)
fn main() {{
    dst0[0] = k_range_low(atomicLoad(&kiln_range[0]));
    dst1[0] = k_range_high(atomicLoad(&kiln_range[1]));
}}
",
        decl(0)
    );
    Ok(Lowered {
        kernels: vec![KernelSrc {
            name: "range".to_string(),
            wgsl,
            entry_point: "main".into(),
            workgroup_size: [1, 1, 1],
            workgroups: [1, 1, 1],
            bindings: vec![
                binding(),
                Binding::write(Slot::Result(0)),
                Binding::write(Slot::Result(1)),
            ],
        }],
        ..Lowered::default()
    })
}

/// True when `lowered` folds a range (binds [`Slot::Range`]).
pub fn folds(lowered: &Lowered) -> bool {
    lowered
        .kernels
        .iter()
        .any(|k| k.bindings.iter().any(|b| b.slot == Slot::Range))
}
