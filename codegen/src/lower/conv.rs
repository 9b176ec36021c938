//! Lowering of conv ops to WGSL kernels.

use super::{Lowered, NodeCtx};
use crate::CodegenError;

/// The kernels computing this node.
pub fn lower(ctx: &NodeCtx<'_>, attrs: &kiln_ir::ConvAttrs) -> Result<Lowered, CodegenError> {
    Err(ctx.error("the GPU backend has no kernel for this op yet"))
}
