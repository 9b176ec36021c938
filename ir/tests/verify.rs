//! The verifier on valid graphs and on graphs broken one invariant at a time.

use kiln_ir::parse::parse;
use kiln_ir::verify::{verify, verify_structure};
use kiln_ir::*;

const TEXT: &str = r#"graph "g" {
  input %v0 "x" : f32[2,3]
  input %v1 "y" : f32[2,3]
  const %v2 "w" : f32[3] = [1.0, 2.0, 3.0]
  %v3 = add(%v0, %v2) : f32[2,3] @"add"
  %v4 "r" = relu(%v3) : f32[2,3]
  %v5, %v6 = split{axis=0, sizes=[1,1]}(%v4) : f32[1,3], f32[1,3] @"split"
  output "a" = %v5
  output "b" = %v1
}
"#;

fn graph() -> Graph {
    parse(TEXT).unwrap()
}

fn structure_error(g: &Graph) -> String {
    verify_structure(g).unwrap_err().to_string()
}

fn h<T>(i: usize) -> Handle<T> {
    Handle::new(i)
}

#[test]
fn a_parsed_graph_is_structurally_valid() {
    verify_structure(&graph()).unwrap();
}

#[test]
fn a_graph_without_nodes_verifies() {
    let g = parse("graph \"e\" {\n  input %v0 \"x\" : f32[2]\n  output \"x\" = %v0\n}\n").unwrap();
    verify(&g).unwrap();
}

#[test]
fn handles_out_of_range() {
    let mut g = graph();
    g.nodes[h(1)].inputs[0] = h(9);
    assert_eq!(
        structure_error(&g),
        "n1 (relu): operand 0 is %v9, but the graph has 7 values"
    );

    let mut g = graph();
    g.nodes[h(2)].outputs[1] = h(7);
    assert_eq!(
        structure_error(&g),
        "n2 (split \"split\"): result 1 is %v7, but the graph has 7 values"
    );

    let mut g = graph();
    g.outputs[1].value = h(100);
    assert_eq!(
        structure_error(&g),
        "output port 1 \"b\" is %v100, but the graph has 7 values"
    );

    let mut g = graph();
    g.values[h(4)].def = ValueDef::Node {
        node: h(3),
        output: 0,
    };
    assert_eq!(
        structure_error(&g),
        "%v4 \"r\" is defined by n3, but the graph has 3 nodes"
    );
}

#[test]
fn definitions_and_back_pointers_agree() {
    let mut g = graph();
    g.values[h(6)].def = ValueDef::Node {
        node: h(2),
        output: 0,
    };
    assert_eq!(
        structure_error(&g),
        "n2 (split \"split\"): result 1 %v6 is defined as result 0 of n2 (split \"split\")"
    );

    // A value claiming to be a node result the node does not list.
    let mut g = graph();
    g.values.append(Value {
        ty: TensorType::new(DType::F32, vec![1, 3]),
        name: None,
        def: ValueDef::Node {
            node: h(2),
            output: 2,
        },
    });
    assert_eq!(
        structure_error(&g),
        "%v7 claims to be result 2 of n2 (split \"split\"), which does not hold it"
    );

    let mut g = graph();
    g.values[h(2)].def = ValueDef::Input(2);
    assert_eq!(
        structure_error(&g),
        "%v2 \"w\" claims to be input 2, which does not hold it"
    );

    let mut g = graph();
    g.values[h(2)].ty = TensorType::new(DType::F16, vec![3]);
    assert_eq!(
        structure_error(&g),
        "constant %v2 \"w\" has type f16[3] but its data is f32[3]"
    );
}

#[test]
fn ports_hold_their_own_inputs_with_unique_names() {
    let mut g = graph();
    g.inputs.swap(0, 1);
    assert_eq!(
        structure_error(&g),
        "%v0 \"x\" claims to be input 0, which does not hold it"
    );

    let mut g = graph();
    g.inputs[1].value = h(2);
    assert_eq!(
        structure_error(&g),
        "%v1 \"y\" claims to be input 1, which does not hold it"
    );

    let mut g = graph();
    g.outputs[1].name = "a".into();
    assert_eq!(
        structure_error(&g),
        "output ports 0 and 1 are both named \"a\""
    );

    let mut g = graph();
    g.inputs[1].name = "x".into();
    assert_eq!(
        structure_error(&g),
        "input ports 0 and 1 are both named \"x\""
    );
}

