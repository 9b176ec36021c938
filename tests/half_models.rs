//! A model in half precision, as exporters write one (weights and activations f16, input
//! and output f32): PaddleOCR's text-direction classifier converted by
//! onnxconverter-common (`real/cls-f16`, `scripts/make-real-data.py`), against the same
//! classifier in f32 (`real/cls`) on its 24 inputs.
//!
//! f16 rounds at every layer, so the f16 model's output is not the f32 model's: the
//! yardstick is onnxruntime's own f16 run (the test sets' outputs), and kiln's outputs
//! must be as close to the f32 model's as onnxruntime's are (relative L2 over all 24,
//! within a factor 2; kiln rounds every op to f16 as ONNX defines it, onnxruntime's CPU
//! runs several in f32), with the same top-1 on every input. Its bundle runs no more dispatches than the f32 one, the
//! input's and output's casts aside: its batch norms, which the f32 compile folds into
//! the convs' weights, become the convs' epilogues (`batch-norm-affine`). Run twice on a
//! GPU with `SHADER_F16`: f16 computed in f32 and rounded as the reference does, and in
//! f16 (`DeviceProfile::f16_arithmetic`).

mod common;

use common::{catch, data_dir, relative_l2, sets, show};
use kiln::{CompileOptions, Tensor};
use std::path::Path;

/// kiln's distance to the f32 model's output, at most this times onnxruntime's.
const FACTOR: f64 = 2.0;

fn argmax(v: &[f64]) -> usize {
    (0..v.len()).fold(0, |best, i| if v[i] > v[best] { i } else { best })
}

/// The bundle of `dir`'s model for input `x` of `x`'s shape, with `f16_arithmetic`.
fn bundle(dir: &Path, x: &Tensor, f16_arithmetic: bool) -> Result<kiln::Bundle, String> {
    let model = kiln::load_onnx(dir.join("model.onnx")).map_err(|e| e.to_string())?;
    let mut options = CompileOptions::default();
    options.shapes.insert("x".into(), x.shape().dims().to_vec());
    options.egraph.profile.f16_arithmetic = f16_arithmetic;
    kiln::compile_bundle(&model, &options).map_err(|e| e.to_string())
}

#[test]
fn half_precision_classifier_matches_onnxruntime() {
    let test = "half precision real/cls-f16";
    let Some(root) = data_dir("real", test) else {
        return;
    };
    catch(|| {
        let half = sets(&root.join("cls-f16"))?;
        let full = sets(&root.join("cls"))?;
        if half.len() != full.len() || half.is_empty() {
            return Err(format!("{} f16 sets, {} f32 sets", half.len(), full.len()));
        }
        let x0 = &half[0].0;
        let f32_dispatches = bundle(&root.join("cls"), x0, false)?
            .manifest
            .plan
            .dispatches
            .len();
        let Some(runtime) = common::gpu(test) else {
            return Ok(());
        };
        let modes: &[bool] = if runtime.has_f16() {
            &[false, true]
        } else {
            &[false]
        };
        for &native in modes {
            let b = bundle(&root.join("cls-f16"), x0, native)?;
            let dispatches = b.manifest.plan.dispatches.len();
            if dispatches > f32_dispatches + 2 {
                return Err(format!(
                    "{dispatches} dispatches, the f32 model's {f32_dispatches} and 2 casts"
                ));
            }
            let mut session = kiln::load_bundle(&runtime, &b).map_err(|e| e.to_string())?;
            let (mut ours, mut theirs, mut truth) = (Vec::new(), Vec::new(), Vec::new());
            let mut agree = 0;
            for ((x, ort_half), (_, ort_full)) in half.iter().zip(&full) {
                let got = session
                    .run(std::slice::from_ref(x))
                    .map_err(|e| e.to_string())?;
                let top = |t: &Tensor| argmax(&t.to_f64_vec());
                agree += usize::from(top(&got[0]) == top(ort_full));
                ours.extend(got[0].to_f64_vec());
                theirs.extend(ort_half.to_f64_vec());
                truth.extend(ort_full.to_f64_vec());
            }
            // Over all inputs at once: per input, either run's rounding may happen to
            // land near the f32 output or away from it.
            let all = |v: Vec<f64>| {
                Tensor::from_f32(vec![v.len()], v.iter().map(|&x| x as f32).collect())
                    .map_err(|e| e.to_string())
            };
            let (ours, theirs, truth) = (all(ours)?, all(theirs)?, all(truth)?);
            let (d_ours, d_theirs) = (relative_l2(&ours, &truth), relative_l2(&theirs, &truth));
            show(&format!(
                "{test} ({}): {dispatches} dispatches (f32 model {f32_dispatches}); top-1 as \
                 the f32 model on {agree}/{}; relative L2 to its outputs {d_ours:.2e}, \
                 onnxruntime's f16 {d_theirs:.2e}",
                if native {
                    "f16 arithmetic"
                } else {
                    "f16 computed in f32"
                },
                half.len()
            ));
            if d_ours > FACTOR * d_theirs {
                return Err(format!(
                    "relative L2 to the f32 model {d_ours:.2e}, onnxruntime's f16 {d_theirs:.2e}"
                ));
            }
            if agree != half.len() {
                return Err(format!("top-1 as the f32 model on {agree}/{}", half.len()));
            }
        }
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{test}: {e}"));
}
