//! Quantized ops: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear,
//! MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv; the `com.microsoft` ops
//! onnxruntime's quantizer writes in QOperator format (QLinearAdd, QLinearMul,
//! QLinearConcat, QLinearGlobalAveragePool, QLinearAveragePool, QLinearSigmoid,
//! QLinearSoftmax,
//! QLinearLeakyRelu, QGemm) and MatMulNBits (blocked 4- and 8-bit weights).
//!
//! Each lowers to the IR's `quantize` / `dequantize` and exact integer products. A
//! QLinear op is "dequantize, compute in float, quantize"; a requantization
//! `round(acc · sa·sb / sy) + zy` is `quantize(dequantize(acc, sa·sb/sy), 1, zy)`, the
//! multiplier computed in the scales' dtype as ONNX's reference does.

use super::nn::conv_attrs;
use super::pool;
use crate::builder::Cx;
use crate::error::ImportError;
use kiln_ir::{BinaryOp, DType, Data, Handle, Op, Program, ReduceOp, Step, Tensor, UnaryOp, Value};

type Outs = Result<Vec<Handle<Value>>, ImportError>;
type V = Handle<Value>;

/// A constant of `dtype` and `dims` holding `value` everywhere.
fn splat(cx: &mut Cx, dtype: DType, dims: &[usize], value: f64) -> Result<V, ImportError> {
    let data = match dtype {
        DType::F32 => Data::F32(vec![value as f32]),
        DType::F16 => Data::F16(vec![half::f16::from_f64(value)]),
        d if d.is_int() => Data::from_i64s(d, std::iter::once(value as i64)).expect("an int"),
        d => match kiln_ir::minifloat::Format::of(d) {
            Some(f) => Data::minifloats(d, vec![f.encode(value as f32, true)]).expect("f8"),
            None => return Err(cx.err(format!("no {d} constant"))),
        },
    };
    let t = Tensor::splat(dims.to_vec(), data).map_err(|e| cx.err(e.to_string()))?;
    Ok(cx.constant(t))
}

/// The node's `axis` attribute resolved against `x`'s rank; a per-tensor `scale` (one
/// element, not blocked) has no axis, whatever the attribute says.
fn axis_of(cx: &Cx, x: V, scale: V) -> Result<usize, ImportError> {
    let s = cx.ty(scale).shape;
    if block_of(cx)? == 0 && s.numel() == 1 && s.rank() <= 1 {
        return Ok(0);
    }
    cx.axis(cx.attr_i("axis", 1)?, cx.rank(x))
}

/// The `block_size` attribute (0: not blocked).
fn block_of(cx: &Cx) -> Result<usize, ImportError> {
    let b = cx.attr_i("block_size", 0)?;
    usize::try_from(b).map_err(|_| cx.err(format!("block_size must not be negative, got {b}")))
}

/// An IR dtype from an ONNX dtype attribute value (0: `None`).
fn dtype_attr(cx: &Cx, name: &str) -> Result<Option<DType>, ImportError> {
    match cx.attr_i(name, 0)? {
        0 => Ok(None),
        t => crate::tensor_proto::ir_dtype(t as i32)
            .filter(|&(_, wide)| !wide.is_wide())
            .map(|(d, _)| Some(d))
            .ok_or_else(|| cx.err(format!("{name} {t} is not a dtype kiln supports here"))),
    }
}

/// The zero point `zero` in `scale`'s shape when they hold as many elements (ONNX lets
/// a `[1]` zero point go with a scalar scale).
fn same_shape(cx: &mut Cx, zero: V, scale: V) -> Result<V, ImportError> {
    let (z, s) = (cx.ty(zero).shape, cx.ty(scale).shape);
    if z != s && z.numel() == s.numel() {
        return cx.reshape(zero, s.dims().to_vec());
    }
    Ok(zero)
}

