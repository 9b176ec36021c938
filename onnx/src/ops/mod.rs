//! The op registry: one line per ONNX op, mapping it to its lowering function.
//!
//! A lowering reads the node through [`Cx`] (operands, attributes, opset, static
//! operand values) and returns the IR values of the node's results, in order.

mod activation;
mod attention;
mod causal_conv;
mod constant;
mod dft;
mod einsum;
mod elementwise;
mod grid;
mod indexing;
mod linear_attention;
mod loss;
mod mel;
mod nn;
mod pool;
mod quant;
mod recurrent;
mod reduce;
mod resize;
mod rotary;
mod select;
mod shape_ops;
mod stft;
mod window;

use crate::builder::Cx;
use crate::error::ImportError;
use kiln_ir::{ArgOp, BinaryOp as B, Handle, ReduceOp as R, UnaryOp as U, Value};

/// A lowering: the IR values of the node's results.
pub(crate) type Lower = fn(&mut Cx) -> Result<Vec<Handle<Value>>, ImportError>;

#[rustfmt::skip]
static REGISTRY: &[(&str, Lower)] = &[
    // element-wise arithmetic and logic
    ("Add",             |cx| elementwise::binary(cx, B::Add)),
    ("Sub",             |cx| elementwise::binary(cx, B::Sub)),
    ("Mul",             |cx| elementwise::binary(cx, B::Mul)),
    ("Div",             |cx| elementwise::binary(cx, B::Div)),
    ("Pow",             elementwise::pow),
    ("Equal",           |cx| elementwise::binary(cx, B::Equal)),
    ("Less",            |cx| elementwise::binary(cx, B::Less)),
    ("Greater",         |cx| elementwise::binary(cx, B::Greater)),
    ("LessOrEqual",     |cx| elementwise::binary(cx, B::LessOrEqual)),
    ("GreaterOrEqual",  |cx| elementwise::binary(cx, B::GreaterOrEqual)),
    ("And",             |cx| elementwise::binary(cx, B::And)),
    ("Or",              |cx| elementwise::binary(cx, B::Or)),
    ("PRelu",           |cx| elementwise::binary(cx, B::Prelu)),
    ("Sum",             |cx| elementwise::variadic(cx, B::Add, false)),
    ("Max",             |cx| elementwise::variadic(cx, B::Max, false)),
    ("Min",             |cx| elementwise::variadic(cx, B::Min, false)),
    ("Mean",            |cx| elementwise::variadic(cx, B::Add, true)),
    ("Where",           elementwise::where_),
    ("Clip",            elementwise::clip),
    ("Neg",             |cx| elementwise::unary(cx, U::Neg)),
    ("Abs",             |cx| elementwise::unary(cx, U::Abs)),
    ("Sqrt",            |cx| elementwise::unary(cx, U::Sqrt)),
    ("Reciprocal",      |cx| elementwise::unary(cx, U::Reciprocal)),
    ("Exp",             |cx| elementwise::unary(cx, U::Exp)),
    ("Log",             |cx| elementwise::unary(cx, U::Log)),
    ("Erf",             |cx| elementwise::unary(cx, U::Erf)),
    ("Floor",           |cx| elementwise::unary(cx, U::Floor)),
    ("Ceil",            |cx| elementwise::unary(cx, U::Ceil)),
    ("Round",           |cx| elementwise::unary(cx, U::Round)),
    ("Sign",            |cx| elementwise::unary(cx, U::Sign)),
    ("Sin",             |cx| elementwise::unary(cx, U::Sin)),
    ("Cos",             |cx| elementwise::unary(cx, U::Cos)),
    ("Tanh",            |cx| elementwise::unary(cx, U::Tanh)),
    ("Sigmoid",         |cx| elementwise::unary(cx, U::Sigmoid)),
    ("Relu",            |cx| elementwise::unary(cx, U::Relu)),
    ("Softplus",        |cx| elementwise::unary(cx, U::Softplus)),
    ("Mish",            |cx| elementwise::unary(cx, U::Mish)),
    ("HardSwish",       |cx| elementwise::unary(cx, U::HardSwish)),
    ("Not",             |cx| elementwise::unary(cx, U::Not)),
    ("LeakyRelu",       elementwise::leaky_relu),
    ("Elu",             elementwise::elu),
    ("Selu",            elementwise::selu),
    ("HardSigmoid",     elementwise::hard_sigmoid),
    ("Gelu",            elementwise::gelu),
    ("Tan",             |cx| elementwise::unary(cx, U::Tan)),
    ("Sinh",            |cx| elementwise::unary(cx, U::Sinh)),
    ("Cosh",            |cx| elementwise::unary(cx, U::Cosh)),
    ("Asin",            |cx| elementwise::unary(cx, U::Asin)),
    ("Acos",            |cx| elementwise::unary(cx, U::Acos)),
    ("Atan",            |cx| elementwise::unary(cx, U::Atan)),
    ("Asinh",           |cx| elementwise::unary(cx, U::Asinh)),
    ("Acosh",           |cx| elementwise::unary(cx, U::Acosh)),
    ("Atanh",           |cx| elementwise::unary(cx, U::Atanh)),
    ("IsNaN",           |cx| elementwise::unary(cx, U::IsNan)),
    ("IsInf",           elementwise::is_inf),
    ("BitwiseNot",      |cx| elementwise::unary(cx, U::BitNot)),
    ("BitwiseAnd",      |cx| elementwise::binary(cx, B::BitAnd)),
    ("BitwiseOr",       |cx| elementwise::binary(cx, B::BitOr)),
    ("BitwiseXor",      |cx| elementwise::binary(cx, B::BitXor)),
    ("BitShift",        elementwise::bit_shift),
    ("Xor",             |cx| elementwise::binary(cx, B::Xor)),
    ("Mod",             elementwise::mod_),
    ("Celu",            activation::celu),
    ("Shrink",          activation::shrink),
    ("ThresholdedRelu", activation::thresholded_relu),
    ("Softsign",        activation::softsign),
    ("Swish",           activation::swish),
    ("SwiGLU",          elementwise::swiglu),
    ("Cast",            elementwise::cast),
    ("BitCast",         elementwise::bitcast),
    ("CastLike",        elementwise::cast_like),
    ("Identity",        elementwise::identity),
    ("Dropout",         elementwise::dropout),
    // linear algebra, convolution, normalization
    ("MatMul",          nn::matmul),
    ("Gemm",            nn::gemm),
    ("Conv",            nn::conv),
    ("CausalConvWithState", causal_conv::causal_conv_with_state),
    ("ConvTranspose",   nn::conv_transpose),
    ("Col2Im",          nn::col2im),
    ("AffineGrid",      grid::affine_grid),
    ("GridSample",      grid::grid_sample),
    ("BatchNormalization", nn::batch_norm),
    ("LayerNormalization", nn::layer_norm),
    ("InstanceNormalization", nn::instance_norm),
    ("GroupNormalization", nn::group_norm),
    ("LRN",             nn::lrn),
    ("RMSNormalization", nn::rms_norm),
    ("MeanVarianceNormalization", nn::mvn),
    ("Attention",       attention::attention),
    ("RotaryEmbedding", rotary::rotary_embedding),
    ("Einsum",          einsum::einsum),
    ("LinearAttention", linear_attention::linear_attention),
    ("RNN",             |cx| recurrent::recurrent(cx, recurrent::Kind::Rnn)),
    ("GRU",             |cx| recurrent::recurrent(cx, recurrent::Kind::Gru)),
    ("LSTM",            |cx| recurrent::recurrent(cx, recurrent::Kind::Lstm)),
    // losses
    ("NegativeLogLikelihoodLoss", loss::nll_loss),
    ("SoftmaxCrossEntropyLoss", loss::softmax_cross_entropy_loss),
    // pooling
    ("MaxPool",         pool::max_pool),
    ("MaxUnpool",       pool::max_unpool),
    ("AveragePool",     pool::average_pool),
    ("GlobalAveragePool", |cx| pool::global(cx, R::Mean)),
    ("GlobalMaxPool",   |cx| pool::global(cx, R::Max)),
    ("LpPool",          pool::lp_pool),
    // reductions
    ("ReduceMean",      |cx| reduce::reduce(cx, R::Mean)),
    ("ReduceSum",       |cx| reduce::reduce(cx, R::Sum)),
    ("ReduceMax",       |cx| reduce::reduce(cx, R::Max)),
    ("ReduceMin",       |cx| reduce::reduce(cx, R::Min)),
    ("ReduceProd",      |cx| reduce::reduce(cx, R::Prod)),
    ("ReduceL2",        |cx| reduce::reduce(cx, R::L2)),
    ("ReduceSumSquare", |cx| reduce::reduce(cx, R::SumSquare)),
    ("ReduceL1",        |cx| reduce::reduce_composed(cx, reduce::Composed::L1)),
    ("ReduceLogSum",    |cx| reduce::reduce_composed(cx, reduce::Composed::LogSum)),
    ("ReduceLogSumExp", |cx| reduce::reduce_composed(cx, reduce::Composed::LogSumExp)),
    ("Hardmax",         reduce::hardmax),
    ("CumSum",          |cx| reduce::cumulative(cx, kiln_ir::CumOp::Sum)),
    ("NonZero",         select::non_zero),
    ("Compress",        select::compress),
    ("NonMaxSuppression", select::non_max_suppression),
    ("Unique",          select::unique),
    ("CumProd",         |cx| reduce::cumulative(cx, kiln_ir::CumOp::Prod)),
    ("LpNormalization", reduce::lp_normalization),
    ("ArgMax",          |cx| reduce::arg(cx, ArgOp::Max)),
    ("ArgMin",          |cx| reduce::arg(cx, ArgOp::Min)),
    ("Softmax",         |cx| reduce::softmax(cx, false)),
    ("LogSoftmax",      |cx| reduce::softmax(cx, true)),
    // shapes and data movement
    ("Reshape",         shape_ops::reshape),
    ("Flatten",         shape_ops::flatten),
    ("Squeeze",         shape_ops::squeeze),
    ("Unsqueeze",       shape_ops::unsqueeze),
    ("Transpose",       shape_ops::transpose),
    ("Concat",          shape_ops::concat),
    ("Split",           shape_ops::split),
    ("Slice",           shape_ops::slice),
    ("Gather",          shape_ops::gather),
    ("Expand",          shape_ops::expand),
    ("Pad",             shape_ops::pad),
    ("CenterCropPad",   shape_ops::center_crop_pad),
    ("Tile",            shape_ops::tile),
    ("DepthToSpace",    shape_ops::depth_to_space),
    ("SpaceToDepth",    shape_ops::space_to_depth),
    ("Shape",           shape_ops::shape),
    ("Size",            shape_ops::size),
    ("Resize",          resize::resize),
    ("Upsample",        resize::resize),
    ("Trilu",           indexing::trilu),
    ("EyeLike",         indexing::eye_like),
    ("OneHot",          indexing::one_hot),
    ("GatherElements",  indexing::gather_elements),
    ("ReverseSequence", indexing::reverse_sequence),
    ("TopK",            indexing::top_k),
    ("GatherND",        indexing::gather_nd),
    ("ScatterND",       indexing::scatter_nd),
    ("ScatterElements", indexing::scatter_elements),
    ("Scatter",         indexing::scatter_elements),
    ("TensorScatter",   indexing::tensor_scatter),
    // constants
    ("Constant",        constant::constant),
    ("ConstantOfShape", constant::constant_of_shape),
    ("Range",           constant::range),
    ("HannWindow",      window::hann),
    ("HammingWindow",   window::hamming),
    ("BlackmanWindow",  window::blackman),
    ("MelWeightMatrix", mel::mel_weight_matrix),
    // spectral transforms
    ("DFT",             dft::dft),
    ("STFT",            stft::stft),
    // quantization
    ("QuantizeLinear",  quant::quantize_linear),
    ("DequantizeLinear", quant::dequantize_linear),
    ("DynamicQuantizeLinear", quant::dynamic_quantize_linear),
    ("MatMulInteger",   quant::matmul_integer),
    ("ConvInteger",     quant::conv_integer),
    ("QLinearMatMul",   quant::qlinear_matmul),
    ("QLinearConv",     quant::qlinear_conv),
];

