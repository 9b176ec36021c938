//! The plan verifier: a plan built from a small graph passes, and each kind of
//! corruption of it is rejected naming the dispatch, binding, buffer or check.

use kiln_codegen::{build_plan, verify_plan, Access, CompiledPlan, Limits, PlanError};
use kiln_ir::{DType, Graph, Op, TensorType, UnaryOp};

/// `relu(gather(x, idx))`: two dispatches, one device check.
fn compiled() -> CompiledPlan {
    let mut g = Graph::new("t");
    let x = g.add_input(
        "x",
        TensorType::new(DType::F32, vec![8, 80]),
        kiln_ir::Wide::No,
    );
    let idx = g.add_input(
        "idx",
        TensorType::new(DType::I32, vec![3]),
        kiln_ir::Wide::No,
    );
    let gathered = g
        .add_node(Op::Gather { axis: 0 }, &[x, idx], None, "g")
        .unwrap()[0];
    let y = g
        .add_node(Op::Unary(UnaryOp::Relu), &[gathered], None, "r")
        .unwrap()[0];
    g.add_output("y", y, kiln_ir::Wide::No);
    build_plan(&g, &Limits::default()).unwrap()
}

/// The plan after `corrupt`, verified.
fn verify_after(corrupt: impl FnOnce(&mut kiln_codegen::KernelPlan)) -> Result<(), PlanError> {
    let CompiledPlan {
        mut plan, weights, ..
    } = compiled();
    corrupt(&mut plan);
    verify_plan(&plan, weights.len() as u64)
}

#[test]
fn a_built_plan_verifies() {
    let c = compiled();
    assert_eq!(c.plan.checks.len(), 1);
    assert_eq!(c.plan.dispatches.len(), 2);
    verify_plan(&c.plan, c.weights.len() as u64).unwrap();
}

#[test]
fn a_written_buffer_bound_twice_in_a_dispatch_is_rejected() {
    let err = verify_after(|plan| {
        let d = &mut plan.dispatches[1];
        let kernel = &plan.kernels[d.kernel];
        let written = kernel
            .bindings
            .iter()
            .position(|a| *a == Access::ReadWrite)
            .unwrap();
        let read = kernel
            .bindings
            .iter()
            .position(|a| *a == Access::Read)
            .unwrap();
        d.bindings[read] = d.bindings[written];
    })
    .unwrap_err();
    assert!(
        matches!(err, PlanError::BoundTwice { dispatch: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().starts_with("dispatch 1 (kernel '"), "{err}");
}

#[test]
fn a_view_outside_its_buffer_is_rejected() {
    let err = verify_after(|plan| {
        let b = &mut plan.dispatches[0].bindings[0];
        b.size = Some(plan.buffers[b.buffer].size + 4);
    })
    .unwrap_err();
    assert!(
        matches!(
            err,
            PlanError::BindingRange {
                dispatch: 0,
                binding: 0,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_misaligned_view_is_rejected() {
    let err = verify_after(|plan| {
        let b = &mut plan.dispatches[0].bindings[0];
        b.offset = 16;
        b.size = Some(16);
    })
    .unwrap_err();
    assert!(
        matches!(
            err,
            PlanError::BindingMisaligned {
                dispatch: 0,
                binding: 0,
                offset: 16,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn an_out_of_range_check_slot_is_rejected() {
    let err = verify_after(|plan| plan.checks[0].buffer = plan.buffers.len()).unwrap_err();
    assert!(
        matches!(err, PlanError::CheckBuffer { check: 0, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("(gather 'g')"), "{err}");
}

#[test]
fn a_constant_table_outside_the_weights_is_rejected() {
    let err = verify_after(|plan| {
        plan.buffers.push(kiln_codegen::BufferDesc {
            size: 64,
            kind: kiln_codegen::BufferKind::Constant {
                offset: plan.weights_len,
            },
        })
    })
    .unwrap_err();
    assert!(
        matches!(err, PlanError::ConstantOutsideWeights { .. }),
        "{err}"
    );
}

#[test]
fn a_kernel_naga_rejects_is_rejected() {
    let err = verify_after(|plan| plan.kernels[0].wgsl.push_str("fn broken( {")).unwrap_err();
    assert!(matches!(err, PlanError::Shader { kernel: 0, .. }), "{err}");
    let err = verify_after(|plan| plan.kernels[0].workgroup_storage_bytes += 4).unwrap_err();
    assert!(
        matches!(err, PlanError::WorkgroupStorage { kernel: 0, .. }),
        "{err}"
    );
}

#[test]
fn a_kernel_enabling_f16_needs_the_feature_declared() {
    let enable = |plan: &mut kiln_codegen::KernelPlan| {
        plan.kernels[1].wgsl = format!("enable f16;\n{}", plan.kernels[1].wgsl);
    };
    let err = verify_after(enable).unwrap_err();
    assert!(matches!(err, PlanError::Shader { kernel: 1, .. }), "{err}");
    assert!(err.to_string().contains("SHADER_F16"), "{err}");
    verify_after(|plan| {
        enable(plan);
        plan.requirements.features.push("SHADER_F16".into());
    })
    .unwrap();
}
