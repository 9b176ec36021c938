//! Control flow at import: `Loop` unrolled (carried values, scan outputs, outer-scope
//! reads, iteration numbers, computed conditions), and the errors for loops that
//! cannot be unrolled; `If` taking a known branch or selecting between both.

mod common;

use common::*;
use kiln_ir::{interp, Tensor};
use kiln_onnx::proto::{
    attr_type, data_type, AttributeProto, GraphProto, ModelProto, NodeProto, ValueInfoProto,
};
use kiln_onnx::{import, ImportError, ImportOptions, Model};

fn body_attr(body: GraphProto) -> AttributeProto {
    AttributeProto {
        name: "body".into(),
        r#type: attr_type::GRAPH,
        g: Some(body),
        ..Default::default()
    }
}

fn graph(
    nodes: Vec<NodeProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
) -> GraphProto {
    GraphProto {
        name: "body".into(),
        node: nodes,
        input: inputs,
        output: outputs,
        ..Default::default()
    }
}

/// Body `(i, cond, acc) -> (cond, acc + step, (acc + step) * i)`; `step` is read
/// from the outer scope.
fn accumulate_body() -> GraphProto {
    graph(
        vec![
            node("Identity", &["cond"], &["cond_out"], vec![]),
            node("Add", &["acc", "step"], &["acc_out"], vec![]),
            node("Cast", &["i"], &["i_f"], vec![attr_i("to", 1)]),
            node("Mul", &["acc_out", "i_f"], &["scan"], vec![]),
        ],
        vec![
            value_info("i", data_type::INT64, &[]),
            value_info("cond", data_type::BOOL, &[]),
            f32_input("acc", &[2]),
        ],
        vec![
            value_info("cond_out", data_type::BOOL, &[]),
            f32_input("acc_out", &[2]),
            f32_input("scan", &[2]),
        ],
    )
}

/// `final, scans = Loop(m, "", x)` with the accumulate body and trip count `m`.
fn accumulate_model(m: i64, cond: Option<bool>) -> ModelProto {
    let mut inits = vec![
        i64_tensor("m", &[], &[m]),
        f32_tensor("step", &[2], &[1.0, 2.0]),
    ];
    let cond_name = match cond {
        Some(c) => {
            inits.push(bool_tensor("c", c));
            "c"
        }
        None => "",
    };
    model(
        vec![node(
            "Loop",
            &["m", cond_name, "x"],
            &["final", "scans"],
            vec![body_attr(accumulate_body())],
        )],
        vec![f32_input("x", &[2])],
        vec![f32_input("final", &[2]), f32_input("scans", &[m.max(0), 2])],
        inits,
        13,
    )
}

fn bool_tensor(name: &str, v: bool) -> kiln_onnx::proto::TensorProto {
    kiln_onnx::proto::TensorProto {
        name: name.into(),
        data_type: data_type::BOOL,
        int32_data: vec![v as i32],
        ..Default::default()
    }
}

fn import_model(m: &ModelProto) -> Result<kiln_ir::Graph, ImportError> {
    import(
        &Model::decode(&bytes(m)).unwrap(),
        &ImportOptions::default(),
    )
}

#[test]
fn loop_with_carried_value_and_scan_output_is_unrolled() {
    let g = import_model(&accumulate_model(3, None)).unwrap();
    kiln_ir::verify::verify(&g).unwrap();
    assert_eq!(g.ty(g.outputs[1].value).shape.dims(), &[3, 2]);
    let x = Tensor::from_f32(vec![2], vec![0.5, -1.0]).unwrap();
    let out = interp::run(&g, &[x]).unwrap();
    // acc: [1.5, 1], [2.5, 3], [3.5, 5]; scan = acc * i.
    assert_eq!(out[0].to_f64_vec(), vec![3.5, 5.0]);
    assert_eq!(out[1].to_f64_vec(), vec![0.0, 0.0, 2.5, 3.0, 7.0, 10.0]);
}

#[test]
fn loop_with_a_false_condition_or_no_iterations_passes_values_through() {
    for m in [accumulate_model(3, Some(false)), accumulate_model(0, None)] {
        let g = import_model(&m).unwrap();
        assert_eq!(g.ty(g.outputs[1].value).shape.dims(), &[0, 2]);
        let x = Tensor::from_f32(vec![2], vec![0.5, -1.0]).unwrap();
        let out = interp::run(&g, &[x]).unwrap();
        assert_eq!(out[0].to_f64_vec(), vec![0.5, -1.0]);
        assert!(out[1].to_f64_vec().is_empty());
    }
}

