//! Shape and dtype inference: the result types of an op from its operand types.
//!
//! This is the single definition of every op's typing rule. The importer builds
//! nodes through it, the verifier re-checks every node against it, and the
//! interpreter trusts the types it produces.

use crate::{
    BinaryOp, ConvAttrs, ConvTransposeAttrs, DType, Op, PadMode, PoolAttrs, ResizeAttrs,
    ScatterReduction, Shape, SparseFormat, TensorType, UnaryOp,
};

/// Operands that do not fit an op (wrong count, dtype, rank or extents).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct InferError(pub String);

type Result<T> = std::result::Result<T, InferError>;

macro_rules! bail {
    ($($arg:tt)*) => { return Err(InferError(format!($($arg)*))) };
}

/// The types of every result `op` defines (including optional ones, in order), given
/// its operand types. Fails, never panics, when the operands do not fit the op.
pub fn infer(op: &Op, inputs: &[&TensorType]) -> Result<Vec<TensorType>> {
    for t in inputs {
        if t.shape.checked_numel().is_none() {
            bail!(
                "operand shape {} has more elements than fit in memory",
                t.shape
            );
        }
    }
    let results = infer_unchecked(op, inputs)?;
    for t in &results {
        if t.shape.checked_numel().is_none() {
            bail!(
                "result shape {} has more elements than fit in memory",
                t.shape
            );
        }
    }
    Ok(results)
}

/// `a * b`, or an error on overflow.
fn mul(a: usize, b: usize) -> Result<usize> {
    a.checked_mul(b)
        .ok_or_else(|| InferError(format!("{a} × {b} overflows")))
}

/// `a + b`, or an error on overflow.
fn add(a: usize, b: usize) -> Result<usize> {
    a.checked_add(b)
        .ok_or_else(|| InferError(format!("{a} + {b} overflows")))
}

