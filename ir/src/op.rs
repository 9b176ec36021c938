//! The IR's operations and their attributes.
//!
//! Ops are opset-independent and fully static: every attribute that decides an output
//! shape (reshape targets, slice bounds, pads, resize sizes, ...) is resolved to a
//! concrete value at import. Operands are always tensors; their count is fixed per op
//! except where noted (optional trailing operands). Names returned by [`Op::name`] are
//! the IR text syntax.

use crate::{DType, Program};

/// An operation. See each variant for operands (in order) and results.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Element-wise `f(x)`; one operand, one result of the same shape.
    Unary(UnaryOp),
    /// Element-wise `f(a, b)` with numpy (multidirectional) broadcasting.
    Binary(BinaryOp),
    /// `where(cond, x, y)`, broadcast over all three; `cond` is bool.
    Where,
    /// Element-wise reinterpretation of each element's bits as `to`, a type of the same
    /// width (8, 16 or 32 bits; bool is 8 bits and only a source).
    BitCast { to: DType },
    /// Element-wise conversion to `to`. Float → int truncates toward zero (saturating);
    /// anything → bool is `x != 0`.
    Cast { to: DType },
    /// numpy `matmul` semantics (1-D operands promoted and the added axis removed,
    /// batch axes broadcast). Operands `a`, `b`.
    MatMul,
    /// N-d convolution, NCHW layout. Operands `x`, `w`, optional `bias`.
    Conv(ConvAttrs),
    /// N-d transposed convolution. Operands `x`, `w` (`C_in × C_out/group × k...`), optional `bias`.
    ConvTranspose(ConvTransposeAttrs),
    /// Inference batch norm over axis 1. Operands `x`, `scale`, `bias`, `mean`, `var`.
    BatchNorm { epsilon: f32 },
    /// Layer norm over axes `axis..rank`. Operands `x`, `scale`, optional `bias`.
    /// Results `y`, and optionally `mean` and `inv_std_dev` (shape of `x` with the
    /// normalized axes set to 1).
    LayerNorm { axis: usize, epsilon: f32 },
    /// RMS norm over axes `axis..rank`: `x / √(mean(x²) + epsilon) · scale`. Operands
    /// `x`, `scale` (broadcast to the normalized axes); one result.
    RmsNorm { axis: usize, epsilon: f32 },
    /// Instance norm over the spatial axes. Operands `x`, `scale`, `bias`.
    InstanceNorm { epsilon: f32 },
    /// Local response normalization across channels.
    Lrn {
        size: usize,
        alpha: f32,
        beta: f32,
        bias: f32,
    },
    /// Max pooling. One operand; results `y` and optionally `indices` (i32, flattened
    /// row-major or, with `storage_order = 1`, column-major per image).
    MaxPool(PoolAttrs),
    /// Average pooling. One operand, one result.
    AveragePool(PoolAttrs),
    /// Reduction over `axes` (sorted, unique). With `keepdims` the reduced axes stay as 1.
    Reduce {
        op: ReduceOp,
        axes: Vec<usize>,
        keepdims: bool,
    },
    /// The minimum and the maximum over `axes` (sorted, unique) in one pass: results
    /// `min` then `max`, each typed as the `Reduce` of that kind (NaN propagates).
    /// What a `reduce_min` and a `reduce_max` of one value compute, reading it once.
    MinMax { axes: Vec<usize>, keepdims: bool },
    /// Softmax along `axis`.
    Softmax { axis: usize },
    /// Log-softmax along `axis`.
    LogSoftmax { axis: usize },
    /// Running sum or product along `axis` (ONNX CumSum, CumProd): element `i` of the
    /// axis combines elements `0..=i` (`0..i` when `exclusive`; counted from the end
    /// when `reverse`), in that order from the start of the scan. Integers wrap; floats
    /// accumulate in f32 and round once to the result type.
    Cumulative {
        op: CumOp,
        axis: usize,
        exclusive: bool,
        reverse: bool,
    },
    /// ONNX ScatterND: a copy of `data` where each index tuple (the last axis of
    /// `indices`, i32, `m` entries, negative ones counting from the end) names a slice
    /// `data[i0, .., i(m-1), ...]` that is combined with its slice of `updates`
    /// (`reduction`; `None` replaces), tuples in row-major order. Operands `data`,
    /// `indices` (`[.., m]`), `updates` (`indices.dims[..-1] + data.dims[m..]`). An
    /// index out of range is an error.
    ScatterNd { reduction: ScatterReduction },
    /// Index (i32) of the max/min along `axis`.
    ArgReduce {
        op: ArgOp,
        axis: usize,
        keepdims: bool,
        select_last_index: bool,
    },
    /// Same data, new shape `shape` (same element count; fully resolved, no 0 or -1).
    Reshape { shape: Vec<usize> },
    /// Permutes axes: result axis `i` is operand axis `perm[i]`.
    Transpose { perm: Vec<usize> },
    /// Concatenates all operands (one or more) along `axis`.
    Concat { axis: usize },
    /// Splits along `axis` into one result per entry of `sizes`.
    Split { axis: usize, sizes: Vec<usize> },
    /// Strided slice, one entry per axis: element `i` of result axis `a` is operand
    /// element `starts[a] + i * steps[a]` (steps may be negative, never zero), for
    /// `i < lens[a]`; every index touched is in bounds.
    Slice {
        starts: Vec<usize>,
        steps: Vec<i64>,
        lens: Vec<usize>,
    },
    /// Gathers along `axis`. Operands `data`, `indices` (i32, negative counts from the end).
    Gather { axis: usize },
    /// Broadcasts the operand to `shape` (numpy rules; `shape` is the result shape).
    Expand { shape: Vec<usize> },
    /// Pads (or crops, with negative amounts). `pads` is `[begin_0.., end_0..]`, one
    /// pair per axis. Operands `x` and optional scalar `value` (constant mode).
    Pad { mode: PadMode, pads: Vec<i64> },
    /// Repeats the operand `repeats[i]` times along axis `i`.
    Tile { repeats: Vec<usize> },
    /// Resize/upsample to `sizes` (see [`ResizeAttrs`]).
    Resize(ResizeAttrs),
    /// Rearranges depth blocks into spatial blocks (NCHW).
    DepthToSpace {
        blocksize: usize,
        mode: DepthToSpaceMode,
    },
    /// Rearranges spatial blocks into depth (NCHW).
    SpaceToDepth { blocksize: usize },
    /// The operand's shape as a 1-D i32 tensor, dims `start..end`.
    Shape { start: usize, end: usize },
    /// The indices of `x`'s non-zero elements (ONNX NonZero), a data-dependent shape:
    /// results `[rank, numel]` i32, column `j < count` the coordinates of the `j`-th
    /// non-zero element in row-major order, the rest zero; and `count` (`[]` i32). Only
    /// as a graph output ([`crate::Extent`]).
    NonZero,
    /// The slices of `x` along `axis` (of `x` flattened when `None`) where the bool
    /// `condition` holds (ONNX Compress), a data-dependent shape: results `x` with that
    /// axis cut to `min(len(condition), dim)`, the selected slices first, the rest zero;
    /// and their count (`[]` i32). Only as a graph output ([`crate::Extent`]).
    Compress { axis: Option<usize> },
    /// ONNX NonMaxSuppression, a data-dependent shape: operands `boxes` `[B, N, 4]`,
    /// `scores` `[B, C, N]`, `iou_threshold` and `score_threshold` (`[]` f32; the latter
    /// used only with `score_threshold`). Per batch and class, boxes by descending score
    /// (lower index first on ties) are kept unless their IoU with a kept one exceeds the
    /// threshold, at most `max_per_class`. Results `[B·C·min(max_per_class, N), 3]` i32
    /// rows `(batch, class, box)`, the kept ones first and zeros after, and their count
    /// (`[]` i32). Only as a graph output ([`crate::Extent`]).
    NonMaxSuppression {
        center_point_box: bool,
        max_per_class: usize,
        score_threshold: bool,
    },
    /// ONNX Unique, a data-dependent shape: the distinct slices of `x` along `axis` (the
    /// distinct elements of `x` flattened when `None`), in ascending lexicographic order
    /// when `sorted`, else in order of first occurrence. Over `L` slices, results: `y`
    /// (`x` with that axis `L` long, or `[L]`), `indices` (each distinct slice's first
    /// position), `inverse` (each slice's position in `y`, all `L` valid), `counts`
    /// (`[L]` i32 each), the distinct ones first and zeros after; and their count.
    Unique { axis: Option<usize>, sorted: bool },
    /// Returns its operand.
    Identity,
    /// A fused element-wise kernel: `program` applied to the operands element by
    /// element, operands broadcast (numpy rules) to the result shape.
    Elementwise { program: Program },
    /// `anchor` (on the first `arity` operands) followed by `epilogue` applied to each
    /// element of the anchor's first result. Epilogue input 0 is that element; input
    /// `1 + j` is operand `arity + j`, broadcast to the anchor's result shape. With a
    /// `prologue`, the anchor reads `prologue(operand 0)` (its first result) in place of
    /// operand 0: the node computes `epilogue(anchor(prologue(in0), in1..))`. Only a
    /// max pool or an element-wise program (a dequantization, say) before a convolution,
    /// or an element-wise program before a matmul, is a valid prologue (see
    /// [`crate::infer`]). A prologue program's input 0 is
    /// operand 0's element; its input `k ≥ 1` is the epilogue's input `k` (operand
    /// `arity + k - 1`), which must hold a single element (a runtime scale, say).
    Fused {
        anchor: Box<Op>,
        prologue: Option<Box<Op>>,
        arity: usize,
        epilogue: Program,
    },
    /// Scaled dot-product attention `softmax(q · kt · scale + mask) · v`, softmax over
    /// the last axis. Operands `q` `[.., S, D]`, `kt` `[.., D, T]`, `v` `[.., T, E]` and
    /// optional `mask` broadcastable to `[.., S, T]`; result `[.., S, E]`.
    Attention { scale: f32 },
    /// ONNX `QuantizeLinear`: `saturate(round_half_even(x / scale) + zero_point)` in the
    /// dtype of `zero_point` (integers clamp to their range; minifloats round to nearest
    /// even, beyond their range as [`crate::minifloat::Format::encode`] says with
    /// `saturate`). Operands `x` (float), `scale` (float) and `zero_point`; `scale` and
    /// `zero_point` have one shape, which broadcasts to `x` (numpy rules; `axis` is then
    /// 0: ONNX's per-axis scales are reshaped to broadcast) or, with `block > 0`, is `x`'s
    /// shape with `ceil(x.dims[axis] / block)` on `axis` (blocked). `x / scale` is
    /// computed in f32. Without blocks it is element-wise (a program step).
    Quantize {
        axis: usize,
        block: usize,
        saturate: bool,
    },
    /// ONNX `DequantizeLinear`: `(x - zero_point) * scale` computed in f32 and rounded
    /// to `scale`'s dtype. Operands `x` (a quantized type or i32), `scale`, `zero_point`
    /// (of `x`'s dtype), laid out as for [`Op::Quantize`].
    Dequantize { axis: usize, block: usize },
    /// Integer matmul: `(a - a_zero) · (b - b_zero)` accumulated exactly in i32 (numpy
    /// `matmul` shapes). Operands `a`, `b` (8-bit integers), `a_zero` (one element or one
    /// per row of `a`: `[M]`), `b_zero` (one element or one per column of `b`: `[N]`).
    MatMulInteger,
    /// Integer convolution: `(x - x_zero) * (w - w_zero)` accumulated exactly in i32.
    /// Operands `x`, `w` (8-bit integers), `x_zero` (one element), `w_zero` (one element
    /// or one per output channel).
    ConvInteger(ConvAttrs),
    /// `a · B` along `a`'s axis `axis` (of length `k`) for a constant `B` (`k × n`)
    /// stored sparse in `format`, all f32: element `j` of the result's axis `axis` is
    /// `Σ_i a[.., i, ..] · B[i, j] (+ bias[j])`, the other axes as in `a`. With the last
    /// axis it is numpy `matmul` with a 2-D `b`; with axis 1 of an NCHW tensor, a 1×1
    /// convolution (`B` its weights transposed). Operands `a`, the format's arrays
    /// ([`SparseFormat`]), then an optional `bias` (`[n]`). Weights a format does not
    /// store are zero.
    SparseMatMul {
        format: SparseFormat,
        axis: usize,
        k: usize,
        n: usize,
    },
    /// A convolution (`conv`, `group` 1, 2-D) whose constant weights `W` (`n × C ×
    /// kernel`) are stored sparse in `format` as `B = Wᵀ` (`k × n`, `k = C · ∏kernel`,
    /// row `(c · kh + i) · kw + j`): operands `x`, the format's arrays, an optional
    /// `bias` (`[n]`). Weights a format does not store are zero.
    SparseConv {
        format: SparseFormat,
        conv: ConvAttrs,
        kernel: Vec<usize>,
        n: usize,
    },
}

