//! Fuzz target: ONNX bytes → `Model::decode` → `import` (default options) → verify →
//! `canonicalize` (with a small folding limit). Any error is fine; a panic, a
//! timeout or an unbounded allocation is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(model) = kiln_onnx::Model::decode(data) else {
        return;
    };
    // The accessors the CLI calls before importing.
    let _ = (model.opset(), model.inputs(), model.outputs());
    let Ok(graph) = kiln_onnx::import(&model, &kiln_onnx::ImportOptions::default()) else {
        return;
    };
    // Import promises a verified graph.
    if let Err(e) = kiln_ir::verify::verify(&graph) {
        panic!("import produced a graph that does not verify: {e}");
    }
    let options = kiln_passes::PassOptions {
        fold_max_elements: 1 << 12,
    };
    let _ = kiln_passes::canonicalize(graph, &options);
});