#[test]
fn while_loop_runs_until_its_computed_condition_is_false() {
    // M = INT64_MAX (as exporters write while loops); the body stops at i = 3 and
    // doubles x each iteration; the scan output collects i.
    let body = graph(
        vec![
            node("Less", &["i", "three"], &["cond_out"], vec![]),
            node("Add", &["acc", "acc"], &["acc_out"], vec![]),
            node("Identity", &["i"], &["i_out"], vec![]),
        ],
        vec![
            value_info("i", data_type::INT64, &[]),
            value_info("cond", data_type::BOOL, &[]),
            f32_input("acc", &[2]),
        ],
        vec![
            value_info("cond_out", data_type::BOOL, &[]),
            f32_input("acc_out", &[2]),
            value_info("i_out", data_type::INT64, &[]),
        ],
    );
    let m = model(
        vec![node(
            "Loop",
            &["m", "c", "x"],
            &["final", "iters"],
            vec![body_attr(body)],
        )],
        vec![f32_input("x", &[2])],
        vec![
            f32_input("final", &[2]),
            value_info("iters", data_type::INT64, &[D::N(4)]),
        ],
        vec![
            i64_tensor("m", &[], &[i64::MAX]),
            bool_tensor("c", true),
            i64_tensor("three", &[], &[3]),
        ],
        13,
    );
    let g = import_model(&m).unwrap();
    let x = Tensor::from_f32(vec![2], vec![1.0, -0.25]).unwrap();
    let out = interp::run(&g, &[x]).unwrap();
    // Iterations i = 0..=3 run (the condition computed at i = 3 is false).
    assert_eq!(out[0].to_f64_vec(), vec![16.0, -4.0]);
    assert_eq!(out[1].to_f64_vec(), vec![0.0, 1.0, 2.0, 3.0]);
    assert_eq!(g.outputs[1].wide, kiln_ir::Wide::I64);
}

#[test]
fn trip_count_given_as_input_value_is_specialised() {
    let mut m = accumulate_model(2, None);
    let graph = m.graph.as_mut().unwrap();
    graph.initializer.retain(|t| t.name != "m");
    graph.input.push(value_info("m", data_type::INT64, &[]));
    let model = Model::decode(&bytes(&m)).unwrap();
    let err = import(&model, &ImportOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "node 'Loop_node' (Loop): trip count 'm' is not known at import; kiln unrolls loops, so it must be a constant, computed from constants and shapes, or a specialised input (pass its value with --input)"
    );
    let mut opts = ImportOptions::default();
    opts.values
        .insert("m".into(), Tensor::from_i32(vec![], vec![2]).unwrap());
    let g = import(&model, &opts).unwrap();
    assert_eq!(g.inputs.len(), 1, "m is specialised away");
    let x = Tensor::from_f32(vec![2], vec![0.0, 0.0]).unwrap();
    let out = interp::run(&g, &[x]).unwrap();
    assert_eq!(out[1].to_f64_vec(), vec![0.0, 0.0, 2.0, 4.0]);
}

#[test]
fn loops_that_cannot_be_unrolled_are_errors_naming_the_node() {
    let err = import_model(&accumulate_model(1_000_000, None)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "node 'Loop_node' (Loop): trip count 1000000 too large to unroll (at most 4096 iterations)"
    );
    // A condition that stays true past the iteration limit.
    let err = import_model(&accumulate_model(1_000_000, Some(true))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "node 'Loop_node' (Loop): trip count 1000000 too large to unroll (the condition is still true after 4096 iterations)"
    );
    // A condition computed from data.
    let mut m = accumulate_model(3, Some(true));
    let body = m.graph.as_mut().unwrap().node[0].attribute[0]
        .g
        .as_mut()
        .unwrap();
    body.node[0] = node("ReduceMax", &["acc"], &["r"], vec![attr_i("keepdims", 0)]);
    body.node
        .push(node("Greater", &["r", "zero"], &["cond_out"], vec![]));
    m.graph
        .as_mut()
        .unwrap()
        .initializer
        .push(f32_tensor("zero", &[], &[0.0]));
    let err = import_model(&m).unwrap_err();
    assert_eq!(
        err.to_string(),
        "node 'Loop_node' (Loop): the condition 'cond_out' the body computes is not known at import (it depends on input data); kiln unrolls only loops whose condition is known"
    );
}

#[test]
fn unrolling_is_bounded_by_a_node_budget() {
    let mut m = accumulate_model(4000, None);
    let body = m.graph.as_mut().unwrap().node[0].attribute[0]
        .g
        .as_mut()
        .unwrap();
    let mut prev = "acc_out".to_string();
    for k in 0..16 {
        let next = format!("copy{k}");
        body.node.push(node("Identity", &[&prev], &[&next], vec![]));
        prev = next;
    }
    body.output[1].name = prev;
    let err = import_model(&m).unwrap_err().to_string();
    assert!(
        err.starts_with("node 'Loop_node' (Loop): unrolling adds too many nodes ("),
        "{err}"
    );
    assert!(err.ends_with("; at most 65536)"), "{err}");
}