/// Scale and zero point laid out for the IR (a per-axis scale of the wrong length is
/// refused here, where its axis is known): ONNX's per-axis form (a 1-D scale of
/// `x.dims[axis]` entries) reshaped to broadcast along `axis`, a one-element scale to
/// a scalar; the axis the op keeps (0 unless blocked).
fn layout(
    cx: &mut Cx,
    x: V,
    scale: V,
    zero: Option<V>,
    (axis, block): (usize, usize),
) -> Result<(V, Option<V>, usize), ImportError> {
    if block > 0 {
        return Ok((scale, zero, axis));
    }
    let (n, rank) = (cx.ty(scale).shape.numel(), cx.rank(x));
    let dims = if n == 1 {
        vec![]
    } else if cx.rank(scale) == 1 && axis < rank {
        let want = cx.dims(x)[axis];
        if n != want {
            return Err(cx.err(format!(
                "a per-axis scale must have one entry per index of axis {axis} of {} ({want}), got {n}",
                cx.ty(x)
            )));
        }
        let mut d = vec![n];
        d.resize(rank - axis, 1);
        d
    } else {
        return Ok((scale, zero, 0));
    };
    let scale = cx.reshape(scale, dims.clone())?;
    let zero = match zero {
        Some(z) if cx.ty(z).shape.numel() == n => Some(cx.reshape(z, dims)?),
        z => z,
    };
    Ok((scale, zero, 0))
}

/// `quantize(x, scale, zero)`, the zero point defaulting to zeros of `dtype`.
fn quantize(
    cx: &mut Cx,
    x: V,
    scale: V,
    zero: Option<V>,
    dtype: DType,
    (axis, block, saturate): (usize, usize, bool),
) -> Result<V, ImportError> {
    let (scale, zero, axis) = layout(cx, x, scale, zero, (axis, block))?;
    let zero = match zero {
        Some(z) => same_shape(cx, z, scale)?,
        None => splat(cx, dtype, &cx.dims(scale), 0.0)?,
    };
    cx.add(
        Op::Quantize {
            axis,
            block,
            saturate,
        },
        &[x, scale, zero],
    )
}

/// `dequantize(x, scale, zero)`, the zero point defaulting to zeros of `x`'s dtype.
fn dequantize(
    cx: &mut Cx,
    x: V,
    scale: V,
    zero: Option<V>,
    (axis, block): (usize, usize),
) -> Result<V, ImportError> {
    let (scale, zero, axis) = layout(cx, x, scale, zero, (axis, block))?;
    let zero = match zero {
        Some(z) => same_shape(cx, z, scale)?,
        None => {
            let dtype = cx.ty(x).dtype;
            splat(cx, dtype, &cx.dims(scale), 0.0)?
        }
    };
    cx.add(Op::Dequantize { axis, block }, &[x, scale, zero])
}

pub(super) fn quantize_linear(cx: &mut Cx) -> Outs {
    let (x, scale, zero) = (cx.input(0)?, cx.input(1)?, cx.opt_input(2)?);
    let out = dtype_attr(cx, "output_dtype")?;
    let dtype = match (zero.map(|z| cx.ty(z).dtype), out) {
        (Some(z), Some(o)) if z != o => {
            return Err(cx.err(format!(
                "output_dtype {o} differs from the zero point's {z}"
            )))
        }
        (Some(z), _) => z,
        (None, o) => o.unwrap_or(DType::U8),
    };
    let attrs = (
        axis_of(cx, x, scale)?,
        block_of(cx)?,
        cx.attr_i("saturate", 1)? != 0,
    );
    Ok(vec![quantize(cx, x, scale, zero, dtype, attrs)?])
}

pub(super) fn dequantize_linear(cx: &mut Cx) -> Outs {
    let (x, scale, zero) = (cx.input(0)?, cx.input(1)?, cx.opt_input(2)?);
    let attrs = (axis_of(cx, x, scale)?, block_of(cx)?);
    let y = dequantize(cx, x, scale, zero, attrs)?;
    Ok(vec![match dtype_attr(cx, "output_dtype")? {
        Some(d) if d.is_float() => cx.cast(y, d)?,
        Some(d) => return Err(cx.err(format!("output_dtype must be a float, got {d}"))),
        None => y,
    }])
}