/// How a [`Op::SparseMatMul`] stores its weights `B` (`k × n`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SparseFormat {
    /// Blocks of `rows` (along `k`) × `cols` (along `n`) that hold a non-zero, by column
    /// of blocks (BSR of `Bᵀ`; 1 × 1 blocks are CSR). Operands `values` (`[blocks, rows,
    /// cols]`, row-major in the block, zeros where a block passes `k` or `n`),
    /// `block_rows` (i32 `[blocks]`: each block's index along `k`, ascending within a
    /// column) and `starts` (i32 `[ceil(n / cols) + 1]`: column `j`'s blocks are
    /// `starts[j]..starts[j + 1]`).
    Blocks { rows: usize, cols: usize },
    /// `keep` of every `group` consecutive weights along `k` in each column (`2:4`):
    /// operands `values` (`[n, k / group · keep]`, column `j`'s kept weights in `k`
    /// order) and `positions` (unsigned integers of the same shape: each weight's index
    /// within its group). `k` is a multiple of `group`.
    NOfM { keep: usize, group: usize },
}

impl SparseFormat {
    /// The IR text word of the format (`blocks`, `n_of_m`).
    pub fn word(self) -> &'static str {
        match self {
            SparseFormat::Blocks { .. } => "blocks",
            SparseFormat::NOfM { .. } => "n_of_m",
        }
    }

    /// The two numbers of the format: block rows and columns, or keep and group.
    pub fn dims(self) -> [usize; 2] {
        match self {
            SparseFormat::Blocks { rows, cols } => [rows, cols],
            SparseFormat::NOfM { keep, group } => [keep, group],
        }
    }

    /// The format named `word` with `dims` ([`SparseFormat::dims`]).
    pub fn from_word(word: &str, [a, b]: [usize; 2]) -> Option<SparseFormat> {
        match word {
            "blocks" => Some(SparseFormat::Blocks { rows: a, cols: b }),
            "n_of_m" => Some(SparseFormat::NOfM { keep: a, group: b }),
            _ => None,
        }
    }

    /// How the report and `inspect` name it: `bsr4x4`, `csr`, `2:4`.
    pub fn label(self) -> String {
        match self {
            SparseFormat::Blocks { rows: 1, cols: 1 } => "csr".to_string(),
            SparseFormat::Blocks { rows, cols } => format!("bsr{rows}x{cols}"),
            SparseFormat::NOfM { keep, group } => format!("{keep}:{group}"),
        }
    }

    /// How many operands follow `a`.
    pub fn arrays(self) -> usize {
        match self {
            SparseFormat::Blocks { .. } => 3,
            SparseFormat::NOfM { .. } => 2,
        }
    }
}

