//! The optimizer through the `kiln` binary: `--list-rules`, `--disable-rule` changing
//! the dump and the report, `--report` saying why saturation stopped, option errors as
//! one line, `kiln dump --after egraph` and `--list-passes`, and an `--opt 2` bundle of the built-in example
//! run on the GPU against the CPU reference at `--opt 0`.

mod common;
mod onnx_build;

use serde_json::Value;
use std::path::Path;

/// The CLI tests' directory ([`CliDir`]: the example model, its input, an
/// XDG_RUNTIME_DIR for children), here with a small element-wise chain model too.
use common::cli::CliDir as Fixture;

impl Fixture {
    /// The directory, with `chain.onnx` added.
    fn with_chain() -> Fixture {
        let f = Fixture::new();
        std::fs::write(f.path("chain.onnx"), onnx_build::elementwise_chain()).unwrap();
        f
    }
}

/// The text after `// after STAGE` up to the next stage.
fn stage<'a>(dump: &'a str, name: &str) -> &'a str {
    let marker = format!("// after {name}\n");
    let start = dump
        .find(&marker)
        .unwrap_or_else(|| panic!("no stage {name} in:\n{dump}"))
        + marker.len();
    let end = dump[start..]
        .find("// after ")
        .map_or(dump.len(), |i| start + i);
    &dump[start..end]
}

/// The count a report line such as `    fuse-epilogue            2` gives for `rule`.
fn fired(report: &str, rule: &str) -> Option<usize> {
    report.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        (words.next() == Some(rule)).then(|| words.next()?.parse().ok())?
    })
}

/// `kernels A -> B` of the report's total line.
fn total_kernels(report: &str) -> (usize, usize) {
    let line = report
        .lines()
        .find(|l| l.trim_start().starts_with("total:"))
        .unwrap_or_else(|| panic!("no total line in:\n{report}"));
    let after = &line[line.find("kernels ").unwrap() + "kernels ".len()..];
    let mut nums = after
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap());
    (nums.next().unwrap(), nums.next().unwrap())
}

#[test]
fn list_rules_needs_no_model_and_lists_every_rule() {
    let f = Fixture::with_chain();
    let text = f.ok(&["compile", "--list-rules"]);
    let rules = kiln::passes::egraph::list_rules();
    assert!(
        text.starts_with(&format!("{} rewrite rules in 5 sets", rules.len())),
        "{text}"
    );
    for r in &rules {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(r.name))
            .unwrap_or_else(|| panic!("rule {} is not listed:\n{text}", r.name));
        assert!(line.contains(r.identity), "{line}");
    }
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("fuse-epilogue "))
        .unwrap();
    assert!(line.contains("fused{a; f}"), "{line}");
    for set in ["algebra", "layout", "composite", "fusion"] {
        assert!(text.contains(&format!("\n{set} (--opt ")), "{text}");
    }
}

#[test]
fn disabling_fuse_epilogue_changes_the_dump_and_the_report() {
    let f = Fixture::with_chain();
    // `--after egraph` is the last phase's IR (egraph-sparsity, which leaves this dense
    // model as fusion made it).
    let fused = f.ok(&["dump", "example.onnx", "--after", "egraph"]);
    let fused = stage(&fused, "egraph-sparsity");
    assert!(fused.contains("fused{anchor=conv"), "{fused}");
    assert!(
        fused.contains("fused{anchor=matmul, arity=2, epilogue=[in0, in1, add(%0,%1)]}"),
        "the epilogue is visible in the dump:\n{fused}"
    );
    let plain = f.ok(&[
        "dump",
        "example.onnx",
        "--after",
        "egraph",
        "--disable-rule",
        "fuse-epilogue",
    ]);
    let plain = stage(&plain, "egraph-sparsity");
    assert!(!plain.contains("fused{"), "{plain}");
    assert!(plain.contains(" = conv{"), "{plain}");

    let report = f.ok(&["compile", "example.onnx", "-o", "a.kiln", "--report"]);
    assert_eq!(fired(&report, "fuse-epilogue"), Some(2), "{report}");
    assert_eq!(total_kernels(&report), (6, 4), "{report}");
    assert!(report.contains("  plan: 4 dispatches per run"), "{report}");
    // The example has nothing for the plan builder to fold.
    assert!(report.contains("; layout decisions: none\n"), "{report}");
    let report = f.ok(&[
        "compile",
        "example.onnx",
        "-o",
        "b.kiln",
        "--report",
        "--disable-rule",
        "fuse-epilogue",
    ]);
    assert_eq!(fired(&report, "fuse-epilogue"), None, "{report}");
    assert_eq!(total_kernels(&report), (6, 6), "{report}");
    assert!(report.contains("  plan: 6 dispatches per run"), "{report}");

    // The manifest records the disabled rule, and the plan's layout decisions.
    let json: Value = serde_json::from_str(&f.ok(&["inspect", "b.kiln", "--json"])).unwrap();
    assert_eq!(json["decisions"]["transposes_read_strided"], 0);
    assert_eq!(json["options"]["opt_level"], 2);
    assert_eq!(
        json["options"]["egraph"]["disabled_rules"],
        serde_json::json!(["fuse-epilogue"])
    );
    assert_eq!(json["dispatches"], 6);
}

