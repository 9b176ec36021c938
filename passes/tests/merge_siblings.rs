//! `merge-siblings`: IR text in and out, reference-interpreter equality before and
//! after on random inputs, and the sibling sets that must stay apart.

mod common;

use common::{assert_same_outputs, random_inputs};
use kiln_ir::{interp, parse::parse, print::print, Graph, Op};
use kiln_passes::{MergeSiblings, Pass};

const CONV: &str = "conv{strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1}";

fn merged(text: &str) -> (Graph, Graph) {
    let before = parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    kiln_ir::verify::verify(&before).expect("input verifies");
    let pass = MergeSiblings {
        target: common::target(),
    };
    let after = pass.run(before.clone()).expect("pass runs");
    kiln_ir::verify::verify(&after).expect("result verifies");
    (before, after)
}

fn count(graph: &Graph, pred: fn(&Op) -> bool) -> usize {
    graph.nodes.iter().filter(|(_, n)| pred(&n.op)).count()
}

/// Two fused 1×1 convs with biases and a relu epilogue over one input.
fn two_siblings() -> String {
    format!(
        r#"graph "t" {{
  input %v0 "x" : f32[1,2,8,8]
  const %v1 "w1" : f32[2,2,1,1] = [0.5, -1.0, 2.0, 0.25]
  const %v2 "b1" : f32[2] = [0.1, -0.2]
  const %v3 "w2" : f32[1,2,1,1] = [1.5, -0.75]
  const %v4 "b2" : f32[1] = [0.3]
  %v5 "a" = fused{{anchor={CONV}, arity=3, epilogue=[in0, relu(%0)]}}(%v0, %v1, %v2) : f32[1,2,8,8]
  %v6 "b" = fused{{anchor={CONV}, arity=3, epilogue=[in0, relu(%0)]}}(%v0, %v3, %v4) : f32[1,1,8,8]
  %v7 "y" = add(%v0, %v5) : f32[1,2,8,8]
  output "y" = %v7
  output "z" = %v6
}}
"#
    )
}

#[test]
fn fused_siblings_become_one_conv_and_a_split() {
    let (before, after) = merged(&two_siblings());
    let expected = format!(
        r#"graph "t" {{
  input %v0 "x" : f32[1,2,8,8]
  const %v1 : f32[3,2,1,1] = [0.5, -1.0, 2.0, 0.25, 1.5, -0.75]
  const %v2 : f32[3] = [0.1, -0.2, 0.3]
  %v3 = fused{{anchor={CONV}, arity=3, epilogue=[in0, relu(%0)]}}(%v0, %v1, %v2) : f32[1,3,8,8]
  %v4 "a", %v5 "b" = split{{axis=1, sizes=[2,1]}}(%v3) : f32[1,2,8,8], f32[1,1,8,8]
  %v6 "y" = add(%v0, %v4) : f32[1,2,8,8]
  output "y" = %v6
  output "z" = %v5
}}
"#
    );
    assert_eq!(
        print(&after),
        print(&parse(&expected).unwrap_or_else(|e| panic!("{e}")))
    );
    assert_same_outputs(&before, &after, 7, 1e-6);
}

#[test]
fn three_by_three_siblings_without_bias_merge_and_compute_the_same() {
    // Three padded 3×3 convs (no bias, no epilogue) and a 1×1 conv that stays apart.
    let w = |n: usize, seed: usize| {
        let v: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    "{:.3}",
                    (((i * 7 + seed * 13) % 17) as f32 - 8.0) / 8.0 + 0.03
                )
            })
            .collect();
        v.join(", ")
    };
    let conv3 = "conv{strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1}";
    let text = format!(
        r#"graph "t" {{
  input %v0 "x" : f32[1,3,8,8]
  const %v1 : f32[2,3,3,3] = [{}]
  const %v2 : f32[4,3,3,3] = [{}]
  const %v3 : f32[1,3,3,3] = [{}]
  const %v4 : f32[2,3,1,1] = [{}]
  %v5 "a" = {conv3}(%v0, %v1) : f32[1,2,8,8]
  %v6 "b" = {conv3}(%v0, %v2) : f32[1,4,8,8]
  %v7 "c" = {CONV}(%v0, %v4) : f32[1,2,8,8]
  %v8 "d" = {conv3}(%v0, %v3) : f32[1,1,8,8]
  output "a" = %v5
  output "b" = %v6
  output "c" = %v7
  output "d" = %v8
}}
"#,
        w(54, 1),
        w(108, 2),
        w(27, 3),
        w(6, 4)
    );
    let (before, after) = merged(&text);
    assert_eq!(count(&after, |op| matches!(op, Op::Conv(_))), 2);
    let split = after
        .nodes
        .iter()
        .find(|(_, n)| matches!(n.op, Op::Split { .. }))
        .map(|(_, n)| n.op.clone());
    assert_eq!(
        split,
        Some(Op::Split {
            axis: 1,
            sizes: vec![2, 4, 1]
        })
    );
    assert_same_outputs(&before, &after, 11, 1e-5);
    // The outputs are real values, not zeros.
    let out = interp::run(&after, &random_inputs(&after, 3)).unwrap();
    assert!(out
        .iter()
        .all(|t| t.to_f64_vec().iter().any(|&v| v.abs() > 1e-3)));
}

