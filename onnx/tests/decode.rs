//! Decoding: bad bytes never panic, TensorProto fields and external data, and the
//! rendered text of decode and unsupported-op errors.

mod common;

use common::*;
use kiln_ir::Data;
use kiln_onnx::proto::{data_type, StringStringEntryProto, TensorProto};
use kiln_onnx::{decode_tensor, import, Dim, ImportOptions, Model};
use prost::Message;

fn relu_model() -> Vec<u8> {
    bytes(&model(
        vec![node("Relu", &["x"], &["y"], vec![])],
        vec![f32_input("x", &[2, 3])],
        vec![f32_input("y", &[2, 3])],
        vec![],
        13,
    ))
}

#[test]
fn truncated_model_is_a_decode_error() {
    let full = relu_model();
    assert!(Model::decode(&full).is_ok());
    for cut in [1, full.len() / 3, full.len() / 2, full.len() - 1] {
        let err = Model::decode(&full[..cut]).unwrap_err().to_string();
        assert!(err.starts_with("not an ONNX model: "), "{cut}: {err}");
    }
    assert_eq!(
        Model::decode(&[]).unwrap_err().to_string(),
        "not an ONNX model: no graph in 0 bytes"
    );
}

#[test]
fn random_bytes_never_panic() {
    // A fixed xorshift stream: many different garbage inputs, reproducibly.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for len in 0..400usize {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        if let Ok(m) = Model::decode(&bytes) {
            let _ = import(&m, &ImportOptions::default());
        }
        let _ = decode_tensor(&bytes);
    }
    let err = Model::decode(b"\xff\xff\xff\xff garbage")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("not an ONNX model: "), "{err}");
}

#[test]
fn unsupported_op_names_op_and_node() {
    let m = model(
        vec![node("ImageDecoder", &["x"], &["y"], vec![])],
        vec![f32_input("x", &[2])],
        vec![f32_input("y", &[2])],
        vec![],
        13,
    );
    let err = import(
        &Model::decode(&bytes(&m)).unwrap(),
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "node 'ImageDecoder_node' (ImageDecoder): op 'ImageDecoder' is not supported"
    );
    let m = model(
        vec![node("Scan", &["x"], &["y"], vec![])],
        vec![f32_input("x", &[2])],
        vec![f32_input("y", &[2])],
        vec![],
        13,
    );
    let err = import(
        &Model::decode(&bytes(&m)).unwrap(),
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "node 'Scan_node' (Scan): attribute 'body' (a graph) is required"
    );
}

#[test]
fn unsupported_dtype_and_opset_are_named() {
    let m = model(
        vec![node("Relu", &["x"], &["y"], vec![])],
        vec![value_info("x", data_type::COMPLEX64, &[D::N(2)])],
        vec![f32_input("y", &[2])],
        vec![],
        13,
    );
    let err = import(
        &Model::decode(&bytes(&m)).unwrap(),
        &ImportOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("input 'x': dtype complex64 is not supported"),
        "{err}"
    );
    let m = model(
        vec![node("Relu", &["x"], &["y"], vec![])],
        vec![f32_input("x", &[2])],
        vec![f32_input("y", &[2])],
        vec![],
        29,
    );
    let err = import(
        &Model::decode(&bytes(&m)).unwrap(),
        &ImportOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "ai.onnx opset 29 is not supported (kiln supports up to 28)"
    );
}

#[test]
fn inputs_and_outputs_are_listed_without_initializers() {
    let mut m = model(
        vec![node("Add", &["x", "w"], &["y"], vec![])],
        vec![
            value_info("x", data_type::FLOAT, &[D::S("batch"), D::N(2)]),
            f32_input("w", &[2]),
        ],
        vec![f32_input("y", &[1, 2])],
        vec![f32_tensor("w", &[2], &[1.0, 2.0])],
        13,
    );
    m.ir_version = 3; // old models list initializers among the inputs
    let model = Model::decode(&bytes(&m)).unwrap();
    let inputs = model.inputs();
    assert_eq!(inputs.len(), 1);
    assert_eq!(inputs[0].name, "x");
    assert_eq!(inputs[0].dtype, "float");
    assert_eq!(
        inputs[0].dims,
        Some(vec![Dim::Symbolic("batch".into()), Dim::Fixed(2)])
    );
    let g = import(&model, &ImportOptions::default()).unwrap();
    assert_eq!(g.inputs.len(), 1);
    assert_eq!(model.outputs()[0].name, "y");
}

