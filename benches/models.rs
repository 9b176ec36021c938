//! Per-model GPU latency (criterion): one whole run — write inputs, every dispatch,
//! read outputs back — of the built-in example and, when the test data exists, the
//! squeezenet, resnet50 and shufflenet light models, on the adapter at hand.
//!
//! `cargo bench --bench models` (filter: `cargo bench --bench models -- squeezenet`).
//! The models come from `KILN_TEST_DATA` or `target/onnx-tests` (written by
//! `scripts/setup-test-data.sh`): `light-random/<model>` (random weights, realistic
//! activations) where present, else `light/<model>`. Missing data or no adapter is a
//! printed note, not a failure; a model that is present but fails to compile or run
//! fails its benchmark. `KILN_ADAPTER=NAME` picks an adapter by name.

use criterion::Criterion;
use kiln::{Bundle, Runtime, Tensor};
use std::path::{Path, PathBuf};
use std::time::Duration;

const MODELS: [&str; 3] = ["squeezenet", "resnet50", "shufflenet"];

fn main() {
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    let adapter = std::env::var("KILN_ADAPTER").ok();
    let runtime = match kiln::gpu_runtime(adapter.as_deref()) {
        Ok(runtime) => runtime,
        Err(e) => {
            println!("note: no GPU benchmarks: {e}");
            return;
        }
    };
    println!("adapter: {}", runtime.describe());

    bench(&mut c, &runtime, "example", || {
        let example = kiln::load_onnx_bytes(kiln::EXAMPLE_ONNX).map_err(|e| e.to_string())?;
        let inputs = vec![kiln::example_input()];
        let bundle = compile(&example, &inputs, &["image".to_string()])?;
        Ok((bundle, inputs))
    });
    let data = data_dir();
    for name in MODELS {
        let Some(dir) = ["light-random", "light"]
            .iter()
            .map(|sub| data.join(sub).join(name))
            .find(|d| d.join("model.onnx").exists())
        else {
            println!(
                "note: skipping {name}: no {}/light*/{name}/model.onnx (run scripts/setup-test-data.sh)",
                data.display()
            );
            continue;
        };
        bench(&mut c, &runtime, name, || load(&dir));
    }
    c.final_summary();
}

/// Measures `Session::run` of the model `prepare` compiles. Compiling and loading
/// happen on first use, so a benchmark the command line filters out costs nothing; a
/// model that does not compile or run fails the benchmark, saying why.
fn bench(
    c: &mut Criterion,
    runtime: &Runtime,
    name: &str,
    prepare: impl Fn() -> Result<(Bundle, Vec<Tensor>), String>,
) {
    let mut loaded: Option<(kiln::Session, Vec<Tensor>)> = None;
    c.bench_function(name, |b| {
        let (session, inputs) = loaded.get_or_insert_with(|| {
            let (bundle, inputs) = prepare().unwrap_or_else(|e| panic!("{name}: {e}"));
            let session =
                kiln::load_bundle(runtime, &bundle).unwrap_or_else(|e| panic!("{name}: {e}"));
            (session, inputs)
        });
        b.iter(|| {
            session
                .run(inputs)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
        })
    });
}

/// The test data root.
fn data_dir() -> PathBuf {
    std::env::var_os("KILN_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/onnx-tests"))
}

/// A light model and its first test input, compiled for WebGPU's default limits.
fn load(dir: &Path) -> Result<(Bundle, Vec<Tensor>), String> {
    let model = kiln::load_onnx(dir.join("model.onnx")).map_err(|e| e.to_string())?;
    let names: Vec<String> = model.inputs().into_iter().map(|i| i.name).collect();
    let set = dir.join("test_data_set_0");
    let inputs = (0..names.len())
        .map(|i| {
            let npy = set.join(format!("input_{i}.npy"));
            let path = if npy.exists() {
                npy
            } else {
                set.join(format!("input_{i}.pb"))
            };
            kiln::read_tensor_file(path)
                .map(|t| t.tensor)
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bundle = compile(&model, &inputs, &names)?;
    let values = names.into_iter().zip(inputs).collect();
    let inputs =
        kiln::bind_plan_inputs(&bundle.manifest.plan, &values).map_err(|e| e.to_string())?;
    Ok((bundle, inputs))
}

/// Compiles `model` with its inputs' shapes bound to those of `inputs`.
fn compile(model: &kiln::Model, inputs: &[Tensor], names: &[String]) -> Result<Bundle, String> {
    let options = kiln::CompileOptions {
        shapes: names
            .iter()
            .zip(inputs)
            .map(|(n, t)| (n.clone(), t.shape().dims().to_vec()))
            .collect(),
        ..Default::default()
    };
    kiln::compile_bundle(model, &options).map_err(|e| e.to_string())
}