fn infer_unchecked(op: &Op, inputs: &[&TensorType]) -> Result<Vec<TensorType>> {
    match op {
        Op::Unary(u) => {
            let [x] = operands::<1>(inputs)?;
            unary(*u, x)
        }
        Op::Binary(b) => {
            let [a, b_ty] = operands::<2>(inputs)?;
            binary(*b, a, b_ty)
        }
        Op::Where => {
            let [c, x, y] = operands::<3>(inputs)?;
            expect_dtype(c, DType::Bool, "condition")?;
            same_dtype(x, y)?;
            let shape = broadcast(&[&c.shape, &x.shape, &y.shape])?;
            one(x.dtype, shape)
        }
        Op::BitCast { to } => {
            let [x] = operands::<1>(inputs)?;
            let plain = |d: DType| d.is_numeric() && !d.is_minifloat() && d.bits() >= 8;
            let source = plain(x.dtype) || x.dtype == DType::Bool;
            if !source || !plain(*to) || x.dtype.bits() != to.bits() {
                bail!(
                    "cannot bitcast {} to {to} (same width, 8 to 32 bits)",
                    x.dtype
                );
            }
            one(*to, x.shape.clone())
        }
        Op::Cast { to } => {
            let [x] = operands::<1>(inputs)?;
            // Minifloats convert to and from f32 and f16 only.
            if (x.dtype.is_minifloat() && !to.is_float() && *to != x.dtype)
                || (to.is_minifloat() && !x.dtype.is_float() && *to != x.dtype)
            {
                bail!("cannot cast {} to {to}", x.dtype);
            }
            one(*to, x.shape.clone())
        }
        Op::MatMul => {
            let [a, b] = operands::<2>(inputs)?;
            matmul(a, b)
        }
        Op::Conv(attrs) => conv(attrs, inputs),
        Op::ConvTranspose(attrs) => conv_transpose(attrs, inputs),
        Op::BatchNorm { .. } => {
            let [x, rest @ ..] = inputs else {
                bail!("expected 5 operands, got 0")
            };
            if rest.len() != 4 {
                bail!(
                    "expected 5 operands (x, scale, bias, mean, var), got {}",
                    inputs.len()
                );
            }
            float(x)?;
            let c = channels(x)?;
            for (p, what) in rest.iter().zip(["scale", "bias", "mean", "var"]) {
                same_dtype(x, p)?;
                if p.shape.dims() != [c] {
                    bail!("{what} must be {}[{c}], got {p}", x.dtype);
                }
            }
            one(x.dtype, x.shape.clone())
        }
        Op::LayerNorm { axis, .. } => layer_norm(*axis, inputs),
        Op::RmsNorm { axis, .. } => match inputs {
            [_, _] => layer_norm(*axis, inputs).map(|mut r| {
                r.truncate(1);
                r
            }),
            _ => bail!("expected 2 operands (x, scale), got {}", inputs.len()),
        },
        Op::InstanceNorm { .. } => {
            let [x, scale, bias] = operands::<3>(inputs)?;
            float(x)?;
            let c = channels(x)?;
            for p in [scale, bias] {
                same_dtype(x, p)?;
                if p.shape.dims() != [c] {
                    bail!("scale and bias must be {}[{c}], got {p}", x.dtype);
                }
            }
            one(x.dtype, x.shape.clone())
        }
        Op::Lrn { size, .. } => {
            let [x] = operands::<1>(inputs)?;
            float(x)?;
            channels(x)?;
            if *size == 0 {
                bail!("size must be positive");
            }
            one(x.dtype, x.shape.clone())
        }
        Op::MaxPool(attrs) => {
            let [x] = operands::<1>(inputs)?;
            let y = pool(attrs, x)?;
            if attrs.storage_order > 1 {
                bail!("storage_order must be 0 or 1, got {}", attrs.storage_order);
            }
            let indices = TensorType::new(DType::I32, y.shape.clone());
            Ok(vec![y, indices])
        }
        Op::AveragePool(attrs) => {
            let [x] = operands::<1>(inputs)?;
            float(x)?;
            Ok(vec![pool(attrs, x)?])
        }
        Op::Reduce { axes, keepdims, .. } => {
            let [x] = operands::<1>(inputs)?;
            numeric(x)?;
            check_axes(axes, x.shape.rank(), true)?;
            one(x.dtype, reduced_shape(&x.shape, axes, *keepdims))
        }
        Op::MinMax { axes, keepdims } => {
            let [x] = operands::<1>(inputs)?;
            numeric(x)?;
            check_axes(axes, x.shape.rank(), true)?;
            let t = TensorType::new(x.dtype, reduced_shape(&x.shape, axes, *keepdims));
            Ok(vec![t.clone(), t])
        }
        Op::Softmax { axis } | Op::LogSoftmax { axis } => {
            let [x] = operands::<1>(inputs)?;
            float(x)?;
            check_axis(*axis, x.shape.rank())?;
            one(x.dtype, x.shape.clone())
        }
        Op::Cumulative { axis, .. } => {
            let [x] = operands::<1>(inputs)?;
            numeric(x)?;
            check_axis(*axis, x.shape.rank())?;
            one(x.dtype, x.shape.clone())
        }
        Op::ScatterNd { reduction } => {
            let [data, indices, updates] = operands::<3>(inputs)?;
            expect_dtype(indices, DType::I32, "indices")?;
            same_dtype(data, updates)?;
            if *reduction != ScatterReduction::None && !data.dtype.is_numeric() {
                bail!("a scatter reduction needs numbers, got {}", data.dtype);
            }
            let (d, q) = (data.shape.dims(), indices.shape.dims());
            let m = q.last().copied().unwrap_or(0);
            if q.is_empty() || m == 0 || m > d.len() {
                bail!("indices {} do not index data {}", indices.shape, data.shape);
            }
            let mut want = q[..q.len() - 1].to_vec();
            want.extend_from_slice(&d[m..]);
            if updates.shape.dims() != want {
                bail!("updates {} should be {}", updates.shape, Shape::new(want));
            }
            one(data.dtype, data.shape.clone())
        }
        Op::ArgReduce { axis, keepdims, .. } => {
            let [x] = operands::<1>(inputs)?;
            numeric(x)?;
            check_axis(*axis, x.shape.rank())?;
            one(DType::I32, reduced_shape(&x.shape, &[*axis], *keepdims))
        }
        Op::Reshape { shape } => {
            let [x] = operands::<1>(inputs)?;
            let to = Shape::new(shape.clone());
            if to.checked_numel() != Some(x.shape.numel()) {
                bail!(
                    "cannot reshape {} ({} elements) to {to}",
                    x.shape,
                    x.shape.numel()
                );
            }
            one(x.dtype, to)
        }
        Op::Transpose { perm } => {
            let [x] = operands::<1>(inputs)?;
            let rank = x.shape.rank();
            let mut seen = vec![false; rank];
            if perm.len() != rank
                || perm
                    .iter()
                    .any(|&p| p >= rank || std::mem::replace(&mut seen[p], true))
            {
                bail!("perm {perm:?} is not a permutation of {rank} axes");
            }
            one(
                x.dtype,
                Shape::new(perm.iter().map(|&p| x.shape.0[p]).collect::<Vec<_>>()),
            )
        }
        Op::Concat { axis } => concat(*axis, inputs),
        Op::Split { axis, sizes } => {
            let [x] = operands::<1>(inputs)?;
            check_axis(*axis, x.shape.rank())?;
            let total: usize = sizes.iter().sum();
            if sizes.is_empty() || total != x.shape.0[*axis] {
                bail!(
                    "split sizes {sizes:?} do not add up to axis {axis} of {}",
                    x.shape
                );
            }
            Ok(sizes
                .iter()
                .map(|&s| {
                    let mut dims = x.shape.0.clone();
                    dims[*axis] = s;
                    TensorType::new(x.dtype, dims)
                })
                .collect())
        }
        Op::Slice {
            starts,
            steps,
            lens,
        } => {
            let [x] = operands::<1>(inputs)?;
            slice(x, starts, steps, lens)
        }
        Op::Gather { axis } => {
            let [data, indices] = operands::<2>(inputs)?;
            check_axis(*axis, data.shape.rank())?;
            expect_dtype(indices, DType::I32, "indices")?;
            let d = data.shape.dims();
            let dims: Vec<usize> = d[..*axis]
                .iter()
                .chain(indices.shape.dims())
                .chain(&d[axis + 1..])
                .copied()
                .collect();
            one(data.dtype, dims)
        }
        Op::Expand { shape } => {
            let [x] = operands::<1>(inputs)?;
            let to = Shape::new(shape.clone());
            if broadcast(&[&x.shape, &to])? != to {
                bail!("cannot expand {} to {to}", x.shape);
            }
            one(x.dtype, to)
        }
        Op::Pad { mode, pads } => pad(*mode, pads, inputs),
        Op::Tile { repeats } => {
            let [x] = operands::<1>(inputs)?;
            if repeats.len() != x.shape.rank() {
                bail!("{} repeats for rank {}", repeats.len(), x.shape.rank());
            }
            let dims = x.shape.0.iter().zip(repeats).map(|(&d, &r)| mul(d, r));
            one(x.dtype, dims.collect::<Result<Vec<_>>>()?)
        }
        Op::Resize(attrs) => resize(attrs, inputs),
        Op::DepthToSpace { blocksize: b, .. } => {
            let [x] = operands::<1>(inputs)?;
            let &[n, c, h, w] = x.shape.dims() else {
                bail!("expected a rank-4 operand, got {}", x.shape)
            };
            let bb = mul(*b, *b)?;
            if bb == 0 || c % bb != 0 {
                bail!("channels {c} are not a multiple of blocksize² ({b}²)");
            }
            one(x.dtype, vec![n, c / bb, mul(h, *b)?, mul(w, *b)?])
        }
        Op::SpaceToDepth { blocksize: b } => {
            let [x] = operands::<1>(inputs)?;
            let &[n, c, h, w] = x.shape.dims() else {
                bail!("expected a rank-4 operand, got {}", x.shape)
            };
            if *b == 0 || h % b != 0 || w % b != 0 {
                bail!("spatial dims {h}x{w} are not multiples of blocksize {b}");
            }
            one(x.dtype, vec![n, mul(c, mul(*b, *b)?)?, h / b, w / b])
        }
        Op::Shape { start, end } => {
            let [x] = operands::<1>(inputs)?;
            if start > end || *end > x.shape.rank() {
                bail!(
                    "dims {start}..{end} out of range for rank {}",
                    x.shape.rank()
                );
            }
            one(DType::I32, vec![end - start])
        }
        Op::NonZero => {
            let [x] = operands::<1>(inputs)?;
            let upper = vec![x.shape.rank(), x.shape.numel()];
            Ok(vec![
                TensorType::new(DType::I32, upper),
                TensorType::new(DType::I32, vec![]),
            ])
        }
        Op::Compress { axis } => {
            let [x, c] = operands::<2>(inputs)?;
            expect_dtype(c, DType::Bool, "condition")?;
            if c.shape.rank() != 1 {
                bail!("condition must be 1-D, got {}", c.shape);
            }
            let len = c.shape.dims()[0];
            let dims = match axis {
                None => vec![len.min(x.shape.numel())],
                Some(a) if *a < x.shape.rank() => {
                    let mut d = x.shape.dims().to_vec();
                    d[*a] = len.min(d[*a]);
                    d
                }
                Some(a) => bail!("axis {a} out of range for rank {}", x.shape.rank()),
            };
            Ok(vec![
                TensorType::new(x.dtype, dims),
                TensorType::new(DType::I32, vec![]),
            ])
        }
        Op::Unique { axis, .. } => {
            let [x] = operands::<1>(inputs)?;
            let (y, len) = match axis {
                None => (vec![x.shape.numel()], x.shape.numel()),
                Some(a) if *a < x.shape.rank() => (x.shape.dims().to_vec(), x.shape.dims()[*a]),
                Some(a) => bail!("axis {a} out of range for rank {}", x.shape.rank()),
            };
            let list = TensorType::new(DType::I32, vec![len]);
            Ok(vec![
                TensorType::new(x.dtype, y),
                list.clone(),
                list.clone(),
                list,
                TensorType::new(DType::I32, vec![]),
            ])
        }
        Op::NonMaxSuppression { max_per_class, .. } => {
            let [boxes, scores, iou, score] = operands::<4>(inputs)?;
            for (t, what) in [(boxes, "boxes"), (scores, "scores"), (iou, "iou_threshold")] {
                expect_dtype(t, DType::F32, what)?;
            }
            expect_dtype(score, DType::F32, "score_threshold")?;
            let (b, s) = (boxes.shape.dims(), scores.shape.dims());
            if b.len() != 3 || b[2] != 4 || s.len() != 3 || s[0] != b[0] || s[2] != b[1] {
                bail!(
                    "boxes {} and scores {} must be [B, N, 4] and [B, C, N]",
                    boxes.shape,
                    scores.shape
                );
            }
            if iou.shape.numel() != 1 || score.shape.numel() != 1 {
                bail!("the thresholds must be single values");
            }
            let rows = mul(mul(b[0], s[1])?, (*max_per_class).min(b[1]))?;
            Ok(vec![
                TensorType::new(DType::I32, vec![rows, 3]),
                TensorType::new(DType::I32, vec![]),
            ])
        }
        Op::Identity => {
            let [x] = operands::<1>(inputs)?;
            Ok(vec![(*x).clone()])
        }
        Op::Elementwise { program } => {
            let dtypes: Vec<DType> = inputs.iter().map(|t| t.dtype).collect();
            let dtype = program.result_type(&dtypes)?;
            if program.num_inputs() > inputs.len() {
                bail!(
                    "program reads {} inputs, node has {}",
                    program.num_inputs(),
                    inputs.len()
                );
            }
            let shapes: Vec<&Shape> = inputs.iter().map(|t| &t.shape).collect();
            one(dtype, broadcast(&shapes)?)
        }
        Op::Fused {
            anchor,
            prologue,
            arity,
            epilogue,
        } => {
            if matches!(**anchor, Op::Fused { .. }) {
                bail!("a fused op cannot anchor another");
            }
            if *arity > inputs.len() {
                bail!("anchor arity {arity} exceeds the {} operands", inputs.len());
            }
            let (anchor_in, extra) = inputs.split_at(*arity);
            let base = match prologue {
                None => infer_unchecked(anchor, anchor_in)?.swap_remove(0),
                Some(pro) => {
                    let pooled = prologue_type(pro, anchor, anchor_in, extra)?;
                    let mut args = anchor_in.to_vec();
                    args[0] = &pooled;
                    infer_unchecked(anchor, &args)?.swap_remove(0)
                }
            };
            let mut dtypes = vec![base.dtype];
            for t in extra {
                if broadcast(&[&t.shape, &base.shape])? != base.shape {
                    bail!(
                        "epilogue operand {} does not broadcast to the anchor result {}",
                        t.shape,
                        base.shape
                    );
                }
                dtypes.push(t.dtype);
            }
            if epilogue.num_inputs() > dtypes.len() {
                bail!(
                    "epilogue reads {} inputs, node provides {}",
                    epilogue.num_inputs(),
                    dtypes.len()
                );
            }
            one(epilogue.result_type(&dtypes)?, base.shape)
        }
        Op::Attention { .. } => attention(inputs),
        Op::Quantize { axis, block, .. } => {
            let [x, scale, zero] = operands::<3>(inputs)?;
            float(x)?;
            float(scale)?;
            if !zero.dtype.is_quantized() {
                bail!("cannot quantize to {}", zero.dtype);
            }
            quant_params(x, scale, zero, *axis, *block)?;
            one(zero.dtype, x.shape.clone())
        }
        Op::Dequantize { axis, block } => {
            let [x, scale, zero] = operands::<3>(inputs)?;
            if !(x.dtype.is_quantized() || x.dtype == DType::I32) {
                bail!("cannot dequantize {}", x.dtype);
            }
            float(scale)?;
            same_dtype(x, zero)?;
            quant_params(x, scale, zero, *axis, *block)?;
            one(scale.dtype, x.shape.clone())
        }
        Op::MatMulInteger => {
            let [a, b, a_zero, b_zero] = operands::<4>(inputs)?;
            int8(a, a_zero)?;
            int8(b, b_zero)?;
            let as_float = |t: &TensorType| TensorType::new(DType::F32, t.shape.clone());
            let mut result = matmul(&as_float(a), &as_float(b))?;
            let dims = result[0].shape.dims().to_vec();
            let rows = if a.shape.rank() >= 2 {
                a.shape.0[a.shape.rank() - 2]
            } else {
                1
            };
            let cols = if b.shape.rank() >= 2 {
                *b.shape.0.last().unwrap_or(&1)
            } else {
                1
            };
            for (zero, n, what) in [(a_zero, rows, "a_zero"), (b_zero, cols, "b_zero")] {
                if zero.shape.numel() != 1 && zero.shape.dims() != [n] {
                    bail!("{what} must have one element or [{n}], got {}", zero.shape);
                }
            }
            result[0] = TensorType::new(DType::I32, dims);
            Ok(result)
        }
        Op::ConvInteger(attrs) => {
            let [x, w, x_zero, w_zero] = operands::<4>(inputs)?;
            int8(x, x_zero)?;
            int8(w, w_zero)?;
            let as_float = |t: &TensorType| TensorType::new(DType::F32, t.shape.clone());
            let (xf, wf) = (as_float(x), as_float(w));
            let shape = conv(attrs, &[&xf, &wf])?.remove(0).shape;
            let m = w.shape.0[0];
            if x_zero.shape.numel() != 1 {
                bail!("x_zero must have one element, got {}", x_zero.shape);
            }
            if w_zero.shape.numel() != 1 && w_zero.shape.dims() != [m] {
                bail!(
                    "w_zero must have one element or [{m}], got {}",
                    w_zero.shape
                );
            }
            one(DType::I32, shape)
        }
        Op::SparseMatMul { format, axis, k, n } => sparse_matmul(*format, *axis, (*k, *n), inputs),
        Op::SparseConv {
            format,
            conv: attrs,
            kernel,
            n,
        } => sparse_conv(*format, attrs, kernel, *n, inputs),
    }
}

