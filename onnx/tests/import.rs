//! Import of hand-built models: lowerings checked by value on the reference
//! interpreter, specialisation of shape-like inputs, dims binding, functions.

mod common;

use common::*;
use kiln_ir::{interp, Data, Op, Tensor};
use kiln_onnx::proto::{data_type, AttributeProto, FunctionProto, OperatorSetIdProto};
use kiln_onnx::{import, ImportOptions, Model};

fn load(m: &kiln_onnx::proto::ModelProto) -> Model {
    Model::decode(&bytes(m)).unwrap()
}

fn run(g: &kiln_ir::Graph, inputs: &[Tensor]) -> Vec<f64> {
    interp::run(g, inputs).unwrap()[0].to_f64_vec()
}

#[test]
fn gemm_lowers_to_transpose_matmul_scale_add() {
    // Y = 2 * A^T B + 0.5 * C with A: 3x2 (transposed to 2x3), B: 3x2, C: [2].
    let m = model(
        vec![node(
            "Gemm",
            &["a", "b", "c"],
            &["y"],
            vec![
                attr_i("transA", 1),
                attr_f("alpha", 2.0),
                attr_f("beta", 0.5),
            ],
        )],
        vec![f32_input("a", &[3, 2])],
        vec![f32_input("y", &[2, 2])],
        vec![
            f32_tensor("b", &[3, 2], &[1., 2., 3., 4., 5., 6.]),
            f32_tensor("c", &[2], &[10., 20.]),
        ],
        13,
    );
    let g = import(&load(&m), &ImportOptions::default()).unwrap();
    let a = Tensor::from_f32(vec![3, 2], vec![1., 4., 2., 5., 3., 6.]).unwrap(); // A^T = [[1,2,3],[4,5,6]]
                                                                                 // A^T B = [[22, 28], [49, 64]]; *2 = [[44,56],[98,128]]; + [5, 10].
    assert_eq!(run(&g, &[a]), vec![49., 66., 103., 138.]);
}

#[test]
fn shape_like_input_is_specialised_and_data_input_stays() {
    // y = Reshape(x, shape) where `shape` is an int64 graph input.
    let m = model(
        vec![node("Reshape", &["x", "shape"], &["y"], vec![])],
        vec![
            f32_input("x", &[2, 3]),
            value_info("shape", data_type::INT64, &[D::N(2)]),
        ],
        vec![f32_input("y", &[3, 2])],
        vec![],
        14,
    );
    let model = load(&m);
    let err = import(&model, &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "node 'Reshape_node' (Reshape): shape operand 'shape' must be a constant or a specialised input; pass its value with --input"
    );
    let mut opts = ImportOptions::default();
    let x = Tensor::from_f32(vec![2, 3], vec![1., 2., 3., 4., 5., 6.]).unwrap();
    opts.values.insert(
        "shape".into(),
        Tensor::from_i32(vec![2], vec![3, -1]).unwrap(),
    );
    opts.values.insert("x".into(), x.clone());
    let g = import(&model, &opts).unwrap();
    assert_eq!(
        g.inputs.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["x"]
    );
    assert_eq!(g.ty(g.outputs[0].value).shape.dims(), &[3, 2]);
    assert_eq!(run(&g, &[x]), vec![1., 2., 3., 4., 5., 6.]);
}

