//! A small ONNX model builder for tests: graphs written in Rust as `kiln_onnx::proto`
//! messages and encoded to bytes, so tests exercise the importer as a real exporter's
//! file would.
#![allow(
    dead_code,
    reason = "each test binary uses a different part of the builder"
)]

use kiln_onnx::proto::{
    attr_type, data_type, tensor_shape_proto, type_proto, AttributeProto, GraphProto, ModelProto,
    NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use prost::Message;

/// A graph under construction; values are named by the builder (`t0`, `t1`, ...).
#[derive(Default)]
pub struct OnnxBuilder {
    graph: GraphProto,
    next: usize,
}

/// An attribute of a node.
pub enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
}

impl OnnxBuilder {
    pub fn new(name: &str) -> Self {
        OnnxBuilder {
            graph: GraphProto {
                name: name.to_string(),
                ..Default::default()
            },
            next: 0,
        }
    }

    /// Declares a graph input of ONNX element type `elem` (`data_type::FLOAT`, ...).
    pub fn input(&mut self, name: &str, elem: i32, dims: &[i64]) -> String {
        self.graph.input.push(value_info(name, elem, dims));
        name.to_string()
    }

    /// Declares `value` a graph output.
    pub fn output(&mut self, value: &str, elem: i32, dims: &[i64]) {
        self.graph.output.push(value_info(value, elem, dims));
    }

    /// A float initializer.
    pub fn f32s(&mut self, dims: &[i64], data: Vec<f32>) -> String {
        let name = self.fresh("w");
        self.graph.initializer.push(TensorProto {
            name: name.clone(),
            dims: dims.to_vec(),
            data_type: data_type::FLOAT,
            float_data: data,
            ..Default::default()
        });
        name
    }

    /// A float scalar initializer.
    pub fn scalar(&mut self, value: f32) -> String {
        self.f32s(&[], vec![value])
    }

    /// An int64 initializer (axes, shapes).
    pub fn i64s(&mut self, data: &[i64]) -> String {
        let name = self.fresh("i");
        self.graph.initializer.push(TensorProto {
            name: name.clone(),
            dims: vec![data.len() as i64],
            data_type: data_type::INT64,
            int64_data: data.to_vec(),
            ..Default::default()
        });
        name
    }

    /// Adds a node with one result; returns the result's name.
    pub fn node(&mut self, op: &str, inputs: &[&str], attrs: &[(&str, Attr)]) -> String {
        let out = self.fresh(&op.to_lowercase());
        let attribute = attrs
            .iter()
            .map(|(name, a)| {
                let mut p = AttributeProto {
                    name: name.to_string(),
                    ..Default::default()
                };
                match a {
                    Attr::Int(i) => {
                        p.r#type = attr_type::INT;
                        p.i = *i;
                    }
                    Attr::Ints(v) => {
                        p.r#type = attr_type::INTS;
                        p.ints = v.clone();
                    }
                    Attr::Float(f) => {
                        p.r#type = attr_type::FLOAT;
                        p.f = *f;
                    }
                }
                p
            })
            .collect();
        self.graph.node.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.clone()],
            name: out.clone(),
            op_type: op.to_string(),
            attribute,
            ..Default::default()
        });
        out
    }

    /// The model's bytes, importing the default domain at `opset`.
    pub fn encode(self, opset: i64) -> Vec<u8> {
        ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: opset,
            }],
            producer_name: "kiln-tests".into(),
            graph: Some(self.graph),
            ..Default::default()
        }
        .encode_to_vec()
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{}", self.next)
    }
}

fn value_info(name: &str, elem: i32, dims: &[i64]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| tensor_shape_proto::Dimension {
            value: Some(tensor_shape_proto::dimension::Value::DimValue(d)),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.to_string(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: elem,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `n` seeded values uniform in `[-scale, scale]`, never exactly zero.
pub fn random(n: usize, scale: f32, seed: u64) -> Vec<f32> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let x: f32 = rng.gen_range(-1.0..1.0);
            scale * if x == 0.0 { 0.5 } else { x }
        })
        .collect()
}

/// A model with one element-wise chain `sigmoid(relu((x + a) · b))` over
/// `x: f32[2,8]`: four kernels at `--opt 0`, one `elementwise` program at `--opt 1`.
pub fn elementwise_chain() -> Vec<u8> {
    let mut b = OnnxBuilder::new("chain");
    let x = b.input("x", data_type::FLOAT, &[2, 8]);
    let a = b.f32s(&[8], random(8, 1.0, 1));
    let c = b.f32s(&[8], random(8, 2.0, 2));
    let s = b.node("Add", &[&x, &a], &[]);
    let m = b.node("Mul", &[&s, &c], &[]);
    let r = b.node("Relu", &[&m], &[]);
    let y = b.node("Sigmoid", &[&r], &[]);
    b.output(&y, data_type::FLOAT, &[2, 8]);
    b.encode(17)
}
