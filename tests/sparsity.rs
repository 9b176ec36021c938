//! Sparsity and pruning end to end (issue 12): models built here with weights zeroed
//! in 4×4 blocks and scattered run on sparse kernels at `--opt 2` (and not with the
//! sparsity set off), with the outputs of the reference; `--prune` in every mode
//! through the facade and the CLI (report, manifest, one-line errors); channel pruning
//! of a small residual CNN runs on the GPU as the CPU reference computes it.
//!
//! Bound: GPU against the CPU reference of one graph, or sparse against dense: the same
//! products summed in another order, the f32 bound of the model tests (relative L2
//! 1e-4; see `tests/models.rs`).

mod common;
mod onnx_build;

use common::cli::CliDir;
use common::{gpu, relative_l2};
use kiln::{CompileOptions, Graph, PruneOptions, Tensor};
use kiln_onnx::proto::data_type;
use onnx_build::{random, Attr, OnnxBuilder};
use serde_json::Value;

const MAX_REL_L2: f64 = 1e-4;

/// `n` random weights with every 4×4 block of the `k × n` matrix zero except where
/// `(block row · 7 + block col · 3) % 10 == 0` (10% kept), or, `scattered`, every weight
/// zero but one in twelve.
fn sparse_weights(k: usize, n: usize, scattered: bool, seed: u64) -> Vec<f32> {
    let mut w = random(k * n, 0.3, seed);
    for (i, v) in w.iter_mut().enumerate() {
        let (r, c) = (i / n, i % n);
        let keep = if scattered {
            (i * 7 + 3) % 12 == 0
        } else {
            (r / 4 * 7 + c / 4 * 3) % 10 == 0
        };
        if !keep {
            *v = 0.0;
        }
    }
    w
}

/// `y = relu(x · W1 + b) · W2`, `x: [rows, k]`, W1 block-sparse `k × m`, W2 scattered
/// `m × n`.
fn sparse_mlp(rows: usize, k: usize, m: usize, n: usize) -> Vec<u8> {
    let mut b = OnnxBuilder::new("sparse_mlp");
    let x = b.input("x", data_type::FLOAT, &[rows as i64, k as i64]);
    let w1 = b.f32s(&[k as i64, m as i64], sparse_weights(k, m, false, 1));
    let bias = b.f32s(&[m as i64], random(m, 0.5, 2));
    let w2 = b.f32s(&[m as i64, n as i64], sparse_weights(m, n, true, 3));
    let h = b.node("MatMul", &[&x, &w1], &[]);
    let hb = b.node("Add", &[&h, &bias], &[]);
    let r = b.node("Relu", &[&hb], &[]);
    let y = b.node("MatMul", &[&r, &w2], &[]);
    b.output(&y, data_type::FLOAT, &[rows as i64, n as i64]);
    b.encode(17)
}

/// Ops of `graph` by name.
fn ops(graph: &Graph) -> Vec<&'static str> {
    graph
        .nodes
        .iter()
        .map(|(_, n)| n.op.anchor().name())
        .collect()
}

fn compile(model: &[u8], options: &CompileOptions) -> Graph {
    let model = kiln::load_onnx_bytes(model).unwrap();
    kiln::compile_onnx(&model, options).unwrap()
}

/// `graph` on the GPU (when there is one) and on the CPU reference, against `want`.
fn check_runs(test: &str, graph: &Graph, inputs: &[Tensor], want: &[Tensor]) {
    let cpu = kiln::run_cpu(graph, inputs).unwrap();
    for (c, w) in cpu.iter().zip(want) {
        assert!(
            relative_l2(c, w) <= MAX_REL_L2,
            "{test}: CPU {}",
            relative_l2(c, w)
        );
    }
    let Some(runtime) = gpu(test) else { return };
    let options = CompileOptions::default();
    let bundle = kiln::bundle_graph(graph, &options, None).unwrap();
    let got = kiln::run_gpu(&runtime, &bundle, inputs).unwrap();
    for (g, w) in got.iter().zip(want) {
        assert!(
            relative_l2(g, w) <= MAX_REL_L2,
            "{test}: GPU {}",
            relative_l2(g, w)
        );
    }
}

