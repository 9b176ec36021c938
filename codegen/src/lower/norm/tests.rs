//! Unit tests of the normalization lowering: generated WGSL validates.

use crate::lower::elementwise::tests::{compile, lower_all, one_node, ty};
use kiln_ir::{DType, Op};

#[test]
fn norms_validate() {
    let x = ty(DType::F32, &[2, 3, 5, 7]);
    let c = ty(DType::F32, &[3]);
    compile(
        Op::BatchNorm { epsilon: 1e-5 },
        &[x.clone(), c.clone(), c.clone(), c.clone(), c.clone()],
    )
    .unwrap();
    compile(
        Op::InstanceNorm { epsilon: 1e-5 },
        &[x.clone(), c.clone(), c],
    )
    .unwrap();
    compile(
        Op::Lrn {
            size: 3,
            alpha: 1e-4,
            beta: 0.75,
            bias: 1.0,
        },
        std::slice::from_ref(&x),
    )
    .unwrap();
    for axis in 0..4 {
        let s = ty(DType::F32, &[2, 3, 5, 7][axis..]);
        let p = compile(
            Op::LayerNorm {
                axis,
                epsilon: 1e-5,
            },
            &[x.clone(), s.clone(), s.clone()],
        )
        .unwrap();
        // y, mean and inv_std_dev are all results.
        assert_eq!(p.plan.dispatches[0].bindings.len(), 6);
        compile(
            Op::LayerNorm {
                axis,
                epsilon: 1e-5,
            },
            &[x.clone(), s],
        )
        .unwrap();
    }
}

#[test]
fn same_constant_for_two_statistics_is_bound_once() {
    let mut g = one_node(
        Op::Lrn {
            size: 1,
            alpha: 1.0,
            beta: 1.0,
            bias: 1.0,
        },
        &[ty(DType::F32, &[1, 2])],
    );
    let x = g.inputs[0].value;
    let c = g.add_input("c", ty(DType::F32, &[2]), kiln_ir::Wide::No);
    let y = g
        .add(Op::BatchNorm { epsilon: 1e-5 }, &[x, c, c, c, c], "bn")
        .unwrap();
    g.add_output("bn", y, kiln_ir::Wide::No);
    let lowered = lower_all(&g);
    assert_eq!(lowered[1].kernels[0].bindings.len(), 3);
}
