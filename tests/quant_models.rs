//! Quantized whole models against onnxruntime (issue 10): a CNN, an OCR-style recognizer
//! and a small BERT-style encoder, each as its f32 original and as onnxruntime's
//! quantizers write it (static QDQ per-channel, static QOperator with the com.microsoft
//! QLinear* ops and QGemm, dynamic with MatMulInteger / ConvInteger); a MatMulNBits model
//! (4-bit, block 32); and the bundle size of a QDQ model against its f32 original.
//!
//! Each case runs on the CPU reference at `--opt 2` and as a GPU bundle at `--opt 0` and
//! `--opt 2`, and every run's figures are printed (relative L2, onnxruntime's own distance,
//! values apart, how far the output moved from the f32 original's, ops, time) before the
//! test fails on any of them. Beside the rule, a quantized result must have moved
//! at least half as far from the f32 original's output as onnxruntime's (`MIN_MOVED`).
//!
//! Data: `scripts/setup-test-data.sh` (see `scripts/make-quant-data.py`), folder `quant/`.
//! The GPU runs need an adapter (lavapipe is enough); they are skipped without one unless
//! `KILN_REQUIRE_GPU=1`.

mod common;

use common::{
    catch, compare, data_dir, load_case, read_pbs, relative_l2, run_case_for, show, Backend, Case,
};
use kiln::Tensor;
use std::path::Path;
use std::time::Instant;

/// The rule for a quantized model: relative L2 of output 0 against onnxruntime's
/// (run with its graph optimisations, `ORT_ENABLE_ALL`) at most
/// `max(QUANT_FLOOR, ORT_FACTOR * d)`, where `d` (the case's `ort_distance.txt`) is the
/// relative L2 between onnxruntime without (`ORT_DISABLE_ALL`) and with its optimisations:
/// how closely onnxruntime matches itself. With them, onnxruntime fuses QDQ patterns into
/// integer kernels that round some values a quantization step away from the float path;
/// `d` is 0 where both levels run the same kernels, 1e-2 to 4e-2 where they do not.
const QUANT_FLOOR: f64 = 1e-2;
const ORT_FACTOR: f64 = 1.5;

/// A quantized result must also sit at least this fraction of the way from the f32
/// original's output that onnxruntime's quantized output sits (relative L2 of each to the
/// original's). The rule alone cannot tell a run that skipped the quantization
/// from a correct one where onnxruntime's own distance is near what quantizing changes
/// (ocr-qdq: own distance 1.4e-2, quantizing 2.0e-2; bert-qdq 3.8e-2 and 4.3e-2).
/// onnxruntime itself, at either optimisation level, sits at 0.97 to 1.0 of the way on
/// every case; a run that computes in f32 throughout, at ~1e-6.
const MIN_MOVED: f64 = 0.5;

/// The f32 originals: the bound of the random-weight models in `tests/models.rs` (two f32
/// implementations differ by their summation orders, ~1e-6 here; onnxruntime differs from
/// itself by 1e-7 to 1e-6 on these three).
const F32_MAX_REL_L2: f64 = 1e-4;

/// MatMulNBits: `|got - want| <= ATOL + RTOL * |want|` elementwise. Each output is an f32
/// dot product of 96 O(1) terms (values up to ~5): rounding differs by ~1e-6.
const NBITS_ATOL: f64 = 1e-4;
const NBITS_RTOL: f64 = 1e-4;

/// "Values apart": output elements farther than this fraction of `max |want|` from
/// onnxruntime's. A quantized output (the last DequantizeLinear of 256 levels spanning
/// about twice `max |want|`) moves by ~8e-3 of `max |want|` per step, so on those this
/// counts the values a step or more apart; f32 rounding stays far below it.
const APART: f64 = 1e-3;

/// The bundle of the static-QDQ per-channel CNN is at most this fraction of its f32
/// original's (both at `--opt 2`).
const MAX_BUNDLE_RATIO: f64 = 0.3;

/// How a case's output is judged.
enum Rule {
    /// Relative L2 of output 0 at most this.
    RelL2(f64),
    /// Elementwise within `atol + rtol * |want|`.
    Elementwise { atol: f64, rtol: f64 },
}