/// A sparse convolution's result: the convolution's with `n` output channels, once the
/// format's arrays fit its `k × n` weights.
fn sparse_conv(
    format: SparseFormat,
    attrs: &ConvAttrs,
    kernel: &[usize],
    n: usize,
    inputs: &[&TensorType],
) -> Result<Vec<TensorType>> {
    let Some(&x) = inputs.first() else {
        bail!("expected x and the weights' arrays");
    };
    expect_dtype(x, DType::F32, "x")?;
    if x.shape.rank() != 4 || kernel.len() != 2 || attrs.group != 1 {
        bail!(
            "sparse convolutions are 2-D with group 1, got x {} and kernel {kernel:?}",
            x.shape
        );
    }
    let c = x.shape.0[1];
    let k = c * kernel.iter().product::<usize>();
    // Check the arrays (and bias) as a product of k × n weights would.
    let mut as_product = vec![TensorType::new(DType::F32, vec![1, k])];
    as_product.extend(inputs[1..].iter().map(|&t| t.clone()));
    let refs: Vec<&TensorType> = as_product.iter().collect();
    sparse_matmul(format, 1, (k, n), &refs)?;
    let mut w_dims = vec![n, c];
    w_dims.extend_from_slice(kernel);
    let w = TensorType::new(DType::F32, w_dims);
    conv(attrs, &[x, &w])
}

