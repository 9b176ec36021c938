//! Linear algebra, convolution and normalization: MatMul, Gemm, Conv, ConvTranspose,
//! BatchNormalization, LayerNormalization, RMSNormalization, MeanVarianceNormalization,
//! InstanceNormalization, GroupNormalization, LRN, Col2Im.

use super::{resolve_pads, spatial_attr};
use crate::builder::{Cx, MAX_ATTR};
use crate::error::ImportError;
use kiln_ir::{
    BinaryOp, ConvAttrs, ConvTransposeAttrs, DType, Data, Handle, Op, ReduceOp, Tensor, UnaryOp,
    Value,
};

type Outs = Result<Vec<Handle<Value>>, ImportError>;

pub(super) fn matmul(cx: &mut Cx) -> Outs {
    let (a, b) = (cx.input(0)?, cx.input(1)?);
    Ok(vec![cx.add(Op::MatMul, &[a, b])?])
}

/// Gemm → transpose / matmul / scale / add.
pub(super) fn gemm(cx: &mut Cx) -> Outs {
    let (mut a, mut b) = (cx.input(0)?, cx.input(1)?);
    let c = cx.opt_input(2)?;
    let alpha = cx.attr_f("alpha", 1.0)?;
    let beta = cx.attr_f("beta", 1.0)?;
    for (v, attr) in [(&mut a, "transA"), (&mut b, "transB")] {
        if cx.rank(*v) != 2 {
            return Err(cx.err(format!("operands must be 2-D, got {}", cx.ty(*v))));
        }
        if cx.attr_i(attr, 0)? != 0 {
            *v = cx.add(Op::Transpose { perm: vec![1, 0] }, &[*v])?;
        }
    }
    let mut y = cx.add(Op::MatMul, &[a, b])?;
    let dtype = cx.ty(y).dtype;
    if alpha != 1.0 {
        let s = cx.scalar(dtype, alpha as f64)?;
        y = cx.binary(BinaryOp::Mul, y, s)?;
    }
    if let Some(mut c) = c {
        if beta != 1.0 {
            let s = cx.scalar(dtype, beta as f64)?;
            c = cx.binary(BinaryOp::Mul, c, s)?;
        }
        y = cx.binary(BinaryOp::Add, y, c)?;
    }
    Ok(vec![y])
}

/// Spatial extents of `x` and of the kernel `w` (NC... layouts), checked.
fn spatial(
    cx: &Cx,
    x: Handle<Value>,
    w: Handle<Value>,
) -> Result<(Vec<usize>, Vec<usize>), ImportError> {
    let (xd, wd) = (cx.dims(x), cx.dims(w));
    if xd.len() < 3 || wd.len() != xd.len() {
        return Err(cx.err(format!(
            "expects N×C×spatial input and matching weights, got {} and {}",
            cx.ty(x),
            cx.ty(w)
        )));
    }
    let kernel = match cx.attr_usizes("kernel_shape")? {
        Some(k) => k,
        None => wd[2..].to_vec(),
    };
    if kernel != wd[2..] {
        return Err(cx.err(format!(
            "kernel_shape {kernel:?} does not match weights {}",
            cx.ty(w)
        )));
    }
    Ok((xd[2..].to_vec(), kernel))
}

/// The `group` attribute (at least 1, at most [`MAX_ATTR`]).
fn group(cx: &Cx) -> Result<usize, ImportError> {
    let g = cx.attr_i("group", 1)?;
    if g > MAX_ATTR as i64 {
        return Err(cx.err(format!("attribute 'group' {g} is too large")));
    }
    Ok(g.max(1) as usize)
}

pub(super) fn conv(cx: &mut Cx) -> Outs {
    let (x, w) = (cx.input(0)?, cx.input(1)?);
    let attrs = conv_attrs(cx, x, w)?;
    let mut ins = vec![x, w];
    ins.extend(cx.opt_input(2)?);
    Ok(vec![cx.add(Op::Conv(attrs), &ins)?])
}

/// The convolution attributes of the node for input `x` and weights `w`.
pub(super) fn conv_attrs(
    cx: &Cx,
    x: Handle<Value>,
    w: Handle<Value>,
) -> Result<ConvAttrs, ImportError> {
    let (input, kernel) = spatial(cx, x, w)?;
    let n = input.len();
    let strides = spatial_attr(cx, "strides", n)?;
    let dilations = spatial_attr(cx, "dilations", n)?;
    let eff: Vec<usize> = kernel
        .iter()
        .zip(&dilations)
        .map(|(&k, &d)| (k.max(1) - 1) * d + 1)
        .collect();
    let pads = resolve_pads(cx, &input, &eff, &strides)?;
    let group = group(cx)?;
    Ok(ConvAttrs {
        strides,
        pads,
        dilations,
        group,
    })
}