/// The `com.microsoft` ops kiln lowers: those onnxruntime's quantizer writes.
#[rustfmt::skip]
static MICROSOFT: &[(&str, Lower)] = &[
    ("QLinearAdd",      |cx| quant::qlinear_binary(cx, B::Add)),
    ("QLinearMul",      |cx| quant::qlinear_binary(cx, B::Mul)),
    ("QLinearSigmoid",  |cx| quant::qlinear_unary(cx, U::Sigmoid)),
    ("QLinearLeakyRelu", |cx| quant::qlinear_unary(cx, U::LeakyRelu { alpha: 0.01 })),
    ("QLinearGlobalAveragePool", quant::qlinear_global_average_pool),
    ("QLinearAveragePool", quant::qlinear_average_pool),
    ("QLinearConcat",   quant::qlinear_concat),
    ("QLinearSoftmax",  quant::qlinear_softmax),
    ("QGemm",           quant::qgemm),
    ("MatMulNBits",     quant::matmul_nbits),
    // The ai.onnx ops onnxruntime also registers under its domain.
    ("QuantizeLinear",  quant::quantize_linear),
    ("DequantizeLinear", quant::dequantize_linear),
];

/// The lowering of an op of `domain` (`""` for ai.onnx), if kiln supports it.
pub(crate) fn lookup(domain: &str, op_type: &str) -> Option<Lower> {
    let registry = match domain {
        "" | "ai.onnx" => REGISTRY,
        "com.microsoft" => MICROSOFT,
        _ => return None,
    };
    registry
        .iter()
        .find(|(name, _)| *name == op_type)
        .map(|&(_, f)| f)
}

