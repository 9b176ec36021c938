//! Helpers shared by the optimizer tests: random inputs and output comparison on the
//! reference interpreter.

#![allow(dead_code, reason = "each test binary uses some of these helpers")]

use kiln_ir::{interp, DType, Data, Graph, KernelTarget, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

/// Random non-zero inputs for every graph input (floats, f16 too, in ±[0.1, 2], ints in 1..=3,
/// bools random).
pub fn random_inputs(graph: &Graph, seed: u64) -> Vec<Tensor> {
    let mut rng = StdRng::seed_from_u64(seed);
    graph
        .inputs
        .iter()
        .map(|p| {
            let ty = graph.ty(p.value);
            let n = ty.shape.numel();
            let mut float = || {
                let m: f32 = rng.gen_range(0.1..2.0);
                if rng.gen_bool(0.5) {
                    m
                } else {
                    -m
                }
            };
            let data = match ty.dtype {
                DType::F32 => Data::F32((0..n).map(|_| float()).collect()),
                DType::F16 => Data::F16((0..n).map(|_| half::f16::from_f32(float())).collect()),
                DType::I32 => Data::I32((0..n).map(|_| rng.gen_range(1..=3)).collect()),
                DType::Bool => Data::Bool((0..n).map(|_| rng.gen_bool(0.5)).collect()),
                // Other integers: anywhere in their range.
                d if d.is_int() => {
                    let (lo, hi) = d.int_range().expect("an integer type");
                    let v: Vec<i64> = (0..n).map(|_| rng.gen_range(lo..=hi)).collect();
                    Data::from_i64s(d, v.into_iter()).expect("an integer type")
                }
                d => panic!("no random inputs of {d}"),
            };
            Tensor::new(ty.shape.clone(), data).expect("sizes match")
        })
        .collect()
}

/// Runs both graphs on the same random inputs and asserts equal outputs within
/// `tol` relative (absolute for values near 0).
pub fn assert_same_outputs(before: &Graph, after: &Graph, seed: u64, tol: f64) {
    let inputs = random_inputs(before, seed);
    let a = interp::run(before, &inputs).expect("original graph runs");
    let b = interp::run(after, &inputs).expect("optimized graph runs");
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(x.ty(), y.ty(), "output {i} type");
        for (j, (p, q)) in x.to_f64_vec().iter().zip(y.to_f64_vec()).enumerate() {
            let ok = (p - q).abs() <= tol * p.abs().max(1.0) || (p.is_nan() && q.is_nan());
            assert!(ok, "output {i} element {j}: {p} before, {q} after");
        }
    }
}

/// The kernel target the optimizer tests compile for: codegen's own answers, for
/// WebGPU's default limits on a CPU driver (the default of `kiln compile`).
pub fn target() -> Arc<dyn KernelTarget> {
    Arc::new(kiln_codegen::Limits {
        cpu_driver: true,
        ..kiln_codegen::Limits::default()
    })
}
