//! The optimizer on the light model zoo (test data from `kiln_testdata`):
//! kernel counts before and after, compile time, and bounded saturation.

mod common;

use kiln_passes::egraph::{optimize, EgraphOptions};
use kiln_passes::{canonicalize, PassOptions};
use std::path::PathBuf;
use std::time::Instant;

fn model(name: &str) -> Option<PathBuf> {
    let path = kiln_testdata::data_dir("light", name)?
        .join(name)
        .join("model.onnx");
    assert!(
        path.exists(),
        "{} is missing from the test data",
        path.display()
    );
    Some(path)
}

fn run(name: &str) -> Option<(usize, usize, f64)> {
    let path = model(name)?;
    let m = kiln_onnx::Model::load(&path).expect("model loads");
    let g = kiln_onnx::import(&m, &Default::default()).expect("model imports");
    let g = canonicalize(g, &PassOptions::default()).expect("canonicalizes");
    let start = Instant::now();
    let (out, report) =
        optimize(&g, &EgraphOptions::default(), &common::target()).expect("optimizes");
    let secs = start.elapsed().as_secs_f64();
    println!("== {name}\n{report}");
    kiln_ir::verify::verify(&out).expect("optimized graph verifies");
    if matches!(name, "squeezenet" | "resnet50") {
        common::assert_same_outputs(&g, &out, 1, 1e-3);
    }
    Some((report.kernels_before, report.kernels_after, secs))
}

#[test]
fn light_models_fuse_and_stop_by_their_bounds() {
    for name in ["resnet50", "squeezenet", "inception_v1", "densenet121"] {
        let Some((before, after, secs)) = run(name) else {
            eprintln!("skipping {name}: no test data");
            continue;
        };
        println!("{name}: kernels {before} -> {after} in {secs:.2} s");
        assert!(after < before, "{name}: no kernel was fused");
    }
}
