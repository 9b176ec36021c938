//! Shader portability: every distinct kernel of the node-core plans (at `--opt 0` and
//! `--opt 2`; with the node-all tests of NonZero, Compress, NonMaxSuppression and Unique) and of the model tests' plans (compiled for a CPU driver and for a GPU,
//! which keeps quantized weights packed and runs 8-bit integer products on packed dot
//! products) is translated by naga's back ends for the
//! APIs wgpu drives — MSL (Metal), HLSL (DX12) and SPIR-V (Vulkan) — and the SPIR-V is
//! checked by `spirv-val` (Debian's `spirv-tools`). Lavapipe runs only the SPIR-V path;
//! this catches a kernel that Metal or DX12 could not express before a user does.
//!
//! The back-end options are wgpu 30's for each API where they matter to compute
//! shaders: MSL 2.4 with zero-initialised workgroup memory, HLSL shader model 6.0, SPIR-V
//! 1.3 with its bounds-check policies left at naga's defaults. Bindings are faked on
//! MSL and HLSL (wgpu derives them from the pipeline layout at run time; the kernels'
//! own arithmetic and memory access are what is translated here).
//!
//! The kernels are also written to `target/portability-kernels.json`, which the browser
//! test (`scripts/test-web.sh`) compiles with Chromium's own WGSL compiler, Tint.

mod common;

use common::{data_dir, load_case, run_options, show};
use kiln_testdata::conformance_list;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Every distinct WGSL kernel (by text) with the first plan that uses it.
type Kernels = BTreeMap<String, String>;

/// Adds the kernels of `model` compiled with `options` to `kernels`.
fn collect(
    kernels: &mut Kernels,
    label: &str,
    model: &kiln_onnx::Model,
    options: &kiln::CompileOptions,
) -> Result<(), String> {
    let bundle = kiln::compile_bundle(model, options).map_err(|e| format!("{label}: {e}"))?;
    for k in &bundle.manifest.plan.kernels {
        kernels
            .entry(k.wgsl.clone())
            .or_insert_with(|| format!("{label}: kernel {}", k.name));
    }
    Ok(())
}

/// Why `wgsl` does not translate to MSL, HLSL or valid SPIR-V, or `None`.
fn translate(wgsl: &str, spirv_file: &Path) -> Option<String> {
    let module = match naga::front::wgsl::parse_str(wgsl) {
        Ok(m) => m,
        Err(e) => return Some(format!("WGSL: {}", e.emit_to_string(wgsl))),
    };
    let info = match naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::default(),
    )
    .validate(&module)
    {
        Ok(info) => info,
        Err(e) => return Some(format!("validation: {e:?}")),
    };
    let msl = naga::back::msl::Options {
        lang_version: (2, 4),
        ..Default::default()
    };
    if let Err(e) = naga::back::msl::write_string(&module, &info, &msl, &Default::default()) {
        return Some(format!("MSL: {e}"));
    }
    let hlsl = naga::back::hlsl::Options {
        shader_model: naga::back::hlsl::ShaderModel::V6_0,
        fake_missing_bindings: true,
        ..Default::default()
    };
    let mut text = String::new();
    let pipeline = naga::back::hlsl::PipelineOptions::default();
    let mut writer = naga::back::hlsl::Writer::new(&mut text, &hlsl, &pipeline);
    if let Err(e) = writer.write(&module, &info, None) {
        return Some(format!("HLSL: {e}"));
    }
    let spv = naga::back::spv::Options {
        lang_version: (1, 3),
        ..Default::default()
    };
    let words = match naga::back::spv::write_vec(&module, &info, &spv, None) {
        Ok(w) => w,
        Err(e) => return Some(format!("SPIR-V: {e}")),
    };
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    if let Err(e) = std::fs::write(spirv_file, bytes) {
        return Some(format!("writing {}: {e}", spirv_file.display()));
    }
    match Command::new("spirv-val")
        .args(["--target-env", "vulkan1.1"])
        .arg(spirv_file)
        .output()
    {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!(
            "spirv-val: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Some(format!(
            "cannot run spirv-val ({e}): install Debian's spirv-tools (.ci/run does)"
        )),
    }
}