/// ONNX's function body: the range of `x` widened to include 0 gives a u8 scale and
/// zero point; `y = quantize(x)` with them.
pub(super) fn dynamic_quantize_linear(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    if cx.ty(x).dtype != DType::F32 {
        return Err(cx.err(format!("x must be float, got {}", cx.ty(x))));
    }
    let axes: Vec<usize> = (0..cx.rank(x)).collect();
    let reduce = |op| Op::Reduce {
        op,
        axes: axes.clone(),
        keepdims: false,
    };
    let lo = cx.add(reduce(ReduceOp::Min), &[x])?;
    let hi = cx.add(reduce(ReduceOp::Max), &[x])?;
    // The scale and the zero point, each one element-wise program of the range: as a
    // chain of scalar ops the fusion phase tried every split of it for every layer, and
    // ran into its time limit on a MobileNet (a bundle depending on the machine's speed).
    let mut steps = kiln_ir::quant::u8_scale_steps();
    let scale = Program {
        steps: steps.clone(),
    };
    steps.extend([
        Step::Binary(BinaryOp::Div, 3, 7),
        Step::Binary(BinaryOp::Sub, 2, 8),
        Step::Binary(BinaryOp::Max, 9, 2),
        Step::Binary(BinaryOp::Min, 10, 6),
        Step::Unary(UnaryOp::Round, 11),
        Step::Cast(DType::U8, 12),
    ]);
    let zero = Program { steps };
    let scale = cx.add(Op::Elementwise { program: scale }, &[lo, hi])?;
    let zp = cx.add(Op::Elementwise { program: zero }, &[lo, hi])?;
    let y = quantize(cx, x, scale, Some(zp), DType::U8, (0, 0, true))?;
    Ok(vec![y, scale, zp])
}

/// An optional integer zero point, defaulting to a zero of `like`'s dtype.
fn zero_point(cx: &mut Cx, i: usize, like: V) -> Result<V, ImportError> {
    match cx.opt_input(i)? {
        Some(z) => Ok(z),
        None => {
            let dtype = cx.ty(like).dtype;
            splat(cx, dtype, &[], 0.0)
        }
    }
}

pub(super) fn matmul_integer(cx: &mut Cx) -> Outs {
    let (a, b) = (cx.input(0)?, cx.input(1)?);
    let (za, zb) = (zero_point(cx, 2, a)?, zero_point(cx, 3, b)?);
    Ok(vec![cx.add(Op::MatMulInteger, &[a, b, za, zb])?])
}

pub(super) fn conv_integer(cx: &mut Cx) -> Outs {
    let (x, w) = (cx.input(0)?, cx.input(1)?);
    let attrs = conv_attrs(cx, x, w)?;
    let (zx, zw) = (zero_point(cx, 2, x)?, zero_point(cx, 3, w)?);
    Ok(vec![cx.add(Op::ConvInteger(attrs), &[x, w, zx, zw])?])
}

/// `round(acc · sa·sb / sy) + zy` saturated to `zy`'s dtype: the multiplier in the
/// scales' dtype (per output channel on `axis` when a scale has one entry per channel).
fn requantize(
    cx: &mut Cx,
    acc: V,
    [sa, sb, sy]: [V; 3],
    zy: Option<V>,
    axis: usize,
) -> Result<V, ImportError> {
    let ab = cx.binary(BinaryOp::Mul, sa, sb)?;
    let m = cx.binary(BinaryOp::Div, ab, sy)?;
    let m = flat_f32(cx, m)?;
    let real = dequantize(cx, acc, m, None, (axis, 0))?;
    rounded(cx, real, zy)
}

/// A combined scale as f32: a scalar when it holds one element, else 1-D (one per
/// output channel).
fn flat_f32(cx: &mut Cx, s: V) -> Result<V, ImportError> {
    let s = cx.cast(s, DType::F32)?;
    let n = cx.ty(s).shape.numel();
    cx.reshape(s, if n == 1 { vec![] } else { vec![n] })
}

