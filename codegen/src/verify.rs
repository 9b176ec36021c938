//! The plan verifier: checks that a [`KernelPlan`] is self-consistent before anything
//! trusts it (as naga's validator checks a module): every index in range, every view
//! inside its buffer and aligned, no buffer a dispatch writes bound twice in it, every
//! device check and constant table in range, every kernel valid WGSL declaring the
//! workgroup memory the plan records. Run after a plan is built, when a bundle is read
//! and when a runtime loads a plan.

use crate::plan::{Access, BufferKind, KernelPlan, PlanPort, BINDING_ALIGN};
use crate::validate::validated_workgroup_storage_bytes;

/// Why a plan is not self-consistent; each names the kernel, dispatch, binding, buffer,
/// check or port it is about.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("extent {index}: {reason}")]
    Extent { index: usize, reason: String },
    #[error("the weights are {found} bytes, the plan expects {expected}")]
    WeightsLength { expected: u64, found: u64 },
    #[error("buffer {buffer} has size {size}, not a positive multiple of 4")]
    BufferSize { buffer: usize, size: u64 },
    #[error("constant buffer {buffer} reads weights bytes {offset}..{offset}+{size}, beyond the {weights_len}-byte blob")]
    ConstantOutsideWeights {
        buffer: usize,
        offset: u64,
        size: u64,
        weights_len: u64,
    },
    #[error("dequantized constant buffer {buffer}: {reason}")]
    Dequantized { buffer: usize, reason: String },
    #[error("packed constant buffer {buffer} has {bits}-bit elements (2, 4, 8 or 16 are valid)")]
    PackedBits { buffer: usize, bits: u8 },
    #[error("constant buffer {buffer} starts at weight byte {offset}, not a multiple of 4")]
    ConstantMisaligned { buffer: usize, offset: u64 },
    #[error("buffer {buffer} claims to hold input {port}, which does not use it")]
    InputBuffer { buffer: usize, port: usize },
    #[error("{what} {index} '{name}' lives in buffer {buffer}, which the plan does not have")]
    PortBuffer {
        what: &'static str,
        index: usize,
        name: String,
        buffer: usize,
    },
    #[error(
        "{what} {index} '{name}' of shape {shape:?} does not fit its {size}-byte buffer {buffer}"
    )]
    PortSize {
        what: &'static str,
        index: usize,
        name: String,
        shape: Vec<usize>,
        buffer: usize,
        size: u64,
    },
    #[error("input {index} '{name}' lives in buffer {buffer}, which is not its input buffer")]
    InputNotInInputBuffer {
        index: usize,
        name: String,
        buffer: usize,
    },
    #[error("check {check} ({op} '{node}') reports into buffer {buffer}, which is not an intermediate buffer of at least 8 bytes")]
    CheckBuffer {
        check: usize,
        node: String,
        op: String,
        buffer: usize,
    },
    #[error("zeroed buffer {buffer} is not an intermediate buffer of the plan")]
    ZeroedBuffer { buffer: usize },
    #[error("kernel {kernel} '{name}' has workgroup size {size:?}")]
    WorkgroupSize {
        kernel: usize,
        name: String,
        size: [u32; 3],
    },
    #[error("kernel {kernel} '{name}' is not valid WGSL: {message}")]
    Shader {
        kernel: usize,
        name: String,
        message: String,
    },
    #[error("kernel {kernel} '{name}' records {recorded} bytes of workgroup memory, its WGSL declares {declared}")]
    WorkgroupStorage {
        kernel: usize,
        name: String,
        recorded: u32,
        declared: u32,
    },
    #[error("dispatch {dispatch} runs kernel {kernel}, the plan has {kernels}")]
    DispatchKernel {
        dispatch: usize,
        kernel: usize,
        kernels: usize,
    },
    #[error(
        "dispatch {dispatch} binds {bound} buffers, kernel '{kernel}' has {declared} bindings"
    )]
    BindingCount {
        dispatch: usize,
        kernel: String,
        bound: usize,
        declared: usize,
    },
    #[error("dispatch {dispatch} binding {binding}: no buffer {buffer}")]
    BindingBuffer {
        dispatch: usize,
        binding: usize,
        buffer: usize,
    },
    #[error("dispatch {dispatch} binding {binding}: bytes {offset}..+{size} are not a non-empty multiple of 4 inside the {buffer_size}-byte buffer {buffer}")]
    BindingRange {
        dispatch: usize,
        binding: usize,
        buffer: usize,
        offset: u64,
        size: u64,
        buffer_size: u64,
    },
    #[error("dispatch {dispatch} binding {binding}: bytes {offset}..+{size} of buffer {buffer} start at an offset that is not a multiple of {BINDING_ALIGN}")]
    BindingMisaligned {
        dispatch: usize,
        binding: usize,
        buffer: usize,
        offset: u64,
        size: u64,
    },
    #[error("dispatch {dispatch} (kernel '{kernel}') binds buffer {buffer} at bindings {first} and {second} and writes it")]
    BoundTwice {
        dispatch: usize,
        kernel: String,
        buffer: usize,
        first: usize,
        second: usize,
    },
}