#[test]
fn shape_chain_is_known_and_int64_max_slice_end_works() {
    // s = Shape(Relu(x)); n = Gather(s, 1); y = Slice(x, [1], [INT64_MAX], [1]) then Reshape to [-1, n-...]
    let m = model(
        vec![
            node("Relu", &["x"], &["r"], vec![]),
            node("Shape", &["r"], &["s"], vec![]),
            node("Slice", &["r", "starts", "ends", "axes"], &["sl"], vec![]),
            node("Reshape", &["sl", "s2"], &["y"], vec![]),
            node(
                "Concat",
                &["minus1", "last"],
                &["s2"],
                vec![attr_i("axis", 0)],
            ),
            node("Gather", &["s", "one"], &["last"], vec![attr_i("axis", 0)]),
        ],
        vec![f32_input("x", &[3, 4])],
        vec![f32_input("y", &[2, 4])],
        vec![
            i64_tensor("starts", &[1], &[1]),
            i64_tensor("ends", &[1], &[i64::MAX]),
            i64_tensor("axes", &[1], &[0]),
            i64_tensor("minus1", &[1], &[-1]),
            i64_tensor("one", &[1], &[1]),
        ],
        13,
    );
    // Nodes out of order: the importer requires topological order and says so.
    let err = import(&load(&m), &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'s2' is not defined before this node"),
        "{err}"
    );
    let mut m = m;
    let nodes = &mut m.graph.as_mut().unwrap().node;
    nodes.swap(3, 5); // Gather, Concat, Reshape
    let g = import(&load(&m), &ImportOptions::default()).unwrap();
    assert!(
        g.nodes
            .iter()
            .any(|(_, n)| matches!(n.op, Op::Shape { .. })),
        "Shape of a node result stays a node"
    );
    let x = Tensor::from_f32(vec![3, 4], (0..12).map(|i| i as f32 - 3.0).collect()).unwrap();
    assert_eq!(g.ty(g.outputs[0].value).shape.dims(), &[2, 4]);
    assert_eq!(run(&g, &[x]), vec![1., 2., 3., 4., 5., 6., 7., 8.]);
}

#[test]
fn int64_constant_that_does_not_fit_is_an_error_when_computed_with() {
    let m = model(
        vec![node("Add", &["x", "big"], &["y"], vec![])],
        vec![value_info("x", data_type::INT64, &[D::N(1)])],
        vec![value_info("y", data_type::INT64, &[D::N(1)])],
        vec![i64_tensor("big", &[1], &[1 << 40])],
        13,
    );
    let err = import(&load(&m), &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "tensor 'big': int64 values do not fit in i32 (kiln computes int64 as i32)"
    );
}

#[test]
fn symbolic_dims_bind_from_options_and_batch_defaults_to_one() {
    let m = model(
        vec![node("Relu", &["x"], &["y"], vec![])],
        vec![value_info(
            "x",
            data_type::FLOAT,
            &[D::S("batch"), D::N(3), D::S("h")],
        )],
        vec![value_info(
            "y",
            data_type::FLOAT,
            &[D::S("batch"), D::N(3), D::S("h")],
        )],
        vec![],
        13,
    );
    let model = load(&m);
    let err = import(&model, &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "input 'x': dim 2 ('h') is not fixed; pass its dims with --shape x=DIMS (e.g. --shape x=1x3x224x224)"
    );
    let mut opts = ImportOptions::default();
    opts.shapes.insert("x".into(), vec![1, 3, 5]);
    let g = import(&model, &opts).unwrap();
    assert_eq!(g.ty(g.inputs[0].value).shape.dims(), &[1, 3, 5]);
    opts.shapes.insert("x".into(), vec![1, 4, 5]);
    let err = import(&model, &opts).unwrap_err().to_string();
    assert_eq!(
        err,
        "input 'x': given dims [1, 4, 5] do not fit the declared [batch, 3, h]"
    );
}