/// A sparse product's result: `a` with its axis `axis` (`k`) replaced by `n`, once the
/// format's arrays fit `k × n` weights (and the bias, if any, `n`).
fn sparse_matmul(
    format: SparseFormat,
    axis: usize,
    (k, n): (usize, usize),
    inputs: &[&TensorType],
) -> Result<Vec<TensorType>> {
    let Some((a, arrays)) = inputs.split_first() else {
        bail!("expected the operand a and the weights' arrays");
    };
    expect_dtype(a, DType::F32, "a")?;
    let (arrays, bias) = match arrays.len() - format.arrays().min(arrays.len()) {
        0 => (arrays, None),
        1 => (&arrays[..format.arrays()], arrays.last()),
        _ => bail!(
            "the {} format takes {} arrays after a and an optional bias, got {} operands",
            format.label(),
            format.arrays(),
            arrays.len()
        ),
    };
    if arrays.len() != format.arrays() {
        bail!(
            "the {} format takes {} arrays after a",
            format.label(),
            format.arrays()
        );
    }
    if a.shape.dims().get(axis) != Some(&k) {
        bail!("a must have {k} on axis {axis}, got {}", a.shape);
    }
    if let Some(bias) = bias {
        expect_dtype(bias, DType::F32, "bias")?;
        if bias.shape.dims() != [n] {
            bail!("bias must be [{n}], got {}", bias.shape);
        }
    }
    let values = arrays[0];
    if values.dtype != a.dtype {
        bail!("values must be {} like a, got {}", a.dtype, values.dtype);
    }
    let expect = |t: &TensorType, dims: &[usize], what: &str| -> Result<()> {
        if t.shape.dims() != dims {
            bail!("{what} must be {dims:?}, got {}", t.shape);
        }
        Ok(())
    };
    match format {
        SparseFormat::Blocks { rows, cols } => {
            let &[blocks, ..] = values.shape.dims() else {
                bail!(
                    "values must be [blocks, {rows}, {cols}], got {}",
                    values.shape
                );
            };
            expect(values, &[blocks, rows, cols], "values")?;
            expect_dtype(arrays[1], DType::I32, "block_rows")?;
            expect(arrays[1], &[blocks], "block_rows")?;
            expect_dtype(arrays[2], DType::I32, "starts")?;
            expect(arrays[2], &[n.div_ceil(cols) + 1], "starts")?;
        }
        SparseFormat::NOfM { keep, group } => {
            if keep > group || !k.is_multiple_of(group) {
                bail!(
                    "{keep} of every {group} needs keep <= group and k ({k}) a multiple of group"
                );
            }
            expect(values, &[n, k / group * keep], "values")?;
            if !arrays[1].dtype.is_int() || arrays[1].dtype.is_signed_int() {
                bail!(
                    "positions must be unsigned integers, got {}",
                    arrays[1].dtype
                );
            }
            expect(arrays[1], &[n, k / group * keep], "positions")?;
        }
    }
    let mut dims = a.shape.dims().to_vec();
    dims[axis] = n;
    one(a.dtype, dims)
}

/// `scale` and `zero` fit `x` as the scale and zero point of a (de)quantization.
fn quant_params(
    x: &TensorType,
    scale: &TensorType,
    zero: &TensorType,
    axis: usize,
    block: usize,
) -> Result<()> {
    // Blocked: both have the blocks' shape; else each broadcasts to `x` on its own.
    if block > 0 && zero.shape != scale.shape {
        bail!(
            "zero point {} and scale {} differ in shape",
            zero.shape,
            scale.shape
        );
    }
    for t in [scale, zero] {
        crate::quant::QuantLayout::of(&x.shape, &t.shape, axis, block).map_err(InferError)?;
    }
    Ok(())
}

/// `t` is an 8-bit integer and `zero` (its zero point) has its dtype.
fn int8(t: &TensorType, zero: &TensorType) -> Result<()> {
    if !t.dtype.is_byte_int() {
        bail!("expected an i8 or u8 operand, got {}", t.dtype);
    }
    same_dtype(t, zero)
}