#[test]
fn tensor_fields_decode() {
    let t = TensorProto {
        name: "h".into(),
        dims: vec![2],
        data_type: data_type::FLOAT16,
        int32_data: vec![0x3C00, 0xC000],
        ..Default::default()
    };
    let nt = decode_tensor(&t.encode_to_vec()).unwrap();
    assert_eq!(nt.tensor.to_f64_vec(), vec![1.0, -2.0]);
    let raw: Vec<u8> = [7i64, -3].iter().flat_map(|v| v.to_le_bytes()).collect();
    let t = TensorProto {
        name: "i".into(),
        dims: vec![2, 1],
        data_type: data_type::INT64,
        raw_data: Some(raw),
        ..Default::default()
    };
    let nt = decode_tensor(&t.encode_to_vec()).unwrap();
    assert_eq!(nt.wide, kiln_ir::Wide::I64);
    assert_eq!(nt.name, "i");
    assert_eq!(*nt.tensor.data(), Data::I32(vec![7, -3]));
    let t = TensorProto {
        name: "u".into(),
        dims: vec![1],
        data_type: data_type::UINT32,
        uint64_data: vec![4_000_000_000],
        ..Default::default()
    };
    assert_eq!(
        *decode_tensor(&t.encode_to_vec()).unwrap().tensor.data(),
        Data::U32(vec![4_000_000_000])
    );
    let t = TensorProto {
        name: "big".into(),
        dims: vec![1],
        data_type: data_type::INT64,
        int64_data: vec![1 << 33],
        ..Default::default()
    };
    let err = decode_tensor(&t.encode_to_vec()).unwrap_err().to_string();
    assert_eq!(
        err,
        "tensor 'big': int64 value 8589934592 does not fit in i32 (kiln computes int64 as i32)"
    );
    let t = TensorProto {
        name: "short".into(),
        dims: vec![3],
        data_type: data_type::FLOAT,
        float_data: vec![1.0],
        ..Default::default()
    };
    let err = decode_tensor(&t.encode_to_vec()).unwrap_err().to_string();
    assert_eq!(err, "tensor 'short': holds 1 elements but dims [3] need 3");
    let t = TensorProto {
        name: "d".into(),
        dims: vec![1],
        data_type: data_type::DOUBLE,
        double_data: vec![1.0],
        ..Default::default()
    };
    let d = decode_tensor(&t.encode_to_vec()).unwrap();
    assert_eq!(
        (&*d.tensor.data(), d.wide),
        (&Data::F32(vec![1.0]), kiln_ir::Wide::F64)
    );
    let t = TensorProto {
        name: "c".into(),
        dims: vec![1],
        data_type: data_type::COMPLEX64,
        float_data: vec![1.0, 0.0],
        ..Default::default()
    };
    assert!(decode_tensor(&t.encode_to_vec())
        .unwrap_err()
        .to_string()
        .contains("dtype complex64 is not supported"));
}

fn external(location: &str, offset: u64, length: u64) -> TensorProto {
    let entry = |k: &str, v: String| StringStringEntryProto {
        key: k.into(),
        value: v,
    };
    TensorProto {
        name: "w".into(),
        dims: vec![2],
        data_type: data_type::FLOAT,
        data_location: 1,
        external_data: vec![
            entry("location", location.into()),
            entry("offset", offset.to_string()),
            entry("length", length.to_string()),
        ],
        ..Default::default()
    }
}

#[test]
fn external_data_is_read_relative_to_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let mut blob = vec![0u8; 4];
    blob.extend([1.5f32, -4.0].iter().flat_map(|v| v.to_le_bytes()));
    std::fs::write(dir.path().join("weights.bin"), &blob).unwrap();
    let build = |t: TensorProto| {
        model(
            vec![node("Add", &["x", "w"], &["y"], vec![])],
            vec![f32_input("x", &[2])],
            vec![f32_input("y", &[2])],
            vec![t],
            13,
        )
    };
    let path = dir.path().join("model.onnx");
    std::fs::write(&path, bytes(&build(external("weights.bin", 4, 8)))).unwrap();
    let g = import(&Model::load(&path).unwrap(), &ImportOptions::default()).unwrap();
    let x = kiln_ir::Tensor::from_f32(vec![2], vec![1.0, 1.0]).unwrap();
    assert_eq!(
        kiln_ir::interp::run(&g, &[x]).unwrap()[0].to_f64_vec(),
        vec![2.5, -3.0]
    );

    // From bytes there is no directory to read from.
    let err = import(
        &Model::decode(&bytes(&build(external("weights.bin", 4, 8)))).unwrap(),
        &ImportOptions::default(),
    );
    assert!(err
        .unwrap_err()
        .to_string()
        .contains("load the model from a file"));

    std::fs::write(&path, bytes(&build(external("weights.bin", 8, 8)))).unwrap();
    let err = import(&Model::load(&path).unwrap(), &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "tensor 'w': external data range 8..16 is past the end of 'weights.bin' (12 bytes)"
    );

    std::fs::write(&path, bytes(&build(external("missing.bin", 0, 8)))).unwrap();
    let err = import(&Model::load(&path).unwrap(), &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("cannot read '") && err.contains("missing.bin"),
        "{err}"
    );

    std::fs::write(&path, bytes(&build(external("../escape.bin", 0, 8)))).unwrap();
    let err = import(&Model::load(&path).unwrap(), &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("must be a relative path inside the model's directory"),
        "{err}"
    );
}

