//! kiln: compiles ONNX models to GPU kernels. This facade ties the pipeline together.
//!
//! The whole path from a model file to output files, for the CLI and for tests:
//!
//! ```no_run
//! # fn main() -> kiln::Result<()> {
//! let model = kiln::load_onnx("model.onnx")?;
//! let input = kiln::read_tensor_file("input_0.npy")?;
//! let mut options = kiln::CompileOptions::default();
//! options.values.insert("x".to_string(), input.tensor.clone());
//! let graph = kiln::compile_onnx(&model, &options)?; // import + the pass pipeline
//! let inputs = kiln::bind_inputs(&graph, &options.values)?;
//! let outputs = kiln::run_cpu(&graph, &inputs)?;
//! kiln::write_outputs("out", &graph, &outputs)?; // out/output_0.npy, ...
//! # Ok(()) }
//! ```
//!
//! - [`load_onnx`] / [`load_onnx_bytes`]: decode a model (external data is found next
//!   to the file).
//! - [`compile_onnx`]: [`import`] with [`CompileOptions::shapes`] (symbolic dims) and
//!   [`CompileOptions::values`] (given inputs; shape-like integer inputs become
//!   constants and leave the graph's inputs), then run the passes of [`pipeline`]:
//!   canonicalization, the e-graph optimizer's phases at [`CompileOptions::opt_level`]
//!   1 and 2, `merge-siblings` at 2. [`compile_onnx_with_hook`] also reports the graph
//!   after import and each pass; [`compile_onnx_with_report`] also returns the
//!   optimizer's [`Report`].
//! - [`bind_inputs`]: orders named tensors as the graph's inputs, with clear errors.
//! - [`run_cpu`]: runs a graph on the reference interpreter after checking the inputs.
//! - Host I/O: [`read_tensor_file`] (`.npy` or ONNX `.pb`), [`write_outputs`],
//!   [`write_plan_outputs`], [`npy::read_npy`] and [`npy::write_npy`].
//!
//! The GPU path:
//!
//! ```no_run
//! # fn main() -> kiln::Result<()> {
//! let model = kiln::load_onnx("model.onnx")?;
//! let options = kiln::CompileOptions::default();
//! let bundle = kiln::compile_bundle(&model, &options)?;
//! kiln::write_bundle(&bundle, "model.kiln")?; // atomic, deterministic bytes
//! let bundle = kiln::read_bundle("model.kiln")?; // checksum and format checked
//! let runtime = kiln::gpu_runtime(None)?; // the best adapter present
//! let inputs = vec![kiln::example_input()];
//! let outputs = kiln::run_gpu(&runtime, &bundle, &inputs)?;
//! # Ok(()) }
//! ```
//!
//! - [`compile_bundle`] / [`bundle_graph`]: compile and lower to a kernel plan for the
//!   device [`CompileOptions::target`] describes; the options are recorded in the
//!   manifest.
//! - [`read_bundle`], [`write_bundle`], [`is_bundle_file`], [`BundleSummary`] (what
//!   `kiln inspect` shows).
//! - [`gpu_runtime`] picks an adapter; [`load_bundle`] makes a [`runtime::Session`] to
//!   run many times; [`run_gpu`] loads and runs once; [`bind_plan_inputs`].
//! - [`random_tensor`]: seeded, never-zero inputs for benchmarks; [`fill_random_inputs`].
//!
//! Shared by the CLI and the Python package (`python/`): [`OptimizerOptions`] (the
//! optimizer's options as given, checked with the CLI's messages), [`target_adapter`],
//! [`bench`], [`dump`], [`compile_report_json`] / [`compile_report_text`],
//! [`HostValues`] / [`port_tensor`] (values in the declared dtype, 64-bit ones
//! narrowed and widened), [`adapters`] and [`describe`] (an error's one-line message).

mod bench;
mod calibrate;
mod dump;
mod error;
mod gpu;
mod host_data;
mod host_io;
pub mod npy;
mod optimize;
mod options;
mod report;
mod summary;