/// Checks that `plan` is self-consistent and expects a `weights_len`-byte weights blob,
/// including that every kernel is valid WGSL (naga).
pub fn verify_plan(plan: &KernelPlan, weights_len: u64) -> Result<(), PlanError> {
    verify_layout(plan, weights_len)?;
    verify_extents(plan)?;
    for (i, kernel) in plan.kernels.iter().enumerate() {
        let declared = validated_workgroup_storage_bytes(&kernel.wgsl).map_err(|message| {
            PlanError::Shader {
                kernel: i,
                name: kernel.name.clone(),
                message,
            }
        })?;
        let f16 = crate::requirements::SHADER_F16;
        if crate::requirements::enables_f16(&kernel.wgsl)
            && !plan.requirements.features.iter().any(|f| f == f16)
        {
            return Err(PlanError::Shader {
                kernel: i,
                name: kernel.name.clone(),
                message: format!("it computes in f16, the plan does not require {f16}"),
            });
        }
        if declared != kernel.workgroup_storage_bytes {
            return Err(PlanError::WorkgroupStorage {
                kernel: i,
                name: kernel.name.clone(),
                recorded: kernel.workgroup_storage_bytes,
                declared,
            });
        }
    }
    Ok(())
}

/// Each extent cuts a model output along one of its axes by a count output after the
/// model's outputs that is one i32 and counts nothing else.
fn verify_extents(plan: &KernelPlan) -> Result<(), PlanError> {
    let model = plan.model_outputs().len();
    for (index, e) in plan.extents.iter().enumerate() {
        let fail = |reason: String| Err(PlanError::Extent { index, reason });
        let Some(port) = plan.model_outputs().get(e.output) else {
            return fail(format!("output {} is not a model output", e.output));
        };
        if e.axis >= port.shape.len() {
            return fail(format!("axis {} out of range for {:?}", e.axis, port.shape));
        }
        match plan.outputs.get(e.count) {
            Some(c) if e.count >= model && c.shape.is_empty() && c.dtype == kiln_ir::DType::I32 => {
            }
            _ => return fail(format!("output {} is not a count output (i32[])", e.count)),
        }
        if plan.extents[..index]
            .iter()
            .any(|f| f.output == e.output || f.count == e.count)
        {
            return fail("another extent has the same output or count".into());
        }
    }
    Ok(())
}

/// [`verify_plan`] but for naga: for a plan whose kernels were validated as they were
/// added to it (the plan builder's).
pub(crate) fn verify_layout(plan: &KernelPlan, weights_len: u64) -> Result<(), PlanError> {
    if weights_len != plan.weights_len {
        return Err(PlanError::WeightsLength {
            expected: plan.weights_len,
            found: weights_len,
        });
    }
    verify_buffers(plan)?;
    for (check, c) in plan.checks.iter().enumerate() {
        match plan.buffers.get(c.buffer) {
            Some(b) if b.size >= 8 && b.kind == BufferKind::Intermediate => {}
            _ => {
                return Err(PlanError::CheckBuffer {
                    check,
                    node: c.node.clone(),
                    op: c.op.clone(),
                    buffer: c.buffer,
                })
            }
        }
    }
    for &buffer in &plan.zeroed {
        match plan.buffers.get(buffer) {
            Some(b) if b.kind == BufferKind::Intermediate => {}
            _ => return Err(PlanError::ZeroedBuffer { buffer }),
        }
    }
    for (what, ports) in [("input", &plan.inputs), ("output", &plan.outputs)] {
        for (i, port) in ports.iter().enumerate() {
            verify_port(plan, what, i, port)?;
        }
    }
    for (index, port) in plan.inputs.iter().enumerate() {
        if plan.buffers[port.buffer].kind != BufferKind::Input(index) {
            return Err(PlanError::InputNotInInputBuffer {
                index,
                name: port.name.clone(),
                buffer: port.buffer,
            });
        }
    }
    for (kernel, k) in plan.kernels.iter().enumerate() {
        if k.workgroup_size.contains(&0) {
            return Err(PlanError::WorkgroupSize {
                kernel,
                name: k.name.clone(),
                size: k.workgroup_size,
            });
        }
    }
    for dispatch in 0..plan.dispatches.len() {
        verify_dispatch(plan, dispatch)?;
    }
    Ok(())
}