/// `saturate(round_half_even(y) + zero)`: `y` already in quantization steps (a
/// requantization), quantized with scale 1 and the per-tensor output zero point (u8 0
/// when absent).
fn rounded(cx: &mut Cx, y: V, zero: Option<V>) -> Result<V, ImportError> {
    let one = cx.scalar(DType::F32, 1.0)?;
    let dtype = zero.map_or(DType::U8, |z| cx.ty(z).dtype);
    let zero = match zero {
        Some(z) => Some(cx.reshape(z, vec![])?),
        None => None,
    };
    quantize(cx, y, one, zero, dtype, (0, 0, true))
}

pub(super) fn qlinear_matmul(cx: &mut Cx) -> Outs {
    let (a, sa, za) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
    let (b, sb, zb) = (cx.input(3)?, cx.input(4)?, cx.input(5)?);
    let (sy, zy) = (cx.input(6)?, cx.input(7)?);
    let acc = cx.add(Op::MatMulInteger, &[a, b, za, zb])?;
    let axis = cx.rank(acc).saturating_sub(1);
    Ok(vec![requantize(cx, acc, [sa, sb, sy], Some(zy), axis)?])
}

pub(super) fn qlinear_conv(cx: &mut Cx) -> Outs {
    let (x, sx, zx) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
    let (w, sw, zw) = (cx.input(3)?, cx.input(4)?, cx.input(5)?);
    let (sy, zy) = (cx.input(6)?, cx.input(7)?);
    let attrs = conv_attrs(cx, x, w)?;
    let mut acc = cx.add(Op::ConvInteger(attrs), &[x, w, zx, zw])?;
    if let Some(bias) = cx.opt_input(8)? {
        let mut dims = vec![1; cx.rank(acc)];
        dims[1] = cx.ty(bias).shape.numel();
        let bias = cx.reshape(bias, dims)?;
        acc = cx.binary(BinaryOp::Add, acc, bias)?;
    }
    Ok(vec![requantize(cx, acc, [sx, sw, sy], Some(zy), 1)?])
}

/// Operands `3i, 3i + 1, 3i + 2` (value, scale, zero point) dequantized per tensor.
fn dq_triple(cx: &mut Cx, first: usize) -> Result<V, ImportError> {
    let (x, s, z) = (
        cx.input(first)?,
        cx.input(first + 1)?,
        cx.opt_input(first + 2)?,
    );
    dequantize(cx, x, s, z, (0, 0))
}

/// `y` quantized per tensor with operands `scale`, `zero` (zero optional).
fn q_out(cx: &mut Cx, y: V, scale: usize, zero: usize) -> Result<V, ImportError> {
    let (s, z) = (cx.input(scale)?, cx.opt_input(zero)?);
    let dtype = z.map_or(DType::U8, |z| cx.ty(z).dtype);
    quantize(cx, y, s, z, dtype, (0, 0, true))
}

/// com.microsoft QLinearAdd / QLinearMul: `(A, sa, za, B, sb, zb, sc, zc)`, in the
/// arithmetic of onnxruntime's kernels, which define these ops: the scales enter as
/// ratios to `sc` (`(a - za)·(sa/sc) + (b - zb)·(sb/sc) + zc`, and
/// `(a - za)·(b - zb)·(sa·sb/sc) + zc`), rounded half to even. (Dequantizing, adding
/// and quantizing rounds differently wherever the sum lands on a half step: a quarter
/// of a Gelu's `erf + 1` in one test.)
pub(super) fn qlinear_binary(cx: &mut Cx, op: BinaryOp) -> Outs {
    let [sa, sb, sc] = [1, 4, 6].map(|i| cx.input(i));
    let (sa, sb, sc) = (sa?, sb?, sc?);
    let y = match op {
        BinaryOp::Mul => {
            let a = dq_with(cx, 0, None)?;
            let b = dq_with(cx, 3, None)?;
            let ab = cx.binary(BinaryOp::Mul, a, b)?;
            let s = cx.binary(BinaryOp::Mul, sa, sb)?;
            let ratio = cx.binary(BinaryOp::Div, s, sc)?;
            let ratio = cx.cast(ratio, DType::F32)?;
            cx.binary(BinaryOp::Mul, ab, ratio)?
        }
        _ => {
            let ra = cx.binary(BinaryOp::Div, sa, sc)?;
            let rb = cx.binary(BinaryOp::Div, sb, sc)?;
            let a = dq_with(cx, 0, Some(ra))?;
            let b = dq_with(cx, 3, Some(rb))?;
            cx.binary(op, a, b)?
        }
    };
    let zc = cx.opt_input(7)?;
    Ok(vec![rounded(cx, y, zc)?])
}

