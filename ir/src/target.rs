//! What the optimizer must know of the kernels a graph becomes: a description the
//! code generator provides, so that no pass restates a kernel or device fact.

use crate::{Op, Tensor, TensorType};
use std::fmt;

/// The code generator's answers to the optimizer's questions about kernels. The
/// passes ask these instead of keeping their own copies of codegen's limits, layout
/// support and engine shapes; `kiln_codegen::Limits` implements it.
pub trait KernelTarget: fmt::Debug + Send + Sync {
    /// Most distinct operands one kernel may read (its storage bindings less the one
    /// holding its result): the bound on a fused node's operands.
    fn max_kernel_operands(&self) -> usize;

    /// Bytes a tensor of type `ty` takes in device memory.
    fn stored_bytes(&self, ty: &TensorType) -> usize;

    /// The byte alignment a buffer view (a slice bound as a kernel's operand or
    /// result) must start at to be bound in place.
    fn view_alignment(&self) -> usize;

    /// Whether the kernel computing `op` reads operand `operand` at any element
    /// offset, so a view of it that starts unaligned is still read in place.
    fn reads_at_element_offset(&self, op: &Op, operand: usize) -> bool;

    /// Whether the kernel computing `op` can apply an element-wise epilogue to each
    /// result element before it stores it (the anchors of fused nodes).
    fn takes_epilogue(&self, op: &Op) -> bool;

    /// How many times a fused node's prologue is evaluated per element of its
    /// operand: the product engine computing `anchor` (with operands `anchor_in`)
    /// loads each input element once per block of outputs it computes together (rows
    /// of a conv's output channels, columns of a matmul's result).
    fn prologue_evaluations(&self, anchor: &Op, anchor_in: &[&TensorType]) -> usize;

    /// Whether `op` on operands of types `inputs`, all of them constants, is computed
    /// once when the plan is uploaded rather than by a kernel on every run (a constant
    /// `dequantize` of low-bit weights): it then costs nothing per run.
    fn computed_at_upload(&self, op: &Op, inputs: &[&TensorType]) -> bool {
        let _ = (op, inputs);
        false
    }

    /// Bytes a bundle stores for the constants `parts`: one plain constant, or the
    /// operands of an `op` computed when the plan is uploaded (a `dequantize`'s values,
    /// scales and zero points).
    fn bundle_bytes(&self, op: Option<&Op>, parts: &[&Tensor]) -> usize;
}
