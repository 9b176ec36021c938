//! One weight quantized: which constants a layer reads as weights, how each mode
//! stores them, and the IR that turns the stored form back into f32 where the layer
//! reads it (a `dequantize` or a `cast` the runtime computes when the plan is uploaded).

use super::mode::{QuantMode, W4_BLOCK};
use half::f16;
use kiln_ir::interp::eval_op;
use kiln_ir::{DType, Data, Graph, Handle, KernelTarget, Op, Tensor, TensorType, Value};

/// Weights with fewer elements stay f32: their bytes do not matter and per-channel
/// scales would cost as much as they save.
pub const MIN_WEIGHT_ELEMENTS: usize = 1024;

/// Whether constant `v` (holding `w`) of `graph` is a weight quantizing or pruning may
/// change: f32, at least [`MIN_WEIGHT_ELEMENTS`] stored elements, not a graph output.
pub fn is_weight(graph: &Graph, v: Handle<Value>, w: &Tensor) -> bool {
    w.dtype() == DType::F32
        && !w.is_splat()
        && w.numel() >= MIN_WEIGHT_ELEMENTS
        && !graph.outputs.iter().any(|p| p.value == v)
}

/// How a layer reads its weight, which decides the axes of its scales.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A convolution's `w` `[C_out, C_in/group, k...]`.
    Conv,
    /// A matmul's constant `b` `[.., K, N]`.
    MatMulB,
    /// A matmul's constant `a` `[.., M, K]`.
    MatMulA,
    /// A gather's table, rows along `axis` (an embedding table).
    Gather { axis: usize },
}

impl Role {
    /// The role of operand `operand` of `op` (or of a fused node's anchor), when it is
    /// one a weight can have.
    pub fn of(op: &Op, operand: usize) -> Option<Role> {
        match (op, operand) {
            (Op::Fused { anchor, arity, .. }, i) if i < *arity => Role::of(anchor, i),
            (Op::Conv(_), 1) => Some(Role::Conv),
            (Op::MatMul, 1) => Some(Role::MatMulB),
            (Op::MatMul, 0) => Some(Role::MatMulA),
            (Op::Gather { axis }, 0) => Some(Role::Gather { axis: *axis }),
            _ => None,
        }
    }

    /// The axis with one int8 scale per index: output channels, output columns, rows.
    fn channel_axis(self, rank: usize) -> usize {
        match self {
            Role::Conv => 0,
            Role::MatMulB => rank - 1,
            Role::MatMulA => rank - 2,
            Role::Gather { axis } => axis,
        }
    }

    /// The axis int4 blocks run along, in the weight as [`Role::blocked_dims`] shapes
    /// it: the reduction axis (a table's row for embeddings).
    fn block_axis(self, rank: usize) -> usize {
        match self {
            Role::Conv => 1,
            Role::MatMulB => rank - 2,
            Role::MatMulA => rank - 1,
            Role::Gather { axis } if axis + 1 == rank => 0,
            Role::Gather { .. } => rank - 1,
        }
    }

    /// The dims the weight is blocked in: a convolution's `[C_out, C_in/group · k...]`
    /// (its whole reduction as one axis), the weight's own dims otherwise.
    fn blocked_dims(self, dims: &[usize]) -> Vec<usize> {
        match self {
            Role::Conv => vec![dims[0], dims[1..].iter().product()],
            _ => dims.to_vec(),
        }
    }
}

/// A weight in its stored form: the constants and the op that gives back f32.
pub struct Stored {
    /// The constants the bundle keeps (low-bit values, scales, zero points).
    pub parts: Vec<Tensor>,
    /// `dequantize` or `cast` over `parts`.
    op: Op,
    /// The f32 dims `op`'s result has before it is reshaped to the weight's dims.
    dims: Vec<usize>,
}

impl Stored {
    /// Bytes the bundle stores for this weight, as `target` says.
    pub fn bundle_bytes(&self, target: &dyn KernelTarget) -> usize {
        let parts: Vec<&Tensor> = self.parts.iter().collect();
        target.bundle_bytes(Some(&self.op), &parts)
    }
}

/// The stored form of `w` (dense f32) read as `role`, in `mode`.
pub fn store(w: &Tensor, role: Role, mode: QuantMode) -> Result<Stored, String> {
    let dims = w.shape().dims().to_vec();
    let values: Vec<f32> = w.to_f64_vec().into_iter().map(|v| v as f32).collect();
    match mode {
        QuantMode::F16 => {
            let halves = values.iter().map(|&v| f16::from_f32(v)).collect();
            let t = Tensor::new(dims.clone(), Data::F16(halves)).map_err(|e| e.to_string())?;
            Ok(Stored {
                parts: vec![t],
                op: Op::Cast { to: DType::F32 },
                dims,
            })
        }
        QuantMode::W8 | QuantMode::W8A8 => {
            let axis = role.channel_axis(dims.len());
            let mut scale_dims = vec![1; dims.len()];
            scale_dims[axis] = dims[axis];
            let scales = channel_max(&values, &dims, axis)
                .into_iter()
                .map(|m| f16_at_least(m / 127.0))
                .collect();
            quantize(values, dims, scale_dims, scales, 0, DType::I8)
        }
        QuantMode::W4 => {
            let dims = role.blocked_dims(&dims);
            let axis = role.block_axis(dims.len());
            let blocks = dims[axis].div_ceil(W4_BLOCK);
            let mut scale_dims = dims.clone();
            scale_dims[axis] = blocks;
            let scales = block_max(&values, &dims, axis)
                .into_iter()
                .map(|m| f16_at_least(m / 7.0))
                .collect();
            quantize(values, dims, scale_dims, scales, axis, DType::I4)
        }
    }
}

