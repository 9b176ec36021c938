//! Pass tests written in the IR text: parse the input, run one pass (verified by the
//! manager), compare the printed result line by line, and check it parses back equal.

use crate::{canonical_passes, canonicalize, FoldConstants, PassManager, PassOptions};
use kiln_ir::{parse::parse, print::print, Graph};

/// Runs the named passes on `input` and returns the printed result, after checking
/// that it parses back to the same graph.
fn run_passes(names: &[&str], input: &str) -> String {
    let graph = parse(input).unwrap_or_else(|e| panic!("test input does not parse: {e}"));
    let manager: PassManager = names
        .iter()
        .map(|name| {
            canonical_passes(&PassOptions::default())
                .into_iter()
                .find(|p| p.name() == *name)
                .unwrap_or_else(|| panic!("no canonicalization pass '{name}'"))
        })
        .collect();
    let out = manager.run(graph).unwrap_or_else(|e| panic!("{e}"));
    round_trip(&out)
}

/// The text of `graph`, asserting that it parses back to an equal graph.
fn round_trip(graph: &Graph) -> String {
    let text = print(graph);
    let back = parse(&text).unwrap_or_else(|e| panic!("printed graph does not parse: {e}\n{text}"));
    assert_eq!(&back, graph, "parse(print(g)) != g for\n{text}");
    text
}

/// Compares IR texts line by line, ignoring indentation and blank lines.
fn assert_ir_eq(got: &str, want: &str) {
    let lines = |s: &str| -> Vec<String> {
        s.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    };
    assert_eq!(lines(got), lines(want), "\n--- got ---\n{got}");
}

fn check(pass: &str, input: &str, want: &str) {
    assert_ir_eq(&run_passes(&[pass], input), want);
}

#[test]
fn fold_shapes_turns_shape_into_constant() {
    check(
        "fold-shapes",
        r#"
        graph "g" {
          input %v0 "x" : f32[2,3,4]
          %v1 = shape{start=0, end=3}(%v0) : i32[3]
          %v2 = shape{start=1, end=2}(%v0) : i32[1]
          %v3 "y" = reshape{shape=[6,4]}(%v0) : f32[6,4]
          output "s" = %v1
          output "t" = %v2
          output "y" = %v3
        }"#,
        r#"
        graph "g" {
          input %v0 "x" : f32[2,3,4]
          const %v1 : i32[3] = [2, 3, 4]
          const %v2 : i32[1] = [3]
          %v3 "y" = reshape{shape=[6,4]}(%v0) : f32[6,4]
          output "s" = %v1
          output "t" = %v2
          output "y" = %v3
        }"#,
    );
}

#[test]
fn fold_constants_evaluates_dense_nodes() {
    check(
        "fold-constants",
        r#"
        graph "g" {
          input %v0 "x" : f32[2]
          const %v1 "a" : f32[2] = [1.0, 2.0]
          const %v2 "b" : f32[2] = [3.0, 4.5]
          %v3 "s" = add(%v1, %v2) : f32[2]
          %v4 "n" = neg(%v3) : f32[2]
          %v5 "y" = mul(%v0, %v4) : f32[2]
          output "y" = %v5
        }"#,
        r#"
        graph "g" {
          input %v0 "x" : f32[2]
          const %v1 "n" : f32[2] = [-4.0, -6.5]
          %v2 "y" = mul(%v0, %v1) : f32[2]
          output "y" = %v2
        }"#,
    );
}

#[test]
fn fold_constants_keeps_splats_splat() {
    // 400M elements: folding densely would need gigabytes.
    check(
        "fold-constants",
        r#"
        graph "g" {
          input %v0 "x" : f32[1000,400]
          const %v1 "w" : f32[1000,1000,400] = splat(0.5)
          const %v2 : f32[] = [4.0]
          %v3 = transpose{perm=[1,0,2]}(%v1) : f32[1000,1000,400]
          %v4 = mul(%v3, %v2) : f32[1000,1000,400]
          %v5 = reshape{shape=[1000000,400]}(%v4) : f32[1000000,400]
          %v6 = slice{starts=[0,0], steps=[1,1], lens=[1000,400]}(%v5) : f32[1000,400]
          %v7 "y" = add(%v0, %v6) : f32[1000,400]
          output "y" = %v7
        }"#,
        r#"
        graph "g" {
          input %v0 "x" : f32[1000,400]
          const %v1 : f32[1000,400] = splat(2.0)
          %v2 "y" = add(%v0, %v1) : f32[1000,400]
          output "y" = %v2
        }"#,
    );
}