#[test]
fn sparse_weights_run_on_sparse_kernels_with_the_same_outputs() {
    let test = "sparse weights at --opt 2";
    let model = sparse_mlp(13, 96, 80, 36);
    let dense_options = CompileOptions {
        opt_level: 0,
        ..Default::default()
    };
    let reference = compile(&model, &dense_options);
    let x = kiln::ir::random::random_tensor(kiln::DType::F32, &[13, 96], 5);
    let want = kiln::run_cpu(&reference, std::slice::from_ref(&x)).unwrap();
    let sparse = compile(&model, &CompileOptions::default());
    assert_eq!(
        ops(&sparse),
        ["sparse_matmul", "sparse_matmul"],
        "{}",
        kiln::ir::print::print(&sparse)
    );
    let formats: Vec<String> = sparse
        .nodes
        .iter()
        .filter_map(|(_, n)| match n.op.anchor() {
            kiln::ir::Op::SparseMatMul { format, .. } => Some(format.label()),
            _ => None,
        })
        .collect();
    assert_eq!(formats, ["bsr4x4", "csr"]);
    check_runs(test, &sparse, std::slice::from_ref(&x), &want);
    // With the sparsity set off the same model stays dense.
    let mut off = CompileOptions::default();
    off.egraph.disabled_sets.push("sparsity".into());
    let dense = compile(&model, &off);
    assert!(!ops(&dense).contains(&"sparse_matmul"), "{:?}", ops(&dense));
    check_runs(test, &dense, std::slice::from_ref(&x), &want);
}

/// `relu(conv(x, W) + b)` with a 3×3 (padded) or 1×1 kernel on 16 channels, the weights
/// `W` zero wherever `B = Wᵀ` has a zero 4×4 block (one in ten kept).
fn sparse_conv_model(kernel: usize) -> Vec<u8> {
    let (c, m) = (16, 16);
    let k = c * kernel * kernel;
    let b = sparse_weights(k, m, false, 7);
    let w: Vec<f32> = (0..m * k).map(|i| b[(i % k) * m + i / k]).collect();
    let mut o = OnnxBuilder::new("sparse_conv");
    let x = o.input("x", data_type::FLOAT, &[1, c as i64, 10, 10]);
    let k = kernel as i64;
    let wt = o.f32s(&[m as i64, c as i64, k, k], w);
    let bias = o.f32s(&[m as i64], random(m, 0.5, 8));
    let pad = k / 2;
    let y = o.node(
        "Conv",
        &[&x, &wt, &bias],
        &[("pads", Attr::Ints(vec![pad; 4]))],
    );
    let r = o.node("Relu", &[&y], &[]);
    o.output(&r, data_type::FLOAT, &[1, m as i64, 10, 10]);
    o.encode(17)
}

#[test]
fn sparse_convolution_weights_run_on_sparse_kernels_with_the_same_outputs() {
    let test = "sparse convolutions at --opt 2";
    for (kernel, op) in [(3, "sparse_conv"), (1, "sparse_matmul")] {
        let model = sparse_conv_model(kernel);
        let opt0 = CompileOptions {
            opt_level: 0,
            ..Default::default()
        };
        let x = kiln::ir::random::random_tensor(kiln::DType::F32, &[1, 16, 10, 10], 9);
        let want = kiln::run_cpu(&compile(&model, &opt0), std::slice::from_ref(&x)).unwrap();
        let sparse = compile(&model, &CompileOptions::default());
        assert_eq!(ops(&sparse), [op], "{}", kiln::ir::print::print(&sparse));
        check_runs(test, &sparse, std::slice::from_ref(&x), &want);
    }
}

#[test]
fn a_dense_model_compiles_to_the_same_graph_with_the_sparsity_set_on_or_off() {
    let mut b = OnnxBuilder::new("dense");
    let x = b.input("x", data_type::FLOAT, &[5, 64]);
    let w = b.f32s(&[64, 48], random(64 * 48, 0.3, 9));
    let y = b.node("MatMul", &[&x, &w], &[]);
    b.output(&y, data_type::FLOAT, &[5, 48]);
    let model = b.encode(17);
    let mut off = CompileOptions::default();
    off.egraph.disabled_sets.push("sparsity".into());
    assert_eq!(
        kiln::ir::print::print(&compile(&model, &CompileOptions::default())),
        kiln::ir::print::print(&compile(&model, &off))
    );
}