/// The rule for case `name` in `dir`, and what it is, for the figures.
fn rule(name: &str, dir: &Path) -> Result<(Rule, String), String> {
    let path = dir.join("ort_distance.txt");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let distance: f64 = text
        .trim()
        .parse()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let ort = format!("onnxruntime's own distance {distance:.2e}");
    if name == "matmulnbits" {
        let rule = Rule::Elementwise {
            atol: NBITS_ATOL,
            rtol: NBITS_RTOL,
        };
        let about = format!("elementwise atol {NBITS_ATOL:e} rtol {NBITS_RTOL:e}; {ort}");
        return Ok((rule, about));
    }
    let bound = if name.ends_with("-f32") {
        F32_MAX_REL_L2
    } else {
        QUANT_FLOOR.max(ORT_FACTOR * distance)
    };
    Ok((Rule::RelL2(bound), format!("bound {bound:.1e}; {ort}")))
}

/// For a quantized case `<model>-<format>`, output 0 of its f32 original `<model>-f32`
/// (onnxruntime's, on the same input): how far quantizing moved the output, which the
/// figures show beside the error (a result that ignored the quantization would sit at
/// about that distance from onnxruntime's and near 0 from the original's).
fn f32_output(root: &Path, name: &str) -> Result<Option<Tensor>, String> {
    let Some((model, format)) = name.rsplit_once('-') else {
        return Ok(None);
    };
    if format == "f32" {
        return Ok(None);
    }
    let data = root.join(format!("{model}-f32")).join("test_data_set_0");
    let mut outputs = read_pbs(&data, "output")?;
    if outputs.is_empty() {
        return Err(format!("{}: no output_0.pb", data.display()));
    }
    Ok(Some(outputs.swap_remove(0).tensor))
}

/// `N ops (N fused)`, and the dispatches on the GPU.
fn size(ran: &common::Ran) -> String {
    let mut text = format!("{} ops ({} fused)", ran.ops, ran.fused);
    if let Some(d) = ran.dispatches {
        text.push_str(&format!(", {d} dispatches"));
    }
    if ran.packed_weights > 0 {
        text.push_str(&format!(
            ", {} weights packed on the device",
            ran.packed_weights
        ));
    }
    if ran.packed_products > 0 {
        text.push_str(&format!(
            ", {} integer products on packed dot products",
            ran.packed_products
        ));
    }
    if ran.narrow_tensors > 0 {
        text.push_str(&format!(", {} tensors stored narrow", ran.narrow_tensors));
    }
    text
}