/// ConvTranspose; `output_shape` and `auto_pad` are resolved to explicit pads (a
/// negative end pad becomes extra output padding).
pub(super) fn conv_transpose(cx: &mut Cx) -> Outs {
    let (x, w) = (cx.input(0)?, cx.input(1)?);
    let (input, kernel) = spatial(cx, x, w)?;
    let n = input.len();
    let strides = spatial_attr(cx, "strides", n)?;
    let dilations = spatial_attr(cx, "dilations", n)?;
    let mut output_padding = cx
        .attr_usizes("output_padding")?
        .unwrap_or_else(|| vec![0; n]);
    if output_padding.len() != n {
        return Err(cx.err(format!(
            "output_padding has {} entries, expected {n}",
            output_padding.len()
        )));
    }
    let auto_pad = cx.attr_s("auto_pad")?.unwrap_or_else(|| "NOTSET".into());
    let output_shape = cx.attr_usizes("output_shape")?;
    let full: Vec<i64> = (0..n)
        .map(|i| {
            (strides[i] * (input[i].max(1) - 1)
                + output_padding[i]
                + (kernel[i].max(1) - 1) * dilations[i]
                + 1) as i64
        })
        .collect();
    let mut pads = vec![0usize; 2 * n];
    let same = auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER";
    if output_shape.is_some() || same {
        let target: Vec<usize> = match &output_shape {
            Some(s) if s.len() >= n => s[s.len() - n..].to_vec(),
            Some(s) => {
                return Err(cx.err(format!(
                    "output_shape {s:?} has fewer than {n} spatial dims"
                )))
            }
            None => (0..n).map(|i| input[i] * strides[i]).collect(),
        };
        for i in 0..n {
            let total = full[i] - target[i] as i64;
            let half = total.div_euclid(2);
            let (begin, end) = if auto_pad == "SAME_UPPER" {
                (half, total - half)
            } else {
                (total - half, half)
            };
            if begin < 0 {
                return Err(cx.err(format!(
                    "output_shape {target:?} needs negative begin padding on axis {i}"
                )));
            }
            pads[i] = begin as usize;
            if end < 0 {
                output_padding[i] += (-end) as usize;
            } else {
                pads[n + i] = end as usize;
            }
        }
    } else if auto_pad == "NOTSET" || auto_pad == "VALID" || auto_pad.is_empty() {
        if auto_pad != "VALID" {
            pads = cx.attr_usizes("pads")?.unwrap_or_else(|| vec![0; 2 * n]);
            if pads.len() != 2 * n {
                return Err(cx.err(format!(
                    "pads has {} entries, expected {}",
                    pads.len(),
                    2 * n
                )));
            }
        }
    } else {
        return Err(cx.err(format!("auto_pad '{auto_pad}' is not supported")));
    }
    let group = group(cx)?;
    let mut ins = vec![x, w];
    ins.extend(cx.opt_input(2)?);
    let attrs = ConvTransposeAttrs {
        strides,
        pads,
        dilations,
        output_padding,
        group,
    };
    Ok(vec![cx.add(Op::ConvTranspose(attrs), &ins)?])
}

pub(super) fn batch_norm(cx: &mut Cx) -> Outs {
    let epsilon = cx.attr_f("epsilon", 1e-5)?;
    let ins: Vec<_> = (0..5).map(|i| cx.input(i)).collect::<Result<_, _>>()?;
    let training = if cx.opset >= 14 {
        cx.attr_i("training_mode", 0)? != 0
    } else if cx.opset < 7 {
        cx.attr_i("is_test", 0)? == 0 && cx.num_outputs() > 1
    } else {
        cx.num_outputs() > 1
    };
    if !training {
        return Ok(vec![cx.add(Op::BatchNorm { epsilon }, &ins)?]);
    }
    if cx.opset < 14 {
        return Err(cx.err("training-mode outputs before opset 14 are not supported"));
    }
    batch_norm_training(cx, &ins, epsilon)
}

