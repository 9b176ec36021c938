//! The GPU path of the facade: compiling a model to a kernel bundle, reading and
//! writing bundles, picking an adapter, and running a bundle on it.

use crate::{
    check_options, egraph_manifest, plan_options, CompileOptions, Error, Report, Reports, Result,
};
use kiln_codegen::bundle::{Bundle, BundleError, MAGIC};
use kiln_codegen::KernelPlan;
use kiln_ir::{Graph, Tensor};
use kiln_onnx::Model;
use kiln_runtime::{BackendApi, Runtime, RuntimeOptions, Session};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// Compiles `model` as [`crate::compile_onnx`] does, then lowers it to a kernel plan for
/// the device `options.target` describes (its default is WebGPU's limits, which every
/// adapter offers). The bundle records the options in its manifest and is
/// deterministic: the same model and options give byte-identical bundles, unless the
/// optimizer's wall-time bound stopped a phase, which the manifest then records
/// (`egraph.time_limited_phases`).
pub fn compile_bundle(model: &Model, options: &CompileOptions) -> Result<Bundle> {
    compile_bundle_with_report(model, options).map(|(bundle, _)| bundle)
}

/// Like [`compile_bundle`], also returning the optimizer's report (`None` at level 0).
pub fn compile_bundle_with_report(
    model: &Model,
    options: &CompileOptions,
) -> Result<(Bundle, Option<Report>)> {
    compile_bundle_with_reports(model, options).map(|(bundle, r)| (bundle, r.egraph))
}

/// Like [`compile_bundle`], also returning every pass's report (the optimizer's and,
/// with `--quantize`, the quantizer's).
pub fn compile_bundle_with_reports(
    model: &Model,
    options: &CompileOptions,
) -> Result<(Bundle, Reports)> {
    let (graph, reports) = crate::compile_onnx_with_reports(model, options, &mut |_, _| {})?;
    Ok((
        bundle_graph(&graph, options, reports.egraph.as_ref())?,
        reports,
    ))
}

/// A bundle compiled with `--quantize`, what the passes reported, and the bundle of
/// the same model without quantization (the graph as it was before the `quantize`
/// pass, so only the weights differ) for `kiln compile --report` and `kiln run
/// --compare-f32`. Without `--quantize`, `f32` is `None`.
pub struct QuantizedBundle {
    pub bundle: Bundle,
    pub reports: Reports,
    pub f32: Option<Bundle>,
}

/// [`compile_bundle_with_reports`], also lowering the graph the `quantize` pass
/// received to a bundle of its own (see [`QuantizedBundle`]).
pub fn compile_bundle_and_f32(model: &Model, options: &CompileOptions) -> Result<QuantizedBundle> {
    // The graph the `quantize` pass receives: the hook sees the import's graph, then
    // each pass's, in pipeline order (no copy at all without --quantize).
    let fed = crate::pipeline(options)?
        .names()
        .iter()
        .position(|&n| n == "quantize");
    let (mut stage, mut before) = (0, None);
    let (graph, reports) = crate::compile_onnx_with_reports(model, options, &mut |_, g| {
        if Some(stage) == fed {
            before = Some(g.clone());
        }
        stage += 1;
    })?;
    let bundle = bundle_graph(&graph, options, reports.egraph.as_ref())?;
    let f32 = match before {
        Some(g) => {
            let plain = CompileOptions {
                quantize: None,
                ..options.clone()
            };
            Some(bundle_graph(&g, &plain, reports.egraph.as_ref())?)
        }
        None => None,
    };
    Ok(QuantizedBundle {
        bundle,
        reports,
        f32,
    })
}

/// Lowers an already compiled graph to a bundle (see [`compile_bundle`]) for
/// `options.target`, with the plan options of `options.opt_level`; `report` is what
/// the optimizer said when it compiled `graph` (recorded in the manifest).
pub fn bundle_graph(
    graph: &Graph,
    options: &CompileOptions,
    report: Option<&Report>,
) -> Result<Bundle> {
    check_options(options)?;
    let limits = &options.target;
    let plan_options = plan_options(options.opt_level, limits, &options.egraph.profile);
    let compiled = kiln_codegen::build_plan_with(graph, limits, &plan_options)?;
    Ok(Bundle::new(
        graph.name.clone(),
        options_manifest(options, report)?,
        compiled,
    ))
}