/// The numpy broadcast of `shapes`.
pub fn broadcast(shapes: &[&Shape]) -> Result<Shape> {
    let rank = shapes.iter().map(|s| s.rank()).max().unwrap_or(0);
    let mut dims = vec![1usize; rank];
    for s in shapes {
        let offset = rank - s.rank();
        for (i, &d) in s.dims().iter().enumerate() {
            let out = &mut dims[offset + i];
            if *out == 1 {
                *out = d;
            } else if d != 1 && d != *out {
                let list: Vec<String> = shapes.iter().map(|s| s.to_string()).collect();
                bail!("shapes {} do not broadcast", list.join(" and "));
            }
        }
    }
    Ok(Shape(dims))
}

/// Pool / conv output extent along one axis (`None` when the window does not fit).
pub fn window_out(
    input: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    pad_begin: usize,
    pad_end: usize,
    ceil: bool,
) -> Option<usize> {
    let span = dilation
        .checked_mul(kernel.checked_sub(1)?)?
        .checked_add(1)?;
    let padded = input.checked_add(pad_begin)?.checked_add(pad_end)?;
    if padded < span || stride == 0 {
        return None;
    }
    let room = padded - span;
    let mut out = if ceil {
        room.div_ceil(stride) + 1
    } else {
        room / stride + 1
    };
    // With ceil_mode, the last window must start inside the input or its begin padding.
    if ceil && (out - 1) * stride >= input + pad_begin {
        out -= 1;
    }
    Some(out)
}

fn operands<'a, const N: usize>(inputs: &[&'a TensorType]) -> Result<[&'a TensorType; N]> {
    inputs
        .try_into()
        .map_err(|_| InferError(format!("expected {N} operands, got {}", inputs.len())))
}

fn one(dtype: DType, shape: impl Into<Shape>) -> Result<Vec<TensorType>> {
    Ok(vec![TensorType::new(dtype, shape)])
}

fn expect_dtype(t: &TensorType, dtype: DType, what: &str) -> Result<()> {
    if t.dtype != dtype {
        bail!("{what} must be {dtype}, got {}", t.dtype);
    }
    Ok(())
}

fn same_dtype(a: &TensorType, b: &TensorType) -> Result<()> {
    if a.dtype != b.dtype {
        bail!("operand dtypes differ: {} and {}", a.dtype, b.dtype);
    }
    Ok(())
}

fn float(t: &TensorType) -> Result<()> {
    if !t.dtype.is_float() {
        bail!("expected a float operand, got {}", t.dtype);
    }
    Ok(())
}

fn numeric(t: &TensorType) -> Result<()> {
    if !t.dtype.is_numeric() {
        bail!("expected a numeric operand, got {}", t.dtype);
    }
    Ok(())
}

fn check_axis(axis: usize, rank: usize) -> Result<()> {
    if axis >= rank {
        bail!("axis {axis} out of range for rank {rank}");
    }
    Ok(())
}

fn check_axes(axes: &[usize], rank: usize, sorted: bool) -> Result<()> {
    for &a in axes {
        check_axis(a, rank)?;
    }
    if sorted && axes.windows(2).any(|w| w[0] >= w[1]) {
        bail!("axes {axes:?} must be sorted and unique");
    }
    Ok(())
}

/// Number of channels (axis 1) of an N×C×... operand.
fn channels(x: &TensorType) -> Result<usize> {
    if x.shape.rank() < 2 {
        bail!("expected an N×C×... operand, got {}", x.shape);
    }
    Ok(x.shape.0[1])
}

fn reduced_shape(shape: &Shape, axes: &[usize], keepdims: bool) -> Shape {
    let dims = shape.dims().iter().enumerate().filter_map(|(i, &d)| {
        if !axes.contains(&i) {
            Some(d)
        } else if keepdims {
            Some(1)
        } else {
            None
        }
    });
    Shape(dims.collect())
}

fn unary(op: UnaryOp, x: &TensorType) -> Result<Vec<TensorType>> {
    use UnaryOp::*;
    let ok = match op {
        Not => x.dtype == DType::Bool,
        Neg | Abs | Sign => x.dtype.is_numeric(),
        Relu => x.dtype.is_numeric(),
        BitNot => x.dtype.is_int(),
        _ => x.dtype.is_float(),
    };
    if !ok {
        bail!("{} does not apply to {}", op.name(), x.dtype);
    }
    if op.returns_bool() {
        return one(DType::Bool, x.shape.clone());
    }
    Ok(vec![x.clone()])
}

fn binary(op: BinaryOp, a: &TensorType, b: &TensorType) -> Result<Vec<TensorType>> {
    use BinaryOp::*;
    let shape = broadcast(&[&a.shape, &b.shape])?;
    match op {
        // Pow allows an exponent of another numeric type.
        Pow => {
            if !a.dtype.is_numeric() || !b.dtype.is_numeric() {
                bail!(
                    "pow needs numeric operands, got {} and {}",
                    a.dtype,
                    b.dtype
                );
            }
        }
        And | Or | Xor => {
            expect_dtype(a, DType::Bool, "operand")?;
            expect_dtype(b, DType::Bool, "operand")?;
        }
        Equal => same_dtype(a, b)?,
        _ if op.is_bitwise() => {
            same_dtype(a, b)?;
            if !a.dtype.is_int() {
                bail!("{} needs integer operands, got {}", op.name(), a.dtype);
            }
        }
        _ => {
            same_dtype(a, b)?;
            numeric(a)?;
        }
    }
    if op == Prelu && shape != a.shape {
        bail!("slope {} does not broadcast to x {}", b.shape, a.shape);
    }
    let dtype = if op.returns_bool() {
        DType::Bool
    } else {
        a.dtype
    };
    one(dtype, shape)
}

fn matmul(a: &TensorType, b: &TensorType) -> Result<Vec<TensorType>> {
    same_dtype(a, b)?;
    numeric(a)?;
    if a.shape.rank() == 0 || b.shape.rank() == 0 {
        bail!(
            "matmul operands must have rank ≥ 1, got {} and {}",
            a.shape,
            b.shape
        );
    }
    let (ad, bd) = (a.shape.dims(), b.shape.dims());
    let (m, k) = if ad.len() == 1 {
        (None, ad[0])
    } else {
        (Some(ad[ad.len() - 2]), ad[ad.len() - 1])
    };
    let (k2, n) = if bd.len() == 1 {
        (bd[0], None)
    } else {
        (bd[bd.len() - 2], Some(bd[bd.len() - 1]))
    };
    if k != k2 {
        bail!("inner dims differ: {} and {}", a.shape, b.shape);
    }
    let batch_a = Shape::new(&ad[..ad.len().saturating_sub(2)]);
    let batch_b = Shape::new(&bd[..bd.len().saturating_sub(2)]);
    let mut dims = broadcast(&[&batch_a, &batch_b])?.0;
    dims.extend(m);
    dims.extend(n);
    one(a.dtype, dims)
}