fn branch_attr(name: &str, body: GraphProto) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attr_type::GRAPH,
        g: Some(body),
        ..Default::default()
    }
}

/// `y = If(c)`: the then branch gives `x + step` (both read from the outer scope), the
/// else branch `x * k` with `k` its own initializer; `else_dims` declares the else
/// result's dims (a `Reshape` to them). `c` is a graph input, or a constant when known.
fn if_model(c: Option<bool>, else_dims: &[i64]) -> ModelProto {
    let then_b = graph(
        vec![node("Add", &["x", "step"], &["t"], vec![])],
        vec![],
        vec![f32_input("t", &[2])],
    );
    let mut else_b = graph(
        vec![
            node("Mul", &["x", "k"], &["e0"], vec![]),
            node("Reshape", &["e0", "shape"], &["e"], vec![]),
        ],
        vec![],
        vec![f32_input("e", else_dims)],
    );
    else_b.initializer = vec![
        f32_tensor("k", &[2], &[3.0, -2.0]),
        i64_tensor("shape", &[else_dims.len() as i64], else_dims),
    ];
    let mut inits = vec![f32_tensor("step", &[2], &[1.0, 2.0])];
    let mut inputs = vec![f32_input("x", &[2])];
    match c {
        Some(c) => inits.push(bool_tensor("c", c)),
        None => inputs.push(value_info("c", data_type::BOOL, &[])),
    }
    model(
        vec![node(
            "If",
            &["c"],
            &["y"],
            vec![
                branch_attr("then_branch", then_b),
                branch_attr("else_branch", else_b),
            ],
        )],
        inputs,
        vec![f32_input("y", &[2])],
        inits,
        13,
    )
}

#[test]
fn if_with_a_known_condition_takes_its_branch() {
    let x = Tensor::from_f32(vec![2], vec![0.5, -1.0]).unwrap();
    for (c, want) in [(true, vec![1.5, 1.0]), (false, vec![1.5, 2.0])] {
        let g = import_model(&if_model(Some(c), &[2])).unwrap();
        kiln_ir::verify::verify(&g).unwrap();
        assert!(
            !g.nodes
                .iter()
                .any(|(_, n)| matches!(n.op, kiln_ir::Op::Where)),
            "only the taken branch is lowered"
        );
        let out = interp::run(&g, std::slice::from_ref(&x)).unwrap();
        assert_eq!(out[0].to_f64_vec(), want, "cond {c}");
    }
}

#[test]
fn if_with_a_run_time_condition_runs_both_branches_and_selects() {
    let g = import_model(&if_model(None, &[2])).unwrap();
    kiln_ir::verify::verify(&g).unwrap();
    let x = Tensor::from_f32(vec![2], vec![0.5, -1.0]).unwrap();
    for (c, want) in [(true, vec![1.5, 1.0]), (false, vec![1.5, 2.0])] {
        let cond = Tensor::new(vec![], kiln_ir::Data::Bool(vec![c])).unwrap();
        let out = interp::run(&g, &[x.clone(), cond]).unwrap();
        assert_eq!(out[0].to_f64_vec(), want, "cond {c}");
    }
}

#[test]
fn if_condition_given_at_import_is_compiled_in() {
    // `kiln run --input c=...` (or the conformance runner) gives the condition's value:
    // it becomes a constant and only its branch is lowered.
    let m = if_model(None, &[2]);
    let cond = Tensor::new(vec![], kiln_ir::Data::Bool(vec![false])).unwrap();
    let options = ImportOptions {
        values: [("c".to_string(), cond)].into_iter().collect(),
        ..Default::default()
    };
    let g = import(&Model::decode(&bytes(&m)).unwrap(), &options).unwrap();
    assert_eq!(g.inputs.len(), 1, "c is compiled in");
    assert!(!g
        .nodes
        .iter()
        .any(|(_, n)| matches!(n.op, kiln_ir::Op::Where)));
    let x = Tensor::from_f32(vec![2], vec![0.5, -1.0]).unwrap();
    assert_eq!(
        interp::run(&g, &[x]).unwrap()[0].to_f64_vec(),
        vec![1.5, 2.0]
    );
}

#[test]
fn if_errors_are_clean() {
    // Results of different types cannot be selected at run time.
    let err = import_model(&if_model(None, &[1, 2]))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("node 'If_node' (If): the condition is not known at import, so kiln runs both branches and selects; that needs results of one type, but result #0 is f32[2] in one branch and f32[1,2] in the other"),
        "{err}"
    );
    let m = model(
        vec![node("If", &["c"], &["y"], vec![])],
        vec![value_info("c", data_type::BOOL, &[])],
        vec![f32_input("y", &[2])],
        vec![],
        13,
    );
    let err = import_model(&m).unwrap_err();
    assert_eq!(
        err.to_string(),
        "node 'If_node' (If): attribute 'then_branch' (a graph) is required"
    );
}