/// A graph with two fused siblings that differ as `second` says.
fn pair(input: &str, second_anchor: &str, second_epilogue: &str, extra: &str) -> String {
    format!(
        r#"graph "t" {{
  {input}
  const %v1 : f32[2,2,1,1] = [0.5, -1.0, 2.0, 0.25]
  const %v2 : f32[2,2,1,1] = [1.5, -0.75, 0.2, 0.6]
  %v3 "a" = fused{{anchor={CONV}, arity=2, epilogue=[in0, relu(%0)]}}(%v0, %v1) : f32[N,2,8,8]
  %v4 "b" = fused{{anchor={second_anchor}, arity=2, epilogue={second_epilogue}}}(%v0, %v2{extra}) : f32[N,2,S,S]
  output "a" = %v3
  output "b" = %v4
}}
"#
    )
}

fn assert_unchanged(text: &str) {
    let (before, after) = merged(text);
    assert_eq!(print(&after), print(&before), "must not merge");
    assert_eq!(count(&after, |op| matches!(op, Op::Split { .. })), 0);
}

#[test]
fn siblings_that_differ_stay_apart() {
    let x1 = r#"input %v0 "x" : f32[1,2,8,8]"#;
    let relu = "[in0, relu(%0)]";
    // Control: the same pair with nothing different merges.
    let same = pair(x1, CONV, relu, "")
        .replace("[N,", "[1,")
        .replace(",S,S]", ",8,8]");
    let (before, after) = merged(&same);
    assert_eq!(count(&after, |op| matches!(op, Op::Split { .. })), 1);
    assert_same_outputs(&before, &after, 5, 1e-6);
    // Different strides.
    let strided = "conv{strides=[2,2], pads=[0,0,0,0], dilations=[1,1], group=1}";
    assert_unchanged(
        &pair(x1, strided, relu, "")
            .replace("[N,", "[1,")
            .replace(",S,S]", ",4,4]"),
    );
    // Batch 2: the channel slices would not be contiguous.
    let x2 = r#"input %v0 "x" : f32[2,2,8,8]"#;
    assert_unchanged(
        &pair(x2, CONV, relu, "")
            .replace("[N,", "[2,")
            .replace(",S,S]", ",8,8]"),
    );
    // Different epilogues.
    assert_unchanged(
        &pair(x1, CONV, "[in0, sigmoid(%0)]", "")
            .replace("[N,", "[1,")
            .replace(",S,S]", ",8,8]"),
    );
    // An epilogue that reads an extra operand.
    // Identical epilogues that read an extra operand (the input itself).
    let add = "[in0, in1, add(%0, %1)]";
    let with_extra = pair(x1, CONV, add, ", %v0")
        .replace("[N,", "[1,")
        .replace(",S,S]", ",8,8]")
        .replace(
            "epilogue=[in0, relu(%0)]}(%v0, %v1)",
            &format!("epilogue={add}}}(%v0, %v1, %v0)"),
        );
    assert_eq!(with_extra.matches(add).count(), 2, "{with_extra}");
    assert_unchanged(&with_extra);
}

#[test]
fn siblings_reading_through_a_prologue_stay_apart() {
    let x1 = r#"input %v0 "x" : f32[1,2,8,8]"#;
    let pool = "max_pool{kernel=[3,3], strides=[1,1], pads=[1,1,1,1], dilations=[1,1], ceil_mode=false, count_include_pad=false, storage_order=0}";
    let text = pair(x1, CONV, "[in0, relu(%0)]", "")
        .replace("[N,", "[1,")
        .replace(",S,S]", ",8,8]")
        .replace(
            &format!("anchor={CONV},"),
            &format!("anchor={CONV}, prologue={pool},"),
        );
    assert_eq!(text.matches("prologue=").count(), 2, "{text}");
    assert_unchanged(&text);
}

#[test]
fn non_constant_weights_stay_apart() {
    let text = format!(
        r#"graph "t" {{
  input %v0 "x" : f32[1,2,8,8]
  input %v1 "w" : f32[2,2,1,1]
  const %v2 : f32[2,2,1,1] = [1.5, -0.75, 0.2, 0.6]
  %v3 "a" = {CONV}(%v0, %v1) : f32[1,2,8,8]
  %v4 "b" = {CONV}(%v0, %v2) : f32[1,2,8,8]
  output "a" = %v3
  output "b" = %v4
}}
"#
    );
    assert_unchanged(&text);
}