/// The largest |v| of each index along `axis` (over every other axis).
fn channel_max(values: &[f32], dims: &[usize], axis: usize) -> Vec<f32> {
    let inner: usize = dims[axis + 1..].iter().product();
    let mut max = vec![0f32; dims[axis]];
    for (i, &v) in values.iter().enumerate() {
        let c = (i / inner) % dims[axis];
        max[c] = max[c].max(v.abs());
    }
    max
}

/// The largest |v| of each block of [`W4_BLOCK`] along `axis`, laid out as `dims`
/// with `ceil(dims[axis] / W4_BLOCK)` on `axis` (the blocked scales' layout).
fn block_max(values: &[f32], dims: &[usize], axis: usize) -> Vec<f32> {
    let inner: usize = dims[axis + 1..].iter().product();
    let (d, blocks) = (dims[axis], dims[axis].div_ceil(W4_BLOCK));
    let outer: usize = dims[..axis].iter().product();
    let mut max = vec![0f32; outer * blocks * inner];
    for (i, &v) in values.iter().enumerate() {
        let (o, a, n) = (i / (d * inner), (i / inner) % d, i % inner);
        let at = (o * blocks + a / W4_BLOCK) * inner + n;
        max[at] = max[at].max(v.abs());
    }
    max
}

/// The smallest f16 value at or above `s` (1 when `s` is 0), and at least f16's
/// smallest normal: the bundle stores it in two bytes, and no weight of its channel or
/// block quantizes beyond the type's symmetric range (±127, ±7).
fn f16_at_least(s: f32) -> f32 {
    if s <= 0.0 {
        return 1.0;
    }
    let s = s.max(f16::MIN_POSITIVE.to_f32());
    let h = f16::from_f32(s);
    if h.to_f32() >= s {
        h.to_f32()
    } else {
        f16::from_bits(h.to_bits() + 1).to_f32()
    }
}

/// `values` quantized with the reference's `quantize` (round half to even,
/// saturating) to `dtype`, zero point 0, scales of `scale_dims` (blocked along `axis`
/// when they are not broadcast).
fn quantize(
    values: Vec<f32>,
    dims: Vec<usize>,
    scale_dims: Vec<usize>,
    scales: Vec<f32>,
    axis: usize,
    dtype: DType,
) -> Result<Stored, String> {
    let blocked = dtype == DType::I4;
    let block = if blocked { W4_BLOCK } else { 0 };
    let axis = if blocked { axis } else { 0 };
    let w = Tensor::from_f32(dims.clone(), values).map_err(|e| e.to_string())?;
    let s = Tensor::from_f32(scale_dims.clone(), scales).map_err(|e| e.to_string())?;
    let zero = Data::from_i64s(dtype, std::iter::once(0)).expect("an integer type");
    let z = Tensor::splat(scale_dims, zero).map_err(|e| e.to_string())?;
    let op = Op::Quantize {
        axis,
        block,
        saturate: true,
    };
    let q_ty = TensorType::new(dtype, dims.clone());
    let q = eval_op(&op, &[&w, &s, &z], &[q_ty])?.remove(0);
    Ok(Stored {
        parts: vec![q, s, z],
        op: Op::Dequantize { axis, block },
        dims,
    })
}

/// Adds `stored`'s constants and ops to `graph`, returning the f32 value of `dims`
/// (the weight's) that readers take instead of the weight.
pub fn emit(
    graph: &mut Graph,
    stored: &Stored,
    dims: &[usize],
    name: &str,
) -> Result<Handle<Value>, String> {
    let parts: Vec<Handle<Value>> = stored
        .parts
        .iter()
        .map(|t| graph.add_const(None, t.clone()))
        .collect();
    let mut value = graph
        .add(stored.op.clone(), &parts, format!("{name}.dequantize"))
        .map_err(|e| e.to_string())?;
    if stored.dims != dims {
        let reshape = Op::Reshape {
            shape: dims.to_vec(),
        };
        value = graph
            .add(reshape, &[value], format!("{name}.reshape"))
            .map_err(|e| e.to_string())?;
    }
    Ok(value)
}