/// Training-mode batch norm: normalizes with the batch statistics and returns the
/// updated running mean and variance.
fn batch_norm_training(cx: &mut Cx, ins: &[Handle<Value>], epsilon: f32) -> Outs {
    let (x, scale, bias, mean, var) = (ins[0], ins[1], ins[2], ins[3], ins[4]);
    let momentum = cx.attr_f("momentum", 0.9)? as f64;
    let dims = cx.dims(x);
    let rank = dims.len();
    if rank < 2 {
        return Err(cx.err(format!("input must have a channel axis, got {}", cx.ty(x))));
    }
    let dtype = cx.ty(x).dtype;
    let axes: Vec<usize> = (0..rank).filter(|&a| a != 1).collect();
    let reduce = Op::Reduce {
        op: ReduceOp::Mean,
        axes,
        keepdims: true,
    };
    let batch_mean = cx.add(reduce.clone(), &[x])?;
    let centered = cx.binary(BinaryOp::Sub, x, batch_mean)?;
    let squared = cx.binary(BinaryOp::Mul, centered, centered)?;
    let batch_var = cx.add(reduce, &[squared])?;
    let eps = cx.scalar(dtype, epsilon as f64)?;
    let denom = cx.binary(BinaryOp::Add, batch_var, eps)?;
    let denom = cx.unary(UnaryOp::Sqrt, denom)?;
    let normed = cx.binary(BinaryOp::Div, centered, denom)?;
    let mut bshape = vec![1; rank];
    bshape[1] = dims[1];
    let scale_b = cx.reshape(scale, bshape.clone())?;
    let bias_b = cx.reshape(bias, bshape)?;
    let y = cx.binary(BinaryOp::Mul, normed, scale_b)?;
    let y = cx.binary(BinaryOp::Add, y, bias_b)?;
    let mut outs = vec![y];
    if cx.num_outputs() > 1 {
        let m = cx.scalar(dtype, momentum)?;
        let one_minus = cx.scalar(dtype, 1.0 - momentum)?;
        for (running, batch) in [(mean, batch_mean), (var, batch_var)] {
            let flat = cx.reshape(batch, vec![dims[1]])?;
            let a = cx.binary(BinaryOp::Mul, running, m)?;
            let b = cx.binary(BinaryOp::Mul, flat, one_minus)?;
            outs.push(cx.binary(BinaryOp::Add, a, b)?);
        }
    }
    Ok(outs)
}

pub(super) fn layer_norm(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let axis = cx.attr_i("axis", -1)?;
    let axis = cx.axis(axis, cx.rank(x))?;
    let epsilon = cx.attr_f("epsilon", 1e-5)?;
    let mut ins = vec![x, cx.input(1)?];
    ins.extend(cx.opt_input(2)?);
    let n = cx.num_outputs().max(1);
    cx.add_n(Op::LayerNorm { axis, epsilon }, &ins, Some(n))
}

/// RMSNormalization: `x / √(mean(x², axes axis..) + ε) · scale`, kiln's `rms_norm` (a
/// row normalization computed in f32, the default `stash_type`); with an f16
/// `stash_type`, its ONNX function body in f16.
pub(super) fn rms_norm(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let scale = cx.input(1)?;
    let rank = cx.rank(x);
    let axis = cx.attr_i("axis", -1)?;
    let axis = cx.axis(axis, rank)?;
    let epsilon = cx.attr_f("epsilon", 1e-5)?;
    let stash = cx.attr_i("stash_type", 1)?;
    let dtype = cx.ty(x).dtype;
    let compute = match stash {
        1 => DType::F32,
        10 => DType::F16,
        _ => return Err(cx.err(format!("stash_type {stash} is not supported (1, 10)"))),
    };
    if !dtype.is_float() {
        return Err(cx.err(format!("input must be a float tensor, got {}", cx.ty(x))));
    }
    if compute == DType::F32 {
        return Ok(vec![cx.add(Op::RmsNorm { axis, epsilon }, &[x, scale])?]);
    }
    let xs = cx.cast(x, compute)?;
    let squared = cx.binary(BinaryOp::Mul, xs, xs)?;
    let mean = cx.add(
        Op::Reduce {
            op: ReduceOp::Mean,
            axes: (axis..rank).collect(),
            keepdims: true,
        },
        &[squared],
    )?;
    let eps = cx.scalar(compute, epsilon as f64)?;
    let denom = cx.binary(BinaryOp::Add, mean, eps)?;
    let rms = cx.unary(UnaryOp::Sqrt, denom)?;
    let inv = cx.unary(UnaryOp::Reciprocal, rms)?;
    let normed = cx.binary(BinaryOp::Mul, xs, inv)?;
    let normed = cx.cast(normed, dtype)?;
    Ok(vec![cx.binary(BinaryOp::Mul, normed, scale)?])
}

