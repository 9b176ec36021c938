//! The runtime on hand-written plans: a WGSL add kernel, and plans that must be
//! refused (absent feature, excessive limit, corrupt weights offset, bad bindings, a
//! device check outside the plan).

mod common;

use common::gpu;
use kiln_codegen::*;
use kiln_ir::{DType, Tensor};
use kiln_runtime::RuntimeError;

const ADD: &str = r#"
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if i < arrayLength(&c) {
        c[i] = a[i] + b[i];
    }
}
"#;

fn port(name: &str, n: usize, buffer: BufferId) -> PlanPort {
    PlanPort {
        name: name.into(),
        dtype: DType::F32,
        shape: vec![n],
        wide: kiln_ir::Wide::No,
        buffer,
    }
}

/// `y = x + w` over `n` floats, `w` a constant at offset 256 of a weights blob.
fn add_plan(n: usize) -> (KernelPlan, Vec<u8>) {
    let bytes = (n * 4) as u64;
    let w: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 + 1.0).collect();
    let mut weights = vec![0u8; 256];
    weights.extend(w.iter().flat_map(|x| x.to_le_bytes()));
    let plan = KernelPlan {
        inputs: vec![port("x", n, 0)],
        outputs: vec![port("y", n, 2)],
        buffers: vec![
            BufferDesc {
                size: bytes,
                kind: BufferKind::Input(0),
            },
            BufferDesc {
                size: bytes,
                kind: BufferKind::Constant { offset: 256 },
            },
            BufferDesc {
                size: bytes,
                kind: BufferKind::Intermediate,
            },
        ],
        kernels: vec![Kernel {
            name: "add_0".into(),
            op: "Add".into(),
            wgsl: ADD.into(),
            entry_point: "main".into(),
            workgroup_size: [64, 1, 1],
            bindings: vec![Access::Read, Access::Read, Access::ReadWrite],
            workgroup_storage_bytes: 0,
        }],
        dispatches: vec![Dispatch {
            kernel: 0,
            workgroups: [n.div_ceil(64) as u32, 1, 1],
            bindings: (0..3)
                .map(|buffer| BufferBinding {
                    buffer,
                    offset: 0,
                    size: None,
                })
                .collect(),
        }],
        weights_len: weights.len() as u64,
        requirements: Requirements::default(),
        checks: Vec::new(),
        extents: Vec::new(),
        zeroed: Vec::new(),
    };
    (plan, weights)
}