/// Element-wise unary functions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    Neg,
    Abs,
    Sqrt,
    Reciprocal,
    Exp,
    Log,
    Erf,
    Floor,
    Ceil,
    /// Round half to even.
    Round,
    Sign,
    Sin,
    Cos,
    Tanh,
    Sigmoid,
    Relu,
    Softplus,
    Mish,
    HardSwish,
    /// Logical not (bool only).
    Not,
    LeakyRelu {
        alpha: f32,
    },
    Elu {
        alpha: f32,
    },
    Selu {
        alpha: f32,
        gamma: f32,
    },
    HardSigmoid {
        alpha: f32,
        beta: f32,
    },
    /// GELU; `tanh` selects the tanh approximation.
    Gelu {
        tanh: bool,
    },
    /// `x · sigmoid(x)`.
    Silu,
    Tan,
    Sinh,
    Cosh,
    Asin,
    Acos,
    Atan,
    Asinh,
    Acosh,
    Atanh,
    /// True where `x` is NaN (float operand, bool result).
    IsNan,
    /// True where `x` is +∞ or −∞ (float operand, bool result).
    IsInf,
    /// Bitwise complement (integers only).
    BitNot,
}

/// Element-wise binary functions (broadcasting).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    /// Integer division truncates toward zero.
    Div,
    Pow,
    Max,
    Min,
    /// `a < 0 ? a * b : a` (b is the slope).
    Prelu,
    Equal,
    Less,
    Greater,
    LessOrEqual,
    GreaterOrEqual,
    And,
    Or,
    /// Logical exclusive or (bool only).
    Xor,
    /// Remainder with the divisor's sign (Python's `%`, numpy `mod`); an integer
    /// remainder by zero is 0, a float one NaN.
    Mod,
    /// Remainder with the dividend's sign (C `fmod`, numpy `fmod`); an integer
    /// remainder by zero is 0.
    Fmod,
    /// Bitwise and, or, exclusive or (integers only).
    BitAnd,
    BitOr,
    BitXor,
    /// `a << b` wrapped to the type's width; a shift by a negative amount or by the
    /// width or more gives 0.
    ShiftLeft,
    /// `a >> b` (arithmetic for signed types); a shift by a negative amount or by the
    /// width or more gives the sign fill (0, or −1 for a negative signed `a`).
    ShiftRight,
}