#[test]
fn model_local_function_is_inlined_with_attribute_references() {
    // ScaledAdd(a, b) = (a + b) * alpha, alpha an attribute reference.
    let f = FunctionProto {
        name: "ScaledAdd".into(),
        domain: "custom".into(),
        input: vec!["a".into(), "b".into()],
        output: vec!["out".into()],
        attribute: vec!["alpha".into()],
        node: vec![
            node("Add", &["a", "b"], &["s"], vec![]),
            node(
                "Constant",
                &[],
                &["k"],
                vec![AttributeProto {
                    name: "value_float".into(),
                    ref_attr_name: "alpha".into(),
                    r#type: 1,
                    ..Default::default()
                }],
            ),
            node("Mul", &["s", "k"], &["out"], vec![]),
        ],
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        ..Default::default()
    };
    let mut call = node("ScaledAdd", &["x", "y"], &["z"], vec![attr_f("alpha", 3.0)]);
    call.domain = "custom".into();
    let mut m = model(
        vec![call],
        vec![f32_input("x", &[2]), f32_input("y", &[2])],
        vec![f32_input("z", &[2])],
        vec![],
        13,
    );
    m.functions.push(f);
    m.opset_import.push(OperatorSetIdProto {
        domain: "custom".into(),
        version: 1,
    });
    let g = import(&load(&m), &ImportOptions::default()).unwrap();
    let x = Tensor::from_f32(vec![2], vec![1.5, -2.0]).unwrap();
    let y = Tensor::from_f32(vec![2], vec![0.25, 4.0]).unwrap();
    assert_eq!(run(&g, &[x, y]), vec![5.25, 6.0]);
}

#[test]
fn clip_without_bounds_and_dropout_mask() {
    let m = model(
        vec![
            node("Clip", &["x", "", "hi"], &["c"], vec![]),
            node("Dropout", &["c"], &["y", "mask"], vec![]),
        ],
        vec![f32_input("x", &[3])],
        vec![
            f32_input("y", &[3]),
            value_info("mask", data_type::BOOL, &[D::N(3)]),
        ],
        vec![f32_tensor("hi", &[], &[1.0])],
        13,
    );
    let g = import(&load(&m), &ImportOptions::default()).unwrap();
    let x = Tensor::from_f32(vec![3], vec![-5.0, 0.5, 7.0]).unwrap();
    let out = interp::run(&g, &[x]).unwrap();
    assert_eq!(out[0].to_f64_vec(), vec![-5.0, 0.5, 1.0]);
    assert_eq!(*out[1].data(), Data::Bool(vec![true; 3]));
}

#[test]
fn options_naming_no_input_or_the_wrong_rank_are_errors() {
    let m = model(
        vec![node("Add", &["a", "b"], &["y"], vec![])],
        vec![
            value_info("a", data_type::FLOAT, &[D::S("n"), D::N(2)]),
            f32_input("b", &[2]),
        ],
        vec![f32_input("y", &[1, 2])],
        vec![],
        13,
    );
    let model = load(&m);
    let mut opts = ImportOptions::default();
    opts.shapes.insert("foo".into(), vec![1, 2]);
    assert_eq!(
        import(&model, &opts).unwrap_err().to_string(),
        "--shape names 'foo', which is not an input of the model (inputs: a, b)"
    );
    let mut opts = ImportOptions::default();
    opts.values.insert(
        "bar".into(),
        Tensor::from_f32(vec![2], vec![1.0, 2.0]).unwrap(),
    );
    assert_eq!(
        import(&model, &opts).unwrap_err().to_string(),
        "--input names 'bar', which is not an input of the model (inputs: a, b)"
    );
    let mut opts = ImportOptions::default();
    opts.shapes.insert("a".into(), vec![3]);
    assert_eq!(
        import(&model, &opts).unwrap_err().to_string(),
        "input 'a': given dims [3] have rank 1 but the model declares rank 2 ([n, 2])"
    );
    let mut opts = ImportOptions::default();
    opts.values
        .insert("b".into(), Tensor::from_i32(vec![2], vec![1, 2]).unwrap());
    assert_eq!(
        import(&model, &opts).unwrap_err().to_string(),
        "input 'b': given value is i32[2] but the model declares f32[2]"
    );
    let mut opts = ImportOptions::default();
    opts.shapes.insert("a".into(), vec![3, 2]);
    let g = import(&model, &opts).unwrap();
    assert_eq!(g.ty(g.outputs[0].value).shape.dims(), &[3, 2]);
}

