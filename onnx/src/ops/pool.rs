//! Pooling: MaxPool, AveragePool, LpPool (an average pool of powers), and the global
//! pools (lowered to reductions).

use super::{resolve_pads, spatial_attr};
use crate::builder::Cx;
use crate::error::ImportError;
use kiln_ir::{BinaryOp, Handle, Op, PoolAttrs, ReduceOp, UnaryOp, Value};

type Outs = Result<Vec<Handle<Value>>, ImportError>;

/// The pooling attributes of the node for input `x`.
pub(super) fn attrs(cx: &Cx, x: Handle<Value>) -> Result<PoolAttrs, ImportError> {
    let dims = cx.dims(x);
    if dims.len() < 3 {
        return Err(cx.err(format!("expects an N×C×spatial input, got {}", cx.ty(x))));
    }
    let input = &dims[2..];
    let n = input.len();
    let kernel = cx
        .attr_usizes("kernel_shape")?
        .ok_or_else(|| cx.err("attribute 'kernel_shape' is required"))?;
    if kernel.len() != n || kernel.contains(&0) {
        return Err(cx.err(format!(
            "kernel_shape {kernel:?} does not fit input {}",
            cx.ty(x)
        )));
    }
    let strides = spatial_attr(cx, "strides", n)?;
    let dilations = spatial_attr(cx, "dilations", n)?;
    let eff: Vec<usize> = kernel
        .iter()
        .zip(&dilations)
        .map(|(&k, &d)| (k - 1) * d + 1)
        .collect();
    let pads = resolve_pads(cx, input, &eff, &strides)?;
    let storage_order = cx.attr_i("storage_order", 0)?;
    Ok(PoolAttrs {
        kernel,
        strides,
        pads,
        dilations,
        ceil_mode: cx.attr_i("ceil_mode", 0)? != 0,
        count_include_pad: cx.attr_i("count_include_pad", 0)? != 0,
        storage_order: storage_order.clamp(0, 1) as usize,
    })
}

pub(super) fn max_pool(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let a = attrs(cx, x)?;
    let n = cx.num_outputs().clamp(1, 2);
    cx.add_n(Op::MaxPool(a), &[x], Some(n))
}

pub(super) fn average_pool(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let a = attrs(cx, x)?;
    Ok(vec![cx.add(Op::AveragePool(a), &[x])?])
}

/// GlobalAveragePool / GlobalMaxPool → reduction over the spatial axes, kept as 1.
pub(super) fn global(cx: &mut Cx, op: ReduceOp) -> Outs {
    let x = cx.input(0)?;
    let rank = cx.rank(x);
    if rank < 3 {
        return Err(cx.err(format!("expects an N×C×spatial input, got {}", cx.ty(x))));
    }
    Ok(vec![cx.add(
        Op::Reduce {
            op,
            axes: (2..rank).collect(),
            keepdims: true,
        },
        &[x],
    )?])
}

/// LpPool: `(Σ_window |x|^p)^(1/p)`, padding counting as zeros, computed as
/// `(K · avg_pool(|x|^p))^(1/p)` with the padding counted in the average and `K` the
/// kernel's element count.
pub(super) fn lp_pool(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let dtype = cx.ty(x).dtype;
    if !dtype.is_float() {
        return Err(cx.err(format!("needs a float operand, got {dtype}")));
    }
    let mut a = attrs(cx, x)?;
    a.count_include_pad = true;
    let p = cx.attr_i("p", 2)?;
    if p < 1 {
        return Err(cx.err(format!("p must be positive, got {p}")));
    }
    let count: usize = a.kernel.iter().product();
    let abs = cx.unary(UnaryOp::Abs, x)?;
    let powered = if p == 1 {
        abs
    } else {
        let e = cx.scalar(dtype, p as f64)?;
        cx.binary(BinaryOp::Pow, abs, e)?
    };
    let avg = cx.add(Op::AveragePool(a), &[powered])?;
    let k = cx.scalar(dtype, count as f64)?;
    let sum = cx.binary(BinaryOp::Mul, avg, k)?;
    if p == 1 {
        return Ok(vec![sum]);
    }
    let root = cx.scalar(dtype, 1.0 / p as f64)?;
    Ok(vec![cx.binary(BinaryOp::Pow, sum, root)?])
}

/// MaxUnpool: each input element written at its flat index (MaxPool's `Indices`) of a
/// zero tensor of the inferred unpooled shape (`(in - 1)·stride - pads + kernel`),
/// as a `scatter_nd`; an `output_shape` at least that large pads it with zeros at the
/// end of each axis, as ONNX's reference does.
pub(super) fn max_unpool(cx: &mut Cx) -> Outs {
    let (x, indices) = (cx.input(0)?, cx.input(1)?);
    let dims = cx.dims(x);
    if dims.len() < 3 || cx.dims(indices) != dims {
        return Err(cx.err(format!(
            "input {} must be [N, C, spatial...] and indices {} of its shape",
            cx.ty(x),
            cx.ty(indices)
        )));
    }
    let sp = dims.len() - 2;
    let kernel = cx
        .attr_ints("kernel_shape")?
        .filter(|k| k.len() == sp && k.iter().all(|&k| k > 0))
        .ok_or_else(|| cx.err(format!("kernel_shape must give {sp} positive extents")))?;
    let strides = cx.attr_ints("strides")?.unwrap_or_else(|| vec![1; sp]);
    let pads = cx.attr_ints("pads")?.unwrap_or_else(|| vec![0; 2 * sp]);
    if strides.len() != sp || pads.len() != 2 * sp {
        return Err(cx.err(format!(
            "strides and pads must have {sp} and {} entries",
            2 * sp
        )));
    }
    let mut inferred = dims[..2].to_vec();
    for a in 0..sp {
        let d = (dims[2 + a] as i64 - 1) * strides[a] - pads[a] - pads[sp + a] + kernel[a];
        if d <= 0 {
            return Err(cx.err(format!("the unpooled extent of spatial axis {a} is {d}")));
        }
        inferred.push(d as usize);
    }
    let total: usize = inferred.iter().product();
    let n: usize = dims.iter().product();
    let zeros = cx.splat(cx.ty(x).dtype, vec![total], 0.0)?;
    let idx = cx.cast(indices, kiln_ir::DType::I32)?;
    let idx = cx.reshape(idx, vec![n, 1])?;
    let updates = cx.reshape(x, vec![n])?;
    let scattered = cx.add(
        Op::ScatterNd {
            reduction: kiln_ir::ScatterReduction::None,
        },
        &[zeros, idx, updates],
    )?;
    let y = cx.reshape(scattered, inferred.clone())?;
    let Some(shape) = cx.opt_static_ints(2, "output_shape")? else {
        return Ok(vec![y]);
    };
    if shape.len() != inferred.len() || shape.iter().zip(&inferred).any(|(&s, &i)| s < i as i64) {
        return Err(cx.err(format!(
            "output_shape {shape:?} must have rank {} and be at least the unpooled shape {inferred:?}",
            inferred.len()
        )));
    }
    if shape.iter().zip(&inferred).all(|(&s, &i)| s == i as i64) {
        return Ok(vec![y]);
    }
    let mut pad = vec![0i64; inferred.len()];
    pad.extend(shape.iter().zip(&inferred).map(|(&s, &i)| s - i as i64));
    Ok(vec![cx.add(
        Op::Pad {
            mode: kiln_ir::PadMode::Constant,
            pads: pad,
        },
        &[y],
    )?])
}