#[test]
fn slices_are_ordered_to_start_aligned() {
    // 4×4 planes: a channel is 64 bytes, so only the 4-channel slice is 256-byte sized.
    // It goes first, one unaligned sibling after it, and the third stays apart.
    let text = format!(
        r#"graph "t" {{
  input %v0 "x" : f32[1,2,4,4]
  const %v1 : f32[1,2,1,1] = [0.5, -1.0]
  const %v2 : f32[4,2,1,1] = [1.5, -0.75, 0.2, 0.6, 0.3, -0.9, 1.1, 0.4]
  const %v3 : f32[2,2,1,1] = [0.7, 0.8, -0.3, 0.45]
  %v4 "a" = {CONV}(%v0, %v1) : f32[1,1,4,4]
  %v5 "b" = {CONV}(%v0, %v2) : f32[1,4,4,4]
  %v6 "c" = {CONV}(%v0, %v3) : f32[1,2,4,4]
  output "a" = %v4
  output "b" = %v5
  output "c" = %v6
}}
"#
    );
    let (before, after) = merged(&text);
    let splits: Vec<Op> = after
        .nodes
        .iter()
        .filter(|(_, n)| matches!(n.op, Op::Split { .. }))
        .map(|(_, n)| n.op.clone())
        .collect();
    assert_eq!(
        splits,
        [Op::Split {
            axis: 1,
            sizes: vec![4, 1]
        }]
    );
    assert_eq!(count(&after, |op| matches!(op, Op::Conv(_))), 2);
    assert_same_outputs(&before, &after, 13, 1e-6);
    // Two unaligned siblings alone do not merge.
    let pair = text
        .replace(
            "f32[4,2,1,1] = [1.5, -0.75, 0.2, 0.6, 0.3, -0.9, 1.1, 0.4]",
            "f32[3,2,1,1] = [1.5, -0.75, 0.2, 0.6, 0.3, -0.9]",
        )
        .replace("f32[1,4,4,4]", "f32[1,3,4,4]");
    let (_, after) = merged(&pair);
    assert_eq!(count(&after, |op| matches!(op, Op::Split { .. })), 0);
    // A sibling read only as a convolution's input joins at an unaligned slice: codegen
    // reads such a slice at an element base.
    let conv_read = text
        .replace(
            "  output \"c\" = %v6\n",
            "  const %v7 : f32[1,2,1,1] = [0.25, -0.5]\n  %v8 \"d\" = {CONV}(%v6, %v7) : f32[1,1,4,4]\n  output \"d\" = %v8\n",
        )
        .replace("{CONV}", CONV);
    let (before, after) = merged(&conv_read);
    let sizes: Vec<Vec<usize>> = after
        .nodes
        .iter()
        .filter_map(|(_, n)| match &n.op {
            Op::Split { sizes, .. } => Some(sizes.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(sizes, [vec![4, 1, 2]]);
    assert_same_outputs(&before, &after, 14, 1e-6);
}

#[test]
fn a_sibling_read_only_by_a_concat_stays_apart() {
    // "c" only feeds the concat (written there in place at --opt >= 1): a and b merge.
    let text = format!(
        r#"graph "t" {{
  input %v0 "x" : f32[1,2,8,8]
  const %v1 : f32[2,2,1,1] = [0.5, -1.0, 2.0, 0.25]
  const %v2 : f32[2,2,1,1] = [1.5, -0.75, 0.2, 0.6]
  const %v3 : f32[2,2,1,1] = [0.7, 0.8, -0.3, 0.45]
  %v4 "a" = {CONV}(%v0, %v1) : f32[1,2,8,8]
  %v5 "b" = {CONV}(%v0, %v2) : f32[1,2,8,8]
  %v6 "c" = {CONV}(%v0, %v3) : f32[1,2,8,8]
  %v7 "d" = add(%v4, %v5) : f32[1,2,8,8]
  %v8 "y" = concat{{axis=1}}(%v6, %v7) : f32[1,4,8,8]
  output "y" = %v8
}}
"#
    );
    let (before, after) = merged(&text);
    assert_eq!(count(&after, |op| matches!(op, Op::Conv(_))), 2);
    assert_eq!(count(&after, |op| matches!(op, Op::Split { .. })), 1);
    assert_same_outputs(&before, &after, 17, 1e-6);
}

#[test]
fn in_the_pipeline_at_level_two_only_and_idempotent() {
    for (level, present) in [(1, false), (2, true)] {
        let options = kiln_passes::PipelineOptions {
            opt_level: level,
            ..Default::default()
        };
        let names = kiln_passes::pipeline(&options, &common::target())
            .unwrap()
            .names();
        assert_eq!(names.contains(&"merge-siblings"), present, "{names:?}");
    }
    let pass = MergeSiblings {
        target: common::target(),
    };
    let (_, after) = merged(&two_siblings());
    let again = pass.run(after.clone()).unwrap();
    assert_eq!(again, after, "a second run finds nothing to merge");
}
