//! The attribute table of every op: names, values and the words that spell enums.
//!
//! Shared by the text printer, the parser, DOT and JSON so every output names the
//! same attributes the same way.

use crate::{
    ArgOp, CoordTransform, DepthToSpaceMode, NearestMode, Op, PadMode, Program, ReduceOp,
    ResizeMode, ScatterReduction, UnaryOp,
};
use std::fmt;

/// One attribute value of an op, as printed in the IR text.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    UInt(usize),
    Float(f32),
    Bool(bool),
    UInts(Vec<usize>),
    Ints(Vec<i64>),
    Floats(Vec<f32>),
    /// An enum value or a dtype, spelled as a lowercase word.
    Word(&'static str),
    /// A nested op (a fused op's anchor), printed as op text: `conv{strides=[1,1], ...}`.
    Op(Box<Op>),
    /// An element-wise program, printed as its step list: `[in0, in1, add(%0,%1)]`.
    Program(Program),
}

/// Every attribute of `op`, in field declaration order (empty for ops without any).
pub fn attributes(op: &Op) -> Vec<(&'static str, AttrValue)> {
    use AttrValue::{Bool, Float, Floats, Ints, UInt, UInts, Word};
    let uints = |v: &[usize]| UInts(v.to_vec());
    match op {
        Op::Unary(u) => match *u {
            UnaryOp::LeakyRelu { alpha } | UnaryOp::Elu { alpha } => vec![("alpha", Float(alpha))],
            UnaryOp::Selu { alpha, gamma } => {
                vec![("alpha", Float(alpha)), ("gamma", Float(gamma))]
            }
            UnaryOp::HardSigmoid { alpha, beta } => {
                vec![("alpha", Float(alpha)), ("beta", Float(beta))]
            }
            UnaryOp::Gelu { tanh } => vec![("tanh", Bool(tanh))],
            _ => vec![],
        },
        Op::Binary(_) | Op::Where | Op::MatMul | Op::Identity | Op::MatMulInteger => vec![],
        Op::Quantize {
            axis,
            block,
            saturate,
        } => vec![
            ("axis", UInt(*axis)),
            ("block", UInt(*block)),
            ("saturate", Bool(*saturate)),
        ],
        Op::Dequantize { axis, block } => vec![("axis", UInt(*axis)), ("block", UInt(*block))],
        Op::Elementwise { program } => vec![("program", AttrValue::Program(program.clone()))],
        Op::Fused {
            anchor,
            prologue,
            arity,
            epilogue,
        } => {
            // `prologue` is optional: printed only when present.
            let mut attrs = vec![("anchor", AttrValue::Op(anchor.clone()))];
            if let Some(p) = prologue {
                attrs.push(("prologue", AttrValue::Op(p.clone())));
            }
            attrs.push(("arity", UInt(*arity)));
            attrs.push(("epilogue", AttrValue::Program(epilogue.clone())));
            attrs
        }
        Op::Attention { scale } => vec![("scale", Float(*scale))],
        Op::SparseConv {
            format,
            conv,
            kernel,
            n,
        } => vec![
            ("format", Word(format.word())),
            ("block", uints(&format.dims())),
            ("strides", uints(&conv.strides)),
            ("pads", uints(&conv.pads)),
            ("dilations", uints(&conv.dilations)),
            ("group", UInt(conv.group)),
            ("kernel", uints(kernel)),
            ("n", UInt(*n)),
        ],
        Op::SparseMatMul { format, axis, k, n } => vec![
            ("format", Word(format.word())),
            ("block", uints(&format.dims())),
            ("axis", UInt(*axis)),
            ("k", UInt(*k)),
            ("n", UInt(*n)),
        ],
        Op::Cast { to } | Op::BitCast { to } => vec![("to", Word(to.name()))],
        Op::Conv(c) | Op::ConvInteger(c) => vec![
            ("strides", uints(&c.strides)),
            ("pads", uints(&c.pads)),
            ("dilations", uints(&c.dilations)),
            ("group", UInt(c.group)),
        ],
        Op::ConvTranspose(c) => vec![
            ("strides", uints(&c.strides)),
            ("pads", uints(&c.pads)),
            ("dilations", uints(&c.dilations)),
            ("output_padding", uints(&c.output_padding)),
            ("group", UInt(c.group)),
        ],
        Op::BatchNorm { epsilon } | Op::InstanceNorm { epsilon } => {
            vec![("epsilon", Float(*epsilon))]
        }
        Op::LayerNorm { axis, epsilon } | Op::RmsNorm { axis, epsilon } => {
            vec![("axis", UInt(*axis)), ("epsilon", Float(*epsilon))]
        }
        Op::Lrn {
            size,
            alpha,
            beta,
            bias,
        } => vec![
            ("size", UInt(*size)),
            ("alpha", Float(*alpha)),
            ("beta", Float(*beta)),
            ("bias", Float(*bias)),
        ],
        Op::MaxPool(p) | Op::AveragePool(p) => vec![
            ("kernel", uints(&p.kernel)),
            ("strides", uints(&p.strides)),
            ("pads", uints(&p.pads)),
            ("dilations", uints(&p.dilations)),
            ("ceil_mode", Bool(p.ceil_mode)),
            ("count_include_pad", Bool(p.count_include_pad)),
            ("storage_order", UInt(p.storage_order)),
        ],
        Op::Reduce {
            op: _,
            axes,
            keepdims,
        }
        | Op::MinMax { axes, keepdims } => {
            vec![("axes", uints(axes)), ("keepdims", Bool(*keepdims))]
        }
        Op::Softmax { axis }
        | Op::LogSoftmax { axis }
        | Op::Concat { axis }
        | Op::Gather { axis } => {
            vec![("axis", UInt(*axis))]
        }
        Op::ScatterNd { reduction } => {
            vec![("reduction", Word(word(SCATTER_REDUCTIONS, *reduction)))]
        }
        Op::Cumulative {
            op: _,
            axis,
            exclusive,
            reverse,
        } => vec![
            ("axis", UInt(*axis)),
            ("exclusive", Bool(*exclusive)),
            ("reverse", Bool(*reverse)),
        ],
        Op::ArgReduce {
            op: _,
            axis,
            keepdims,
            select_last_index,
        } => vec![
            ("axis", UInt(*axis)),
            ("keepdims", Bool(*keepdims)),
            ("select_last_index", Bool(*select_last_index)),
        ],
        Op::Reshape { shape } | Op::Expand { shape } => vec![("shape", uints(shape))],
        Op::Transpose { perm } => vec![("perm", uints(perm))],
        Op::Split { axis, sizes } => vec![("axis", UInt(*axis)), ("sizes", uints(sizes))],
        Op::Slice {
            starts,
            steps,
            lens,
        } => vec![
            ("starts", uints(starts)),
            ("steps", Ints(steps.clone())),
            ("lens", uints(lens)),
        ],
        Op::Pad { mode, pads } => {
            vec![
                ("mode", Word(word(PAD_MODES, *mode))),
                ("pads", Ints(pads.clone())),
            ]
        }
        Op::Tile { repeats } => vec![("repeats", uints(repeats))],
        Op::Resize(r) => vec![
            ("mode", Word(word(RESIZE_MODES, r.mode))),
            ("coord", Word(word(COORD_TRANSFORMS, r.coord))),
            ("nearest", Word(word(NEAREST_MODES, r.nearest))),
            ("cubic_coeff_a", Float(r.cubic_coeff_a)),
            ("exclude_outside", Bool(r.exclude_outside)),
            ("extrapolation_value", Float(r.extrapolation_value)),
            ("antialias", Bool(r.antialias)),
            ("sizes", uints(&r.sizes)),
            ("scales", Floats(r.scales.clone())),
            ("roi", Floats(r.roi.clone())),
        ],
        Op::DepthToSpace { blocksize, mode } => vec![
            ("blocksize", UInt(*blocksize)),
            ("mode", Word(word(DEPTH_TO_SPACE_MODES, *mode))),
        ],
        Op::SpaceToDepth { blocksize } => vec![("blocksize", UInt(*blocksize))],
        Op::Shape { start, end } => vec![("start", UInt(*start)), ("end", UInt(*end))],
        Op::NonZero => vec![],
        Op::Compress { axis } => axis.iter().map(|a| ("axis", UInt(*a))).collect(),
        Op::Unique { axis, sorted } => {
            let mut a: Vec<_> = axis.iter().map(|a| ("axis", UInt(*a))).collect();
            a.push(("sorted", Bool(*sorted)));
            a
        }
        Op::NonMaxSuppression {
            center_point_box,
            max_per_class,
            score_threshold,
        } => vec![
            ("center_point_box", Bool(*center_point_box)),
            ("max_per_class", UInt(*max_per_class)),
            ("score_threshold", Bool(*score_threshold)),
        ],
    }
}