#[test]
fn fold_constants_folds_shape_chains_after_fold_shapes() {
    // The ONNX `x.view(x.size(0), -1)` idiom: shape -> gather -> reshape -> concat.
    let out = run_passes(
        &["fold-shapes", "fold-constants", "dce"],
        r#"
        graph "g" {
          input %v0 "x" : f32[2,3,4]
          const %v1 : i32[] = [0]
          const %v2 : i32[1] = [-1]
          %v3 = shape{start=0, end=3}(%v0) : i32[3]
          %v4 = gather{axis=0}(%v3, %v1) : i32[]
          %v5 = reshape{shape=[1]}(%v4) : i32[1]
          %v6 "target" = concat{axis=0}(%v5, %v2) : i32[2]
          %v7 "y" = reshape{shape=[2,12]}(%v0) : f32[2,12]
          output "target" = %v6 (i64)
          output "y" = %v7
        }"#,
    );
    assert_ir_eq(
        &out,
        r#"
        graph "g" {
          input %v0 "x" : f32[2,3,4]
          const %v1 "target" : i32[2] = [2, -1]
          %v2 "y" = reshape{shape=[2,12]}(%v0) : f32[2,12]
          output "target" = %v1 (i64)
          output "y" = %v2
        }"#,
    );
}

#[test]
fn fold_constants_respects_the_size_limit() {
    let graph = parse(
        r#"
        graph "g" {
          const %v0 : f32[3] = [1.0, 2.0, 3.0]
          %v1 "y" = exp(%v0) : f32[3]
          output "y" = %v1
        }"#,
    )
    .unwrap();
    let mut manager = PassManager::new();
    manager.add(Box::new(FoldConstants { max_elements: 2 }));
    let out = manager.run(graph.clone()).unwrap();
    assert_eq!(out, graph);
}

#[test]
fn dce_drops_dead_nodes_constants_and_trailing_results() {
    check(
        "dce",
        r#"
        graph "g" {
          input %v0 "x" : f32[1,1,4,4]
          input %v1 "unused" : f32[3]
          const %v2 "dead_c" : f32[1] = [2.0]
          %v3 "y", %v4 "idx" = max_pool{kernel=[2,2], strides=[2,2], pads=[0,0,0,0], dilations=[1,1], ceil_mode=false, count_include_pad=false, storage_order=0}(%v0) : f32[1,1,2,2], i32[1,1,2,2] @"pool"
          %v5 = mul(%v3, %v2) : f32[1,1,2,2]
          %v6 = relu(%v3) : f32[1,1,2,2]
          output "out" = %v6
        }"#,
        r#"
        graph "g" {
          input %v0 "x" : f32[1,1,4,4]
          input %v1 "unused" : f32[3]
          %v2 "y" = max_pool{kernel=[2,2], strides=[2,2], pads=[0,0,0,0], dilations=[1,1], ceil_mode=false, count_include_pad=false, storage_order=0}(%v0) : f32[1,1,2,2] @"pool"
          %v3 = relu(%v2) : f32[1,1,2,2]
          output "out" = %v3
        }"#,
    );
}

#[test]
fn remove_identity_bypasses_identities_and_keeps_ports() {
    check(
        "remove-identity",
        r#"
        graph "g" {
          input %v0 "x" : f32[2]
          %v1 "r" = relu(%v0) : f32[2]
          %v2 = identity(%v1) : f32[2]
          %v3 = identity(%v2) : f32[2]
          %v4 "n" = neg(%v3) : f32[2]
          %v5 "passthrough" = identity(%v0) : f32[2]
          %v6 "out_r" = identity(%v1) : f32[2]
          output "n" = %v4
          output "passthrough" = %v5
          output "r" = %v6
        }"#,
        r#"
        graph "g" {
          input %v0 "x" : f32[2]
          %v1 "r" = relu(%v0) : f32[2]
          %v2 "n" = neg(%v1) : f32[2]
          %v3 "passthrough" = identity(%v0) : f32[2]
          output "n" = %v2
          output "passthrough" = %v3
          output "r" = %v1
        }"#,
    );
}

#[test]
fn a_pipeline_can_stop_after_a_named_pass() {
    let mut manager = PassManager::from_iter(canonical_passes(&PassOptions::default()));
    assert!(!manager.truncate_after("no-such-pass"));
    assert_eq!(manager.names().len(), 4, "an unknown name changes nothing");
    assert!(manager.truncate_after("fold-shapes"));
    assert_eq!(manager.names(), ["remove-identity", "fold-shapes"]);
}