#[test]
fn every_kernel_translates_for_metal_dx12_and_vulkan() {
    let test = "shader portability";
    let Some(node_dir) = data_dir("node", test) else {
        return;
    };
    let mut kernels = Kernels::new();
    let mut problems = Vec::new();
    // node-core, and the node-all tests of the ops with outputs of data-dependent length
    // (their kernels are not in node-core's plans).
    let data_dependent = ["nonzero", "compress", "nonmaxsuppression", "unique"];
    let extra = conformance_list("node-all.txt").into_iter().filter(|t| {
        data_dependent
            .iter()
            .any(|op| t.starts_with(&format!("test_{op}")))
    });
    for name in conformance_list("node-core.txt").into_iter().chain(extra) {
        let Ok(case) = load_case(&node_dir.join(&name)) else {
            continue;
        };
        let Ok(model) = kiln::load_onnx(&case.model) else {
            continue;
        };
        for opt in [0, 2] {
            let options = run_options(&model, &case.inputs, opt);
            // Tests kiln refuses (unsupported ops, dtypes) have no kernels to check.
            let _ = collect(
                &mut kernels,
                &format!("{name} --opt {opt}"),
                &model,
                &options,
            );
        }
    }
    let node_kernels = kernels.len();
    // Two CNNs of the light models and every quantized model (QDQ, QOperator, dynamic,
    // MatMulNBits) with their f32 originals.
    let mut dirs = Vec::new();
    if let Some(light) = data_dir("light", test) {
        dirs.extend(["squeezenet", "shufflenet"].map(|m| light.join(m)));
    }
    if let Some(quant) = data_dir("quant", test) {
        let mut all: Vec<_> = std::fs::read_dir(&quant)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        all.sort();
        dirs.extend(all);
    }
    {
        for dir in dirs.iter().filter(|d| d.join("model.onnx").exists()) {
            let label = dir.display().to_string();
            let model = match kiln::load_onnx(dir.join("model.onnx")) {
                Ok(m) => m,
                Err(e) => {
                    problems.push(format!("{label}: {e}"));
                    continue;
                }
            };
            let inputs = load_case(dir).map(|c| c.inputs).unwrap_or_default();
            for cpu_driver in [true, false] {
                let mut options = run_options(&model, &inputs, 2);
                options.target.cpu_driver = cpu_driver;
                if !cpu_driver {
                    // Priced for a GPU: 8-bit integer products on packed dot products.
                    options.egraph.profile = kiln::DeviceProfile::discrete();
                }
                if let Err(e) = collect(&mut kernels, &label, &model, &options) {
                    problems.push(e);
                }
            }
        }
    }
    // For the browser test (web/tests): every kernel, compiled there by Chromium's Tint.
    let listed: Vec<_> = kernels
        .iter()
        .map(|(wgsl, first)| serde_json::json!({ "label": first, "wgsl": wgsl }))
        .collect();
    let list = common::repo().join("target/portability-kernels.json");
    std::fs::create_dir_all(common::repo().join("target")).expect("the target directory");
    std::fs::write(&list, serde_json::Value::from(listed).to_string()).expect("the kernel list");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let spirv = dir.path().join("kernel.spv");
    for (wgsl, first) in &kernels {
        if let Some(why) = translate(wgsl, &spirv) {
            problems.push(format!("{first}: {why}"));
        }
    }
    show(&format!(
        "{test}: {} distinct kernels ({node_kernels} from node-core at --opt 0 and 2 and the data-dependent node tests, the \
         rest from the model tests) translated to MSL, HLSL and SPIR-V; {} problems",
        kernels.len(),
        problems.len()
    ));
    assert!(
        node_kernels > 100,
        "{test}: only {node_kernels} node-core kernels found"
    );
    assert!(problems.is_empty(), "{test}:\n{}", problems.join("\n"));
}
