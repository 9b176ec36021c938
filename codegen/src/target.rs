//! Codegen's answers to the optimizer's questions about kernels ([`KernelTarget`]),
//! given by [`Limits`]: the passes ask these rather than restating codegen's facts.

use crate::lower::matmul::engine::{self, GemmShape};
use crate::lower::{fused, placement_support, Limits};
use crate::BINDING_ALIGN;
use kiln_ir::infer::infer;
use kiln_ir::{DType, KernelTarget, Op, Tensor, TensorType};

impl KernelTarget for Limits {
    /// Every operand and the result is a storage binding of its own.
    fn max_kernel_operands(&self) -> usize {
        (self.max_storage_buffers_per_shader_stage as usize).saturating_sub(1)
    }

    /// Every element is one 32-bit storage word ([`crate::StorageType`]).
    fn stored_bytes(&self, ty: &TensorType) -> usize {
        4 * ty.shape.numel()
    }

    fn view_alignment(&self) -> usize {
        BINDING_ALIGN as usize
    }

    fn reads_at_element_offset(&self, op: &Op, operand: usize) -> bool {
        placement_support(op).reads_at_offset(operand)
    }

    fn takes_epilogue(&self, op: &Op) -> bool {
        fused::takes_epilogue(op)
    }

    /// A convolution runs on the product engine with its output channels (per group)
    /// as rows and its output positions as columns; its input is the engine's B.
    /// A constant `dequantize` of dense low-bit weights (see `build.rs`), or an f16
    /// constant cast to f32 (it shares the constant's buffer: `layout::widens_constant`).
    fn computed_at_upload(&self, op: &Op, inputs: &[&TensorType]) -> bool {
        match (op, inputs) {
            (Op::Dequantize { .. }, [x, s, z]) => {
                crate::storage::dequantized_at_upload(x.dtype, s.dtype, z.dtype)
            }
            (Op::Cast { to: DType::F32 }, [x]) => x.dtype == DType::F16,
            _ => false,
        }
    }

    /// As the plan builder stores them (`build.rs`, [`crate::storage`]).
    fn bundle_bytes(&self, op: Option<&Op>, parts: &[&Tensor]) -> usize {
        match (op, parts) {
            (Some(Op::Dequantize { .. }), [x, s, z]) => crate::storage::dequantized_bytes(x, s, z),
            _ => parts
                .iter()
                .map(|t| crate::storage::constant_bytes(t))
                .sum(),
        }
    }

    fn prologue_evaluations(&self, anchor: &Op, anchor_in: &[&TensorType]) -> usize {
        if let (Op::MatMul, [a, b]) = (anchor, anchor_in) {
            // The matmul's rows and columns as its lowering sees them.
            let m = a.shape.dims().iter().rev().nth(1).copied().unwrap_or(1);
            let n = b.shape.dims().last().copied().unwrap_or(1);
            return engine::a_loads(m, n, self.cpu_driver);
        }
        let Op::Conv(attrs) = anchor else {
            return 1;
        };
        let (Some(w), Ok(out)) = (anchor_in.get(1), infer(anchor, anchor_in)) else {
            return 1;
        };
        let (Some(&m), Some(out)) = (w.shape.dims().first(), out.first()) else {
            return 1;
        };
        let group = attrs.group.max(1);
        let shape = GemmShape {
            z: group,
            m: m / group,
            n: out.shape.numel() / m.max(1),
            k: w.shape.dims()[1..].iter().product(),
        };
        // The implicit GEMM's column matrix holds each input element once per kernel
        // tap that reads it: about taps / stride-area times.
        let taps: usize = w.shape.dims()[2..].iter().product();
        let area: usize = attrs.strides.iter().product();
        engine::b_loads(shape, self.cpu_driver) * taps.div_ceil(area.max(1)).max(1)
    }
}
