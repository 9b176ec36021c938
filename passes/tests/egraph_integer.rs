//! Products of dequantized 8-bit values as integer products, end to end: the QDQ conv
//! and matmul of the `dequantized-product-as-integer` rule files optimized with every
//! rule for a device whose packed dot products are fast (`discrete`), where extraction
//! picks the integer forms (fused with their rescaling and bias); the optimized graph
//! must compute what the input graph does on the reference interpreter (fresh random
//! inputs; the integer sums are exact where the f32 ones round, so 1e-5 relative).

mod common;

use kiln_passes::egraph::{optimize, DeviceProfile, EgraphOptions};
use std::path::Path;

/// The `input:` graph of rule file `name`.
fn rule_input(name: &str) -> kiln_ir::Graph {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/rules")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("rule file reads");
    let start = text.find("input:").expect("an input section") + "input:".len();
    let end = text.find("expected:").expect("an expected section");
    kiln_ir::parse::parse(text[start..end].trim()).expect("input parses")
}

fn integer_on_discrete(name: &str, product: &str) {
    let g = rule_input(name);
    let options = EgraphOptions {
        profile: DeviceProfile::discrete(),
        ..EgraphOptions::default()
    };
    let (out, report) = optimize(&g, &options, &common::target()).unwrap();
    let text = kiln_ir::print::print(&out);
    assert!(text.contains(product), "{report}\n{text}");
    common::assert_same_outputs(&g, &out, 5, 1e-5);
}

#[test]
fn qdq_matmul_runs_as_an_integer_product() {
    integer_on_discrete(
        "quant-dequantized-product-as-integer.txt",
        "anchor=matmul_integer",
    );
}

#[test]
fn qdq_conv_with_bias_runs_as_an_integer_product() {
    integer_on_discrete(
        "quant-dequantized-product-as-integer-conv.txt",
        "anchor=conv_integer",
    );
}