pub use bench::{bench, bench_bundle, BenchReport, BenchSetup, KernelTime, OpTime, TIMED_RUNS};
pub use calibrate::{calibrate, Calibration};
pub use dump::{dump, dump_stages, DumpFormat};
pub use error::{describe, describe_error, one_line, Error, Result};
pub use gpu::{
    adapter_profile, adapters, bind_plan_inputs, bundle_graph, compile_bundle,
    compile_bundle_and_f32, compile_bundle_with_report, compile_bundle_with_reports,
    fill_random_inputs, gpu_runtime, gpu_runtime_on, is_bundle_file, load_bundle, options_manifest,
    port_type, read_bundle, run_gpu, target_adapter, write_bundle, QuantizedBundle,
};
pub use host_data::{host_dtype, narrow_i64, port_tensor, HostValues};
pub use host_io::{
    output_path, read_input_sets, read_tensor_file, summarize, write_outputs, write_plan_outputs,
};
pub use kiln_ir::random::random_tensor;
pub use npy::HostTensor;
pub use optimize::{
    check_opt_level, check_options, egraph_manifest, pipeline, plan_options, prune_report_json,
    quant_report_json, DEFAULT_OPT_LEVEL, MAX_OPT_LEVEL,
};
pub use options::{profile_preset, OptimizerOptions, PROFILE_PRESETS};
pub use report::{compile_report_json, compile_report_text};
pub use summary::{
    kind_name, BufferSummary, BundleSummary, DispatchSummary, KernelSummary, KindSummary,
    PortSummary,
};

pub use kiln_codegen as codegen;
pub use kiln_codegen::bundle::Bundle;
pub use kiln_codegen::{KernelPlan, Limits};
pub use kiln_runtime as runtime;
pub use kiln_runtime::{BackendApi, Runtime, RuntimeOptions, Session};

pub use kiln_ir as ir;
pub use kiln_ir::{DType, Graph, Tensor, Wide};
pub use kiln_onnx as onnx;
pub use kiln_onnx::Model;
pub use kiln_passes as passes;
pub use kiln_passes::egraph::{DeviceProfile, EgraphOptions, Report};
pub use kiln_passes::prune::{PruneMode, PruneOptions, PruneReport};
pub use kiln_passes::quantize::{QuantMode, QuantReport, QuantizeOptions};
pub use kiln_passes::{PassOptions, Reports};

use std::collections::BTreeMap;
use std::path::Path;

/// The built-in example model (`assets/example.onnx`, made by
/// `scripts/make-example.py`): a tiny 8×8 image classifier with 10 classes.
pub const EXAMPLE_ONNX: &[u8] = include_bytes!("../assets/example.onnx");

/// How to compile a model.
#[derive(Clone, Debug)]
pub struct CompileOptions {
    /// Dims for graph inputs with symbolic dims, by input name (`--shape x=1x3x224x224`).
    /// Symbolic dims left unbound default to 1 for batch-like dims.
    pub shapes: BTreeMap<String, Vec<usize>>,
    /// Input values known at compile time, by input name. Integer inputs that decide
    /// shapes (reshape targets, slice bounds, ...) become constants and are removed
    /// from the graph's inputs; the others stay inputs.
    pub values: BTreeMap<String, Tensor>,
    /// Settings of the canonicalization passes.
    pub pass_options: PassOptions,
    /// Optimisation level (`--opt`, default [`DEFAULT_OPT_LEVEL`]): 0 canonicalizes
    /// only (one kernel per op); 1 adds the e-graph optimizer's algebra, layout and
    /// fusion rules and in-place concat; 2 adds the composite rules. See
    /// [`check_opt_level`] and [`pipeline`].
    pub opt_level: u8,
    /// The e-graph optimizer's bounds, disabled rules and sets, and cost profile
    /// (used at levels 1 and 2; its `level` is replaced by [`Self::opt_level`]).
    pub egraph: EgraphOptions,
    /// The device the kernels are generated for: its limits and whether it is a CPU
    /// driver (which shapes the product engines' tiles). The passes ask it what
    /// kernels can do. Default: WebGPU's limits on a CPU driver, matching the
    /// default `cpu-emulation` profile.
    pub target: Limits,
    /// `--quantize`: store the weights smaller, under an accuracy budget (see
    /// [`kiln_passes::quantize`]).
    pub quantize: Option<QuantizeOptions>,
    /// `--prune`: zero or remove weights, under an accuracy budget (see
    /// [`kiln_passes::prune`]).
    pub prune: Option<PruneOptions>,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            shapes: BTreeMap::new(),
            values: BTreeMap::new(),
            pass_options: PassOptions::default(),
            opt_level: DEFAULT_OPT_LEVEL,
            egraph: EgraphOptions::default(),
            target: Limits {
                cpu_driver: true,
                ..Limits::default()
            },
            quantize: None,
            prune: None,
        }
    }
}

