//! Snapshots of the text, DOT and JSON forms of a small graph.

use kiln_ir::dot::to_dot;
use kiln_ir::json::to_json;
use kiln_ir::parse::parse;
use kiln_ir::print::{print_with, PrintOptions};

const TEXT: &str = r#"graph "small" {
  input %v0 "image" : f32[1,3,4,4]
  input %v1 "shape" : i32[2] (i64)
  const %v2 "w" : f32[2,3,1,1] = [0.5, -0.25, 1.0, 2.0, 0.0, -1.0]
  const %v3 : f32[2] = splat(0.1)
  %v4 = conv{strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1}(%v0, %v2, %v3) : f32[1,2,4,4] @"conv \"1\""
  %v5 "act" = leaky_relu{alpha=0.01}(%v4) : f32[1,2,4,4]
  %v6, %v7 = max_pool{kernel=[2,2], strides=[2,2], pads=[0,0,0,0], dilations=[1,1], ceil_mode=false, count_include_pad=false, storage_order=0}(%v5) : f32[1,2,2,2], i32[1,2,2,2]
  %v8 = reduce_mean{axes=[2,3], keepdims=false}(%v6) : f32[1,2]
  output "logits" = %v8
  output "argmax" = %v7 (i64)
}
"#;

#[test]
fn the_graph_verifies() {
    kiln_ir::verify::verify(&parse(TEXT).unwrap()).unwrap();
}

#[test]
fn text_with_elided_constants() {
    let g = parse(TEXT).unwrap();
    insta::assert_snapshot!(print_with(
        &g,
        &PrintOptions {
            elide_constants_over: Some(4)
        }
    ));
}

#[test]
fn dot() {
    insta::assert_snapshot!(to_dot(&parse(TEXT).unwrap()));
}

#[test]
fn json() {
    let json = to_json(&parse(TEXT).unwrap());
    insta::assert_snapshot!(serde_json::to_string_pretty(&json).unwrap());
}