#[test]
fn hook_sees_every_pass_in_order() {
    let graph = parse(
        r#"
        graph "g" {
          input %v0 "x" : f32[2]
          output "x" = %v0
        }"#,
    )
    .unwrap();
    let mut seen = Vec::new();
    let manager = PassManager::from_iter(canonical_passes(&PassOptions::default()));
    let (_, report) = manager
        .run_with_hook(graph, &mut |name, _| seen.push(name.to_string()))
        .unwrap();
    assert!(report.is_none(), "no e-graph phase ran");
    assert_eq!(
        seen,
        ["remove-identity", "fold-shapes", "fold-constants", "dce"]
    );
}

#[test]
fn canonicalize_snapshot_small_classifier_head() {
    let graph = parse(
        r#"
        graph "head" {
          input %v0 "x" : f32[1,4,2,2]
          const %v1 "w" : f32[16,3] = splat(0.25)
          const %v2 "b" : f32[3] = [0.5, -0.5, 1.0]
          const %v3 : i32[1] = [-1]
          %v4 = shape{start=0, end=1}(%v0) : i32[1]
          %v5 "flat_shape" = concat{axis=0}(%v4, %v3) : i32[2]
          %v6 = identity(%v0) : f32[1,4,2,2] @"dropout"
          %v7 "flat" = reshape{shape=[1,16]}(%v6) : f32[1,16]
          %v8 = matmul(%v7, %v1) : f32[1,3]
          %v9 "logits" = add(%v8, %v2) : f32[1,3]
          %v10 "probs" = softmax{axis=1}(%v9) : f32[1,3]
          output "probs" = %v10
        }"#,
    )
    .unwrap();
    let out = canonicalize(graph, &PassOptions::default()).unwrap();
    insta::assert_snapshot!(round_trip(&out));
}

#[test]
fn canonicalize_snapshot_constant_subgraph() {
    let graph = parse(
        r#"
        graph "consts" {
          input %v0 "x" : f32[2,2]
          const %v1 "scale" : f32[2,2] = [1.0, 2.0, 3.0, 4.0]
          const %v2 : f32[] = [0.5]
          %v3 = mul(%v1, %v2) : f32[2,2]
          %v4 = transpose{perm=[1,0]}(%v3) : f32[2,2]
          %v5 "gate" = greater(%v4, %v2) : bool[2,2]
          %v6 "y" = where(%v5, %v0, %v4) : f32[2,2]
          output "y" = %v6
        }"#,
    )
    .unwrap();
    let out = canonicalize(graph, &PassOptions::default()).unwrap();
    insta::assert_snapshot!(round_trip(&out));
}

#[test]
fn fold_constants_leaves_nodes_the_interpreter_rejects() {
    // Index 5 is out of range: the error belongs to running the graph, not to folding.
    let input = r#"
        graph "g" {
          const %v0 : f32[3] = [1.0, 2.0, 3.0]
          const %v1 : i32[1] = [5]
          %v2 "y" = gather{axis=0}(%v0, %v1) : f32[1]
          output "y" = %v2
        }"#;
    assert_ir_eq(&run_passes(&["fold-constants"], input), input);
}

#[test]
fn fold_constants_computes_splat_elements_with_the_op() {
    check(
        "fold-constants",
        r#"
        graph "g" {
          input %v0 "x" : i32[4,4]
          const %v1 : f32[4,4] = splat(-2.5)
          %v2 = abs(%v1) : f32[4,4]
          %v3 = cast{to=i32}(%v2) : i32[4,4]
          %v4 = tile{repeats=[1,1]}(%v3) : i32[4,4]
          %v5 "y" = add(%v0, %v4) : i32[4,4]
          output "y" = %v5
        }"#,
        r#"
        graph "g" {
          input %v0 "x" : i32[4,4]
          const %v1 : i32[4,4] = splat(2)
          %v2 "y" = add(%v0, %v1) : i32[4,4]
          output "y" = %v2
        }"#,
    );
}

#[test]
fn fold_constants_skips_expensive_products() {
    // 2048^3 multiply-adds: too slow to fold, although every tensor is within the size limit.
    let input = r#"
        graph "g" {
          const %v0 : f32[2048,2048] = splat(1.0)
          const %v1 : f32[2048,2048] = splat(2.0)
          %v2 "y" = matmul(%v0, %v1) : f32[2048,2048]
          output "y" = %v2
        }"#;
    assert_ir_eq(&run_passes(&["fold-constants"], input), input);
}