impl BinaryOp {
    /// Every binary op, in declaration order.
    pub const ALL: [BinaryOp; 23] = {
        use BinaryOp::*;
        [
            Add,
            Sub,
            Mul,
            Div,
            Pow,
            Max,
            Min,
            Prelu,
            Equal,
            Less,
            Greater,
            LessOrEqual,
            GreaterOrEqual,
            And,
            Or,
            Xor,
            Mod,
            Fmod,
            BitAnd,
            BitOr,
            BitXor,
            ShiftLeft,
            ShiftRight,
        ]
    };

    /// Comparison and logic ops produce bool.
    pub fn returns_bool(self) -> bool {
        use BinaryOp::*;
        matches!(
            self,
            Equal | Less | Greater | LessOrEqual | GreaterOrEqual | And | Or | Xor
        )
    }

    /// The bitwise ops and shifts: integer operands only.
    pub fn is_bitwise(self) -> bool {
        use BinaryOp::*;
        matches!(self, BitAnd | BitOr | BitXor | ShiftLeft | ShiftRight)
    }
}

impl UnaryOp {
    /// `is_nan` and `is_inf` produce bool.
    pub fn returns_bool(self) -> bool {
        matches!(self, UnaryOp::IsNan | UnaryOp::IsInf)
    }
}