fn import_bytes(m: &kiln_onnx::proto::ModelProto) -> Result<kiln_ir::Graph, String> {
    import(
        &Model::decode(&bytes(m)).unwrap(),
        &ImportOptions::default(),
    )
    .map_err(|e| e.to_string())
}

/// double and uint64 ports compute as f32 and u32 and are flagged so the host widens
/// them back; constants that do not fit are one error naming the tensor.
#[test]
fn double_and_uint64_narrow_with_flagged_ports() {
    let double_model = |w: f64| {
        let t = TensorProto {
            name: "w".into(),
            dims: vec![1],
            data_type: data_type::DOUBLE,
            double_data: vec![w],
            ..Default::default()
        };
        model(
            vec![node("Add", &["x", "w"], &["y"], vec![])],
            vec![value_info("x", data_type::DOUBLE, &[D::N(2)])],
            vec![value_info("y", data_type::DOUBLE, &[D::N(2)])],
            vec![t],
            13,
        )
    };
    let g = import_bytes(&double_model(0.5)).unwrap();
    assert_eq!(g.inputs[0].wide, kiln_ir::Wide::F64);
    assert_eq!(g.outputs[0].wide, kiln_ir::Wide::F64);
    let x = kiln_ir::Tensor::from_f32(vec![2], vec![1.0, -2.0]).unwrap();
    let y = kiln_ir::interp::run(&g, &[x]).unwrap();
    assert_eq!(*y[0].data(), Data::F32(vec![1.5, -1.5]));
    let err = import_bytes(&double_model(1e300)).unwrap_err();
    assert!(
        err.contains("'w'") && err.contains("beyond f32's range"),
        "{err}"
    );

    let u = TensorProto {
        name: "big".into(),
        dims: vec![1],
        data_type: data_type::UINT64,
        uint64_data: vec![1 << 40],
        ..Default::default()
    };
    let m = model(
        vec![node("Add", &["x", "big"], &["y"], vec![])],
        vec![value_info("x", data_type::UINT64, &[D::N(1)])],
        vec![value_info("y", data_type::UINT64, &[D::N(1)])],
        vec![u],
        13,
    );
    let err = import_bytes(&m).unwrap_err();
    assert!(
        err.contains("'big'") && err.contains("uint64 value 1099511627776 does not fit in u32"),
        "{err}"
    );
}

/// Cast to bfloat16 rounds to nearest even in the graph (NaN kept, overflow to
/// infinity), and a bfloat16 output port is flagged.
#[test]
fn cast_to_bfloat16_rounds_in_the_graph() {
    let m = model(
        vec![node(
            "Cast",
            &["x"],
            &["y"],
            vec![attr_i("to", data_type::BFLOAT16 as i64)],
        )],
        vec![f32_input("x", &[7])],
        vec![value_info("y", data_type::BFLOAT16, &[D::N(7)])],
        vec![],
        13,
    );
    let g = import_bytes(&m).unwrap();
    assert_eq!(g.outputs[0].wide, kiln_ir::Wide::Bf16);
    let xs = [
        1.0 + 1.0 / 256.0,
        1.0 + 3.0 / 256.0,
        f32::from_bits(0x3F80_8001),
        -0.1,
        f32::MAX,
        f32::from_bits(0x7FFF_FFFF),
        1e-40,
    ];
    let x = kiln_ir::Tensor::from_f32(vec![7], xs.to_vec()).unwrap();
    let y = kiln_ir::interp::run(&g, &[x]).unwrap()[0].to_f64_vec();
    for (&x, &y) in xs.iter().zip(&y) {
        let want = kiln_ir::bf16_to_f32(kiln_ir::f32_to_bf16(x));
        assert!(
            (want.is_nan() && y.is_nan()) || want as f64 == y,
            "{x:e} rounded to {y:e}, not {want:e}"
        );
    }
}