/// MeanVarianceNormalization as its ONNX function body:
/// `(x - E[x]) / (√(E[x²] - E[x]²) + 1e-9)` over `axes` (default `[0, 2, 3]`).
pub(super) fn mvn(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let rank = cx.rank(x);
    let axes = cx.attr_ints("axes")?.unwrap_or_else(|| vec![0, 2, 3]);
    let mut axes = axes
        .iter()
        .map(|&a| cx.axis(a, rank))
        .collect::<Result<Vec<_>, _>>()?;
    axes.sort_unstable();
    axes.dedup();
    let dtype = cx.ty(x).dtype;
    if !dtype.is_float() {
        return Err(cx.err(format!("input must be a float tensor, got {}", cx.ty(x))));
    }
    let mean = Op::Reduce {
        op: ReduceOp::Mean,
        axes,
        keepdims: true,
    };
    let ex = cx.add(mean.clone(), &[x])?;
    let ex2 = cx.binary(BinaryOp::Mul, ex, ex)?;
    let x2 = cx.binary(BinaryOp::Mul, x, x)?;
    let e_x2 = cx.add(mean, &[x2])?;
    let var = cx.binary(BinaryOp::Sub, e_x2, ex2)?;
    let std = cx.unary(UnaryOp::Sqrt, var)?;
    let eps = cx.scalar(dtype, 1e-9)?;
    let denom = cx.binary(BinaryOp::Add, std, eps)?;
    let centered = cx.binary(BinaryOp::Sub, x, ex)?;
    Ok(vec![cx.binary(BinaryOp::Div, centered, denom)?])
}

pub(super) fn instance_norm(cx: &mut Cx) -> Outs {
    let epsilon = cx.attr_f("epsilon", 1e-5)?;
    let ins = [cx.input(0)?, cx.input(1)?, cx.input(2)?];
    Ok(vec![cx.add(Op::InstanceNorm { epsilon }, &ins)?])
}

/// GroupNormalization → `x` viewed as `[N, G, C/G·spatial]`, instance-normalized per
/// group, viewed back; then the per-channel scale and bias (opset 21; opset 18's
/// per-group ones are the instance norm's own).
pub(super) fn group_norm(cx: &mut Cx) -> Outs {
    let epsilon = cx.attr_f("epsilon", 1e-5)?;
    let groups = cx.attr_i("num_groups", 0)?;
    let stash = cx.attr_i("stash_type", 1)?;
    if stash != 1 {
        return Err(cx.err(format!(
            "stash_type {stash} is not supported (kiln computes in f32)"
        )));
    }
    let (x, scale, bias) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
    let dims = cx.dims(x);
    if dims.len() < 2 {
        return Err(cx.err(format!("x must have rank >= 2, got {:?}", dims)));
    }
    let (n, c) = (dims[0], dims[1]);
    if groups <= 0 || !c.is_multiple_of(groups as usize) {
        return Err(cx.err(format!(
            "num_groups {groups} must be positive and divide the {c} channels"
        )));
    }
    let g = groups as usize;
    let rest: usize = dims[1..].iter().product::<usize>() / g;
    let dtype = cx.ty(x).dtype;
    for (v, what) in [(scale, "scale"), (bias, "bias")] {
        let d = cx.dims(v);
        if d != [c] && d != [g] {
            return Err(cx.err(format!(
                "{what} must have shape [{c}] (or [{g}]), got {d:?}"
            )));
        }
    }
    let grouped = cx.reshape(x, vec![n, g, rest])?;
    if cx.dims(scale) == [g] && cx.dims(bias) == [g] && g != c {
        let y = cx.add(Op::InstanceNorm { epsilon }, &[grouped, scale, bias])?;
        return Ok(vec![cx.reshape(y, dims)?]);
    }
    if cx.dims(scale) != [c] || cx.dims(bias) != [c] {
        return Err(cx.err("scale and bias must both be per channel or both per group"));
    }
    let one = cx.scalar(dtype, 1.0)?;
    let zero = cx.scalar(dtype, 0.0)?;
    let ones = cx.add(Op::Expand { shape: vec![g] }, &[one])?;
    let zeros = cx.add(Op::Expand { shape: vec![g] }, &[zero])?;
    let y = cx.add(Op::InstanceNorm { epsilon }, &[grouped, ones, zeros])?;
    let y = cx.reshape(y, dims.clone())?;
    let mut per_channel = vec![c];
    per_channel.extend(std::iter::repeat_n(1, dims.len() - 2));
    let scale = cx.reshape(scale, per_channel.clone())?;
    let bias = cx.reshape(bias, per_channel)?;
    let y = cx.binary(BinaryOp::Mul, y, scale)?;
    Ok(vec![cx.binary(BinaryOp::Add, y, bias)?])
}