impl CompileOptions {
    /// Specialises the compile on given input values (`kiln compile --input`):
    /// [`Self::values`] becomes `values`, and each one's shape goes into
    /// [`Self::shapes`] unless a shape was given for it.
    pub fn specialise(&mut self, values: BTreeMap<String, Tensor>) {
        for (name, t) in &values {
            self.shapes
                .entry(name.clone())
                .or_insert_with(|| t.shape().dims().to_vec());
        }
        self.values = values;
    }
}

/// Reads and decodes an ONNX model file.
pub fn load_onnx(path: impl AsRef<Path>) -> Result<Model> {
    let path = path.as_ref();
    Model::load(path).map_err(|source| match source {
        kiln_onnx::ImportError::Io { .. } => Error::Import(source),
        source => Error::Load {
            path: path.to_path_buf(),
            source,
        },
    })
}

/// Dims for `model`'s inputs with symbolic dims ([`CompileOptions::shapes`]), checking
/// each name is an input of the model (an [`Error::Usage`] naming `--shape`
/// otherwise); a later entry for a name replaces an earlier one.
pub fn model_shapes(
    model: &Model,
    shapes: impl IntoIterator<Item = (String, Vec<usize>)>,
) -> Result<BTreeMap<String, Vec<usize>>> {
    let names: Vec<String> = model.inputs().into_iter().map(|i| i.name).collect();
    let mut out = BTreeMap::new();
    for (name, dims) in shapes {
        if !names.contains(&name) {
            return Err(Error::Usage(format!(
                "--shape names '{name}', which is not an input of the model (inputs: {})",
                names.join(", ")
            )));
        }
        out.insert(name, dims);
    }
    Ok(out)
}

/// Decodes an ONNX model from bytes (external data cannot be resolved).
pub fn load_onnx_bytes(bytes: &[u8]) -> Result<Model> {
    Ok(Model::decode(bytes)?)
}

/// Imports `model` with the shapes and values of `options`, verified.
pub fn import(model: &Model, options: &CompileOptions) -> Result<Graph> {
    let import = kiln_onnx::ImportOptions {
        shapes: options.shapes.clone(),
        values: options.values.clone(),
    };
    let graph = kiln_onnx::import(model, &import)?;
    kiln_ir::verify::verify(&graph).map_err(|source| kiln_passes::PassError::Verify {
        pass: "import".to_string(),
        source,
    })?;
    Ok(graph)
}

/// Imports `model` and runs the passes of [`pipeline`] for `options`.
pub fn compile_onnx(model: &Model, options: &CompileOptions) -> Result<Graph> {
    compile_onnx_with_hook(model, options, &mut |_, _| {})
}

/// Like [`compile_onnx`], calling `hook(stage, graph)` with stage `"import"` after
/// import, then with each pass's name after that pass has run and verified.
pub fn compile_onnx_with_hook(
    model: &Model,
    options: &CompileOptions,
    hook: &mut dyn FnMut(&str, &Graph),
) -> Result<Graph> {
    compile_onnx_with_report(model, options, hook).map(|(graph, _)| graph)
}

/// Like [`compile_onnx_with_hook`], also returning the optimizer's report (`None` at
/// level 0).
pub fn compile_onnx_with_report(
    model: &Model,
    options: &CompileOptions,
    hook: &mut dyn FnMut(&str, &Graph),
) -> Result<(Graph, Option<Report>)> {
    compile_onnx_with_reports(model, options, hook).map(|(graph, r)| (graph, r.egraph))
}