fn load_err(plan: &KernelPlan, weights: &[u8]) -> String {
    match gpu().load(plan, weights) {
        Ok(_) => panic!("the plan loaded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn add_kernel_runs() {
    for n in [1, 7, 64, 257] {
        let (plan, weights) = add_plan(n);
        let mut session = gpu().load(&plan, &weights).unwrap();
        let x: Vec<f32> = (0..n).map(|i| 3.0 - i as f32).collect();
        let want: Vec<f32> = (0..n)
            .map(|i| (3.0 - i as f32) + (i as f32 * 0.5 + 1.0))
            .collect();
        let out = session
            .run(&[Tensor::from_f32([n].as_slice(), x).unwrap()])
            .unwrap();
        assert_eq!(
            out,
            vec![Tensor::from_f32([n].as_slice(), want).unwrap()],
            "n = {n}"
        );
    }
}

/// `y = x + steps * w`: `steps` dispatches of the add kernel ping-ponging between two
/// intermediates, each reading what the previous one wrote.
fn chain_plan(n: usize, steps: usize) -> (KernelPlan, Vec<u8>) {
    let (mut plan, _) = add_plan(n);
    let weights: Vec<u8> = std::iter::repeat_n(1.0f32.to_le_bytes(), n)
        .flatten()
        .collect();
    plan.weights_len = weights.len() as u64;
    plan.buffers[1].kind = BufferKind::Constant { offset: 0 };
    plan.buffers.push(BufferDesc {
        size: (n * 4) as u64,
        kind: BufferKind::Intermediate,
    });
    let bind = |buffer| BufferBinding {
        buffer,
        offset: 0,
        size: None,
    };
    plan.dispatches = (0..steps)
        .map(|k| {
            let src = if k == 0 { 0 } else { 2 + (k - 1) % 2 };
            Dispatch {
                kernel: 0,
                workgroups: [n.div_ceil(64) as u32, 1, 1],
                bindings: vec![bind(src), bind(1), bind(2 + k % 2)],
            }
        })
        .collect();
    plan.outputs[0].buffer = 2 + (steps - 1) % 2;
    (plan, weights)
}

#[test]
fn dispatches_see_what_earlier_ones_wrote() {
    let (plan, weights) = chain_plan(300, 50);
    let mut session = gpu().load(&plan, &weights).unwrap();
    let x = Tensor::from_f32([300usize].as_slice(), (0..300).map(|i| i as f32).collect()).unwrap();
    let out = session.run(std::slice::from_ref(&x)).unwrap();
    assert_eq!(
        out[0].to_f64_vec(),
        (0..300).map(|i| i as f64 + 50.0).collect::<Vec<_>>()
    );
    let timed = session.run_timed(&[x]).unwrap();
    assert_eq!(timed.outputs, out);
    assert_eq!(timed.dispatches.len(), 50);
    assert!(timed.dispatches.iter().all(|(name, _)| name == "add_0"));
}

#[test]
fn conflicting_bindings_are_refused_at_load() {
    let (mut plan, weights) = add_plan(4);
    // The output aliases an operand: a writable and a read-only use of one buffer, which
    // the plan verifier refuses before any GPU object is created.
    plan.dispatches[0].bindings[2].buffer = 0;
    plan.outputs[0].buffer = 0;
    let err = gpu().load(&plan, &weights).err().expect("refused");
    assert!(
        matches!(
            err,
            RuntimeError::Plan(kiln_codegen::PlanError::BoundTwice {
                dispatch: 0,
                buffer: 0,
                first: 0,
                second: 2,
                ..
            })
        ),
        "{err}"
    );
}

#[test]
fn runs_repeat_with_new_inputs() {
    let (plan, weights) = add_plan(3);
    let mut session = gpu().load(&plan, &weights).unwrap();
    for k in 1..4 {
        let x = Tensor::from_f32([3usize].as_slice(), vec![k as f32; 3]).unwrap();
        let out = session.run(&[x]).unwrap();
        assert_eq!(
            out[0].to_f64_vec(),
            vec![k as f64 + 1.0, k as f64 + 1.5, k as f64 + 2.0]
        );
    }
}

#[test]
fn timed_run_times_every_dispatch() {
    let (plan, weights) = add_plan(100);
    let mut session = gpu().load(&plan, &weights).unwrap();
    let x = Tensor::from_f32([100usize].as_slice(), vec![1.0; 100]).unwrap();
    let timed = session.run_timed(&[x]).unwrap();
    assert_eq!(timed.outputs[0].to_f64_vec()[99], 1.0 + 99.0 * 0.5 + 1.0);
    assert_eq!(timed.dispatches.len(), 1);
    assert_eq!(timed.dispatches[0].0, "add_0");
    eprintln!(
        "add of 100 floats: {} ns ({})",
        timed.dispatches[0].1, timed.source
    );
}

#[test]
fn missing_feature_is_refused_by_name() {
    let (mut plan, weights) = add_plan(4);
    // No adapter offers every feature; ray tracing pipelines are the least likely.
    plan.requirements.features = vec!["EXPERIMENTAL_RAY_QUERY".into()];
    let err = load_err(&plan, &weights);
    if !gpu().adapter_info().name.is_empty() {
        assert!(
            err.contains("cannot run this plan: the plan needs feature EXPERIMENTAL_RAY_QUERY"),
            "{err}"
        );
    }
}

#[test]
fn excessive_limit_is_refused_by_name() {
    let (mut plan, weights) = add_plan(4);
    plan.requirements.max_storage_buffers_per_shader_stage = 100_000;
    let err = load_err(&plan, &weights);
    assert!(
        err.contains(
            "the plan needs max_storage_buffers_per_shader_stage >= 100000 (the adapter offers"
        ),
        "{err}"
    );
}

#[test]
fn unknown_feature_is_an_invalid_plan() {
    let (mut plan, weights) = add_plan(4);
    plan.requirements.features = vec!["WARP_DRIVE".into()];
    assert_eq!(
        load_err(&plan, &weights),
        "invalid plan: unknown wgpu feature 'WARP_DRIVE'"
    );
}

#[test]
fn corrupt_weights_offset_is_an_error() {
    let (mut plan, weights) = add_plan(4);
    plan.buffers[1].kind = BufferKind::Constant {
        offset: u64::MAX - 3,
    };
    let err = load_err(&plan, &weights);
    assert!(
        err.starts_with("invalid plan: constant buffer 1 reads weights bytes"),
        "{err}"
    );
    let (plan, weights) = add_plan(4);
    let err = load_err(&plan, &weights[..100]);
    assert_eq!(
        err,
        "invalid plan: the weights are 100 bytes, the plan expects 272"
    );
}

#[test]
fn a_device_check_outside_the_plan_is_an_error() {
    for (buffer, what) in [(7, "buffer 7"), (0, "buffer 0")] {
        let (mut plan, weights) = add_plan(4);
        plan.checks.push(kiln_codegen::Check {
            buffer,
            node: "g".into(),
            op: "gather".into(),
            what: "an index is out of range [-2, 2)".into(),
        });
        assert_eq!(
            load_err(&plan, &weights),
            format!(
                "invalid plan: check 0 (gather 'g') reports into {what}, which is not an \
                 intermediate buffer of at least 8 bytes"
            )
        );
    }
}

#[test]
fn bad_bindings_are_errors() {
    let (mut plan, weights) = add_plan(4);
    plan.dispatches[0].bindings[2].buffer = 9;
    assert_eq!(
        load_err(&plan, &weights),
        "invalid plan: dispatch 0 binding 2: no buffer 9"
    );
    let (mut plan, weights) = add_plan(4);
    plan.dispatches[0].bindings[0].offset = 4;
    assert!(load_err(&plan, &weights).contains("dispatch 0 binding 0: bytes 4..+12"));
    let (mut plan, weights) = add_plan(4);
    plan.dispatches[0].kernel = 1;
    assert_eq!(
        load_err(&plan, &weights),
        "invalid plan: dispatch 0 runs kernel 1, the plan has 1"
    );
}

#[test]
fn invalid_wgsl_is_an_invalid_plan_not_a_panic() {
    let (mut plan, weights) = add_plan(4);
    plan.kernels[0].wgsl = plan.kernels[0]
        .wgsl
        .replace("a[i] + b[i]", "a[i] + undefined_name");
    let err = load_err(&plan, &weights);
    assert!(
        err.starts_with("invalid plan: kernel 0 'add_0' is not valid WGSL:"),
        "{err}"
    );
}

#[test]
fn wrong_inputs_are_errors() {
    let (plan, weights) = add_plan(4);
    let mut session = gpu().load(&plan, &weights).unwrap();
    let err = session
        .run(&[Tensor::from_f32([5usize].as_slice(), vec![1.0; 5]).unwrap()])
        .unwrap_err();
    assert_eq!(err.to_string(), "input 'x': expected f32[4], got f32[5]");
    let err = session
        .run(&[Tensor::from_i32([4usize].as_slice(), vec![1; 4]).unwrap()])
        .unwrap_err();
    assert_eq!(err.to_string(), "input 'x': expected f32[4], got i32[4]");
    let err = session.run(&[]).unwrap_err();
    assert!(matches!(err, RuntimeError::Input(_)), "{err}");
    assert_eq!(err.to_string(), "expected 1 inputs, got 0");
}
