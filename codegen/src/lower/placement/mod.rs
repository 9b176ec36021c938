//! Where a lowering's operands and result sit in their bindings ([`Placement`]) and
//! which non-default placements a lowering family honours ([`PlacementSupport`]).
//!
//! Each family declares its support next to its lowering; the plan builder's layout
//! decisions ask that declaration, and the dispatcher ([`super::lower_node`]) refuses a
//! placement the node's lowering does not declare, so no lowering can silently ignore
//! one.

use crate::CodegenError;

/// Where a tensor sits in its binding when the plan builder did not give it a buffer of
/// its own in row-major order. Only ops whose lowering honours a placement (see
/// [`PlacementSupport`]) get one other than the default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    /// Elements before the tensor's first element: non-zero for an unaligned slice of a
    /// larger buffer (a concat operand written in place, a Split view).
    pub base: u32,
    /// The element strides of its axes when the plan builder folded a transpose into
    /// the node (an operand is then the transpose's input read through permuted
    /// strides; a result is written transposed); `None` for row-major.
    pub strides: Option<Vec<usize>>,
    /// `(groups, per group)` when the operand is a channel shuffle (ShuffleNet's
    /// reshape → transpose → reshape) of the tensor in its binding: its channel `c`
    /// is channel `(c % groups) · per_group + c / groups` there.
    pub shuffle: Option<(usize, usize)>,
    /// How the operand is stored when the plan keeps it packed (a quantized or f16
    /// weight): its kernels bind its parts ([`super::Slot::Packed`]) and decode each
    /// element where they load it.
    pub packed: Option<super::packed::PackedWeight>,
    /// The operand is a range word a kernel folded a tensor's extremes into (see
    /// [`super::range`]): its reads decode the word's key into the f32 extreme.
    pub range: Option<super::range::RangeWord>,
    /// The tensor is stored narrow, several elements to a word ([`super::narrow`]):
    /// reads decode the element from its word; a result is written a whole word per
    /// invocation.
    pub narrow: bool,
}

/// A set of operand indices: the operands below 64 in `mask`, and every operand from
/// `from` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OperandSet {
    mask: u64,
    from: usize,
}

impl OperandSet {
    /// No operand.
    pub const NONE: OperandSet = OperandSet {
        mask: 0,
        from: usize::MAX,
    };
    /// Every operand.
    pub const ALL: OperandSet = OperandSet { mask: 0, from: 0 };

    /// Operands `0..n`.
    pub const fn first(n: usize) -> OperandSet {
        let mask = if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
        OperandSet {
            mask,
            from: usize::MAX,
        }
    }

    /// Operands `n..`.
    pub const fn from(n: usize) -> OperandSet {
        OperandSet { mask: 0, from: n }
    }

    /// Whether operand `i` is in the set.
    pub const fn contains(self, i: usize) -> bool {
        i >= self.from || (i < 64 && self.mask & (1 << i) != 0)
    }

    /// The operands in either set.
    pub const fn union(self, other: OperandSet) -> OperandSet {
        OperandSet {
            mask: self.mask | other.mask,
            from: if self.from < other.from {
                self.from
            } else {
                other.from
            },
        }
    }

    /// The operands of `self` from `n` on.
    pub const fn from_on(self, n: usize) -> OperandSet {
        OperandSet {
            mask: self.mask & !OperandSet::first(n).mask,
            from: if self.from < n { n } else { self.from },
        }
    }

    /// The operands of `self` below `n` (`n` at most 64: no kernel binds more).
    pub const fn below(self, n: usize) -> OperandSet {
        let low = OperandSet::first(n).mask;
        let tail = if self.from < n {
            low & !OperandSet::first(self.from).mask
        } else {
            0
        };
        OperandSet {
            mask: (self.mask & low) | tail,
            from: usize::MAX,
        }
    }
}

/// Which non-default [`Placement`]s the kernels lowered for an op honour. A lowering
/// handed anything else would compute from (or store to) the wrong elements, so
/// [`super::lower_node`] refuses it with [`CodegenError::Placement`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlacementSupport {
    /// Operands read at an element base ([`Placement::base`]): every read adds it.
    pub base_reads: OperandSet,
    /// Operands read through the strides of a folded transpose ([`Placement::strides`]).
    pub strided_reads: OperandSet,
    /// Operands read through a channel remap ([`Placement::shuffle`]).
    pub shuffled_reads: OperandSet,
    /// Operands read from packed weights ([`Placement::packed`]).
    pub packed_reads: OperandSet,
    /// Operands read as range words, decoded ([`Placement::range`]).
    pub range_reads: OperandSet,
    /// Operands read narrow, decoded from their words ([`Placement::narrow`]).
    pub narrow_reads: OperandSet,
    /// Result 0 may start at an element base: every store adds it.
    pub base_write: bool,
    /// Result 0 may be written through the strides of a folded transpose.
    pub strided_write: bool,
    /// Result 0 may be stored narrow: each invocation writes whole words.
    pub narrow_write: bool,
}