/// Like [`compile_onnx_with_hook`], also returning every pass's report: the
/// optimizer's, the quantizer's and the pruner's.
pub fn compile_onnx_with_reports(
    model: &Model,
    options: &CompileOptions,
    hook: &mut dyn FnMut(&str, &Graph),
) -> Result<(Graph, Reports)> {
    let passes = pipeline(options)?;
    let graph = import(model, options)?;
    hook("import", &graph);
    let (graph, mut reports) = passes.run_with_reports(graph, hook)?;
    // Which pruned layers the sparsity phase gave sparse kernels is known only now.
    if let Some(prune) = reports.prune.as_mut().filter(|p| p.model.is_none()) {
        prune.settle(&graph, &options.target);
    }
    Ok((graph, reports))
}

/// The tensors for `graph`'s inputs, in input order, taken from `values` by name.
/// Names in `values` that are not graph inputs are ignored (they may have been
/// specialised away at compile time). A missing input is an error naming it and its type.
pub fn bind_inputs(graph: &Graph, values: &BTreeMap<String, Tensor>) -> Result<Vec<Tensor>> {
    graph
        .inputs
        .iter()
        .map(|port| {
            values.get(&port.name).cloned().ok_or_else(|| {
                Error::Input(format!(
                    "missing input '{}' ({}{}): no value was given for it",
                    port.name,
                    graph.ty(port.value),
                    port.wide.note()
                ))
            })
        })
        .collect()
}

/// Runs `graph` on the CPU reference interpreter. `inputs` are one tensor per graph
/// input, in order, each of the port's dtype and shape (int64, uint64 and double ports
/// take i32, u32 and f32 data). Returns one tensor per graph output, in order (wide
/// ports hold the narrowed data; [`write_outputs`] widens them).
pub fn run_cpu(graph: &Graph, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    check_inputs(graph, inputs)?;
    let all = kiln_ir::interp::run(graph, inputs)?;
    // Outputs of data-dependent length cut to their counts, the counts dropped.
    graph.finish_outputs(all).map_err(Error::Input)
}

/// Checks that `inputs` match `graph`'s input ports in count, dtype and shape.
pub fn check_inputs(graph: &Graph, inputs: &[Tensor]) -> Result<()> {
    if inputs.len() != graph.inputs.len() {
        let names: Vec<&str> = graph.inputs.iter().map(|p| p.name.as_str()).collect();
        return Err(Error::Input(format!(
            "the graph takes {} inputs ({}) but {} were given",
            graph.inputs.len(),
            names.join(", "),
            inputs.len()
        )));
    }
    for (port, tensor) in graph.inputs.iter().zip(inputs) {
        let want = graph.ty(port.value);
        if tensor.dtype() != want.dtype {
            let want_name = port.wide.declared_name(want.dtype);
            return Err(Error::Input(format!(
                "input '{}' must be {want_name} but the given tensor is {}",
                port.name,
                tensor.dtype()
            )));
        }
        if tensor.shape() != &want.shape {
            return Err(Error::Input(format!(
                "input '{}' must have shape {} but the given tensor has shape {}",
                port.name,
                want.shape,
                tensor.shape()
            )));
        }
    }
    Ok(())
}

