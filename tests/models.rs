//! Whole models on both backends: the nine "light" models of the `onnx` wheel against
//! their shipped outputs, random-weight copies against onnxruntime on their logits, each
//! on the CPU reference and as a GPU bundle, at `--opt 0` and `--opt 2` (the random-weight
//! copies also on the GL backend at `--opt 2`); the IR text of
//! every pipeline stage parsing back to the same graph; `insta` snapshots of small dumps.
//!
//! Data: `scripts/setup-test-data.sh` (see `scripts/make-model-data.py`). The GPU tests
//! need an adapter (lavapipe is enough); they are skipped without one unless
//! `KILN_REQUIRE_GPU=1`. Each test prints its figures (error, op and dispatch counts,
//! time) even when the harness captures output.

mod common;

use common::{catch, compare, data_dir, load_case, relative_l2, run_case, Backend};
use kiln_ir::print::print;
use std::path::Path;
use std::time::Instant;

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

/// Random-weight copies: relative L2 error against onnxruntime, on every output: the
/// model's own (a softmax, or densenet121's logits) and the logits the data script adds
/// as a second output. The weights are He-scaled and the BatchNorm statistics
/// calibrated, so activations are O(1) and the final logits have std ~2. Two correct f32
/// implementations then still differ by the rounding of their different summation
/// orders, compounded over the depth of the network: onnxruntime with and without its
/// graph optimisations differs by 3e-7 (squeezenet) to 3.3e-5 (resnet50) (8e-7 to
/// 1.1e-6 for the shallower alexnet, vgg19 and zfnet512), and kiln by the same amounts. 1e-4 leaves a 3x margin over that and still catches a wrong
/// channel, pad or stride (one wrong class of 1000 is already ~3e-2).
const MAX_REL_L2: f64 = 1e-4;

/// Where and how a model test runs.
struct Config {
    backend: Backend,
    opt_level: u8,
}

impl Config {
    /// The configuration, or `None` (the test is skipped) for the GPU without an adapter.
    fn new(backend: &str, opt_level: u8, test: &str) -> Option<Config> {
        let backend = match backend {
            "gpu" => Backend::Gpu(common::gpu(test)?),
            "gl" => Backend::Gpu(common::gpu_on(kiln::BackendApi::Gl, test)?),
            _ => Backend::Cpu,
        };
        Some(Config { backend, opt_level })
    }

    fn label(&self) -> String {
        format!("{} --opt {}", self.backend.name(), self.opt_level)
    }
}

/// `N ops (N fused)`, and the dispatches on the GPU.
fn size(ran: &common::Ran) -> String {
    let mut text = format!("{} ops ({} fused)", ran.ops, ran.fused);
    if let Some(d) = ran.dispatches {
        text.push_str(&format!(", {d} dispatches"));
    }
    text
}

/// Runs the case in `dir` and checks every output with the elementwise tolerance.
fn check_shipped(dir: &Path, config: &Config) -> Result<String, String> {
    let case = load_case(dir)?;
    let start = Instant::now();
    let ran = run_case(&case, &config.backend, config.opt_level)?;
    let seconds = start.elapsed().as_secs_f64();
    if ran.outputs.len() != case.outputs.len() {
        return Err(format!(
            "{} outputs but expected {}",
            ran.outputs.len(),
            case.outputs.len()
        ));
    }
    let mut errors = Vec::new();
    for (i, ((tensor, i64), want)) in ran.outputs.iter().zip(&case.outputs).enumerate() {
        compare(tensor, *i64, want, ATOL, RTOL).map_err(|e| format!("output {i}: {e}"))?;
        errors.push(format!(
            "output {i} relative L2 {:.2e}",
            relative_l2(tensor, &want.tensor)
        ));
    }
    Ok(format!(
        "{}; {}; {seconds:.1} s",
        errors.join(", "),
        size(&ran)
    ))
}

/// Runs the case in `dir` and checks every output's relative L2 error (the logits
/// first: they are what the comparison is about).
fn check_random(dir: &Path, config: &Config) -> Result<String, String> {
    let case = load_case(dir)?;
    let start = Instant::now();
    let ran = run_case(&case, &config.backend, config.opt_level)?;
    let seconds = start.elapsed().as_secs_f64();
    if ran.outputs.len() != case.outputs.len() {
        return Err(format!(
            "{} outputs but expected {}",
            ran.outputs.len(),
            case.outputs.len()
        ));
    }
    let mut figures = Vec::new();
    let mut bad = Vec::new();
    for (i, ((tensor, _), want)) in ran.outputs.iter().zip(&case.outputs).enumerate().rev() {
        if tensor.shape() != want.tensor.shape() {
            return Err(format!(
                "output {i}: shape {} but expected {}",
                tensor.shape(),
                want.tensor.shape()
            ));
        }
        let what = if i + 1 == case.outputs.len() {
            "logits"
        } else {
            "softmax"
        };
        let err = relative_l2(tensor, &want.tensor);
        figures.push(format!("{what} relative L2 {err:.2e}"));
        if err.is_nan() || err > MAX_REL_L2 {
            bad.push(format!(
                "output {i} ({what}): relative L2 error {err:.2e} > {MAX_REL_L2:e}"
            ));
        }
    }
    let figures = format!("{}; {}; {seconds:.1} s", figures.join(", "), size(&ran));
    if bad.is_empty() {
        Ok(figures)
    } else {
        Err(format!("{} ({figures})", bad.join("; ")))
    }
}

