//! Error bounds from the arithmetic for the matmul/conv/pool/resize GPU tests.
//!
//! Two f32 evaluations of a K-term dot product in different orders (the GPU tiles,
//! the CPU reference's sgemm blocks) each lie within γ_K·Σ|a_i·b_i| of the exact
//! value (γ_K ≈ K·u, u = 2⁻²⁴ the unit roundoff), so they differ by at most
//! 2·K·u·Σ|a_i·b_i|. Σ|a_i·b_i| per output is the same op evaluated on |a| and |b|.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use super::common::{op_graph, run_gpu_with};
use kiln_codegen::Limits;
use kiln_ir::{Op, Tensor};

/// The f32 unit roundoff.
pub const U: f64 = 1.0 / 16_777_216.0;

/// |t|, element-wise.
pub fn abs(t: &Tensor) -> Tensor {
    let v: Vec<f32> = t.to_f64_vec().iter().map(|x| x.abs() as f32).collect();
    Tensor::from_f32(t.shape().clone(), v).unwrap()
}

/// Result `i` of `op` on the CPU reference.
pub fn cpu(op: &Op, inputs: &[Tensor], i: usize) -> Vec<f64> {
    let graph = op_graph(op.clone(), inputs);
    let out = kiln_ir::interp::run(&graph, inputs).unwrap_or_else(|e| panic!("CPU reference: {e}"));
    out[i].to_f64_vec()
}

/// Per-element bound `2·terms·u·Σ|a_i·b_i| + floor`, with the magnitudes `mag`
/// (the op on absolute values).
pub fn dot_bound(mag: &[f64], terms: usize, floor: f64) -> Vec<f64> {
    mag.iter()
        .map(|s| 2.0 * terms as f64 * U * s + floor)
        .collect()
}

/// Runs `op` on the GPU and the CPU reference and asserts that result `i` agrees
/// within `bounds[i]` per element (`None`: exactly, bit for bit or both NaN).
pub fn check_within(op: Op, inputs: &[Tensor], bounds: &[Option<Vec<f64>>]) {
    check_within_with(op, inputs, bounds, &Limits::default());
}

/// [`check_within`] for each device class kernels are shaped for (GPU and CPU
/// driver tiles of the product engines).
pub fn check_within_both(op: Op, inputs: &[Tensor], bounds: &[Option<Vec<f64>>]) {
    for cpu_driver in [false, true] {
        let limits = Limits {
            cpu_driver,
            ..Limits::default()
        };
        check_within_with(op.clone(), inputs, bounds, &limits);
    }
}

/// [`check_within`] with the plan built for `limits`.
pub fn check_within_with(op: Op, inputs: &[Tensor], bounds: &[Option<Vec<f64>>], limits: &Limits) {
    let graph = op_graph(op.clone(), inputs);
    let want =
        kiln_ir::interp::run(&graph, inputs).unwrap_or_else(|e| panic!("CPU reference: {e}"));
    let got = run_gpu_with(&graph, inputs, limits);
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.ty(), w.ty(), "{op:?} result {i}");
        let (gv, wv) = (g.to_f64_vec(), w.to_f64_vec());
        let bound = bounds.get(i).cloned().flatten();
        let mut bad = Vec::new();
        for j in 0..wv.len() {
            let ok = match &bound {
                None => gv[j] == wv[j] || (gv[j].is_nan() && wv[j].is_nan()),
                Some(b) => {
                    (gv[j] - wv[j]).abs() <= b[j]
                        || (gv[j].is_nan() && wv[j].is_nan())
                        || gv[j] == wv[j]
                }
            };
            if !ok {
                bad.push(j);
            }
        }
        if !bad.is_empty() {
            let detail: Vec<String> = bad
                .iter()
                .take(6)
                .map(|&j| {
                    let b = bound.as_ref().map_or(0.0, |b| b[j]);
                    format!(
                        "  [{j}] gpu {} cpu {} (diff {:e}, bound {b:e})",
                        gv[j],
                        wv[j],
                        (gv[j] - wv[j]).abs()
                    )
                })
                .collect();
            panic!(
                "{op:?} on {:?} (CPU-driver tiles: {}): result {i} ({}): {} of {} elements out of bounds\n{}",
                inputs
                    .iter()
                    .map(|t| t.ty().to_string())
                    .collect::<Vec<_>>(),
                limits.cpu_driver,
                w.ty(),
                bad.len(),
                wv.len(),
                detail.join("\n")
            );
        }
    }
}

/// The bound of attention with depth `d`, `t` keys, `|q|, |k|, |v| < 2` and `scale`:
/// scores within 2·d·u·4d·scale (+ the mask add); probabilities within
/// 2·(score error) + (2·11 + t + 4)·u relative (exp, sum, division); the output
/// Σ p·v within that times max|v| = 2, plus the product's 2·t·u·Σ p|v| ≤ 4·t·u.
pub fn attention_bound(d: usize, t: usize, scale: f32) -> f64 {
    let (d, t) = (d as f64, t as f64);
    let score = 2.0 * d * U * 4.0 * d * scale as f64 + 2.0 * U * 8.0;
    let p = 2.0 * score + (26.0 + t) * U;
    2.0 * p + 4.0 * t * U
}