/// The `x` and `w` operands of a (transposed) convolution and its number of spatial
/// axes, checking what both ops require of them.
fn conv_operands<'a>(inputs: &[&'a TensorType]) -> Result<(&'a TensorType, &'a TensorType, usize)> {
    let (x, w) = match inputs {
        [x, w] | [x, w, _] => (*x, *w),
        _ => bail!(
            "expected 2 or 3 operands (x, w, bias), got {}",
            inputs.len()
        ),
    };
    float(x)?;
    same_dtype(x, w)?;
    let rank = x.shape.rank();
    if rank < 3 || w.shape.rank() != rank {
        bail!(
            "x {} and w {} must both be N×C×spatial with equal rank",
            x.shape,
            w.shape
        );
    }
    Ok((x, w, rank - 2))
}

fn conv(attrs: &ConvAttrs, inputs: &[&TensorType]) -> Result<Vec<TensorType>> {
    let (x, w, spatial) = conv_operands(inputs)?;
    check_spatial_attrs(spatial, &attrs.strides, &attrs.pads, &attrs.dilations)?;
    let (c, m) = (x.shape.0[1], w.shape.0[0]);
    let g = attrs.group;
    if g == 0 || c % g != 0 || m % g != 0 || w.shape.0[1] * g != c {
        bail!("group {g} does not fit x channels {c} and w {}", w.shape);
    }
    if let [_, _, b] = inputs {
        same_dtype(x, b)?;
        if b.shape.dims() != [m] {
            bail!("bias must be [{m}], got {}", b.shape);
        }
    }
    let mut dims = vec![x.shape.0[0], m];
    for i in 0..spatial {
        let out = window_out(
            x.shape.0[2 + i],
            w.shape.0[2 + i],
            attrs.strides[i],
            attrs.dilations[i],
            attrs.pads[i],
            attrs.pads[spatial + i],
            false,
        );
        match out {
            Some(o) => dims.push(o),
            None => bail!("kernel {} does not fit padded input {}", w.shape, x.shape),
        }
    }
    one(x.dtype, dims)
}

fn conv_transpose(attrs: &ConvTransposeAttrs, inputs: &[&TensorType]) -> Result<Vec<TensorType>> {
    let (x, w, spatial) = conv_operands(inputs)?;
    check_spatial_attrs(spatial, &attrs.strides, &attrs.pads, &attrs.dilations)?;
    if attrs.output_padding.len() != spatial {
        bail!(
            "output_padding needs {spatial} entries, got {:?}",
            attrs.output_padding
        );
    }
    let g = attrs.group;
    if g == 0 || x.shape.0[1] != w.shape.0[0] || x.shape.0[1] % g != 0 {
        bail!("group {g} does not fit x {} and w {}", x.shape, w.shape);
    }
    let m = w.shape.0[1] * g;
    if let [_, _, b] = inputs {
        same_dtype(x, b)?;
        if b.shape.dims() != [m] {
            bail!("bias must be [{m}], got {}", b.shape);
        }
    }
    let mut dims = vec![x.shape.0[0], m];
    for i in 0..spatial {
        let full = mul(attrs.strides[i], x.shape.0[2 + i].saturating_sub(1))
            .and_then(|v| add(v, attrs.output_padding[i]))
            .and_then(|v| {
                add(
                    v,
                    mul(w.shape.0[2 + i].saturating_sub(1), attrs.dilations[i])?,
                )
            })
            .and_then(|v| add(v, 1))?;
        let pads = add(attrs.pads[i], attrs.pads[spatial + i])?;
        if pads >= full {
            bail!("pads {:?} leave no output", attrs.pads);
        }
        dims.push(full - pads);
    }
    one(x.dtype, dims)
}

fn check_spatial_attrs(
    spatial: usize,
    strides: &[usize],
    pads: &[usize],
    dilations: &[usize],
) -> Result<()> {
    if strides.len() != spatial || dilations.len() != spatial || pads.len() != 2 * spatial {
        bail!(
            "attributes need {spatial} strides and dilations and {} pads, got {strides:?}, {dilations:?}, {pads:?}",
            2 * spatial
        );
    }
    if strides.contains(&0) || dilations.contains(&0) {
        bail!("strides and dilations must be positive");
    }
    Ok(())
}

fn pool(attrs: &PoolAttrs, x: &TensorType) -> Result<TensorType> {
    numeric(x)?;
    let rank = x.shape.rank();
    let spatial = rank.saturating_sub(2);
    if rank < 3 || attrs.kernel.len() != spatial {
        bail!("kernel {:?} does not fit input {}", attrs.kernel, x.shape);
    }
    check_spatial_attrs(spatial, &attrs.strides, &attrs.pads, &attrs.dilations)?;
    let mut dims = x.shape.0[..2].to_vec();
    for i in 0..spatial {
        let out = window_out(
            x.shape.0[2 + i],
            attrs.kernel[i],
            attrs.strides[i],
            attrs.dilations[i],
            attrs.pads[i],
            attrs.pads[spatial + i],
            attrs.ceil_mode,
        );
        match out {
            Some(o) => dims.push(o),
            None => bail!(
                "kernel {:?} does not fit padded input {}",
                attrs.kernel,
                x.shape
            ),
        }
    }
    Ok(TensorType::new(x.dtype, dims))
}

fn layer_norm(axis: usize, inputs: &[&TensorType]) -> Result<Vec<TensorType>> {
    let (x, scale) = match inputs {
        [x, s] | [x, s, _] => (*x, *s),
        _ => bail!(
            "expected 2 or 3 operands (x, scale, bias), got {}",
            inputs.len()
        ),
    };
    float(x)?;
    check_axis(axis, x.shape.rank())?;
    let norm = Shape::new(&x.shape.0[axis..]);
    for p in &inputs[1..] {
        same_dtype(x, p)?;
        if broadcast(&[&p.shape, &norm])? != norm {
            bail!(
                "scale/bias {} do not broadcast to the normalized dims {norm}",
                p.shape
            );
        }
    }
    let _ = scale;
    let stats: Vec<usize> = x
        .shape
        .0
        .iter()
        .enumerate()
        .map(|(i, &d)| if i < axis { d } else { 1 })
        .collect();
    Ok(vec![
        x.clone(),
        TensorType::new(x.dtype, stats.clone()),
        TensorType::new(x.dtype, stats),
    ])
}