#[test]
fn huge_constant_of_shape_is_a_splat_and_beyond_the_limit_an_error() {
    let build = |dims: &[i64]| {
        model(
            vec![node("ConstantOfShape", &["shape"], &["y"], vec![])],
            vec![],
            vec![f32_input("y", dims)],
            vec![i64_tensor("shape", &[dims.len() as i64], dims)],
            13,
        )
    };
    let g = import(
        &load(&build(&[1_000_000, 1_000_000])),
        &ImportOptions::default(),
    )
    .unwrap();
    let t = g.constant(g.outputs[0].value).unwrap();
    assert!(t.is_splat());
    assert_eq!(t.numel(), 1_000_000_000_000);
    let err = import(
        &load(&build(&[1 << 30, 1 << 30, 4])),
        &ImportOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "node 'ConstantOfShape_node' (ConstantOfShape): shape [1073741824, 1073741824, 4] is too large (kiln imports values of at most 2^40 elements)"
    );
    // Dims whose product overflows usize, with a zero among them.
    let err = import(
        &load(&build(&[0, i64::MAX, i64::MAX])),
        &ImportOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.ends_with("is too large (kiln imports values of at most 2^40 elements)"),
        "{err}"
    );
}

#[test]
fn hostile_attributes_are_errors() {
    let conv = |strides: &[i64]| {
        model(
            vec![node(
                "Conv",
                &["x", "w"],
                &["y"],
                vec![attr_ints("strides", strides)],
            )],
            vec![f32_input("x", &[1, 1, 4, 4])],
            vec![f32_input("y", &[1, 1, 2, 2])],
            vec![f32_tensor("w", &[1, 1, 3, 3], &[0.5; 9])],
            13,
        )
    };
    let err = import(&load(&conv(&[i64::MAX, 1])), &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "node 'Conv_node' (Conv): attribute 'strides' entry 9223372036854775807 is too large (at most 1048576)"
    );
    let squeeze = model(
        vec![node("Squeeze", &["x", "axes"], &["y"], vec![])],
        vec![f32_input("x", &[])],
        vec![f32_input("y", &[])],
        vec![i64_tensor("axes", &[1], &[0])],
        13,
    );
    let err = import(&load(&squeeze), &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "node 'Squeeze_node' (Squeeze): axis 0 is out of range for rank 0"
    );
}

#[test]
fn exponential_function_expansion_is_bounded() {
    // f0 calls f1 twice, f1 calls f2 twice, ...: 2^30 leaf calls if inlined fully.
    let call = |f: usize, a: &str, out: &str| {
        let mut n = node(&format!("f{f}"), &[a], &[out], vec![]);
        n.domain = "custom".into();
        n
    };
    let mut m = model(
        vec![call(0, "x", "y")],
        vec![f32_input("x", &[2])],
        vec![f32_input("y", &[2])],
        vec![],
        13,
    );
    for f in 0..30 {
        let body = if f == 29 {
            vec![node("Relu", &["a"], &["out"], vec![])]
        } else {
            vec![call(f + 1, "a", "t"), call(f + 1, "t", "out")]
        };
        m.functions.push(FunctionProto {
            name: format!("f{f}"),
            domain: "custom".into(),
            input: vec!["a".into()],
            output: vec!["out".into()],
            node: body,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            }],
            ..Default::default()
        });
    }
    m.opset_import.push(OperatorSetIdProto {
        domain: "custom".into(),
        version: 1,
    });
    let err = import(&load(&m), &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "the model expands to more than 2097152 nodes (functions and unrolled loops included)"
    );
}

