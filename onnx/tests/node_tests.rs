//! The ONNX node tests of `node-core.txt`: every model decodes, every `.pb` decodes,
//! and (counted, with a floor) every model imports with its test inputs given,
//! producing outputs of the expected dtype and shape.

use kiln_onnx::{decode_tensor, import, ImportOptions, Model, NamedTensor};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the generated node tests live (see `kiln_testdata`).
fn tests_dir(test: &str) -> Option<PathBuf> {
    kiln_testdata::data_dir("node", test)
}

fn core_list() -> Vec<String> {
    kiln_testdata::conformance_list("node-core.txt")
}

fn pb_files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("test_data_set_0"))
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(prefix))
    });
    files.sort_by_key(|p| {
        let n = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        n.rsplit('_')
            .next()
            .and_then(|i| i.parse::<usize>().ok())
            .unwrap_or(0)
    });
    files
}

fn read_pb(path: &Path) -> NamedTensor {
    decode_tensor(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_core_model_and_tensor_decodes() {
    let Some(root) = tests_dir("every_core_model_and_tensor_decodes") else {
        return;
    };
    let list = core_list();
    assert_eq!(list.len(), 688);
    let mut tensors = 0;
    for name in &list {
        let dir = root.join(name);
        let model = Model::load(dir.join("model.onnx")).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!model.outputs().is_empty(), "{name}");
        for pb in pb_files(&dir, "input_")
            .iter()
            .chain(&pb_files(&dir, "output_"))
        {
            read_pb(pb);
            tensors += 1;
        }
    }
    assert!(tensors > 1500, "only {tensors} tensors");
}

#[test]
fn core_models_import() {
    let Some(root) = tests_dir("core_models_import") else {
        return;
    };
    let mut failures: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let list = core_list();
    for name in &list {
        let dir = root.join(name);
        let model = Model::load(dir.join("model.onnx")).unwrap();
        let inputs = pb_files(&dir, "input_");
        let mut opts = ImportOptions::default();
        for (info, pb) in model.inputs().iter().zip(&inputs) {
            opts.values.insert(info.name.clone(), read_pb(pb).tensor);
        }
        let reason = match import(&model, &opts) {
            Err(e) => Some(e.to_string()),
            Ok(g) if kiln_ir::verify::verify(&g).is_err() => Some(format!(
                "does not verify: {}",
                kiln_ir::verify::verify(&g).unwrap_err()
            )),
            Ok(g) => {
                let outputs = pb_files(&dir, "output_");
                g.outputs.iter().zip(&outputs).find_map(|(port, pb)| {
                    let want = read_pb(pb).tensor.ty();
                    let got = g.ty(port.value);
                    (*got != want)
                        .then(|| format!("output '{}' is {got}, expected {want}", port.name))
                })
            }
        };
        if let Some(r) = reason {
            failures.entry(r).or_default().push(name.clone());
        }
    }
    let failed: usize = failures.values().map(Vec::len).sum();
    for (reason, tests) in &failures {
        eprintln!("{:3} {reason}\n      {}", tests.len(), tests.join(" "));
    }
    eprintln!("imported {} of {}", list.len() - failed, list.len());
    assert!(list.len() - failed >= IMPORT_FLOOR, "{failed} failures");
}

/// Models of `node-core.txt` that must import with correctly typed outputs.
const IMPORT_FLOOR: usize = 684;

/// Runs each imported model on the reference interpreter and compares with the
/// expected outputs (ONNX tolerances). Diagnostic: prints failures, asserts a floor.
#[test]
fn core_models_run_on_the_interpreter() {
    let Some(root) = tests_dir("core_models_run_on_the_interpreter") else {
        return;
    };
    let list = core_list();
    let mut failures = Vec::new();
    let mut compared = 0;
    for name in &list {
        let dir = root.join(name);
        let model = Model::load(dir.join("model.onnx")).unwrap();
        let mut opts = ImportOptions::default();
        for (info, pb) in model.inputs().iter().zip(&pb_files(&dir, "input_")) {
            opts.values.insert(info.name.clone(), read_pb(pb).tensor);
        }
        let g = match import(&model, &opts) {
            Ok(g) => g,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let inputs: Vec<_> = g
            .inputs
            .iter()
            .map(|p| opts.values[&p.name].clone())
            .collect();
        let got = match kiln_ir::interp::run(&g, &inputs) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        for (i, (t, pb)) in got.iter().zip(pb_files(&dir, "output_")).enumerate() {
            let want = read_pb(&pb).tensor;
            let (a, b) = (t.to_f64_vec(), want.to_f64_vec());
            compared += a.len().min(b.len());
            let bad = a.iter().zip(&b).position(|(x, y)| {
                !((x - y).abs() <= 1e-7 + 1e-3 * y.abs() || (x.is_nan() && y.is_nan()) || x == y)
            });
            if let Some(k) = bad {
                failures.push(format!(
                    "{name}: output {i} element {k}: got {} expected {}",
                    a[k], b[k]
                ));
                break;
            }
        }
    }
    for f in &failures {
        eprintln!("{f}");
    }
    let matched = list.len() - failures.len();
    eprintln!(
        "{matched} of {} match ({compared} elements compared)",
        list.len()
    );
    assert!(
        matched >= IMPORT_FLOOR && compared > 100_000,
        "{matched} match"
    );
}