/// The built-in example's deterministic input: an `f32[1,1,8,8]` image with
/// `x[i] = ((i * 37) % 64) / 64 - 0.5`.
pub fn example_input() -> Tensor {
    let data = (0..64)
        .map(|i| ((i * 37) % 64) as f32 / 64.0 - 0.5)
        .collect();
    Tensor::from_f32(vec![1, 1, 8, 8], data).expect("64 elements fit [1,1,8,8]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_model_matches_onnxruntime() {
        let model = load_onnx_bytes(EXAMPLE_ONNX).unwrap();
        let expected = npy::read_npy(
            Path::new("example-expected.npy"),
            include_bytes!("../assets/example-expected.npy"),
        )
        .unwrap();
        for opt_level in 0..=MAX_OPT_LEVEL {
            let options = CompileOptions {
                opt_level,
                ..Default::default()
            };
            let graph = compile_onnx(&model, &options).unwrap();
            // Canonicalization folds the Shape -> Gather -> Unsqueeze -> Concat chain and
            // removes the dropout: conv, relu, max_pool, reshape, gemm ops, softmax remain.
            assert!(graph.nodes.iter().all(|(_, n)| !matches!(
                n.op,
                ir::Op::Shape { .. }
                    | ir::Op::Identity
                    | ir::Op::Gather { .. }
                    | ir::Op::Concat { .. }
            )));
            let outputs = run_cpu(&graph, &[example_input()]).unwrap();
            assert_eq!(outputs.len(), 1);
            assert_eq!(outputs[0].ty(), expected.tensor.ty());
            for (got, want) in outputs[0]
                .to_f64_vec()
                .iter()
                .zip(expected.tensor.to_f64_vec())
            {
                approx::assert_abs_diff_eq!(*got, want, epsilon = 1e-6);
            }
        }
    }

    #[test]
    fn every_stage_of_the_example_parses_back() {
        let model = load_onnx_bytes(EXAMPLE_ONNX).unwrap();
        let mut stages = Vec::new();
        compile_onnx_with_hook(&model, &CompileOptions::default(), &mut |stage, graph| {
            stages.push((stage.to_string(), graph.clone()))
        })
        .unwrap();
        let names: Vec<&str> = stages.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "import",
                "remove-identity",
                "fold-shapes",
                "fold-constants",
                "dce",
                "egraph-algebra",
                "egraph-composite",
                "egraph-fusion",
                "merge-siblings",
                "egraph-fusion",
                "egraph-sparsity",
                "merge-min-max"
            ]
        );
        for (stage, graph) in &stages {
            let text = ir::print::print(graph);
            let back = ir::parse::parse(&text).unwrap_or_else(|e| panic!("{stage}: {e}"));
            assert_eq!(
                &back, graph,
                "the IR after {stage} does not parse back equal"
            );
        }
    }

    #[test]
    fn run_cpu_names_the_bad_input() {
        let mut graph = Graph::new("g");
        let x = graph.add_input(
            "x",
            ir::TensorType::new(DType::F32, vec![2, 2]),
            kiln_ir::Wide::No,
        );
        graph.add_output("y", x, kiln_ir::Wide::No);
        let wrong_shape = Tensor::from_f32(vec![4], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        let err = run_cpu(&graph, &[wrong_shape]).unwrap_err().to_string();
        assert_eq!(
            err,
            "input 'x' must have shape [2,2] but the given tensor has shape [4]"
        );
        let wrong_dtype = Tensor::from_i32(vec![2, 2], vec![1, 2, 3, 4]).unwrap();
        let err = run_cpu(&graph, &[wrong_dtype]).unwrap_err().to_string();
        assert_eq!(err, "input 'x' must be f32 but the given tensor is i32");
        let err = run_cpu(&graph, &[]).unwrap_err().to_string();
        assert_eq!(err, "the graph takes 1 inputs (x) but 0 were given");
        let err = bind_inputs(&graph, &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "missing input 'x' (f32[2,2]): no value was given for it"
        );
    }

    #[test]
    fn write_outputs_widens_int64_ports() {
        let mut graph = Graph::new("g");
        let a = graph.add_input("a", ir::TensorType::new(DType::I32, vec![2]), ir::Wide::I64);
        graph.add_output("a_out", a, ir::Wide::I64);
        let dir = tempfile::tempdir().unwrap();
        let t = Tensor::from_i32(vec![2], vec![-3, 70000]).unwrap();
        let paths =
            write_outputs(dir.path().join("out"), &graph, std::slice::from_ref(&t)).unwrap();
        assert_eq!(paths, [dir.path().join("out").join("output_0.npy")]);
        let back = read_tensor_file(&paths[0]).unwrap();
        assert_eq!(
            back.wide,
            ir::Wide::I64,
            "an int64 port is written as int64"
        );
        assert_eq!(back.tensor, t);
        let names: Vec<_> = std::fs::read_dir(dir.path().join("out")).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary files are left behind");
    }
}
