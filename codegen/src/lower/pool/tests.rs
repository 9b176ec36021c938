//! Unit tests of the pooling lowering: the generated WGSL validates for every kind,
//! dtype and window shape; the window walk indexes no arrays at run time and tests
//! only the bounds a tap can cross.

use crate::lower::elementwise::tests::{accepted, compile, ty};
use kiln_ir::{DType, Op, PoolAttrs};

fn attrs(kernel: &[usize], strides: &[usize], pads: &[usize], dilations: &[usize]) -> PoolAttrs {
    PoolAttrs::window(kernel, strides, pads, dilations)
}

/// (input shape, attributes) covering 1-d to 3-d, pads, strides, dilations, ceil mode,
/// kernel extent 1 and windows entirely in padding.
fn windows() -> Vec<(Vec<usize>, PoolAttrs)> {
    let mut ceil = attrs(&[2, 2, 2], &[2, 1, 2], &[0, 1, 0, 0, 0, 1], &[1, 2, 1]);
    ceil.ceil_mode = true;
    vec![
        (vec![2, 3, 11], attrs(&[3], &[2], &[1, 1], &[1])),
        (
            vec![1, 2, 9, 7],
            attrs(&[3, 1], &[2, 1], &[0, 0, 0, 0], &[1, 1]),
        ),
        (
            vec![1, 2, 7, 8],
            attrs(&[2, 3], &[1, 2], &[2, 0, 1, 2], &[2, 1]),
        ),
        (vec![1, 2, 5, 4, 5], ceil),
        // Pads as wide as the window: the first window on each axis is all padding.
        (
            vec![1, 1, 3, 4],
            attrs(&[2, 2], &[1, 1], &[2, 2, 2, 2], &[1, 1]),
        ),
    ]
}

#[test]
fn every_kind_dtype_and_window_validates() {
    for (shape, a) in windows() {
        for dtype in DType::ALL {
            for storage_order in [0, 1] {
                let mut a = a.clone();
                a.storage_order = storage_order;
                let x = [ty(dtype, &shape)];
                let max = Op::MaxPool(a.clone());
                if accepted(&max, &x) {
                    compile(max, &x).unwrap_or_else(|e| panic!("max {dtype} {shape:?}: {e}"));
                }
                for include in [false, true] {
                    a.count_include_pad = include;
                    let avg = Op::AveragePool(a.clone());
                    if dtype.is_float() && accepted(&avg, &x) {
                        compile(avg, &x).unwrap_or_else(|e| panic!("avg {dtype} {shape:?}: {e}"));
                    }
                }
            }
        }
    }
}

#[test]
fn window_walk_uses_literals_and_needed_tests_only() {
    // 3×3 / 2 without padding over 13×13 -> 6×6: no tap leaves the input.
    let x = [ty(DType::F32, &[1, 4, 13, 13])];
    let p = compile(Op::MaxPool(attrs(&[3, 3], &[2, 2], &[0; 4], &[1, 1])), &x).unwrap();
    let wgsl = &p.plan.kernels[0].wgsl;
    assert!(!wgsl.contains("array<u32"), "{wgsl}");
    assert!(!wgsl.contains("if (c"), "{wgsl}");
    assert!(wgsl.contains("k1 < 3u"), "{wgsl}");
    // The same pool over 14×14 with ceil mode reaches past the end: an upper test only.
    let mut ceil = attrs(&[3, 3], &[2, 2], &[0; 4], &[1, 1]);
    ceil.ceil_mode = true;
    let x = [ty(DType::F32, &[1, 4, 14, 14])];
    let p = compile(Op::MaxPool(ceil), &x).unwrap();
    let wgsl = &p.plan.kernels[0].wgsl;
    assert!(wgsl.contains("if (c0 < 14)"), "{wgsl}");
    assert!(!wgsl.contains("c0 >= 0"), "{wgsl}");
}

#[test]
fn bad_attributes_are_errors() {
    let x = ty(DType::F32, &[1, 2, 5, 5]);
    let g = crate::lower::elementwise::tests::one_node(
        Op::MaxPool(attrs(&[2, 2], &[1, 1], &[0; 4], &[1, 1])),
        &[x],
    );
    // Corrupt the node after inference: a zero stride must be an error, not a panic.
    let mut g = g;
    let (node, _) = g.nodes.iter().next().unwrap();
    if let Op::MaxPool(a) = &mut g.nodes[node].op {
        a.strides = vec![0, 1];
    }
    let err = crate::build_plan(&g, &crate::Limits::default()).unwrap_err();
    assert!(err.to_string().contains("strides"), "{err}");
}