#[test]
fn gather_elements_and_gather_nd_refuse_indices_out_of_range() {
    let data = f32_tensor("data", &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let run_with = |op: &str, idims: &[i64], idx: Vec<i32>| {
        let dims: Vec<D> = idims.iter().map(|&d| D::N(d)).collect();
        let mut out_dims = idims.to_vec();
        if op == "GatherND" {
            out_dims.pop();
        }
        let m = model(
            vec![node(op, &["data", "i"], &["y"], vec![attr_i("axis", 1)])],
            vec![value_info("i", data_type::INT64, &dims)],
            vec![f32_input("y", &out_dims)],
            vec![data.clone()],
            13,
        );
        let g = import(&load(&m), &ImportOptions::default()).unwrap();
        let i = Tensor::new(
            idims.iter().map(|&d| d as usize).collect::<Vec<_>>(),
            Data::I32(idx),
        )
        .unwrap();
        interp::run(&g, &[i]).map(|o| o[0].to_f64_vec())
    };
    let ok = run_with("GatherElements", &[2, 2], vec![2, -3, 0, 1]).unwrap();
    assert_eq!(ok, vec![3.0, 1.0, 4.0, 5.0]);
    // Index 3 of a 3-wide axis would read the next row's first element if unchecked.
    assert!(run_with("GatherElements", &[2, 2], vec![3, 0, 0, 1]).is_err());
    assert!(run_with("GatherElements", &[2, 2], vec![0, 0, -4, 1]).is_err());
    let ok = run_with("GatherND", &[2, 2], vec![1, -1, 0, 1]).unwrap();
    assert_eq!(ok, vec![6.0, 2.0]);
    assert!(run_with("GatherND", &[2, 2], vec![0, 3, 0, 0]).is_err());
    assert!(run_with("GatherND", &[2, 2], vec![2, 0, 0, 0]).is_err());
}

/// The ops composed at import refuse operands they cannot lower with one error naming
/// the node and op.
#[test]
fn composed_ops_refuse_bad_operands_with_clear_errors() {
    let err = |m: kiln_onnx::proto::ModelProto| {
        import(&load(&m), &ImportOptions::default())
            .unwrap_err()
            .to_string()
    };
    let group_norm = model(
        vec![node(
            "GroupNormalization",
            &["x", "s", "b"],
            &["y"],
            vec![attr_i("num_groups", 3)],
        )],
        vec![f32_input("x", &[1, 4, 2, 2])],
        vec![f32_input("y", &[1, 4, 2, 2])],
        vec![
            f32_tensor("s", &[4], &[1.0; 4]),
            f32_tensor("b", &[4], &[0.0; 4]),
        ],
        21,
    );
    assert_eq!(
        err(group_norm),
        "node 'GroupNormalization_node' (GroupNormalization): num_groups 3 must be positive and divide the 4 channels"
    );
    let reverse = model(
        vec![node(
            "ReverseSequence",
            &["x", "lens"],
            &["y"],
            vec![attr_i("time_axis", 2)],
        )],
        vec![f32_input("x", &[3, 2, 2])],
        vec![f32_input("y", &[3, 2, 2])],
        vec![i64_tensor("lens", &[2], &[1, 2])],
        10,
    );
    assert_eq!(
        err(reverse),
        "node 'ReverseSequence_node' (ReverseSequence): time_axis 2 and batch_axis 1 must be 0 and 1 in some order"
    );
    let col2im = model(
        vec![node("Col2Im", &["x", "image", "block"], &["y"], vec![])],
        vec![f32_input("x", &[1, 4, 4])],
        vec![f32_input("y", &[1, 1, 1, 1])],
        vec![
            i64_tensor("image", &[2], &[1, 1]),
            i64_tensor("block", &[2], &[2, 2]),
        ],
        18,
    );
    assert_eq!(
        err(col2im),
        "node 'Col2Im_node' (Col2Im): block 2 (dilated 2) does not fit padded image axis 0 of 1"
    );
    let grid_sample = model(
        vec![node("GridSample", &["x", "grid"], &["y"], vec![])],
        vec![
            f32_input("x", &[1, 1, 4, 4]),
            f32_input("grid", &[1, 2, 2, 3]),
        ],
        vec![f32_input("y", &[1, 1, 2, 2])],
        vec![],
        20,
    );
    assert!(err(grid_sample).starts_with("node 'GridSample_node' (GridSample): X (f32 or f16"));
}