/// Reduction kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
    L2,
    SumSquare,
}

/// The combining function of [`Op::Cumulative`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CumOp {
    Sum,
    Prod,
}

/// How [`Op::ScatterNd`] combines an update with the element it lands on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScatterReduction {
    None,
    Add,
    Mul,
    Max,
    Min,
}

/// ArgMax / ArgMin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArgOp {
    Max,
    Min,
}

/// Pad modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PadMode {
    Constant,
    Reflect,
    Edge,
    Wrap,
}

/// DepthToSpace channel orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DepthToSpaceMode {
    /// depth-column-row (the default).
    Dcr,
    /// column-row-depth.
    Crd,
}

/// Convolution attributes; one entry per spatial axis, `pads` is `[begin.., end..]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConvAttrs {
    pub strides: Vec<usize>,
    pub pads: Vec<usize>,
    pub dilations: Vec<usize>,
    pub group: usize,
}

/// Transposed-convolution attributes; `pads` is `[begin.., end..]` and already
/// accounts for `output_shape`/`auto_pad`; `output_padding` adds to the end.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConvTransposeAttrs {
    pub strides: Vec<usize>,
    pub pads: Vec<usize>,
    pub dilations: Vec<usize>,
    pub output_padding: Vec<usize>,
    pub group: usize,
}

/// Pooling attributes; one entry per spatial axis, `pads` is `[begin.., end..]`.
/// With `ceil_mode` the output extent rounds up; a window starting past the padded
/// input is dropped. `count_include_pad` applies to average pooling, `storage_order`
/// to max-pool indices.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PoolAttrs {
    pub kernel: Vec<usize>,
    pub strides: Vec<usize>,
    pub pads: Vec<usize>,
    pub dilations: Vec<usize>,
    pub ceil_mode: bool,
    pub count_include_pad: bool,
    pub storage_order: usize,
}