/// Runs `case` on `backend` at `opt_level` and judges output 0 by `rule`: the figures,
/// or why it failed (with the figures, when there are any).
fn check_run(
    case: &Case,
    rule: &Rule,
    about: &str,
    f32_output: Option<&Tensor>,
    backend: &Backend,
    (opt_level, cpu_driver, must_pack, must_dot): (u8, bool, bool, bool),
) -> Result<String, String> {
    let start = Instant::now();
    let ran = run_case_for(case, backend, opt_level, cpu_driver)?;
    if must_pack && ran.packed_weights == 0 {
        return Err("no weight was kept packed on the device".to_string());
    }
    if must_dot && ran.packed_products == 0 {
        return Err("no integer product ran on packed dot products".to_string());
    }
    let seconds = start.elapsed().as_secs_f64();
    if ran.outputs.len() != case.outputs.len() {
        return Err(format!(
            "{} outputs but expected {}",
            ran.outputs.len(),
            case.outputs.len()
        ));
    }
    let ((got, got_i64), want) = (&ran.outputs[0], &case.outputs[0]);
    if got.shape() != want.tensor.shape() {
        return Err(format!(
            "output 0: shape {} but expected {}",
            got.shape(),
            want.tensor.shape()
        ));
    }
    let (gd, wd) = (
        common::dtype_name(got, *got_i64),
        common::dtype_name(&want.tensor, want.wide),
    );
    if gd != wd {
        return Err(format!("output 0: dtype {gd} but expected {wd}"));
    }
    let err = relative_l2(got, &want.tensor);
    let (g, w) = (got.to_f64_vec(), want.tensor.to_f64_vec());
    let max_want = w.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let apart = g
        .iter()
        .zip(&w)
        .filter(|(a, b)| {
            let diff = (*a - *b).abs();
            diff.is_nan() || diff > APART * max_want
        })
        .count();
    let mut figures = format!(
        "relative L2 {err:.2e} ({about}), {apart} of {} values apart (> {APART:e} max|want|); \
         {}; {seconds:.1} s",
        w.len(),
        size(&ran)
    );
    let mut moved_too_little = None;
    if let Some(original) = f32_output {
        let (quantizing, moved) = (
            relative_l2(original, &want.tensor),
            relative_l2(got, original),
        );
        figures.push_str(&format!(
            "; quantizing moves onnxruntime's output by {quantizing:.2e}, this one is \
             {moved:.2e} from the f32 original's"
        ));
        if moved.is_nan() || moved < MIN_MOVED * quantizing {
            moved_too_little = Some(format!(
                "{moved:.2e} from the f32 original's output, less than {MIN_MOVED} x the \
                 {quantizing:.2e} quantizing moves onnxruntime's: the quantization was not applied"
            ));
        }
    }
    let verdict = match rule {
        Rule::RelL2(bound) if err.is_nan() || err > *bound => {
            Err(format!("relative L2 {err:.2e} > {bound:.1e}"))
        }
        Rule::RelL2(_) => moved_too_little.map_or(Ok(()), Err),
        Rule::Elementwise { atol, rtol } => compare(got, *got_i64, want, *atol, *rtol),
    };
    match verdict {
        Ok(()) => Ok(figures),
        Err(e) => Err(format!("output 0: {e} ({figures})")),
    }
}

/// Runs the case `quant/<name>` on the CPU at `--opt 2` and on the GPU at `--opt 0` and
/// `--opt 2`, the latter compiled for lavapipe and for a GPU (quantized weights kept
/// packed on the device: at least one must be, where the model has quantized weights;
/// QOperator models' integer products on packed dot products: at least one must be),
/// prints each run's figures, and fails if any run failed.
fn check_case(name: &str) {
    let test = format!("quant/{name}");
    let Some(root) = data_dir("quant", &test) else {
        return;
    };
    let dir = root.join(name);
    let loaded = catch(|| {
        let case = load_case(&dir)?;
        let (rule, about) = rule(name, &dir)?;
        Ok((case, rule, about, f32_output(&root, name)?))
    });
    let (case, rule, about, original) = loaded.unwrap_or_else(|e| panic!("{test}: {e}"));
    let mut runs = vec![(Backend::Cpu, (2, true))];
    if let Some(runtime) = common::gpu(&test) {
        runs.push((Backend::Gpu(runtime.clone()), (0, true)));
        runs.push((Backend::Gpu(runtime.clone()), (2, true)));
        runs.push((Backend::Gpu(runtime), (2, false)));
    }
    let mut failures = Vec::new();
    for (backend, (opt_level, cpu_driver)) in &runs {
        let target = if *cpu_driver { "" } else { " for a GPU" };
        let label = format!("{test} {} --opt {opt_level}{target}", backend.name());
        let original = original.as_ref();
        // QDQ models' weights are constant dequantizes: a GPU bundle keeps them packed.
        let must_pack = !cpu_driver && name.contains("qdq");
        // QOperator models' QLinearConv / QLinearMatMul are 8-bit integer products, which
        // a GPU runs on packed dot products (`--profile discrete` prices them so).
        let must_dot = !cpu_driver && name.contains("qop");
        let level = (*opt_level, *cpu_driver, must_pack, must_dot);
        match catch(|| check_run(&case, &rule, &about, original, backend, level)) {
            Ok(figures) => show(&format!("{label}: {figures}")),
            Err(e) => {
                show(&format!("{label}: FAILED: {e}"));
                failures.push(format!("{label}: {e}"));
            }
        }
    }
    if !failures.is_empty() {
        panic!("{}", failures.join("\n"));
    }
}

/// One test per case of `quant/`: `name => "folder"`.
macro_rules! quant_cases {
    ($($name:ident => $case:literal),* $(,)?) => {$(
        #[test]
        fn $name() {
            check_case($case);
        }
    )*};
}