/// Operand `first` dequantized with its zero point (operand `first + 2`) and `scale`
/// (1 when `None`), per tensor.
fn dq_with(cx: &mut Cx, first: usize, scale: Option<V>) -> Result<V, ImportError> {
    let (x, z) = (cx.input(first)?, cx.opt_input(first + 2)?);
    let scale = match scale {
        Some(s) => {
            let s = cx.cast(s, DType::F32)?;
            cx.reshape(s, vec![])?
        }
        None => cx.scalar(DType::F32, 1.0)?,
    };
    let z = match z {
        Some(z) => Some(cx.reshape(z, vec![])?),
        None => None,
    };
    dequantize(cx, x, scale, z, (0, 0))
}

/// com.microsoft QLinearSigmoid / QLinearLeakyRelu: `(X, sx, zx, sy, zy)`.
pub(super) fn qlinear_unary(cx: &mut Cx, op: UnaryOp) -> Outs {
    let x = dq_triple(cx, 0)?;
    let op = match op {
        UnaryOp::LeakyRelu { .. } => UnaryOp::LeakyRelu {
            alpha: cx.attr_f("alpha", 0.01)?,
        },
        op => op,
    };
    let y = cx.unary(op, x)?;
    Ok(vec![q_out(cx, y, 3, 4)?])
}

/// com.microsoft QLinearSoftmax: `(X, sx, zx, sy, zy)`; `axis` (default -1) and the
/// `opset` whose Softmax it follows (before 13: over the axes from `axis` on, flattened).
pub(super) fn qlinear_softmax(cx: &mut Cx) -> Outs {
    let x = dq_triple(cx, 0)?;
    let dims = cx.dims(x);
    let axis = cx.axis(cx.attr_i("axis", -1)?, dims.len())?;
    let y = if cx.attr_i("opset", 13)? < 13 {
        let outer: usize = dims[..axis].iter().product();
        let flat = cx.reshape(x, vec![outer, dims[axis..].iter().product()])?;
        let y = cx.add(Op::Softmax { axis: 1 }, &[flat])?;
        cx.reshape(y, dims)?
    } else {
        cx.add(Op::Softmax { axis }, &[x])?
    };
    Ok(vec![q_out(cx, y, 3, 4)?])
}

/// com.microsoft QLinearGlobalAveragePool: `(X, sx, zx, sy, zy)`, NCHW, in
/// onnxruntime's arithmetic: the integer sum of `x - zx` over each image (exact in f32
/// below 2^24) times `sx / (sy · count)`, rounded half to even, plus `zy`.
pub(super) fn qlinear_global_average_pool(cx: &mut Cx) -> Outs {
    if cx.attr_i("channels_last", 0)? != 0 {
        return Err(cx.err("channels_last is not supported"));
    }
    let x = dq_with(cx, 0, None)?;
    let dims = cx.dims(x);
    let count: usize = dims.iter().skip(2).product();
    let sum = cx.add(
        Op::Reduce {
            op: ReduceOp::Sum,
            axes: (2..dims.len()).collect(),
            keepdims: true,
        },
        &[x],
    )?;
    let (sx, sy) = (cx.input(1)?, cx.input(3)?);
    let (sx, sy) = (cx.cast(sx, DType::F32)?, cx.cast(sy, DType::F32)?);
    let n = cx.scalar(DType::F32, count as f64)?;
    let per = cx.binary(BinaryOp::Mul, sy, n)?;
    let ratio = cx.binary(BinaryOp::Div, sx, per)?;
    let ratio = cx.reshape(ratio, vec![])?;
    let y = cx.binary(BinaryOp::Mul, sum, ratio)?;
    let zy = cx.opt_input(4)?;
    Ok(vec![rounded(cx, y, zy)?])
}

