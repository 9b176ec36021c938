//! A model named on the command line, made ready for the GPU: a `.kiln` bundle read
//! from disk, or an `.onnx` model compiled to a bundle in memory; plus its inputs.

use super::opt::OptArgs;
use super::{args, usage};
use anyhow::{Context, Result};
use clap::Args;
use kiln::{Bundle, Tensor};
use std::collections::BTreeMap;
use std::path::Path;

/// What to do about a plan input no `--input` gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing {
    /// Fail, naming the input.
    Error,
    /// Fill it with seeded random values (`kiln bench`).
    Random,
}

/// A bundle and the input tensors for it, in plan input order.
pub struct GpuModel {
    pub bundle: Bundle,
    pub inputs: Vec<Tensor>,
    /// `bundle` or `compiled in memory`.
    pub origin: &'static str,
    /// Names of the inputs filled with random values.
    pub random: Vec<String>,
    /// With `--quantize` and `twin`: the same model compiled without quantization.
    pub f32: Option<Bundle>,
}

/// Reads `path` (a bundle, or an ONNX model compiled in memory with the default
/// limits and the optimizer options `opt`, specialised on the given inputs, and priced
/// and shaped for the adapter unless `--profile` says otherwise), binds its inputs and
/// opens the GPU adapter (`adapter`, or the best one) to run it on. Bad options and
/// inputs are reported before the adapter is opened. With `twin` and `--quantize`, the
/// model is also compiled without quantization ([`GpuModel::f32`]).
pub fn load(
    path: &Path,
    input_specs: &[String],
    shape_specs: &[String],
    opt: &OptArgs,
    missing: Missing,
    gpu: &GpuChoice,
    twin: bool,
) -> Result<(GpuModel, kiln::Runtime)> {
    if kiln::is_bundle_file(path)? {
        if !shape_specs.is_empty() {
            return Err(usage(
                "--shape applies to .onnx models; a bundle's shapes were fixed by 'kiln compile'",
            ));
        }
        if opt.any_given() {
            return Err(usage(
                "--opt and the optimizer options apply to .onnx models; a bundle was optimized \
                 by 'kiln compile'",
            ));
        }
        let bundle = kiln::read_bundle(path)?;
        let names: Vec<String> = bundle
            .manifest
            .plan
            .inputs
            .iter()
            .map(|p| p.name.clone())
            .collect();
        let given = args::inputs_for(&names, input_specs)?;
        let values = given.into_iter().map(|(n, t)| (n, t.tensor)).collect();
        let model = bind(bundle, values, missing, "bundle")?;
        return Ok((model, runtime(gpu)?));
    }
    let mut options = kiln::CompileOptions::default();
    opt.apply(&mut options)?;
    let model = kiln::load_onnx(path)?;
    options.shapes = args::shapes(&model, shape_specs)?;
    let given = args::inputs(&model, input_specs)?;
    let values: BTreeMap<String, Tensor> = given.into_iter().map(|(n, t)| (n, t.tensor)).collect();
    options.specialise(values.clone());
    let runtime = runtime(gpu)?;
    if !opt.profile_given() {
        kiln::target_adapter(&mut options, &runtime);
    }
    let (bundle, f32) = if twin {
        let compiled =
            kiln::compile_bundle_and_f32(&model, &options).context("compiling for the GPU")?;
        (compiled.bundle, compiled.f32)
    } else {
        let bundle = kiln::compile_bundle(&model, &options).context("compiling for the GPU")?;
        (bundle, None)
    };
    let mut model = bind(bundle, values, missing, "compiled in memory")?;
    model.f32 = f32;
    Ok((model, runtime))
}

fn bind(
    bundle: Bundle,
    mut values: BTreeMap<String, Tensor>,
    missing: Missing,
    origin: &'static str,
) -> Result<GpuModel> {
    if missing == Missing::Error {
        if let Some(port) = bundle
            .manifest
            .plan
            .inputs
            .iter()
            .find(|p| !values.contains_key(&p.name))
        {
            return Err(anyhow::anyhow!(
                "missing input '{}' ({}{}): give it with --input {}=FILE.npy",
                port.name,
                kiln::port_type(port),
                port.wide.note(),
                port.name
            ));
        }
    }
    let random = kiln::fill_random_inputs(&bundle.manifest.plan, &mut values);
    let inputs = kiln::bind_plan_inputs(&bundle.manifest.plan, &values)?;
    Ok(GpuModel {
        bundle,
        inputs,
        origin,
        random,
        f32: None,
    })
}

/// The options that pick a GPU adapter (`kiln run`, `kiln bench`).
#[derive(Args, Debug, Default)]
pub struct GpuChoice {
    /// GPU: use the adapter whose description contains NAME (ignoring case).
    #[arg(long, value_name = "NAME")]
    pub adapter: Option<String>,
    /// GPU: only adapters of this graphics API: vulkan, gl, metal or dx12 (default:
    /// the APIs the WGPU_BACKEND variable names, else all; this option wins).
    #[arg(long, value_name = "API", value_parser = parse_backend_api)]
    pub backend_api: Option<kiln::BackendApi>,
}

fn parse_backend_api(text: &str) -> Result<kiln::BackendApi, String> {
    text.parse::<kiln::BackendApi>().map_err(|e| e.to_string())
}

/// Picks the adapter and says which on stderr (one line, naming its graphics API).
pub fn runtime(gpu: &GpuChoice) -> Result<kiln::Runtime> {
    let apis: Vec<kiln::BackendApi> = gpu.backend_api.into_iter().collect();
    let runtime = kiln::gpu_runtime_on(gpu.adapter.as_deref(), &apis)?;
    eprintln!("kiln: using GPU adapter {}", runtime.describe());
    Ok(runtime)
}