#[test]
fn nodes_are_in_execution_order() {
    let mut g = graph();
    // Swap nodes 0 and 1 and repoint their results, so only the order is wrong.
    let (a, b) = (g.nodes[h(0)].clone(), g.nodes[h(1)].clone());
    g.nodes[h(0)] = b;
    g.nodes[h(1)] = a;
    g.values[h(3)].def = ValueDef::Node {
        node: h(1),
        output: 0,
    };
    g.values[h(4)].def = ValueDef::Node {
        node: h(0),
        output: 0,
    };
    assert_eq!(
        structure_error(&g),
        "n0 (relu): operand 0 %v3 is not defined before the node (nodes must be in execution order)"
    );
}

#[test]
fn a_parsed_graph_verifies_with_types() {
    verify(&graph()).unwrap();
}

#[test]
fn result_types_match_inference() {
    let mut g = graph();
    g.values[h(4)].ty = TensorType::new(DType::F32, vec![3, 2]);
    assert_eq!(
        verify(&g).unwrap_err().to_string(),
        "n1 (relu): result 0 %v4 \"r\" has type f32[3,2], but the op computes f32[2,3]"
    );

    // Keeping only a prefix of the results is fine; more results than the op has is not.
    let mut g = parse(&TEXT.replace(
        "%v5, %v6 = split{axis=0, sizes=[1,1]}(%v4) : f32[1,3], f32[1,3]",
        "%v5 = split{axis=0, sizes=[1,1]}(%v4) : f32[1,3]\n  %v6 = neg(%v5) : f32[1,3]",
    ))
    .unwrap();
    verify(&g).unwrap();
    g.nodes[h(1)].outputs.push(h(6));
    g.values[h(6)].def = ValueDef::Node {
        node: h(1),
        output: 1,
    };
    g.nodes[h(3)].outputs.clear();
    assert_eq!(
        verify(&g).unwrap_err().to_string(),
        "n1 (relu) has 2 results, but `relu` defines 1"
    );
}

#[test]
fn operands_that_do_not_fit_name_the_node() {
    let text = TEXT.replace(
        "const %v2 \"w\" : f32[3] = [1.0, 2.0, 3.0]",
        "const %v2 \"w\" : f32[4] = [1.0, 2.0, 3.0, 4.0]",
    );
    let g = parse(&text).unwrap();
    verify_structure(&g).unwrap();
    let err = verify(&g).unwrap_err().to_string();
    assert!(err.starts_with("n0 (add \"add\"): "), "{err}");
}

