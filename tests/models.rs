//! Whole models on the CPU backend: the nine "light" models of the `onnx` wheel against
//! their shipped outputs, random-weight copies against onnxruntime, the IR text of every
//! pipeline stage parsing back to the same graph, and `insta` snapshots of small dumps.
//!
//! Data: `scripts/setup-test-data.sh` (see `scripts/make-model-data.py`).

mod common;

use common::{catch, compare, compile_and_run, data_dir, load_case, relative_l2};
use kiln_ir::print::print;
use std::path::Path;

/// Shipped outputs: `|got - want| <= ATOL + RTOL * |want|` elementwise.
///
/// Why these bounds: each output is a softmax (or pooled) value computed in f32 by
/// another runtime, whose summation order differs from ours. A dot product of length K
/// in f32 has a rounding error of about sqrt(K) * 6e-8 relative to the sum of |terms|:
/// < 1e-5 for the longest reductions here (K = 25088 in vgg19's first Gemm), and these
/// errors add up over at most ~120 layers to well below 1e-3. Softmax probabilities of
/// 1000 classes are ~1e-3, so ATOL = 1e-5 only matters for values far below that. A real
/// bug (a wrong pad, stride or axis) changes outputs by far more than 1e-3 relatively.
const ATOL: f64 = 1e-5;
const RTOL: f64 = 1e-3;

/// Random-weight copies: relative L2 error against onnxruntime. The weights are He-scaled
/// and the BatchNorm statistics calibrated, so activations are O(1) and the final logits
/// have std ~2. Two correct f32 implementations then still differ by the rounding of their
/// different summation orders, compounded over the depth of the network: onnxruntime with
/// and without its graph optimisations differs by 3e-7 (squeezenet) to 3.3e-5 (resnet50),
/// and kiln by the same amounts. 1e-4 leaves a 3x margin over that and still catches a
/// wrong channel, pad or stride (one wrong class of 1000 is already ~3e-2).
const MAX_REL_L2: f64 = 1e-4;

/// Runs the case in `dir` and checks every output with the elementwise tolerance.
fn check_shipped(dir: &Path) -> Result<(), String> {
    let case = load_case(dir)?;
    let got = compile_and_run(&case)?;
    if got.len() != case.outputs.len() {
        return Err(format!(
            "{} outputs but expected {}",
            got.len(),
            case.outputs.len()
        ));
    }
    for (i, ((tensor, i64), want)) in got.iter().zip(&case.outputs).enumerate() {
        compare(tensor, *i64, want, ATOL, RTOL).map_err(|e| format!("output {i}: {e}"))?;
    }
    Ok(())
}

/// Runs the case in `dir` and checks every output's relative L2 error.
fn check_random(dir: &Path) -> Result<(), String> {
    let case = load_case(dir)?;
    let got = compile_and_run(&case)?;
    for (i, ((tensor, _), want)) in got.iter().zip(&case.outputs).enumerate() {
        if tensor.shape() != want.tensor.shape() {
            return Err(format!(
                "output {i}: shape {} but expected {}",
                tensor.shape(),
                want.tensor.shape()
            ));
        }
        let err = relative_l2(tensor, &want.tensor);
        println!("{}: output {i}: relative L2 error {err:.2e}", case.name);
        if err.is_nan() || err > MAX_REL_L2 {
            return Err(format!(
                "output {i}: relative L2 error {err:.2e} > {MAX_REL_L2:e}"
            ));
        }
    }
    Ok(())
}

/// Every stage of the standard pipeline, printed, parses back to an equal graph.
fn check_round_trip(dir: &Path) -> Result<(), String> {
    let case = load_case(dir)?;
    let model = kiln::load_onnx(&case.model).map_err(|e| e.to_string())?;
    let mut failures = Vec::new();
    let mut stages = Vec::new();
    let options = kiln::CompileOptions::default();
    kiln::compile_onnx_with_hook(&model, &options, &mut |stage, graph| {
        stages.push(stage.to_string());
        let text = print(graph);
        match kiln_ir::parse::parse(&text) {
            Ok(back) if back == *graph => {}
            Ok(_) => failures.push(format!("after {stage}: parse(print(g)) != g")),
            Err(e) => failures.push(format!("after {stage}: {e}")),
        }
    })
    .map_err(|e| e.to_string())?;
    let want: Vec<&str> = std::iter::once("import")
        .chain(kiln::passes::PASS_NAMES.iter().copied())
        .collect();
    if stages != want {
        return Err(format!("stages {stages:?}, expected {want:?}"));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

/// Runs `check` on `<data>/<sub>/<model>`, turning a panic into a failure.
fn check(sub: &str, model: &str, check: fn(&Path) -> Result<(), String>) {
    let Some(dir) = data_dir(sub, model) else {
        return;
    };
    let dir = dir.join(model);
    if let Err(e) = catch(|| check(&dir)) {
        panic!("{sub}/{model}: {e}");
    }
}

/// Tests of one shipped light model: output and IR round trip.
macro_rules! light_model {
    ($($name:ident),*) => {$(
        mod $name {
            #[test]
            fn matches_shipped_output() {
                super::check("light", stringify!($name), super::check_shipped);
            }

            #[test]
            fn every_stage_round_trips() {
                super::check("light", stringify!($name), super::check_round_trip);
            }
        }
    )*};
}

light_model!(
    bvlc_alexnet,
    densenet121,
    inception_v1,
    inception_v2,
    resnet50,
    shufflenet,
    squeezenet,
    vgg19,
    zfnet512
);

/// Random-weight copies against onnxruntime (`scripts/make-model-data.py` says which
/// models have one and why the fully-connected-heavy ones do not).
mod random_weights {
    macro_rules! random_model {
        ($($name:ident),*) => {$(
            #[test]
            fn $name() {
                super::check("light-random", stringify!($name), super::check_random);
            }
        )*};
    }

    random_model!(
        densenet121,
        inception_v1,
        inception_v2,
        resnet50,
        shufflenet,
        squeezenet
    );
}

/// The text `kiln dump --after all --full-constants --input ...` prints for the node
/// test `test`, its inputs given for specialisation (as `kiln run` does).
fn dump_all(test: &str) -> Option<String> {
    let dir = data_dir("node", test)?.join(test);
    let result = catch(|| {
        let case = load_case(&dir)?;
        let model = kiln::load_onnx(&case.model).map_err(|e| e.to_string())?;
        let values = common::input_map(&model, &case.inputs);
        let options = kiln::CompileOptions {
            values,
            ..Default::default()
        };
        let mut out = String::new();
        kiln::compile_onnx_with_hook(&model, &options, &mut |stage, graph| {
            out.push_str(&format!("// after {stage}\n"));
            out.push_str(&print(graph));
        })
        .map_err(|e| e.to_string())?;
        Ok(out)
    });
    Some(result.unwrap_or_else(|e| panic!("{test}: {e}")))
}

/// `insta` snapshots of the dump of small node-test graphs: a plain op with attributes,
/// an ONNX function expanded to many ops, and a shape input specialised into a constant.
macro_rules! dump_snapshot {
    ($($name:ident),*) => {
        mod dumps {$(
            #[test]
            fn $name() {
                if let Some(text) = super::dump_all(stringify!($name)) {
                    insta::assert_snapshot!(stringify!($name), text);
                }
            }
        )*}
    };
}

dump_snapshot!(
    test_conv_with_strides_padding,
    test_layer_normalization_2d_axis0_expanded,
    test_reshape_reordered_all_dims,
    test_gemm_all_attributes
);