/// Runs `check` on `<data>/<sub>/<model>` in `config`, turning a panic into a failure,
/// and prints the figures it returns.
fn check(
    sub: &str,
    model: &str,
    backend: &str,
    opt_level: u8,
    check: fn(&Path, &Config) -> Result<String, String>,
) {
    let test = format!("{sub}/{model} ({backend} --opt {opt_level})");
    let Some(dir) = data_dir(sub, &test) else {
        return;
    };
    let Some(config) = Config::new(backend, opt_level, &test) else {
        return;
    };
    let dir = dir.join(model);
    match catch(|| check(&dir, &config)) {
        Ok(figures) => common::show(&format!("{sub}/{model} {}: {figures}", config.label())),
        Err(e) => panic!("{sub}/{model} {}: {e}", config.label()),
    }
}

/// Every stage of the pipeline at `--opt 2`, printed, parses back to an equal graph:
/// import and each pass of the pass list (canonicalization, the e-graph optimizer's
/// phases, the sibling-convolution merge).
fn check_round_trip(dir: &Path) -> Result<(), String> {
    let case = load_case(dir)?;
    let model = kiln::load_onnx(&case.model).map_err(|e| e.to_string())?;
    let mut failures = Vec::new();
    let mut stages = Vec::new();
    let options = kiln::CompileOptions {
        opt_level: 2,
        ..Default::default()
    };
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
    let passes = kiln::pipeline(&options).map_err(|e| e.to_string())?.names();
    let want: Vec<&str> = std::iter::once("import").chain(passes).collect();
    if stages != want {
        return Err(format!("stages {stages:?}, expected {want:?}"));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

/// Tests of one shipped light model: output on both backends at both levels, and the
/// IR round trip.
macro_rules! light_model {
    ($($name:ident),*) => {$(
        mod $name {
            use super::{check, check_shipped};

            #[test]
            fn cpu_o0() {
                check("light", stringify!($name), "cpu", 0, check_shipped);
            }

            #[test]
            fn cpu_o2() {
                check("light", stringify!($name), "cpu", 2, check_shipped);
            }

            #[test]
            fn gpu_o0() {
                check("light", stringify!($name), "gpu", 0, check_shipped);
            }

            #[test]
            fn gpu_o2() {
                check("light", stringify!($name), "gpu", 2, check_shipped);
            }

            #[test]
            fn every_stage_round_trips() {
                let Some(dir) = super::data_dir("light", stringify!($name)) else {
                    return;
                };
                let dir = dir.join(stringify!($name));
                if let Err(e) = super::catch(|| super::check_round_trip(&dir)) {
                    panic!("light/{}: {e}", stringify!($name));
                }
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

/// Random-weight copies of all nine against onnxruntime on both backends at both levels,
/// and on the GPU through OpenGL at `--opt 2` (`scripts/make-model-data.py`: alexnet,
/// vgg19 and zfnet512 with a smaller input).
mod random_weights {
    macro_rules! random_model {
        ($($name:ident),*) => {$(
            mod $name {
                use super::super::{check, check_random};

                #[test]
                fn cpu_o0() {
                    check("light-random", stringify!($name), "cpu", 0, check_random);
                }

                #[test]
                fn cpu_o2() {
                    check("light-random", stringify!($name), "cpu", 2, check_random);
                }

                #[test]
                fn gpu_o0() {
                    check("light-random", stringify!($name), "gpu", 0, check_random);
                }

                #[test]
                fn gpu_o2() {
                    check("light-random", stringify!($name), "gpu", 2, check_random);
                }

                /// The GPU through OpenGL (GLSL kernels), at `--opt 2` only.
                #[test]
                fn gl_o2() {
                    check("light-random", stringify!($name), "gl", 2, check_random);
                }
            }
        )*};
    }

    random_model!(
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
}

/// The text `kiln dump --after all --full-constants --opt 0 --input ...` prints for the
/// node test `test`, its inputs given for specialisation (as `kiln run` does).
fn dump_all(test: &str) -> Option<String> {
    let dir = data_dir("node", test)?.join(test);
    let result = catch(|| {
        let case = load_case(&dir)?;
        let model = kiln::load_onnx(&case.model).map_err(|e| e.to_string())?;
        let values = common::input_map(&model, &case.inputs);
        let options = kiln::CompileOptions {
            values,
            opt_level: 0,
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