/// com.microsoft QLinearAveragePool: `(X, sx, zx, sy, zy)`, AveragePool's attributes.
pub(super) fn qlinear_average_pool(cx: &mut Cx) -> Outs {
    if cx.attr_i("channels_last", 0)? != 0 {
        return Err(cx.err("channels_last is not supported"));
    }
    let x = dq_triple(cx, 0)?;
    let attrs = pool::attrs(cx, x)?;
    let y = cx.add(Op::AveragePool(attrs), &[x])?;
    Ok(vec![q_out(cx, y, 3, 4)?])
}

/// com.microsoft QLinearConcat: `(sy, zy, X0, s0, z0, X1, s1, z1, ...)`.
pub(super) fn qlinear_concat(cx: &mut Cx) -> Outs {
    let n = cx.num_inputs();
    if n < 5 || !(n - 2).is_multiple_of(3) {
        return Err(cx.err(format!(
            "expects y_scale, y_zero_point and triples, got {n} inputs"
        )));
    }
    let parts = (2..n)
        .step_by(3)
        .map(|i| dq_triple(cx, i))
        .collect::<Result<Vec<_>, _>>()?;
    let axis = cx.axis(cx.attr_i("axis", 0)?, cx.rank(parts[0]))?;
    let y = cx.add(Op::Concat { axis }, &parts)?;
    Ok(vec![q_out(cx, y, 0, 1)?])
}

/// com.microsoft QGemm: `(A, sa, za, B, sb, zb, C, sy, zy)`: `alpha · A' · B' + C`
/// with `C` an i32 bias in the accumulator's scale; without `sy` the result is float.
pub(super) fn qgemm(cx: &mut Cx) -> Outs {
    let (mut a, sa, za) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
    let (mut b, sb, zb) = (cx.input(3)?, cx.input(4)?, cx.input(5)?);
    for (v, attr) in [(&mut a, "transA"), (&mut b, "transB")] {
        if cx.rank(*v) != 2 {
            return Err(cx.err(format!("operands must be 2-D, got {}", cx.ty(*v))));
        }
        if cx.attr_i(attr, 0)? != 0 {
            *v = cx.add(Op::Transpose { perm: vec![1, 0] }, &[*v])?;
        }
    }
    let mut acc = cx.add(Op::MatMulInteger, &[a, b, za, zb])?;
    if let Some(c) = cx.opt_input(6)? {
        if cx.ty(c).dtype != DType::I32 {
            return Err(cx.err(format!("C must be an int32 bias, got {}", cx.ty(c))));
        }
        acc = cx.binary(BinaryOp::Add, acc, c)?;
    }
    let alpha = cx.attr_f("alpha", 1.0)?;
    let dtype = cx.ty(sa).dtype;
    let alpha = cx.scalar(dtype, alpha as f64)?;
    let sa = cx.binary(BinaryOp::Mul, sa, alpha)?;
    match cx.opt_input(7)? {
        Some(sy) => {
            let zy = cx.opt_input(8)?;
            Ok(vec![requantize(cx, acc, [sa, sb, sy], zy, 1)?])
        }
        None => {
            let s = cx.binary(BinaryOp::Mul, sa, sb)?;
            let s = flat_f32(cx, s)?;
            Ok(vec![dequantize(cx, acc, s, None, (1, 0))?])
        }
    }
}

/// The elements of constant integer operand `i`.
fn const_ints(cx: &Cx, i: usize, what: &str) -> Result<Vec<i64>, ImportError> {
    let v = cx.input(i)?;
    cx.imp
        .graph
        .constant(v)
        .and_then(|t| t.to_i64_vec())
        .ok_or_else(|| cx.err(format!("{what} must be a constant integer tensor")))
}

