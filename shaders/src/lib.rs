//! Hand-written WGSL kernel templates, one per kernel family (the GPU-path issue fills it).

/// Tiled matrix-product engine (matmul, implicit-GEMM conv and conv-transpose).
pub const MATMUL_TILED: &str = include_str!("matmul_tiled.wgsl");
/// Tiled matrix-product engine with 4 x 4 outputs per invocation and vec4 workgroup tiles.
pub const MATMUL_TILED_VEC4: &str = include_str!("matmul_tiled_vec4.wgsl");
/// Tiled matrix-product engine for 8-bit integer operands packed four to a word and
/// multiplied with `dot4I8Packed` (integer matmul and conv).
pub const MATMUL_DOT4: &str = include_str!("matmul_dot4.wgsl");
/// One-output-per-invocation matrix-product engine (thin products, depthwise conv).
pub const MATMUL_NAIVE: &str = include_str!("matmul_naive.wgsl");
/// Max and average pooling: a frame around the per-axis window walk codegen writes.
pub const POOL: &str = include_str!("pool.wgsl");
/// Resize with host-computed per-axis tap tables.
pub const RESIZE: &str = include_str!("resize.wgsl");

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests_compute;
// --- elementwise / reduce / norm / movement templates (GPU-path helper 1) ---
/// Elementwise kernel (unary, binary with broadcasting, where, cast).
pub const ELEMENTWISE: &str = include_str!("elementwise.wgsl");
/// The elementwise kernel storing a narrow result, a whole word per invocation.
pub const ELEMENTWISE_NARROW: &str = include_str!("elementwise_narrow.wgsl");
/// Math helpers WGSL lacks (erf, tanh, expm1, pow, f16 rounding...), spliced by name.
pub const ELEMENTWISE_MATH: &str = include_str!("elementwise_math.wgsl");
/// Row reduction (sum/mean/max/min/prod/l2/sum-square) over any axes.
pub const REDUCE: &str = include_str!("reduce.wgsl");
/// Arg max / arg min along one axis.
pub const REDUCE_ARG: &str = include_str!("reduce_arg.wgsl");
/// Softmax / log-softmax along one axis.
pub const SOFTMAX: &str = include_str!("softmax.wgsl");
/// Layer norm and instance norm (row statistics, then scale and shift).
pub const NORM_ROWS: &str = include_str!("norm_rows.wgsl");
/// Inference batch norm.
pub const NORM_BATCH: &str = include_str!("norm_batch.wgsl");
/// Local response normalization across channels.
pub const NORM_LRN: &str = include_str!("norm_lrn.wgsl");
/// Strided copy (transpose, slice, expand, tile, concat, split, depth/space).
pub const MOVEMENT_COPY: &str = include_str!("movement_copy.wgsl");
/// Pad in every mode.
pub const MOVEMENT_PAD: &str = include_str!("movement_pad.wgsl");
/// Gather along one axis.
pub const MOVEMENT_GATHER: &str = include_str!("movement_gather.wgsl");
/// Bits reinterpreted as another type of the same width.
pub const BITCAST: &str = include_str!("bitcast.wgsl");
/// The sparse product `sparse_matmul` (block-sparse and N:M weights).
pub const SPARSE_MATMUL: &str = include_str!("sparse_matmul.wgsl");
/// Cumulative sum or product along one axis.
pub const SCAN: &str = include_str!("scan.wgsl");
/// ScatterND (every reduction) by one invocation per result element.
pub const SCATTER_ND: &str = include_str!("scatter_nd.wgsl");
/// Data-dependent selection, pass 1: the kept positions in order and their count
/// (NonZero, Compress).
pub const SELECT: &str = include_str!("select.wgsl");
/// Compress, pass 2: the kept slices gathered, zero past the count.
pub const SELECT_GATHER: &str = include_str!("select_gather.wgsl");
/// Unique in one workgroup.
pub const SELECT_UNIQUE: &str = include_str!("select_unique.wgsl");
/// NonMaxSuppression in one workgroup.
pub const SELECT_NMS: &str = include_str!("select_nms.wgsl");
/// Writes baked-in constant words (the Shape op).
pub const MOVEMENT_SHAPE: &str = include_str!("movement_shape.wgsl");
#[cfg(test)]
mod tests_elementwise;
// --- fused kernels (issue 4) ---
/// Scaled dot-product attention of one block of query rows in one kernel.
pub const ATTENTION: &str = include_str!("attention.wgsl");
#[cfg(test)]
mod tests_fused;