impl PoolAttrs {
    /// A window of `kernel` taps with `strides`, `pads` (`[begin.., end..]`) and
    /// `dilations`: floor mode, padding left out of averages, row-major max indices.
    pub fn window(
        kernel: &[usize],
        strides: &[usize],
        pads: &[usize],
        dilations: &[usize],
    ) -> Self {
        PoolAttrs {
            kernel: kernel.to_vec(),
            strides: strides.to_vec(),
            pads: pads.to_vec(),
            dilations: dilations.to_vec(),
            ceil_mode: false,
            count_include_pad: false,
            storage_order: 0,
        }
    }
}

/// Resize interpolation modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResizeMode {
    Nearest,
    Linear,
    Cubic,
}

/// How an output coordinate maps back to an input coordinate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CoordTransform {
    HalfPixel,
    HalfPixelSymmetric,
    PytorchHalfPixel,
    AlignCorners,
    Asymmetric,
    TfCropAndResize,
}

/// How nearest mode rounds a fractional coordinate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NearestMode {
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
}

/// Resize attributes. `sizes` is the result shape; `scales` has one entry per axis (the scale used in the
/// coordinate transform: the given scale, or `out/in` when sizes were given);
/// `roi` is `[start.., end..]` per axis, used by `TfCropAndResize` only.
#[derive(Clone, Debug, PartialEq)]
pub struct ResizeAttrs {
    pub mode: ResizeMode,
    pub coord: CoordTransform,
    pub nearest: NearestMode,
    pub cubic_coeff_a: f32,
    pub exclude_outside: bool,
    pub extrapolation_value: f32,
    pub antialias: bool,
    pub sizes: Vec<usize>,
    pub scales: Vec<f32>,
    pub roi: Vec<f32>,
}

impl UnaryOp {
    /// The IR text name.
    pub fn name(self) -> &'static str {
        use UnaryOp::*;
        match self {
            Neg => "neg",
            Abs => "abs",
            Sqrt => "sqrt",
            Reciprocal => "reciprocal",
            Exp => "exp",
            Log => "log",
            Erf => "erf",
            Floor => "floor",
            Ceil => "ceil",
            Round => "round",
            Sign => "sign",
            Sin => "sin",
            Cos => "cos",
            Tanh => "tanh",
            Sigmoid => "sigmoid",
            Relu => "relu",
            Softplus => "softplus",
            Mish => "mish",
            HardSwish => "hard_swish",
            Not => "not",
            LeakyRelu { .. } => "leaky_relu",
            Elu { .. } => "elu",
            Selu { .. } => "selu",
            HardSigmoid { .. } => "hard_sigmoid",
            Gelu { .. } => "gelu",
            Silu => "silu",
            Tan => "tan",
            Sinh => "sinh",
            Cosh => "cosh",
            Asin => "asin",
            Acos => "acos",
            Atan => "atan",
            Asinh => "asinh",
            Acosh => "acosh",
            Atanh => "atanh",
            IsNan => "is_nan",
            IsInf => "is_inf",
            BitNot => "bitwise_not",
        }
    }
}

impl BinaryOp {
    /// The IR text name.
    pub fn name(self) -> &'static str {
        use BinaryOp::*;
        match self {
            Add => "add",
            Sub => "sub",
            Mul => "mul",
            Div => "div",
            Pow => "pow",
            Max => "max",
            Min => "min",
            Prelu => "prelu",
            Equal => "equal",
            Less => "less",
            Greater => "greater",
            LessOrEqual => "less_or_equal",
            GreaterOrEqual => "greater_or_equal",
            And => "and",
            Or => "or",
            Xor => "xor",
            Mod => "mod",
            Fmod => "fmod",
            BitAnd => "bitwise_and",
            BitOr => "bitwise_or",
            BitXor => "bitwise_xor",
            ShiftLeft => "shift_left",
            ShiftRight => "shift_right",
        }
    }
}

impl ReduceOp {
    /// The IR text name (`reduce_sum`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "reduce_sum",
            ReduceOp::Mean => "reduce_mean",
            ReduceOp::Max => "reduce_max",
            ReduceOp::Min => "reduce_min",
            ReduceOp::Prod => "reduce_prod",
            ReduceOp::L2 => "reduce_l2",
            ReduceOp::SumSquare => "reduce_sum_square",
        }
    }
}

impl Op {
    /// The op computing the first result before any epilogue: a `Fused` op's anchor,
    /// any other op itself.
    pub fn anchor(&self) -> &Op {
        match self {
            Op::Fused { anchor, .. } => anchor,
            op => op,
        }
    }