/// The compile options as recorded in a bundle's manifest: keys sorted, no
/// timestamps or paths, so equal options give equal bytes; with the pass list and
/// the phases the optimizer's wall-time bound stopped, if any. Fails on options
/// [`crate::pipeline`] refuses.
pub fn options_manifest(options: &CompileOptions, report: Option<&Report>) -> Result<Value> {
    let values: BTreeMap<&str, Value> = options
        .values
        .iter()
        .map(|(name, t)| {
            let mut v = json!({ "type": t.ty().to_string() });
            let small_ints = t.numel() <= 64 && !t.dtype().is_float();
            if let (true, Some(data)) = (small_ints, t.to_i64_vec()) {
                v["data"] = json!(data);
            }
            (name.as_str(), v)
        })
        .collect();
    let passes = crate::pipeline(options)?.names();
    let limits = &options.target;
    let mut manifest = json!({
        "kiln_version": env!("CARGO_PKG_VERSION"),
        "opt_level": options.opt_level,
        "egraph": egraph_manifest(options, report),
        "shapes": options.shapes,
        "values": values,
        "passes": passes,
        "fold_max_elements": options.pass_options.fold_max_elements,
        "limits": {
            "max_storage_buffers_per_shader_stage": limits.max_storage_buffers_per_shader_stage,
            "max_storage_buffer_binding_size": limits.max_storage_buffer_binding_size,
            "max_buffer_size": limits.max_buffer_size,
            "max_compute_invocations_per_workgroup": limits.max_compute_invocations_per_workgroup,
            "max_compute_workgroups_per_dimension": limits.max_compute_workgroups_per_dimension,
            "max_compute_workgroup_storage_size": limits.max_compute_workgroup_storage_size,
            "cpu_driver": limits.cpu_driver,
        },
    });
    if let Some(p) = crate::optimize::prune_manifest(options) {
        manifest["prune"] = p;
    }
    if let Some(q) = crate::optimize::quantize_manifest(options) {
        manifest["quantize"] = q;
    }
    Ok(manifest)
}

/// Reads and checks the bundle at `path` (magic, format version, checksum, plan).
pub fn read_bundle(path: impl AsRef<Path>) -> Result<Bundle> {
    let path = path.as_ref();
    Bundle::read(path).map_err(|source| bundle_file_error(path, source))
}

/// Writes `bundle` to `path` atomically (temp file + rename).
pub fn write_bundle(bundle: &Bundle, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    bundle
        .write(path)
        .map_err(|source| bundle_file_error(path, source))
}

fn bundle_file_error(path: &Path, source: BundleError) -> Error {
    match source {
        // Already names the path.
        BundleError::Io { .. } => Error::Bundle(source),
        source => Error::BundleFile {
            path: path.to_path_buf(),
            source,
        },
    }
}

/// Whether `path` holds a kiln bundle: it starts with the bundle magic bytes, or it
/// is named `*.kiln` (so that a damaged bundle is reported as one).
pub fn is_bundle_file(path: impl AsRef<Path>) -> Result<bool> {
    let path = path.as_ref();
    if path.extension().is_some_and(|e| e == "kiln") {
        return Ok(true);
    }
    let mut head = Vec::with_capacity(MAGIC.len());
    std::fs::File::open(path)
        .and_then(|f| f.take(MAGIC.len() as u64).read_to_end(&mut head))
        .map_err(|e| Error::file(path, format!("cannot read ({e})")))?;
    Ok(head == MAGIC)
}

/// The preset device profile for `runtime`'s adapter: `cpu-emulation` for a CPU
/// driver, `integrated` for an integrated GPU, `discrete` for any other GPU; an adapter
/// with `SHADER_F16` computes f16 element-wise steps in f16 (one instruction where f32
/// takes a dozen to round each step: lavapipe's Vulkan driver, which has it, runs
/// `kiln bench --calibrate`'s f16 chain 1.25× faster so).
pub fn adapter_profile(runtime: &Runtime) -> kiln_passes::egraph::DeviceProfile {
    use kiln_passes::egraph::DeviceProfile;
    let preset = if runtime.is_cpu() {
        DeviceProfile::cpu_emulation()
    } else if runtime.is_integrated() {
        DeviceProfile::integrated()
    } else {
        DeviceProfile::discrete()
    };
    DeviceProfile {
        f16_arithmetic: runtime.has_f16(),
        ..preset
    }
}

/// Prices `options`' kernels, and shapes its product engines, for `runtime`'s adapter
/// ([`adapter_profile`], a CPU driver or not): what `kiln run` and `kiln bench` do to
/// an `.onnx` model unless `--profile` is given.
pub fn target_adapter(options: &mut CompileOptions, runtime: &Runtime) {
    options.egraph.profile = adapter_profile(runtime);
    options.target.cpu_driver = runtime.is_cpu();
}

/// The adapters present, best first (the order [`gpu_runtime`] picks in), each as
/// `--adapter` matches it (`llvmpipe (LLVM 15.0.6, 256 bits) [Vulkan, Cpu]`): of the
/// graphics APIs `apis`, else those `WGPU_BACKEND` names (an unknown name is an error,
/// as for a run), else all.
pub fn adapters(apis: &[BackendApi]) -> Result<Vec<String>> {
    Ok(kiln_runtime::adapters(apis)?)
}

/// Picks a GPU adapter: the best one present, or the first whose description
/// contains `adapter` (ignoring case). Fails with the fix when there is none.
pub fn gpu_runtime(adapter: Option<&str>) -> Result<Runtime> {
    gpu_runtime_on(adapter, &[])
}