/// A graph with one fused op over `x : f32[2,3]` and `w : f32[3]`, its line given.
fn fused_graph(node: &str) -> Graph {
    let text = format!(
        "graph \"f\" {{\n  input %v0 \"x\" : f32[2,3]\n  const %v1 \"w\" : f32[3] = [1.0, 2.0, 3.0]\n  {node}\n  output \"y\" = %v2\n}}\n"
    );
    parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn verify_error(node: &str) -> String {
    let g = fused_graph(node);
    verify_structure(&g).unwrap();
    verify(&g).unwrap_err().to_string()
}

#[test]
fn fused_ops_verify() {
    for node in [
        "%v2 = elementwise{program=[in0, in1, add(%0,%1), const(f32 0.5), mul(%2,%3)]}(%v0, %v1) : f32[2,3]",
        "%v2 = elementwise{program=[in0, const(f32 0.0), greater(%0,%1)]}(%v0) : bool[2,3]",
        "%v2 = fused{anchor=relu, arity=1, epilogue=[in0, in1, sub(%0,%1)]}(%v0, %v1) : f32[2,3]",
        "%v2 = fused{anchor=reduce_sum{axes=[1], keepdims=true}, arity=1, epilogue=[in0, cast{to=i32}(%0)]}(%v0) : i32[2,1]",
        "%v2 = fused{anchor=elementwise{program=[in0, neg(%0)]}, arity=1, epilogue=[in0, in1, mul(%0,%1)]}(%v0, %v1) : f32[2,3]",
    ] {
        let g = fused_graph(node);
        verify(&g).unwrap_or_else(|e| panic!("{e}\n{node}"));
    }
}

#[test]
fn broken_fused_ops_name_the_node_and_reason() {
    let cases = [
        (
            "%v2 = fused{anchor=relu, arity=3, epilogue=[in0]}(%v0, %v1) : f32[2,3]",
            "n0 (fused): anchor arity 3 exceeds the 2 operands",
        ),
        (
            "%v2 = fused{anchor=fused{anchor=relu, arity=1, epilogue=[in0]}, arity=1, epilogue=[in0]}(%v0) : f32[2,3]",
            "n0 (fused): a fused op cannot anchor another",
        ),
        (
            "%v2 = fused{anchor=reduce_sum{axes=[1], keepdims=false}, arity=1, epilogue=[in0, in1, add(%0,%1)]}(%v0, %v1) : f32[2]",
            "n0 (fused): shapes [3] and [2] do not broadcast",
        ),
        (
            "%v2 = fused{anchor=relu, arity=1, epilogue=[in0, in2, add(%0,%1)]}(%v0, %v1) : f32[2,3]",
            "n0 (fused): epilogue reads 3 inputs, node provides 2",
        ),
        (
            "%v2 = elementwise{program=[in0, add(%0,%2), in0]}(%v0) : f32[2,3]",
            "n0 (elementwise): program step 1 reads step 2, not an earlier one",
        ),
        (
            "%v2 = elementwise{program=[in0, not(%0)]}(%v0) : f32[2,3]",
            "n0 (elementwise): program step 1 (not): not does not apply to f32",
        ),
        (
            "%v2 = elementwise{program=[]}(%v0) : f32[2,3]",
            "n0 (elementwise): empty element-wise program",
        ),
        (
            "%v2 = elementwise{program=[in0, in1, add(%0,%1)]}(%v0, %v1) : f16[2,3]",
            "n0 (elementwise): result 0 %v2 has type f16[2,3], but the op computes f32[2,3]",
        ),
        (
            "%v2 = attention{scale=0.5}(%v0, %v1) : f32[2,3]",
            "n0 (attention): expected 3 or 4 operands (q, kt, v, mask), got 2",
        ),
    ];
    let mut failures = Vec::new();
    for (node, want) in cases {
        let got = verify_error(node);
        if got != want {
            failures.push(format!("{node}\n  want: {want}\n  got:  {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn program_constants_must_be_exact_in_their_dtype() {
    let g = fused_graph(
        "%v2 = fused{anchor=elementwise{program=[in0, const(f32 0.5), mul(%0,%1)]}, arity=1, epilogue=[in0, const(f32 0.1), add(%0,%1)]}(%v0) : f32[2,3]",
    );
    verify(&g).unwrap();
    // Replaces the constant of the epilogue (or of the anchor's program).
    let with = |in_anchor: bool, dtype: DType, value: f64| {
        let mut g = g.clone();
        let Op::Fused {
            anchor, epilogue, ..
        } = &mut g.nodes[h(0)].op
        else {
            panic!("not fused")
        };
        let program = match &mut **anchor {
            Op::Elementwise { program } if in_anchor => program,
            _ => epilogue,
        };
        program.steps[1] = Step::Const { dtype, value };
        verify(&g).map_err(|e| e.to_string())
    };
    assert_eq!(
        with(false, DType::F32, 0.1),
        Err("n0 (fused): epilogue step 1: constant 0.1 is not a f32 value".into())
    );
    assert_eq!(
        with(true, DType::F32, 1e300),
        Err("n0 (fused): anchor program step 1: constant 1e300 is not a f32 value".into())
    );
    assert_eq!(with(false, DType::F32, f64::NAN), Ok(()));
    assert_eq!(with(false, DType::F32, f64::NEG_INFINITY), Ok(()));
    assert!(!with(false, DType::F16, 65504.0)
        .unwrap_err()
        .contains("constant"));
    assert_eq!(
        with(false, DType::F16, 0.1f32 as f64),
        Err("n0 (fused): epilogue step 1: constant 0.10000000149011612 is not a f16 value".into())
    );
    // The remaining dtypes change the epilogue's types; only the constant check matters.
    let err = |dtype, value| with(false, dtype, value).unwrap_err();
    assert!(err(DType::I32, 1.5).contains("constant 1.5 is not a i32 value"));
    assert!(err(DType::U8, 256.0).contains("constant 256.0 is not a u8 value"));
    assert!(err(DType::I8, -129.0).contains("constant -129.0 is not a i8 value"));
    assert!(err(DType::U32, -1.0).contains("constant -1.0 is not a u32 value"));
    assert!(err(DType::Bool, 2.0).contains("constant 2.0 is not a bool value"));
    assert!(!err(DType::I32, -3.0).contains("constant"));
}