    /// An exact integer product (`matmul_integer`, `conv_integer`), fused or not.
    pub fn is_integer_product(&self) -> bool {
        matches!(self.anchor(), Op::MatMulInteger | Op::ConvInteger(_))
    }

    /// True for ops whose result is their operand's elements unchanged, only
    /// reinterpreted (`reshape`, `identity`): they compute nothing, and a backend
    /// aliases the operand's storage instead of running a kernel.
    pub fn is_view(&self) -> bool {
        matches!(self, Op::Reshape { .. } | Op::Identity)
    }

    /// The IR text name of the op.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Unary(u) => u.name(),
            Op::Binary(b) => b.name(),
            Op::Where => "where",
            Op::Cast { .. } => "cast",
            Op::BitCast { .. } => "bitcast",
            Op::MatMul => "matmul",
            Op::Conv(_) => "conv",
            Op::ConvTranspose(_) => "conv_transpose",
            Op::BatchNorm { .. } => "batch_norm",
            Op::LayerNorm { .. } => "layer_norm",
            Op::RmsNorm { .. } => "rms_norm",
            Op::InstanceNorm { .. } => "instance_norm",
            Op::Lrn { .. } => "lrn",
            Op::MaxPool(_) => "max_pool",
            Op::AveragePool(_) => "average_pool",
            Op::Reduce { op, .. } => op.name(),
            Op::MinMax { .. } => "min_max",
            Op::Softmax { .. } => "softmax",
            Op::LogSoftmax { .. } => "log_softmax",
            Op::Cumulative { op: CumOp::Sum, .. } => "cum_sum",
            Op::Cumulative {
                op: CumOp::Prod, ..
            } => "cum_prod",
            Op::ScatterNd { .. } => "scatter_nd",
            Op::ArgReduce { op: ArgOp::Max, .. } => "arg_max",
            Op::ArgReduce { op: ArgOp::Min, .. } => "arg_min",
            Op::Reshape { .. } => "reshape",
            Op::Transpose { .. } => "transpose",
            Op::Concat { .. } => "concat",
            Op::Split { .. } => "split",
            Op::Slice { .. } => "slice",
            Op::Gather { .. } => "gather",
            Op::Expand { .. } => "expand",
            Op::Pad { .. } => "pad",
            Op::Tile { .. } => "tile",
            Op::Resize(_) => "resize",
            Op::DepthToSpace { .. } => "depth_to_space",
            Op::SpaceToDepth { .. } => "space_to_depth",
            Op::Shape { .. } => "shape",
            Op::NonZero => "non_zero",
            Op::Compress { .. } => "compress",
            Op::NonMaxSuppression { .. } => "non_max_suppression",
            Op::Unique { .. } => "unique",
            Op::Identity => "identity",
            Op::Elementwise { .. } => "elementwise",
            Op::Fused { .. } => "fused",
            Op::Attention { .. } => "attention",
            Op::Quantize { .. } => "quantize",
            Op::Dequantize { .. } => "dequantize",
            Op::MatMulInteger => "matmul_integer",
            Op::ConvInteger(_) => "conv_integer",
            Op::SparseMatMul { .. } => "sparse_matmul",
            Op::SparseConv { .. } => "sparse_conv",
        }
    }

    /// True for ops whose every result element depends only on the operand elements
    /// at the same (broadcast) index.
    pub fn is_elementwise(&self) -> bool {
        matches!(
            self,
            Op::Unary(_)
                | Op::Binary(_)
                | Op::Where
                | Op::Cast { .. }
                | Op::Identity
                | Op::Elementwise { .. }
                | Op::Quantize { block: 0, .. }
                | Op::Dequantize { block: 0, .. }
        )
    }

    /// True for ops that only move or replicate elements (no arithmetic).
    pub fn is_data_movement(&self) -> bool {
        matches!(
            self,
            Op::Reshape { .. }
                | Op::Transpose { .. }
                | Op::Concat { .. }
                | Op::Split { .. }
                | Op::Slice { .. }
                | Op::Gather { .. }
                | Op::Expand { .. }
                | Op::Tile { .. }
                | Op::DepthToSpace { .. }
                | Op::SpaceToDepth { .. }
                | Op::Identity
        )
    }
}