/// [`gpu_runtime`] among the adapters of the graphics APIs `apis` (`--backend-api`);
/// none given: those `WGPU_BACKEND` names, or every API. A bad `WGPU_BACKEND` is an
/// error naming it.
pub fn gpu_runtime_on(adapter: Option<&str>, apis: &[BackendApi]) -> Result<Runtime> {
    Ok(Runtime::new(&RuntimeOptions {
        adapter: adapter.map(str::to_string),
        backend_apis: apis.to_vec(),
    })?)
}

/// Loads `bundle` on `runtime`'s adapter (requirements are checked first), ready to
/// run any number of times.
pub fn load_bundle(runtime: &Runtime, bundle: &Bundle) -> Result<Session> {
    Ok(runtime.load(&bundle.manifest.plan, &bundle.weights)?)
}

/// Loads `bundle` and runs it once on `inputs` (one per plan input, in order).
pub fn run_gpu(runtime: &Runtime, bundle: &Bundle, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let mut session = load_bundle(runtime, bundle)?;
    Ok(session.run(inputs)?)
}

/// The tensors for `plan`'s inputs, in input order, taken from `values` by name.
pub fn bind_plan_inputs(
    plan: &KernelPlan,
    values: &BTreeMap<String, Tensor>,
) -> Result<Vec<Tensor>> {
    plan.inputs
        .iter()
        .map(|port| {
            values.get(&port.name).cloned().ok_or_else(|| {
                Error::Input(format!(
                    "missing input '{}' ({}{}): no value was given for it",
                    port.name,
                    port_type(port),
                    port.wide.note()
                ))
            })
        })
        .collect()
}

/// Gives each of `plan`'s inputs that `values` lacks seeded random values of its type
/// (never zero; the seed is the input's index), as `kiln bench` does. Returns the
/// names filled, in input order.
pub fn fill_random_inputs(plan: &KernelPlan, values: &mut BTreeMap<String, Tensor>) -> Vec<String> {
    let mut random = Vec::new();
    for (i, port) in plan.inputs.iter().enumerate() {
        if !values.contains_key(&port.name) {
            let t = crate::random_tensor(port.dtype, &port.shape, i as u64);
            values.insert(port.name.clone(), t);
            random.push(port.name.clone());
        }
    }
    random
}

/// `f32[1,3,224,224]` for a plan port.
pub fn port_type(port: &kiln_codegen::PlanPort) -> kiln_ir::TensorType {
    kiln_ir::TensorType::new(port.dtype, port.shape.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Model {
        crate::load_onnx_bytes(crate::EXAMPLE_ONNX).unwrap()
    }

    #[test]
    fn bundles_are_deterministic_and_record_the_options() {
        let mut options = CompileOptions::default();
        options.egraph.disabled_rules.push("silu".into());
        options.shapes.insert("image".into(), vec![1, 1, 8, 8]);
        let a = compile_bundle(&example(), &options).unwrap();
        let b = compile_bundle(&example(), &options).unwrap();
        assert_eq!(a.to_bytes(), b.to_bytes());
        let recorded = &a.manifest.options;
        assert_eq!(recorded["opt_level"], 2);
        assert_eq!(recorded["egraph"]["disabled_rules"], json!(["silu"]));
        assert_eq!(recorded["shapes"]["image"], json!([1, 1, 8, 8]));
        assert_eq!(recorded["kiln_version"], env!("CARGO_PKG_VERSION"));
        let passes = crate::pipeline(&options).unwrap().names();
        assert_eq!(recorded["passes"], json!(passes));
        assert_eq!(recorded["limits"]["cpu_driver"], true);
        assert_eq!(
            recorded["limits"]["max_storage_buffers_per_shader_stage"],
            8
        );
        let back = Bundle::from_bytes(&a.to_bytes()).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn higher_levels_give_fewer_dispatches_and_level_three_is_refused() {
        let dispatches = |opt_level| {
            let options = CompileOptions {
                opt_level,
                ..Default::default()
            };
            let bundle = compile_bundle(&example(), &options).unwrap();
            bundle.manifest.plan.dispatches.len()
        };
        // conv, relu, max_pool, matmul, add, softmax; fused: conv+relu, max_pool,
        // matmul+add, softmax.
        assert_eq!(dispatches(0), 6);
        assert!(dispatches(1) < 6, "{}", dispatches(1));
        assert!(dispatches(2) <= dispatches(1));
        let options = CompileOptions {
            opt_level: 3,
            ..Default::default()
        };
        let err = compile_bundle(&example(), &options)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("optimisation level 3 does not exist"),
            "{err}"
        );
    }

    #[test]
    fn bundle_file_errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.kiln");
        std::fs::write(&path, b"KILNBNDL\x01\0\0\0").unwrap();
        let err = read_bundle(&path).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}: bundle is truncated: 12 bytes, the header alone is 40",
                path.display()
            )
        );
        assert!(is_bundle_file(&path).unwrap());
        let onnx = dir.path().join("m.onnx");
        std::fs::write(&onnx, crate::EXAMPLE_ONNX).unwrap();
        assert!(!is_bundle_file(&onnx).unwrap());
    }
}