/// A residual CNN: conv-bn-relu, a block of two convs added to its input, global
/// pooling and a Gemm head; 16 channels, random weights.
fn small_resnet() -> Vec<u8> {
    let mut b = OnnxBuilder::new("small_resnet");
    let x = b.input("x", data_type::FLOAT, &[1, 3, 12, 12]);
    let conv = |b: &mut OnnxBuilder, x: &str, cin: usize, cout: usize, seed: u64| {
        let w = b.f32s(
            &[cout as i64, cin as i64, 3, 3],
            random(cout * cin * 9, 0.3, seed),
        );
        let y = b.node("Conv", &[x, &w], &[("pads", Attr::Ints(vec![1, 1, 1, 1]))]);
        let scale = b.f32s(&[cout as i64], random(cout, 1.0, seed + 1));
        let bias = b.f32s(&[cout as i64], random(cout, 0.2, seed + 2));
        let mean = b.f32s(&[cout as i64], random(cout, 0.1, seed + 3));
        let var = b.f32s(
            &[cout as i64],
            random(cout, 0.5, seed + 4)
                .iter()
                .map(|v| v.abs() + 0.5)
                .collect(),
        );
        b.node("BatchNormalization", &[&y, &scale, &bias, &mean, &var], &[])
    };
    let c0 = conv(&mut b, &x, 3, 16, 10);
    let r0 = b.node("Relu", &[&c0], &[]);
    let c1 = conv(&mut b, &r0, 16, 16, 20);
    let r1 = b.node("Relu", &[&c1], &[]);
    let c2 = conv(&mut b, &r1, 16, 16, 30);
    let sum = b.node("Add", &[&c2, &r0], &[]);
    let r2 = b.node("Relu", &[&sum], &[]);
    let pooled = b.node("GlobalAveragePool", &[&r2], &[]);
    let flat = b.node("Flatten", &[&pooled], &[]);
    let fc = b.f32s(&[10, 16], random(160, 0.3, 40));
    let fb = b.f32s(&[10], random(10, 0.1, 41));
    let y = b.node("Gemm", &[&flat, &fc, &fb], &[("transB", Attr::Int(1))]);
    b.output(&y, data_type::FLOAT, &[1, 10]);
    b.encode(17)
}

#[test]
fn channel_pruning_makes_a_smaller_model_that_runs_as_the_reference_says() {
    let test = "prune channels";
    let model = small_resnet();
    let options = CompileOptions {
        prune: Some(PruneOptions {
            mode: "channels:0.5".parse().unwrap(),
            budget: None,
            samples: Vec::new(),
        }),
        ..Default::default()
    };
    let loaded = kiln::load_onnx_bytes(&model).unwrap();
    let (pruned, reports) =
        kiln::compile_onnx_with_reports(&loaded, &options, &mut |_, _| {}).unwrap();
    let report = reports.prune.expect("a prune report");
    // Two groups: the stem with the residual block's second conv, and its first conv.
    assert_eq!(report.layers.len(), 2, "{report}");
    assert_eq!(report.pruned(), 2, "{report}");
    let (before, after, bytes_before, bytes_after) = report.totals();
    assert!(
        after < 0.55 * before && bytes_after < bytes_before,
        "{report}"
    );
    assert!(
        report.outputs[0].rel_l2 > 0.0,
        "pruning changes the outputs: {report}"
    );
    // The pruned graph on the GPU computes what its CPU reference does.
    let x = kiln::ir::random::random_tensor(kiln::DType::F32, &[1, 3, 12, 12], 7);
    let want = kiln::run_cpu(&pruned, std::slice::from_ref(&x)).unwrap();
    check_runs(test, &pruned, std::slice::from_ref(&x), &want);
}