#[test]
fn report_says_why_each_phase_stopped() {
    let f = Fixture::with_chain();
    let report = f.ok(&["compile", "example.onnx", "-o", "a.kiln", "--report"]);
    assert!(
        report.starts_with("compiled example.onnx -> a.kiln: 4 kernels, 4 dispatches"),
        "{report}"
    );
    assert!(
        report.contains("egraph optimizer, cost model cpu-emulation"),
        "{report}"
    );
    let phases: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("  phase "))
        .collect();
    // Algebra, composite, fusion, and fusion again after merge-siblings.
    assert_eq!(phases.len(), 4, "{report}");
    for p in &phases {
        assert!(p.contains(", stopped: saturated, "), "{p}");
    }
    for p in &phases[2..] {
        assert!(
            p.starts_with("  phase egraph-fusion (fusion): "),
            "{report}"
        );
    }

    // Bounds from the command line: one iteration cannot finish the fusion phase.
    let report = f.ok(&[
        "compile",
        "example.onnx",
        "-o",
        "b.kiln",
        "--report",
        "--iter-limit",
        "1",
        "--profile",
        "discrete",
    ]);
    assert!(report.contains("cost model discrete"), "{report}");
    let fusion = report
        .lines()
        .find(|l| l.starts_with("  phase egraph-fusion (fusion): "))
        .unwrap();
    assert!(fusion.contains("stopped: iteration limit 1"), "{report}");

    // Level 1 has no composite phase; level 0 no optimizer at all.
    let report = f.ok(&[
        "compile",
        "example.onnx",
        "-o",
        "c.kiln",
        "--report",
        "--opt",
        "1",
    ]);
    assert!(!report.contains("composite"), "{report}");
    let report = f.ok(&[
        "compile",
        "example.onnx",
        "-o",
        "d.kiln",
        "--report",
        "--opt",
        "0",
    ]);
    assert!(
        report.contains("egraph optimizer: off at --opt 0"),
        "{report}"
    );
    assert!(report.contains("  plan: 6 dispatches per run"), "{report}");
}

#[test]
fn opt2_compiles_are_byte_identical() {
    let f = Fixture::with_chain();
    f.ok(&["compile", "example.onnx", "-o", "a.kiln"]);
    f.ok(&["compile", "example.onnx", "-o", "b.kiln", "--opt", "2"]);
    let a = std::fs::read(f.path("a.kiln")).unwrap();
    assert!(a == std::fs::read(f.path("b.kiln")).unwrap());
    let in_process = kiln::compile_bundle(
        &kiln::load_onnx_bytes(kiln::EXAMPLE_ONNX).unwrap(),
        &kiln::CompileOptions::default(),
    )
    .unwrap();
    assert!(in_process.to_bytes() == a, "the library and the CLI agree");
}

#[test]
fn bad_optimizer_options_are_one_error_line() {
    let f = Fixture::with_chain();
    let line = f.usage_error(&[
        "compile",
        "example.onnx",
        "-o",
        "a.kiln",
        "--disable-rule",
        "fuse-everything",
    ]);
    assert_eq!(
        line,
        format!(
            "error: --disable-rule 'fuse-everything': no such rule; 'kiln compile \
             --list-rules' lists the {} rules",
            kiln::passes::egraph::list_rules().len()
        )
    );
    let line = f.usage_error(&["dump", "example.onnx", "--disable-set", "magic"]);
    assert_eq!(
        line,
        "error: --disable-set 'magic': no such rule set (sets: algebra, layout, composite, fusion, sparsity)"
    );
    for cmd in ["compile", "run", "bench", "dump"] {
        let line = f.usage_error(&[cmd, "example.onnx", "--opt", "3"]);
        assert!(
            line.starts_with("error: --opt 3: optimisation level 3 does not exist"),
            "{cmd}: {line}"
        );
    }
    assert!(!f.path("a.kiln").exists());
    let line = f.usage_error(&["dump", "example.onnx", "--after", "egraph", "--opt", "0"]);
    assert_eq!(
        line,
        "error: --after egraph: the e-graph optimizer does not run at --opt 0"
    );
    let line = f.usage_error(&["compile", "example.onnx", "--time-limit=-1"]);
    assert!(line.contains("--time-limit -1"), "{line}");
    f.ok(&["compile", "example.onnx", "-o", "ex.kiln"]);
    let line = f.usage_error(&["run", "ex.kiln", "-i", "x.npy", "--opt", "1"]);
    assert!(line.contains("apply to .onnx models"), "{line}");
}