impl PlacementSupport {
    /// Honours nothing but the default placement (row-major from the binding's start).
    pub const NONE: PlacementSupport = PlacementSupport {
        base_reads: OperandSet::NONE,
        strided_reads: OperandSet::NONE,
        shuffled_reads: OperandSet::NONE,
        packed_reads: OperandSet::NONE,
        range_reads: OperandSet::NONE,
        narrow_reads: OperandSet::NONE,
        base_write: false,
        strided_write: false,
        narrow_write: false,
    };

    /// True when every read of operand `i` adds its element base, so the operand may
    /// start at any element of its binding (an unaligned slice of a larger buffer).
    pub fn reads_at_offset(&self, i: usize) -> bool {
        self.base_reads.contains(i)
    }

    /// True when operand `i` may be read through permuted strides (a folded transpose).
    pub fn reads_strided(&self, i: usize) -> bool {
        self.strided_reads.contains(i)
    }

    /// True when operand `i` may be read through a channel shuffle.
    pub fn reads_shuffled(&self, i: usize) -> bool {
        self.shuffled_reads.contains(i)
    }

    /// True when operand `i` may be read from packed weights.
    pub fn reads_packed(&self, i: usize) -> bool {
        self.packed_reads.contains(i)
    }

    /// True when operand `i` may be a range word, decoded where it is read.
    pub fn reads_range(&self, i: usize) -> bool {
        self.range_reads.contains(i)
    }

    /// True when operand `i` may be stored narrow, decoded where it is read.
    pub fn reads_narrow(&self, i: usize) -> bool {
        self.narrow_reads.contains(i)
    }

    /// True when result 0 may be stored narrow.
    pub fn writes_narrow(&self) -> bool {
        self.narrow_write
    }

    /// True when every store of result 0 adds its element base, so it may start at any
    /// element of its binding.
    pub fn writes_at_offset(&self) -> bool {
        self.base_write
    }

    /// True when result 0 may be written through permuted strides.
    pub fn writes_strided(&self) -> bool {
        self.strided_write
    }

    /// The support of a `Fused` node: the anchor's for operands `0..arity` and result 0;
    /// the epilogue reads operands `arity..` through [`super::NodeCtx::operand_map`],
    /// strided, decodes range words there (as a prologue does) and narrow operands.
    pub(crate) const fn fused(anchor: PlacementSupport, arity: usize) -> PlacementSupport {
        PlacementSupport {
            base_reads: anchor.base_reads.below(arity),
            strided_reads: anchor
                .strided_reads
                .below(arity)
                .union(OperandSet::from(arity)),
            shuffled_reads: anchor.shuffled_reads.below(arity),
            packed_reads: anchor.packed_reads.below(arity),
            range_reads: anchor
                .range_reads
                .below(arity)
                .union(OperandSet::from(arity)),
            narrow_reads: anchor
                .narrow_reads
                .below(arity)
                .union(OperandSet::from(arity)),
            base_write: anchor.base_write,
            strided_write: anchor.strided_write,
            narrow_write: anchor.narrow_write,
        }
    }

    /// Why `operands` and `result` are placements these kernels do not honour, or `None`
    /// when they all are.
    pub fn refusal(&self, operands: &[Placement], result: &Placement) -> Option<String> {
        for (i, p) in operands.iter().enumerate() {
            if p.base != 0 && !self.reads_at_offset(i) {
                return Some(format!(
                    "operand {i} is placed at element {} of its binding, which its kernels do not read at",
                    p.base
                ));
            }
            if p.strides.is_some() && !self.reads_strided(i) {
                return Some(format!(
                    "operand {i} is placed through transposed strides, which its kernels do not read through"
                ));
            }
            if p.packed.is_some() && !self.reads_packed(i) {
                return Some(format!(
                    "operand {i} is kept packed, which its kernels do not decode"
                ));
            }
            if p.range.is_some() && !self.reads_range(i) {
                return Some(format!(
                    "operand {i} is a range word, which its kernels do not decode"
                ));
            }
            if p.narrow && !self.reads_narrow(i) {
                return Some(format!(
                    "operand {i} is stored narrow, which its kernels do not decode"
                ));
            }
            if p.shuffle.is_some() && !self.reads_shuffled(i) {
                return Some(format!(
                    "operand {i} is placed through a channel shuffle, which its kernels do not remap"
                ));
            }
        }
        if result.base != 0 && !self.writes_at_offset() {
            return Some(format!(
                "result 0 is placed at element {} of its binding, which its kernels do not store at",
                result.base
            ));
        }
        if result.strides.is_some() && !self.writes_strided() {
            return Some(
                "result 0 is placed through transposed strides, which its kernels do not store through"
                    .to_string(),
            );
        }
        if result.narrow && !self.writes_narrow() {
            return Some(
                "result 0 is stored narrow, which its kernels do not write whole words of"
                    .to_string(),
            );
        }
        if result.shuffle.is_some() {
            return Some(
                "result 0 is placed through a channel shuffle, which no kernel stores through"
                    .to_string(),
            );
        }
        None
    }
}

/// The error for a node handed a placement its lowering does not honour.
pub(crate) fn refuse(ctx: &super::NodeCtx<'_>, reason: String) -> CodegenError {
    let node = ctx.node();
    CodegenError::Placement {
        node: ctx.node,
        name: node.name.clone(),
        op: node.op.name(),
        reason,
    }
}

#[cfg(test)]
mod tests;