quant_cases!(
    cnn_f32 => "cnn-f32",
    cnn_qdq => "cnn-qdq",
    cnn_qop => "cnn-qop",
    cnn_dyn => "cnn-dyn",
    ocr_f32 => "ocr-f32",
    ocr_qdq => "ocr-qdq",
    ocr_qop => "ocr-qop",
    ocr_dyn => "ocr-dyn",
    bert_f32 => "bert-f32",
    bert_qdq => "bert-qdq",
    bert_qop => "bert-qop",
    bert_dyn => "bert-dyn",
    matmulnbits => "matmulnbits",
);

/// The bytes of the bundle `kiln compile --opt 2` writes for `quant/<name>`.
fn bundle_bytes(root: &Path, name: &str) -> Result<usize, String> {
    let model = kiln::load_onnx(root.join(name).join("model.onnx")).map_err(|e| e.to_string())?;
    let options = kiln::CompileOptions {
        opt_level: 2,
        ..Default::default()
    };
    let bundle = kiln::compile_bundle(&model, &options).map_err(|e| format!("{name}: {e}"))?;
    Ok(bundle.to_bytes().len())
}

/// A static-QDQ per-channel model's bundle is at most 0.3 times its f32 original's: the
/// int8 weights stay int8 in the bundle. (The CNN's weights are 1.25M parameters, mostly
/// its classifier, so the bundle is mostly weights, as with real models.)
#[test]
fn qdq_bundle_is_under_three_tenths_of_f32() {
    let test = "quant bundle size";
    let Some(root) = data_dir("quant", test) else {
        return;
    };
    let size = |name| catch(|| bundle_bytes(&root, name)).unwrap_or_else(|e| panic!("{test}: {e}"));
    let f32_bytes = size("cnn-f32");
    show(&format!("{test}: cnn-f32 {f32_bytes} bytes"));
    let qdq_bytes = size("cnn-qdq");
    let ratio = qdq_bytes as f64 / f32_bytes as f64;
    show(&format!(
        "{test}: cnn-qdq {qdq_bytes} bytes, {ratio:.3} of cnn-f32's (at most {MAX_BUNDLE_RATIO})"
    ));
    assert!(
        ratio <= MAX_BUNDLE_RATIO,
        "{test}: cnn-qdq's bundle is {ratio:.3} of cnn-f32's ({qdq_bytes} of {f32_bytes} bytes), \
         more than {MAX_BUNDLE_RATIO}"
    );
}

/// The quantized models' 8-bit tensors are stored narrow, four to a word: the CNNs'
/// activations where the convolutions write and read them (14 of cnn-qdq's, 17 of
/// cnn-qop's today; at least 10 each, so losing the conv writers or readers fails), and
/// the QOperator models' constant weights, which integer products and gathers decode
/// where they load them (15 of cnn-qop's, 14 of bert-qop's, its embedding table among
/// them; at least 10 each).
#[test]
fn quantized_models_store_8_bit_tensors_narrow() {
    let test = "quant narrow tensors";
    let Some(root) = data_dir("quant", test) else {
        return;
    };
    for (name, activations, constants) in
        [("cnn-qdq", 10, 0), ("cnn-qop", 10, 10), ("bert-qop", 0, 10)]
    {
        let decisions = catch(|| {
            let model =
                kiln::load_onnx(root.join(name).join("model.onnx")).map_err(|e| e.to_string())?;
            let options = kiln::CompileOptions {
                opt_level: 2,
                ..Default::default()
            };
            let bundle = kiln::compile_bundle(&model, &options).map_err(|e| e.to_string())?;
            Ok(bundle.manifest.decisions)
        })
        .unwrap_or_else(|e| panic!("{test}: {name}: {e}"));
        let narrow = decisions.narrow_tensors - decisions.narrow_constants;
        let weights = decisions.narrow_constants;
        show(&format!(
            "{test}: {name}: {narrow} activations and {weights} constants stored narrow"
        ));
        assert!(
            narrow >= activations && weights >= constants,
            "{test}: {name}: only {narrow} activations (want {activations}) and {weights} \
             constants (want {constants}) stored narrow"
        );
    }
}