#[test]
fn dump_after_egraph_shows_fused_programs() {
    let f = Fixture::with_chain();
    let dump = f.ok(&["dump", "chain.onnx", "--after", "egraph-fusion"]);
    let before = stage(&dump, "import");
    for op in ["add(", "mul(", "relu(", "sigmoid("] {
        assert!(before.contains(op), "{before}");
    }
    let after = stage(&dump, "egraph-fusion");
    let ops: Vec<&str> = after.lines().filter(|l| l.contains(" = ")).collect();
    let nodes: Vec<&&str> = ops
        .iter()
        .filter(|l| l.trim_start().starts_with('%'))
        .collect();
    assert_eq!(nodes.len(), 1, "one kernel:\n{after}");
    assert!(nodes[0].contains("elementwise{"), "{after}");
    assert!(
        nodes[0].contains("sigmoid(") && nodes[0].contains("relu("),
        "the program is visible:\n{after}"
    );
    // `all` is import and every pass of the list `--list-passes` prints, in order: the
    // optimizer's phases at the default level, none at --opt 0.
    for opt in ["2", "1", "0"] {
        let list = f.ok(&["dump", "--list-passes", "--opt", opt]);
        let all = f.ok(&["dump", "chain.onnx", "--after", "all", "--opt", opt]);
        let stages: Vec<&str> = all
            .lines()
            .filter_map(|l| l.strip_prefix("// after "))
            .collect();
        let want: Vec<&str> = std::iter::once("import").chain(list.lines()).collect();
        assert_eq!(stages, want, "--opt {opt}:\n{all}");
        assert_eq!(list.lines().any(|p| p.starts_with("egraph-")), opt != "0");
        assert_eq!(list.lines().any(|p| p == "merge-siblings"), opt == "2");
    }
    let with_model = f.ok(&["dump", "chain.onnx", "--list-passes"]);
    assert_eq!(with_model, f.ok(&["dump", "--list-passes"]));
    // The optimized graph computes the same on the CPU reference.
    let x = kiln::Tensor::from_f32(vec![2, 8], onnx_build::random(16, 3.0, 9)).unwrap();
    let mut file = std::fs::File::create(f.path("chain-x.npy")).unwrap();
    kiln::npy::write_npy(&mut file, &x, kiln::Wide::No).unwrap();
    for opt in ["0", "2"] {
        let dir = format!("cpu{opt}");
        f.ok(&[
            "run",
            "chain.onnx",
            "-i",
            "chain-x.npy",
            "--backend",
            "cpu",
            "--opt",
            opt,
            "-o",
            &dir,
        ]);
    }
    assert_eq!(read_output(&f.path("cpu0")), read_output(&f.path("cpu2")));
}

fn read_output(dir: &Path) -> Vec<f64> {
    kiln::read_tensor_file(dir.join("output_0.npy"))
        .unwrap()
        .tensor
        .to_f64_vec()
}

#[test]
fn opt2_bundle_on_the_gpu_matches_the_cpu_reference_at_opt0() {
    if common::gpu("opt2_bundle_on_the_gpu_matches_the_cpu_reference_at_opt0").is_none() {
        return;
    }
    let f = Fixture::with_chain();
    let out = f.ok(&["compile", "example.onnx", "-o", "ex.kiln", "--opt", "2"]);
    assert!(out.contains(": 4 kernels, 4 dispatches"), "{out}");
    f.ok(&["run", "ex.kiln", "-i", "x.npy", "-o", "gpu"]);
    f.ok(&[
        "run",
        "example.onnx",
        "-i",
        "x.npy",
        "--backend",
        "cpu",
        "--opt",
        "0",
        "-o",
        "cpu",
    ]);
    let (gpu, cpu) = (read_output(&f.path("gpu")), read_output(&f.path("cpu")));
    assert_eq!(gpu.len(), 10);
    for (g, c) in gpu.iter().zip(&cpu) {
        assert!((g - c).abs() <= 1e-5, "gpu {gpu:?}\ncpu {cpu:?}");
    }
    // The optimized ONNX model compiled in memory agrees too.
    f.ok(&[
        "run",
        "example.onnx",
        "-i",
        "x.npy",
        "-o",
        "gpu-mem",
        "--opt",
        "1",
    ]);
    for (g, c) in read_output(&f.path("gpu-mem")).iter().zip(&cpu) {
        assert!((g - c).abs() <= 1e-5);
    }
}
