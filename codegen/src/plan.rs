//! The kernel plan: everything the runtime needs to execute a compiled graph.
//!
//! A plan is data only (serde), so it can be written into a bundle and executed by a
//! runtime that has no compiler in it. Buffers hold tensors in their *GPU storage
//! type* ([`StorageType`]); the runtime converts host tensors at the boundary.

use kiln_ir::DType;
use serde::{Deserialize, Serialize};

/// Index of a buffer in [`KernelPlan::buffers`].
pub type BufferId = usize;

/// How one element of a tensor of a given IR dtype is stored in a GPU buffer.
///
/// Every element occupies one 32-bit word: WGSL has no 8- or 16-bit storage types
/// without extensions. `f16` is stored and computed as `f32` (rounded to f16 when
/// read back); the narrow integers and `bool` are widened to `i32`/`u32` (signed ones
/// sign-extended); the minifloats are held as their bit patterns in a `u32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StorageType {
    F32,
    I32,
    U32,
}

impl StorageType {
    /// The storage type of an IR dtype.
    pub fn of(dtype: DType) -> StorageType {
        if dtype.is_float() {
            StorageType::F32
        } else if dtype.is_signed_int() {
            StorageType::I32
        } else {
            // Unsigned integers, bool, and the minifloats' bit patterns.
            StorageType::U32
        }
    }

    /// The WGSL scalar type name.
    pub fn wgsl(self) -> &'static str {
        match self {
            StorageType::F32 => "f32",
            StorageType::I32 => "i32",
            StorageType::U32 => "u32",
        }
    }
}

/// A compiled graph: buffers, kernels and the order to dispatch them in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KernelPlan {
    /// Graph inputs, in order.
    pub inputs: Vec<PlanPort>,
    /// Graph outputs, in order.
    pub outputs: Vec<PlanPort>,
    pub buffers: Vec<BufferDesc>,
    /// Distinct shader modules; dispatches refer to them by index.
    pub kernels: Vec<Kernel>,
    /// Executed in order, all in one compute pass.
    pub dispatches: Vec<Dispatch>,
    /// Size in bytes of the constant data the plan's constant buffers point into.
    pub weights_len: u64,
    pub requirements: Requirements,
    /// Conditions kernels check on the device; a run fails when one does not hold.
    #[serde(default)]
    pub checks: Vec<Check>,
    /// Outputs whose length along an axis is known only at run time, as in the graph
    /// ([`kiln_ir::Extent`]): their counts are the last outputs, which the runtime reads
    /// to cut them and does not return.
    #[serde(default)]
    pub extents: Vec<kiln_ir::Extent>,
    /// Buffers the runtime sets to zero before every run: the words kernels fold a
    /// tensor's range into (`lower::range`). A bundle with any is format version 3.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zeroed: Vec<BufferId>,
}

impl KernelPlan {
    /// The outputs a run returns: every output but the counts of [`KernelPlan::extents`].
    pub fn model_outputs(&self) -> &[PlanPort] {
        &self.outputs[..self.outputs.len().saturating_sub(self.extents.len())]
    }
}

/// A condition a kernel checks on the device (an index in range, a non-zero integer
/// divisor): when it fails, the kernel sets word 0 of `buffer` non-zero and may store
/// the offending value (i32 bits) in word 1. The runtime clears both words before each
/// run and, when word 0 is set after it, fails the run with `node`, `op` and `what`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub buffer: BufferId,
    /// The IR node whose kernel checks.
    pub node: String,
    /// Its op name.
    pub op: String,
    /// The condition, as the error says it failed; `{value}` stands for word 1:
    /// `an index is out of range [-5, 5) (got {value})`.
    pub what: String,
}

/// A graph input or output and the buffer that holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanPort {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// Declared `int64`, `uint64` or `double` by the source model (computed as i32,
    /// u32 or f32). Bundles written before uint64 and double stored a bool `i64`.
    #[serde(default, alias = "i64")]
    pub wide: kiln_ir::Wide,
    pub buffer: BufferId,
}

/// One GPU buffer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BufferDesc {
    /// Size in bytes (a multiple of 4, at least 4).
    pub size: u64,
    pub kind: BufferKind,
}

