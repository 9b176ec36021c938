//! Inputs `scripts/fuzz.sh onnx_import` found to break the importer, kept in tests/fuzz/:
//! each must decode and import to an error (or a graph that verifies), never a panic.

use kiln_onnx::{import, ImportError, ImportOptions, Model};

/// Decodes and imports `bytes`; an imported graph must verify.
fn import_bytes(bytes: &[u8]) -> Result<kiln_ir::Graph, ImportError> {
    let model = Model::decode(bytes)?;
    let graph = import(&model, &ImportOptions::default())?;
    kiln_ir::verify::verify(&graph).expect("an imported graph verifies");
    Ok(graph)
}

/// A Split node test whose graph declares output `output_2` twice: import built a
/// graph with two output ports of one name, which the verifier rejects.
#[test]
fn duplicate_graph_output_is_an_error() {
    let err = import_bytes(include_bytes!("fuzz/duplicate_output.onnx"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("'output_2' is declared twice"), "{err}");
}

/// A node-test model whose graph declares input `x` twice: import built a graph
/// with two input ports of one name.
#[test]
fn duplicate_graph_input_is_an_error() {
    let err = import_bytes(include_bytes!("fuzz/duplicate_input.onnx"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'x'") && err.contains("declares this input twice"),
        "{err}"
    );
}
