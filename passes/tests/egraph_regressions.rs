//! Graphs that once made the optimizer compute something else, kept as regression tests:
//! each must keep its outputs (reference interpreter, fresh random inputs).

mod common;

use common::assert_same_outputs;
use kiln_passes::egraph::{optimize, EgraphOptions};

/// Optimizes `text` with the default options and checks the outputs are kept.
fn keeps_outputs(text: &str) {
    let g = kiln_ir::parse::parse(text).unwrap();
    let (out, report) = optimize(&g, &EgraphOptions::default(), &common::target()).unwrap();
    assert_same_outputs(&g, &out, 3, 1e-6);
    assert!(
        out.nodes.len() <= g.nodes.len(),
        "{report}\n{}",
        kiln_ir::print::print(&out)
    );
}

/// `y = (x·0.5)·2` while `z = relu(x·0.5)`: folding the constants makes `y` equal to
/// `x`, which closes a cycle `x = (x·0.5)·2` in the e-graph. Reassociating around that
/// cycle used to mint ever smaller and larger powers of two until they underflowed
/// and overflowed, and the rounded constants then equated `x·0.5` with `x`.
#[test]
fn scaling_by_a_constant_and_back_keeps_the_scaled_value() {
    keeps_outputs(
        r#"graph "t" {
  input %v0 "x" : f32[2,3,4]
  const %v1 : f32[] = [0.5]
  const %v2 : f32[] = [2.0]
  %v3 = mul(%v0, %v1) : f32[2,3,4]
  %v4 = relu(%v3) : f32[2,3,4]
  %v5 = mul(%v3, %v2) : f32[2,3,4]
  output "y" = %v5
  output "z" = %v4
}"#,
    );
}