/// What a buffer holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum BufferKind {
    /// Written by the host from graph input `i` before each run.
    Input(usize),
    /// Uploaded once from `weights[offset..offset + size]`.
    Constant { offset: u64 },
    /// Filled once with one 32-bit word repeated (a splat constant).
    Splat { word: u32 },
    /// A constant of a low-bit type (8-, 16-, 4- or 2-bit), stored in the weights
    /// packed `bits` to an element, lowest bits first, from `offset`; uploaded once,
    /// unpacked to one word per element (sign-extended when `signed`; when `half`, the
    /// 16-bit elements are f16 values widened to f32 words). The buffer holds
    /// `size / 4` elements; the weights `ceil(size / 4 · bits / 8)` bytes.
    Packed {
        offset: u64,
        bits: u8,
        signed: bool,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        half: bool,
    },
    /// A constant `dequantize` computed when uploaded, as the reference does (see
    /// [`crate::storage::dequantized_words`]): `(q - zero) * scale` in f32 (rounded to
    /// f16 when `half`), `q` the integers stored packed at `q`, the scales and zero
    /// points f32 words at `scales` and `zeros` (scales as f16 halves when
    /// `scales_half`, one zero point for every element when `zero_splat`), laid out by
    /// `axis` and `block` as `kiln_ir::quant::QuantLayout` says for `x_dims`,
    /// `scale_dims` and `zero_dims`.
    /// Quantized weights stay small in the bundle and cost nothing per run.
    Dequantized(Box<DequantizedConst>),
    /// Produced by kernels; read back for the graph outputs that live in it.
    Intermediate,
}

/// The parts of a [`BufferKind::Dequantized`] constant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DequantizedConst {
    pub q: u64,
    pub bits: u8,
    pub signed: bool,
    pub scales: u64,
    pub zeros: u64,
    pub x_dims: Vec<usize>,
    pub scale_dims: Vec<usize>,
    pub zero_dims: Vec<usize>,
    pub axis: usize,
    pub block: usize,
    pub half: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scales_half: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub zero_splat: bool,
}

/// How a kernel accesses one of its bindings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Access {
    Read,
    ReadWrite,
}

/// A shader module with one compute entry point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Kernel {
    /// Unique, readable name (`conv_3`).
    pub name: String,
    /// The IR op (or fused ops) it computes, for `kiln inspect`.
    pub op: String,
    /// WGSL source, validated by naga.
    pub wgsl: String,
    pub entry_point: String,
    pub workgroup_size: [u32; 3],
    /// Access of binding `i` in group 0.
    pub bindings: Vec<Access>,
    /// Bytes of workgroup memory the kernel declares.
    #[serde(default)]
    pub workgroup_storage_bytes: u32,
}

/// One dispatch of a kernel over buffers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dispatch {
    pub kernel: usize,
    pub workgroups: [u32; 3],
    /// What is bound at binding `i` of group 0.
    pub bindings: Vec<BufferBinding>,
}

/// WebGPU's storage-buffer offset alignment (`min_storage_buffer_offset_alignment`), in
/// bytes: every [`BufferBinding::offset`] in a plan and every constant's offset in the
/// weights is a multiple of it. A value whose slice starts elsewhere is bound from the
/// aligned offset below and read or written at an element base (see
/// [`PlacementSupport`](crate::PlacementSupport)).
pub const BINDING_ALIGN: u64 = 256;

/// A buffer, or a byte range of one, bound to a kernel binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BufferBinding {
    pub buffer: BufferId,
    /// Byte offset (a multiple of [`BINDING_ALIGN`]).
    pub offset: u64,
    /// Bytes bound; `None` binds to the end of the buffer.
    pub size: Option<u64>,
}

/// What a device must offer to run the plan.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Requirements {
    /// wgpu feature names (e.g. `SHADER_F16`).
    pub features: Vec<String>,
    pub max_storage_buffers_per_shader_stage: u32,
    pub max_storage_buffer_binding_size: u64,
    pub max_buffer_size: u64,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_compute_workgroups_per_dimension: u32,
    #[serde(default)]
    pub max_compute_workgroup_storage_size: u32,
}