fn attention(inputs: &[&TensorType]) -> Result<Vec<TensorType>> {
    let (q, kt, v) = match inputs {
        [q, kt, v] | [q, kt, v, _] => (*q, *kt, *v),
        _ => bail!(
            "expected 3 or 4 operands (q, kt, v, mask), got {}",
            inputs.len()
        ),
    };
    float(q)?;
    let scores = matmul(q, kt)?.swap_remove(0);
    if scores.shape.rank() < 2 || v.shape.rank() < 2 {
        bail!(
            "attention operands need rank ≥ 2, got {}, {} and {}",
            q.shape,
            kt.shape,
            v.shape
        );
    }
    if let [_, _, _, mask] = inputs {
        same_dtype(q, mask)?;
        if broadcast(&[&mask.shape, &scores.shape])? != scores.shape {
            bail!(
                "mask {} does not broadcast to the scores {}",
                mask.shape,
                scores.shape
            );
        }
    }
    matmul(&scores, v)
}

fn concat(axis: usize, inputs: &[&TensorType]) -> Result<Vec<TensorType>> {
    let Some(first) = inputs.first() else {
        bail!("expected at least one operand")
    };
    check_axis(axis, first.shape.rank())?;
    let mut dims = first.shape.0.clone();
    dims[axis] = 0;
    for t in inputs {
        same_dtype(first, t)?;
        let ok = t.shape.rank() == first.shape.rank()
            && t.shape
                .0
                .iter()
                .zip(&first.shape.0)
                .enumerate()
                .all(|(i, (a, b))| i == axis || a == b);
        if !ok {
            bail!(
                "cannot concatenate {} and {} along axis {axis}",
                first.shape,
                t.shape
            );
        }
        dims[axis] = add(dims[axis], t.shape.0[axis])?;
    }
    one(first.dtype, dims)
}

fn slice(
    x: &TensorType,
    starts: &[usize],
    steps: &[i64],
    lens: &[usize],
) -> Result<Vec<TensorType>> {
    let rank = x.shape.rank();
    if starts.len() != rank || steps.len() != rank || lens.len() != rank {
        bail!("slice needs one start, step and len per axis ({rank})");
    }
    for a in 0..rank {
        let (start, step, len, dim) = (
            starts[a] as i128,
            steps[a] as i128,
            lens[a] as i128,
            x.shape.0[a] as i128,
        );
        if step == 0 {
            bail!("step on axis {a} is zero");
        }
        let last = start + (len - 1) * step;
        if len > 0 && (start >= dim || last < 0 || last >= dim) {
            bail!("slice of axis {a} (start {start}, step {step}, len {len}) leaves 0..{dim}");
        }
    }
    one(x.dtype, lens.to_vec())
}

fn pad(mode: PadMode, pads: &[i64], inputs: &[&TensorType]) -> Result<Vec<TensorType>> {
    let x = match inputs {
        [x] => *x,
        [x, v] => {
            same_dtype(x, v)?;
            if v.shape.numel() != 1 {
                bail!("pad value must be a single element, got {}", v.shape);
            }
            *x
        }
        _ => bail!("expected 1 or 2 operands (x, value), got {}", inputs.len()),
    };
    let rank = x.shape.rank();
    if pads.len() != 2 * rank {
        bail!("{} pads for rank {rank}", pads.len());
    }
    let mut dims = Vec::with_capacity(rank);
    for a in 0..rank {
        let d = x.shape.0[a] as i128 + pads[a] as i128 + pads[rank + a] as i128;
        if d < 0 {
            bail!("pads {pads:?} crop axis {a} below zero");
        }
        if mode != PadMode::Constant && x.shape.0[a] == 0 && d > 0 {
            bail!("{mode:?} padding of an empty axis");
        }
        dims.push(
            usize::try_from(d)
                .map_err(|_| InferError(format!("pads {pads:?} overflow axis {a}")))?,
        );
    }
    one(x.dtype, dims)
}

fn resize(attrs: &ResizeAttrs, inputs: &[&TensorType]) -> Result<Vec<TensorType>> {
    let [x] = operands::<1>(inputs)?;
    numeric(x)?;
    let rank = x.shape.rank();
    if attrs.sizes.len() != rank || attrs.scales.len() != rank {
        bail!("resize needs one size and scale per axis ({rank})");
    }
    if !attrs.roi.is_empty() && attrs.roi.len() != 2 * rank {
        bail!("roi needs {} entries, got {}", 2 * rank, attrs.roi.len());
    }
    one(x.dtype, attrs.sizes.clone())
}

/// The type the anchor of a fused op reads in place of operand 0: the first result of
/// `prologue` on it. A prologue precedes a convolution (a max pool, or an element-wise
/// program: a dequantization of the conv's input, say) or a matmul (an element-wise
/// program, on its first operand); a program's inputs after the first are the fused
/// op's single-element `extra` operands (see [`prologue_operands`]).
pub fn prologue_type(
    prologue: &Op,
    anchor: &Op,
    anchor_in: &[&TensorType],
    extra: &[&TensorType],
) -> Result<TensorType> {
    let elementwise = matches!(prologue, Op::Elementwise { .. });
    let fits = match anchor {
        Op::Conv(_) => elementwise || matches!(prologue, Op::MaxPool(_)),
        Op::MatMul => elementwise,
        _ => false,
    };
    if !fits {
        bail!(
            "a {} prologue cannot precede a {} anchor (only max_pool or an element-wise \
             program before conv, an element-wise program before matmul)",
            prologue.name(),
            anchor.name()
        );
    }
    let Some(&first) = anchor_in.first() else {
        bail!("a prologue needs an anchor operand");
    };
    let operands = prologue_operands(prologue, first, extra);
    if let Op::Elementwise { program } = prologue {
        let reads = program.num_inputs();
        if reads > 1 + extra.len() {
            bail!(
                "prologue reads {reads} inputs, node provides {}",
                1 + extra.len()
            );
        }
        if let Some(t) = operands[1..reads.max(1)]
            .iter()
            .find(|t| t.shape.numel() != 1)
        {
            bail!("a prologue reads single elements beside its operand, not {t}");
        }
    }
    Ok(infer_unchecked(prologue, &operands)?.swap_remove(0))
}