/// Sizes, and what each buffer claims to hold.
fn verify_buffers(plan: &KernelPlan) -> Result<(), PlanError> {
    for (buffer, b) in plan.buffers.iter().enumerate() {
        if b.size == 0 || !b.size.is_multiple_of(4) {
            return Err(PlanError::BufferSize {
                buffer,
                size: b.size,
            });
        }
        match b.kind {
            BufferKind::Input(port) => match plan.inputs.get(port) {
                Some(p) if p.buffer == buffer => {}
                _ => return Err(PlanError::InputBuffer { buffer, port }),
            },
            BufferKind::Constant { offset } => {
                if offset
                    .checked_add(b.size)
                    .is_none_or(|end| end > plan.weights_len)
                {
                    return Err(PlanError::ConstantOutsideWeights {
                        buffer,
                        offset,
                        size: b.size,
                        weights_len: plan.weights_len,
                    });
                }
                if !offset.is_multiple_of(4) {
                    return Err(PlanError::ConstantMisaligned { buffer, offset });
                }
            }
            BufferKind::Packed { offset, bits, .. } => {
                let len = crate::storage::packed_len(bits, b.size / 4);
                if !matches!(bits, 2 | 4 | 8 | 16) {
                    return Err(PlanError::PackedBits { buffer, bits });
                }
                if offset
                    .checked_add(len)
                    .is_none_or(|end| end > plan.weights_len)
                {
                    return Err(PlanError::ConstantOutsideWeights {
                        buffer,
                        offset,
                        size: len,
                        weights_len: plan.weights_len,
                    });
                }
            }
            BufferKind::Dequantized(ref d) => {
                let count = crate::storage::check_dequantized(d, plan.weights_len)
                    .map_err(|reason| PlanError::Dequantized { buffer, reason })?;
                if b.size != 4 * count.max(1) as u64 {
                    let reason = format!("{count} elements but {} bytes", b.size);
                    return Err(PlanError::Dequantized { buffer, reason });
                }
            }
            BufferKind::Splat { .. } | BufferKind::Intermediate => {}
        }
    }
    Ok(())
}

fn verify_port(
    plan: &KernelPlan,
    what: &'static str,
    index: usize,
    port: &PlanPort,
) -> Result<(), PlanError> {
    let Some(buffer) = plan.buffers.get(port.buffer) else {
        return Err(PlanError::PortBuffer {
            what,
            index,
            name: port.name.clone(),
            buffer: port.buffer,
        });
    };
    let bytes = port
        .shape
        .iter()
        .try_fold(4u64, |acc, &d| acc.checked_mul(d as u64));
    if bytes.is_none_or(|bytes| bytes > buffer.size) {
        return Err(PlanError::PortSize {
            what,
            index,
            name: port.name.clone(),
            shape: port.shape.clone(),
            buffer: port.buffer,
            size: buffer.size,
        });
    }
    Ok(())
}

/// The kernel exists and takes as many bindings as bound; each binding is a non-empty,
/// aligned range inside its buffer; a buffer the dispatch writes is bound once.
fn verify_dispatch(plan: &KernelPlan, dispatch: usize) -> Result<(), PlanError> {
    let d = &plan.dispatches[dispatch];
    let Some(kernel) = plan.kernels.get(d.kernel) else {
        return Err(PlanError::DispatchKernel {
            dispatch,
            kernel: d.kernel,
            kernels: plan.kernels.len(),
        });
    };
    if d.bindings.len() != kernel.bindings.len() {
        return Err(PlanError::BindingCount {
            dispatch,
            kernel: kernel.name.clone(),
            bound: d.bindings.len(),
            declared: kernel.bindings.len(),
        });
    }
    for (binding, b) in d.bindings.iter().enumerate() {
        let Some(buffer) = plan.buffers.get(b.buffer) else {
            return Err(PlanError::BindingBuffer {
                dispatch,
                binding,
                buffer: b.buffer,
            });
        };
        let size = b.size.unwrap_or(buffer.size.saturating_sub(b.offset));
        let inside = b
            .offset
            .checked_add(size)
            .is_some_and(|end| end <= buffer.size);
        if size == 0 || !size.is_multiple_of(4) || !inside {
            return Err(PlanError::BindingRange {
                dispatch,
                binding,
                buffer: b.buffer,
                offset: b.offset,
                size,
                buffer_size: buffer.size,
            });
        }
        if !b.offset.is_multiple_of(BINDING_ALIGN) {
            return Err(PlanError::BindingMisaligned {
                dispatch,
                binding,
                buffer: b.buffer,
                offset: b.offset,
                size,
            });
        }
        let earlier = d.bindings[..binding]
            .iter()
            .position(|other| other.buffer == b.buffer);
        if let Some(first) = earlier {
            let writes = |j: usize| kernel.bindings[j] == Access::ReadWrite;
            let written = d
                .bindings
                .iter()
                .enumerate()
                .any(|(j, other)| other.buffer == b.buffer && writes(j));
            if written {
                return Err(PlanError::BoundTwice {
                    dispatch,
                    kernel: kernel.name.clone(),
                    buffer: b.buffer,
                    first,
                    second: binding,
                });
            }
        }
    }
    Ok(())
}