/// Every supported ai.onnx op name.
pub fn supported_ops() -> impl Iterator<Item = &'static str> {
    REGISTRY.iter().map(|(name, _)| *name)
}

/// Explicit `[begin.., end..]` pads for conv and pooling, resolving `auto_pad`.
/// `kernel` is the effective (dilated) extent per spatial axis.
pub(crate) fn resolve_pads(
    cx: &Cx,
    input: &[usize],
    kernel: &[usize],
    strides: &[usize],
) -> Result<Vec<usize>, ImportError> {
    let n = input.len();
    let auto_pad = cx.attr_s("auto_pad")?.unwrap_or_else(|| "NOTSET".into());
    match auto_pad.as_str() {
        "NOTSET" | "" => pads_attr(cx, n),
        "VALID" => Ok(vec![0; 2 * n]),
        "SAME_UPPER" | "SAME_LOWER" => {
            let mut pads = vec![0; 2 * n];
            for i in 0..n {
                let out = input[i].div_ceil(strides[i].max(1));
                let total = ((out.max(1) - 1) * strides[i] + kernel[i]).saturating_sub(input[i]);
                let small = total / 2;
                let (begin, end) = if auto_pad == "SAME_UPPER" {
                    (small, total - small)
                } else {
                    (total - small, small)
                };
                pads[i] = begin;
                pads[n + i] = end;
            }
            Ok(pads)
        }
        other => Err(cx.err(format!("auto_pad '{other}' is not supported"))),
    }
}

/// The explicit `pads` attribute (`[begin.., end..]`, zeros when absent) of an op with
/// `n` spatial axes; any other length is an error.
pub(crate) fn pads_attr(cx: &Cx, n: usize) -> Result<Vec<usize>, ImportError> {
    let pads = cx.attr_usizes("pads")?.unwrap_or_else(|| vec![0; 2 * n]);
    if pads.len() != 2 * n {
        return Err(cx.err(format!(
            "pads has {} entries, expected {}",
            pads.len(),
            2 * n
        )));
    }
    Ok(pads)
}

/// A per-spatial-axis attribute (`strides`, `dilations`), defaulting to ones.
pub(crate) fn spatial_attr(cx: &Cx, name: &str, n: usize) -> Result<Vec<usize>, ImportError> {
    let v = cx.attr_usizes(name)?.unwrap_or_else(|| vec![1; n]);
    if v.len() != n {
        return Err(cx.err(format!("{name} has {} entries, expected {n}", v.len())));
    }
    if v.contains(&0) {
        return Err(cx.err(format!("{name} must be positive, got {v:?}")));
    }
    Ok(v)
}