/// Col2Im → a grouped ConvTranspose (one group per channel) of the columns, viewed as
/// `[N, C·K, block grid...]`, with a one-hot kernel: column `c·K + k` adds its values
/// at kernel tap `k` of channel `c`, with Col2Im's strides, dilations and pads (an
/// output padding makes up the image rows the grid does not reach). The kernel's zeros
/// add nothing except where a column holds an infinity or NaN (0·inf is NaN).
pub(super) fn col2im(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let image = cx.static_ints(1, "image_shape")?;
    let block = cx.static_ints(2, "block_shape")?;
    let n = image.len();
    let positive = |v: &[i64]| v.iter().all(|&d| d > 0 && d <= MAX_ATTR as i64);
    if n == 0 || block.len() != n || !positive(&image) || !positive(&block) {
        return Err(cx.err(format!(
            "image_shape {image:?} and block_shape {block:?} must be positive, one entry per spatial axis"
        )));
    }
    let (image, block): (Vec<usize>, Vec<usize>) = (
        image.iter().map(|&d| d as usize).collect(),
        block.iter().map(|&d| d as usize).collect(),
    );
    let strides = spatial_attr(cx, "strides", n)?;
    let dilations = spatial_attr(cx, "dilations", n)?;
    let pads = super::pads_attr(cx, n)?;
    let ty = cx.ty(x);
    let dims = ty.shape.dims().to_vec();
    let k: usize = block.iter().product();
    if dims.len() != 3 || !dims[1].is_multiple_of(k) || !matches!(ty.dtype, DType::F32 | DType::F16)
    {
        return Err(cx.err(format!("input must be f32 or f16 [N, C·{k}, L], got {ty}")));
    }
    let c = dims[1] / k;
    let mut grid = Vec::with_capacity(n);
    let mut output_padding = Vec::with_capacity(n);
    for i in 0..n {
        let span = dilations[i] * (block[i] - 1) + 1;
        let padded = image[i] + pads[i] + pads[n + i];
        if padded < span {
            return Err(cx.err(format!(
                "block {} (dilated {span}) does not fit padded image axis {i} of {padded}",
                block[i]
            )));
        }
        let g = (padded - span) / strides[i] + 1;
        grid.push(g);
        output_padding.push((padded - span) % strides[i]);
    }
    if grid.iter().product::<usize>() != dims[2] {
        return Err(cx.err(format!(
            "input has {} blocks, the image and block shapes give {grid:?}",
            dims[2]
        )));
    }
    let mut cols = vec![dims[0], dims[1]];
    cols.extend(&grid);
    let cols = cx.reshape(x, cols)?;
    let one_hot = (0..c * k * k).map(|e| (e / k % k == e % k) as u8 as f32);
    let data = match ty.dtype {
        DType::F16 => Data::F16(one_hot.map(half::f16::from_f32).collect()),
        _ => Data::F32(one_hot.collect()),
    };
    let mut wdims = vec![c * k, 1];
    wdims.extend(&block);
    let w = Tensor::new(wdims, data).map_err(|e| cx.err(e.to_string()))?;
    let w = cx.constant(w);
    let attrs = ConvTransposeAttrs {
        strides,
        pads,
        dilations,
        output_padding,
        group: c,
    };
    Ok(vec![cx.add(Op::ConvTranspose(attrs), &[cols, w])?])
}

pub(super) fn lrn(cx: &mut Cx) -> Outs {
    let size = cx.attr_i("size", 0)?;
    if size <= 0 {
        return Err(cx.err("attribute 'size' must be a positive int"));
    }
    let alpha = cx.attr_f("alpha", 1e-4)?;
    let beta = cx.attr_f("beta", 0.75)?;
    let bias = cx.attr_f("bias", 1.0)?;
    let x = cx.input(0)?;
    Ok(vec![cx.add(
        Op::Lrn {
            size: size as usize,
            alpha,
            beta,
            bias,
        },
        &[x],
    )?])
}