/// com.microsoft MatMulNBits: `Y = A · dequantize(B)ᵀ (+ bias)`, `B` `[N, blocks, blob]`
/// of `bits`-bit values packed lowest bits first, blocked scales `[N · blocks]` and
/// optional packed zero points (default `2^(bits-1)`).
pub(super) fn matmul_nbits(cx: &mut Cx) -> Outs {
    let a = cx.input(0)?;
    let attr = |cx: &Cx, name: &str| -> Result<usize, ImportError> {
        let v = cx.attr_i(name, 0)?;
        usize::try_from(v)
            .ok()
            .filter(|&v| v > 0)
            .ok_or_else(|| cx.err(format!("attribute '{name}' must be positive, got {v}")))
    };
    let (k, n, bits, block) = (
        attr(cx, "K")?,
        attr(cx, "N")?,
        cx.attr_i("bits", 4)?,
        attr(cx, "block_size")?,
    );
    let dtype = match bits {
        4 => DType::U4,
        8 => DType::U8,
        b => return Err(cx.err(format!("{b}-bit weights are not supported (4 and 8 are)"))),
    };
    if cx.has(6) {
        return Err(cx.err("g_idx (act-order) is not supported"));
    }
    let blocks = k.div_ceil(block);
    let per_byte = 8 / bits as usize;
    let blob = block / per_byte;
    let packed = const_ints(cx, 1, "B")?;
    if packed.len() != n * blocks * blob || !block.is_multiple_of(per_byte) {
        return Err(cx.err(format!(
            "B holds {} bytes but N={n}, K={k}, block_size={block} need {}",
            packed.len(),
            n * blocks * blob
        )));
    }
    let fields = |bytes: &[i64], count: usize| -> Vec<i64> {
        bytes
            .iter()
            .flat_map(|&b| {
                (0..per_byte).map(move |j| (b >> (j * bits as usize)) & ((1 << bits) - 1))
            })
            .take(count)
            .collect()
    };
    // Row r of B: blocks · block values, of which the first K are real.
    let mut q = Vec::with_capacity(n * k);
    for r in 0..n {
        let row = fields(
            &packed[r * blocks * blob..(r + 1) * blocks * blob],
            blocks * block,
        );
        q.extend_from_slice(&row[..k]);
    }
    let t = |data: Data, dims: Vec<usize>, cx: &Cx| {
        Tensor::new(dims, data).map_err(|e| cx.err(e.to_string()))
    };
    let wq = t(
        Data::from_i64s(dtype, q.into_iter()).expect("uint"),
        vec![n, k],
        cx,
    )?;
    let wq = cx.constant(wq);
    let scales = cx.input(2)?;
    if cx.ty(scales).shape.numel() != n * blocks {
        return Err(cx.err(format!(
            "scales must hold N · blocks = {} values, got {}",
            n * blocks,
            cx.ty(scales)
        )));
    }
    let scales = cx.reshape(scales, vec![n, blocks])?;
    let zero = match cx.opt_input(3)? {
        None => splat(cx, dtype, &[n, blocks], (1 << (bits - 1)) as f64)?,
        Some(z) if cx.ty(z).dtype == DType::U8 => {
            let zp = const_ints(cx, 3, "zero_points")?;
            let per_row = blocks.div_ceil(per_byte);
            if zp.len() != n * per_row {
                return Err(cx.err(format!(
                    "zero_points holds {} bytes, expected {}",
                    zp.len(),
                    n * per_row
                )));
            }
            let mut z = Vec::with_capacity(n * blocks);
            for r in 0..n {
                z.extend(fields(&zp[r * per_row..(r + 1) * per_row], blocks));
            }
            let z = t(
                Data::from_i64s(dtype, z.into_iter()).expect("uint"),
                vec![n, blocks],
                cx,
            )?;
            cx.constant(z)
        }
        Some(z) => {
            return Err(cx.err(format!(
                "float zero points ({}) are not supported",
                cx.ty(z)
            )))
        }
    };
    let w = cx.add(Op::Dequantize { axis: 1, block }, &[wq, scales, zero])?;
    let wt = cx.add(Op::Transpose { perm: vec![1, 0] }, &[w])?;
    let mut y = cx.add(Op::MatMul, &[a, wt])?;
    if let Some(bias) = cx.opt_input(5)? {
        y = cx.binary(BinaryOp::Add, y, bias)?;
    }
    Ok(vec![y])
}