/// Writes `x` so that parsing it back as f32 gives the same bits (NaN payloads aside):
/// Rust's shortest round-trip form, always with a `.` or exponent; `nan`, `inf`, `-inf`.
pub fn fmt_f32(x: f32) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{x:?}")
    }
}

fn join<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
    items.iter().map(f).collect::<Vec<_>>().join(",")
}

impl fmt::Display for AttrValue {
    /// The IR text form: `3`, `0.5`, `true`, `[1,2]`, `half_pixel`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::UInt(v) => write!(f, "{v}"),
            AttrValue::Float(v) => f.write_str(&fmt_f32(*v)),
            AttrValue::Bool(v) => write!(f, "{v}"),
            AttrValue::UInts(v) => write!(f, "[{}]", join(v, |x| x.to_string())),
            AttrValue::Ints(v) => write!(f, "[{}]", join(v, |x| x.to_string())),
            AttrValue::Floats(v) => write!(f, "[{}]", join(v, |x| fmt_f32(*x))),
            AttrValue::Word(w) => f.write_str(w),
            AttrValue::Op(op) => f.write_str(&super::op_text(op)),
            AttrValue::Program(p) => write!(f, "{p}"),
        }
    }
}

/// The word spelling `value` in `table`.
pub(crate) fn word<T: PartialEq + Copy>(table: &[(T, &'static str)], value: T) -> &'static str {
    table
        .iter()
        .find(|(v, _)| *v == value)
        .map_or("?", |(_, w)| w)
}

/// The value `word` spells in `table`.
pub(crate) fn from_word<T: Copy>(table: &[(T, &'static str)], word: &str) -> Option<T> {
    table.iter().find(|(_, w)| *w == word).map(|(v, _)| *v)
}

pub(crate) const SCATTER_REDUCTIONS: &[(ScatterReduction, &str)] = &[
    (ScatterReduction::None, "none"),
    (ScatterReduction::Add, "add"),
    (ScatterReduction::Mul, "mul"),
    (ScatterReduction::Max, "max"),
    (ScatterReduction::Min, "min"),
];

pub(crate) const PAD_MODES: &[(PadMode, &str)] = &[
    (PadMode::Constant, "constant"),
    (PadMode::Reflect, "reflect"),
    (PadMode::Edge, "edge"),
    (PadMode::Wrap, "wrap"),
];

pub(crate) const DEPTH_TO_SPACE_MODES: &[(DepthToSpaceMode, &str)] = &[
    (DepthToSpaceMode::Dcr, "dcr"),
    (DepthToSpaceMode::Crd, "crd"),
];

pub(crate) const RESIZE_MODES: &[(ResizeMode, &str)] = &[
    (ResizeMode::Nearest, "nearest"),
    (ResizeMode::Linear, "linear"),
    (ResizeMode::Cubic, "cubic"),
];

pub(crate) const COORD_TRANSFORMS: &[(CoordTransform, &str)] = &[
    (CoordTransform::HalfPixel, "half_pixel"),
    (CoordTransform::HalfPixelSymmetric, "half_pixel_symmetric"),
    (CoordTransform::PytorchHalfPixel, "pytorch_half_pixel"),
    (CoordTransform::AlignCorners, "align_corners"),
    (CoordTransform::Asymmetric, "asymmetric"),
    (CoordTransform::TfCropAndResize, "tf_crop_and_resize"),
];

pub(crate) const NEAREST_MODES: &[(NearestMode, &str)] = &[
    (NearestMode::RoundPreferFloor, "round_prefer_floor"),
    (NearestMode::RoundPreferCeil, "round_prefer_ceil"),
    (NearestMode::Floor, "floor"),
    (NearestMode::Ceil, "ceil"),
];

/// Unary functions without parameters (the text names them by [`UnaryOp::name`]).
pub(crate) const PLAIN_UNARY: [UnaryOp; 33] = {
    use UnaryOp::*;
    [
        Neg, Abs, Sqrt, Reciprocal, Exp, Log, Erf, Floor, Ceil, Round, Sign, Sin, Cos, Tanh,
        Sigmoid, Relu, Softplus, Mish, HardSwish, Not, Silu, Tan, Sinh, Cosh, Asin, Acos, Atan,
        Asinh, Acosh, Atanh, IsNan, IsInf, BitNot,
    ]
};

pub(crate) const REDUCE: [ReduceOp; 7] = {
    use ReduceOp::*;
    [Sum, Mean, Max, Min, Prod, L2, SumSquare]
};

pub(crate) const ARG: [(ArgOp, &str); 2] = [(ArgOp::Max, "arg_max"), (ArgOp::Min, "arg_min")];
