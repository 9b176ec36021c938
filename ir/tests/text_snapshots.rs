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

/// A graph of fused ops: the DOT labels and JSON show anchors and programs readably.
const FUSED: &str = r#"graph "fused" {
  input %v0 "x" : f32[1,3,4,4]
  input %v1 "q" : f32[2,4,8]
  input %v2 "kt" : f32[2,8,4]
  input %v3 "v" : f32[2,4,8]
  const %v4 "w" : f32[2,3,1,1] = [0.5, -0.25, 1.0, 2.0, 0.0, -1.0]
  const %v5 "bias" : f32[1,2,1,1] = [0.1, -0.1]
  %v6 = fused{anchor=conv{strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1}, arity=2, epilogue=[in0, in1, add(%0,%1), relu(%2)]}(%v0, %v4, %v5) : f32[1,2,4,4] @"conv1"
  %v7 = elementwise{program=[in0, sigmoid(%0), mul(%0,%1), const(f32 0.5), mul(%2,%3), leaky_relu{alpha=0.01}(%4)]}(%v6) : f32[1,2,4,4]
  %v8 = attention{scale=0.35355338}(%v1, %v2, %v3) : f32[2,4,8]
  output "y" = %v7
  output "a" = %v8
}
"#;

#[test]
fn fused_graph_verifies() {
    kiln_ir::verify::verify(&parse(FUSED).unwrap()).unwrap();
}

#[test]
fn fused_dot() {
    insta::assert_snapshot!(to_dot(&parse(FUSED).unwrap()));
}

#[test]
fn fused_json() {
    let json = to_json(&parse(FUSED).unwrap());
    insta::assert_snapshot!(serde_json::to_string_pretty(&json).unwrap());
}

/// Steps read more than once are bound first; inputs and constants are inlined.
#[test]
fn expressions_bind_shared_steps() {
    use kiln_ir::print::expression;
    use kiln_ir::{BinaryOp, DType, Program, Step, UnaryOp};
    let program = Program {
        steps: vec![
            Step::Input(0),
            Step::Input(1),
            Step::Binary(BinaryOp::Add, 0, 1),
            Step::Unary(UnaryOp::Sigmoid, 2),
            Step::Binary(BinaryOp::Mul, 2, 3),
            Step::Const {
                dtype: DType::I32,
                value: -3.0,
            },
            Step::Cast(DType::I32, 4),
            Step::Binary(BinaryOp::Max, 6, 5),
        ],
    };
    let names = |k: usize| ["conv", "in1"][k].to_string();
    assert_eq!(
        expression(&program, &names),
        [
            "t2 = add(conv, in1)",
            "max(cast{to=i32}(mul(t2, sigmoid(t2))), -3)"
        ]
    );
}
