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

/// A dynamic quantization of a conv's input (DynamicQuantizeLinear's ops) with the
/// scale applied after the conv, as onnxruntime's dynamic quantizer writes it: the
/// quantization becomes the conv's prologue, reading the range's reductions as
/// epilogue operands, and the outputs stay. (Rules that rebuilt a fused node's epilogue
/// operands once left such a prologue reading the wrong ones; this graph does not
/// extract such a node, the dynamically quantized CNN of `tests/quant_models.rs` did.)
#[test]
fn a_quantizing_prologue_keeps_the_outputs() {
    let text = r#"graph "t" {
  input %v0 "x" : f32[1,3,9,9]
  const %v1 "w" : f32[2,3,3,3] = [3.0, 5.0, -8.0, 5.0, -1.0, 0.0, 2.0, -4.0, 8.0, -8.0, -4.0, -2.0, 1.0, -2.0, -6.0, -8.0, -8.0, -8.0, -6.0, 8.0, -5.0, 3.0, 4.0, -5.0, -4.0, -1.0, -4.0, 8.0, -5.0, 7.0, 5.0, 6.0, -7.0, -2.0, 2.0, 0.0, 3.0, 3.0, 3.0, -7.0, 8.0, 1.0, 7.0, -4.0, -2.0, 6.0, -5.0, -7.0, -2.0, 3.0, -6.0, 6.0, -3.0, -5.0]
  const %v2 : f32[] = [0.0]
  const %v3 : f32[] = [255.0]
  const %v4 : f32[] = [1.0]
  const %v22 : f32[] = [0.0125]
  const %v26 : f32[1,2,1,1] = [0.25, -0.5]
  const %v29 : f32[] = [6.0]
  %v5 = reduce_max{axes=[0,1,2,3], keepdims=false}(%v0) : f32[]
  %v6 = reduce_min{axes=[0,1,2,3], keepdims=false}(%v0) : f32[]
  %v7 = max(%v5, %v2) : f32[]
  %v8 = min(%v6, %v2) : f32[]
  %v9 = sub(%v7, %v8) : f32[]
  %v10 = div(%v9, %v3) : f32[]
  %v11 = div(%v8, %v10) : f32[]
  %v12 = sub(%v2, %v11) : f32[]
  %v13 = max(%v12, %v2) : f32[]
  %v14 = min(%v13, %v3) : f32[]
  %v15 = round(%v14) : f32[]
  %v16 = cast{to=u8}(%v15) : u8[]
  %v17 = quantize{axis=0, block=0, saturate=true}(%v0, %v10, %v16) : u8[1,3,9,9]
  %v18 = dequantize{axis=0, block=0}(%v17, %v4, %v16) : f32[1,3,9,9]
  %v19 = conv{strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1}(%v18, %v1) : f32[1,2,9,9]
  %v20 = cast{to=i32}(%v19) : i32[1,2,9,9]
  %v21 = cast{to=f32}(%v20) : f32[1,2,9,9]
  %v23 = mul(%v10, %v22) : f32[]
  %v24 = mul(%v21, %v23) : f32[1,2,9,9]
  %v25 = add(%v24, %v26) : f32[1,2,9,9]
  %v27 = max(%v25, %v2) : f32[1,2,9,9]
  %v28 = min(%v27, %v29) : f32[1,2,9,9]
  output "y" = %v28
}"#;
    let g = kiln_ir::parse::parse(text).unwrap();
    let (out, report) = optimize(&g, &EgraphOptions::default(), &common::target()).unwrap();
    let printed = kiln_ir::print::print(&out);
    assert!(
        printed.contains("prologue=elementwise"),
        "{report}\n{printed}"
    );
    assert_same_outputs(&g, &out, 3, 1e-6);
}