/// What a fused op's `prologue` reads: operand 0 (`first`) and, for an element-wise
/// program, the epilogue operands `extra` after it up to the last it reads (its inputs
/// `1..`; the epilogue may read more).
pub fn prologue_operands<'a, T: ?Sized>(
    prologue: &Op,
    first: &'a T,
    extra: &[&'a T],
) -> Vec<&'a T> {
    let mut operands = vec![first];
    if let Op::Elementwise { program } = prologue {
        let reads = program.num_inputs().saturating_sub(1);
        operands.extend_from_slice(&extra[..reads.min(extra.len())]);
    }
    operands
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(dtype: DType, dims: &[usize]) -> TensorType {
        TensorType::new(dtype, dims)
    }

    fn shape_of(op: &Op, inputs: &[TensorType]) -> Result<Vec<usize>> {
        let refs: Vec<&TensorType> = inputs.iter().collect();
        Ok(infer(op, &refs)?[0].shape.0.clone())
    }

    #[test]
    fn broadcasting_follows_numpy() {
        let s = |d: &[usize]| Shape::new(d);
        assert_eq!(
            broadcast(&[&s(&[2, 1, 5]), &s(&[3, 1])]).unwrap(),
            s(&[2, 3, 5])
        );
        assert_eq!(broadcast(&[&s(&[]), &s(&[4])]).unwrap(), s(&[4]));
        assert_eq!(
            broadcast(&[&s(&[2, 3]), &s(&[4, 3])]).unwrap_err().0,
            "shapes [2,3] and [4,3] do not broadcast"
        );
    }

    #[test]
    fn matmul_promotes_vectors_and_broadcasts_batches() {
        let f = DType::F32;
        assert_eq!(
            shape_of(&Op::MatMul, &[t(f, &[3]), t(f, &[3])]).unwrap(),
            Vec::<usize>::new()
        );
        assert_eq!(
            shape_of(&Op::MatMul, &[t(f, &[2, 1, 4, 3]), t(f, &[5, 3, 7])]).unwrap(),
            [2, 5, 4, 7]
        );
        assert_eq!(
            shape_of(&Op::MatMul, &[t(f, &[4, 3]), t(f, &[3])]).unwrap(),
            [4]
        );
        assert!(shape_of(&Op::MatMul, &[t(f, &[4, 3]), t(f, &[4])]).is_err());
    }

    #[test]
    fn conv_output_extents() {
        let op = Op::Conv(ConvAttrs {
            strides: vec![2, 1],
            pads: vec![1, 0, 1, 0],
            dilations: vec![1, 2],
            group: 3,
        });
        let x = t(DType::F32, &[1, 6, 7, 9]);
        let w = t(DType::F32, &[9, 2, 3, 3]);
        // h: (7 + 2 - 3) / 2 + 1 = 4; w: (9 - 5) / 1 + 1 = 5
        assert_eq!(shape_of(&op, &[x.clone(), w]).unwrap(), [1, 9, 4, 5]);
        let bad_group = t(DType::F32, &[9, 3, 3, 3]);
        assert!(shape_of(&op, &[x, bad_group]).is_err());
    }

    #[test]
    fn ceil_mode_drops_windows_starting_in_end_padding() {
        // input 5, kernel 2, stride 2: floor 2, ceil 3.
        assert_eq!(window_out(5, 2, 2, 1, 0, 0, false), Some(2));
        assert_eq!(window_out(5, 2, 2, 1, 0, 0, true), Some(3));
        // input 4, pad_end 1, kernel 2, stride 2: ceil would give 3 windows, but the
        // third starts at 4 >= input + pad_begin, so it is dropped.
        assert_eq!(window_out(4, 2, 2, 1, 0, 1, true), Some(2));
        assert_eq!(window_out(2, 5, 1, 1, 0, 0, false), None);
    }

    #[test]
    fn conv_transpose_extent() {
        let op = Op::ConvTranspose(ConvTransposeAttrs {
            strides: vec![3, 2],
            pads: vec![0, 0, 0, 0],
            dilations: vec![1, 1],
            output_padding: vec![1, 1],
            group: 1,
        });
        // 3*(3-1) + 1 + (3-1) + 1 = 10; 2*(3-1) + 1 + 3 = 8
        let x = t(DType::F32, &[1, 1, 3, 3]);
        let w = t(DType::F32, &[1, 2, 3, 3]);
        assert_eq!(shape_of(&op, &[x, w]).unwrap(), [1, 2, 10, 8]);
    }

    #[test]
    fn reshape_checks_element_count() {
        let x = t(DType::I32, &[2, 6]);
        assert_eq!(
            shape_of(&Op::Reshape { shape: vec![3, 4] }, std::slice::from_ref(&x)).unwrap(),
            [3, 4]
        );
        assert_eq!(
            shape_of(&Op::Reshape { shape: vec![5] }, &[x])
                .unwrap_err()
                .0,
            "cannot reshape [2,6] (12 elements) to [5]"
        );
    }

    #[test]
    fn slice_rejects_out_of_bounds() {
        let x = t(DType::F32, &[10]);
        let ok = Op::Slice {
            starts: vec![9],
            steps: vec![-3],
            lens: vec![4],
        };
        assert_eq!(shape_of(&ok, std::slice::from_ref(&x)).unwrap(), [4]);
        let bad = Op::Slice {
            starts: vec![9],
            steps: vec![-3],
            lens: vec![5],
        };
        assert!(shape_of(&bad, &[x]).is_err());
    }

    #[test]
    fn comparisons_yield_bool_and_wrong_arity_errors() {
        let a = t(DType::F32, &[3]);
        let out = infer(&Op::Binary(BinaryOp::Less), &[&a, &a]).unwrap();
        assert_eq!(out[0].dtype, DType::Bool);
        assert_eq!(
            infer(&Op::Binary(BinaryOp::Add), &[&a]).unwrap_err().0,
            "expected 2 operands, got 1"
        );
    }

    #[test]
    fn overflowing_shapes_are_errors_not_panics() {
        let x = t(DType::F32, &[1 << 20, 2]);
        let tile = Op::Tile {
            repeats: vec![usize::MAX / 4, 1],
        };
        assert!(shape_of(&tile, std::slice::from_ref(&x)).is_err());
        let reshape = Op::Reshape {
            shape: vec![usize::MAX, 2, 2],
        };
        assert!(shape_of(&reshape, std::slice::from_ref(&x)).is_err());
        let pad = Op::Pad {
            mode: crate::PadMode::Constant,
            pads: vec![i64::MAX, 0, i64::MAX, 0],
        };
        assert!(shape_of(&pad, std::slice::from_ref(&x)).is_err());
        let huge = t(DType::F32, &[usize::MAX, 3]);
        assert!(shape_of(&Op::Identity, &[huge]).is_err());
    }
}