#[test]
fn prune_cli_reports_records_and_refuses_bad_options() {
    let dir = CliDir::new();
    let model_path = dir.path("mlp.onnx");
    std::fs::write(&model_path, sparse_mlp(4, 64, 48, 32)).unwrap();
    let model = model_path.to_str().unwrap();
    let out = dir.path("mlp.kiln").display().to_string();
    let json: Value =
        serde_json::from_str(&dir.ok(&["compile", model, "--prune", "2:4", "-o", &out, "--json"]))
            .unwrap();
    let p = &json["prune"];
    assert_eq!(p["mode"], "2:4");
    assert_eq!(p["pruned"], 2, "{p}");
    for layer in p["layers"].as_array().unwrap() {
        assert_eq!(layer["format"], "2:4", "{layer}");
        let ratio =
            layer["bytes_after"].as_f64().unwrap() / layer["bytes_before"].as_f64().unwrap();
        assert!(ratio <= 0.6, "{layer}");
    }
    let inspect = dir.ok(&["inspect", &out]);
    assert!(
        inspect.contains("sparse weights: 2:4 (2 dispatches)"),
        "{inspect}"
    );
    let manifest = dir.ok(&["inspect", &out, "--json"]);
    assert!(manifest.contains("\"prune\""), "{manifest}");
    let report = dir.ok(&[
        "compile",
        model,
        "--prune",
        "magnitude:0.5",
        "--accuracy-budget",
        "0.2",
        "-o",
        &out,
        "--report",
    ]);
    assert!(report.contains("pruning magnitude:0.5:"), "{report}");
    assert!(report.contains("accuracy budget 0.2"), "{report}");
    for (args, want) in [
        (
            vec!["--prune", "lottery:0.5"],
            "error: --prune 'lottery:0.5': unknown mode",
        ),
        (
            vec!["--prune", "magnitude:2"],
            "error: --prune 'magnitude:2': '2' is not a fraction between 0 and 1",
        ),
        (
            vec!["--accuracy-budget", "0.1"],
            "error: --accuracy-budget applies to --quantize or --prune; give one of them",
        ),
    ] {
        let err = dir.usage_error(&[&["compile", model, "-o", &out][..], &args[..]].concat());
        assert!(err.starts_with(want), "{err}");
    }
}

/// The first `n` input sets of a real model's test data, as calibration sets for `x`.
fn real_sets(dir: &std::path::Path, n: usize) -> Vec<std::collections::BTreeMap<String, Tensor>> {
    (0..n)
        .map(|i| {
            let set = dir.join(format!("test_data_set_{i}"));
            let mut input = common::read_pbs(&set, "input").unwrap();
            std::collections::BTreeMap::from([("x".to_string(), input.swap_remove(0).tensor)])
        })
        .collect()
}

/// Every weight mode on real weights (PaddleOCR's text-direction classifier,
/// `real/cls`) under a budget: the pruned model's measured error is within it, layers
/// it cannot afford are named with a reason, and the kept ones are untouched.
#[test]
fn pruning_real_weights_stays_within_the_budget() {
    let test = "prune real/cls";
    let Some(root) = common::data_dir("real", test) else {
        return;
    };
    let dir = root.join("cls");
    let model = kiln::load_onnx(dir.join("model.onnx")).unwrap();
    let budget = 0.05;
    for mode in ["magnitude:0.5", "blocks:4x4:0.5", "channels:0.25"] {
        let mut options = CompileOptions::default();
        options.shapes.insert("x".into(), vec![1, 3, 48, 192]);
        options.prune = Some(PruneOptions {
            mode: mode.parse().unwrap(),
            budget: Some(budget),
            samples: real_sets(&dir, 6),
        });
        let (graph, reports) =
            kiln::compile_onnx_with_reports(&model, &options, &mut |_, _| {}).unwrap();
        let report = reports.prune.expect("a prune report");
        assert!(report.pruned() > 0, "{mode}: nothing pruned\n{report}");
        assert!(
            report.outputs.iter().all(|o| o.rel_l2 <= budget),
            "{mode}\n{report}"
        );
        for row in &report.layers {
            match &row.kept_because {
                Some(why) => assert!(!why.is_empty() && row.sparsity < 0.2, "{mode}\n{report}"),
                None => assert!(row.sparsity >= 0.2, "{mode}\n{report}"),
            }
        }
        let x = real_sets(&dir, 1).remove(0).remove("x").unwrap();
        let want = kiln::run_cpu(&graph, std::slice::from_ref(&x)).unwrap();
        check_runs(test, &graph, std::slice::from_ref(&x), &want);
    }
}
