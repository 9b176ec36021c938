//! RNN, GRU and LSTM checked on the reference interpreter against a direct evaluation
//! of ONNX's equations, for what the ONNX node tests leave out (sequence_lens shorter
//! than the sequence, which a reverse direction reads backwards from each entry's
//! length; `clip`, `input_forget`, `linear_before_reset`, other activations); and the
//! attribute errors.

mod common;

use common::*;
use kiln_ir::{interp, Tensor};
use kiln_onnx::proto::{attr_type, data_type, AttributeProto};
use kiln_onnx::{import, ImportOptions, Model};

/// An activation by its ONNX name, and as a function.
type Activation = (&'static str, fn(f32) -> f32);

#[derive(Clone)]
struct Case {
    op: &'static str,
    direction: &'static str,
    seq: usize,
    batch: usize,
    input: usize,
    hidden: usize,
    lens: Option<Vec<i32>>,
    clip: Option<f32>,
    input_forget: bool,
    linear_before_reset: bool,
    /// RNN only: its activation, by name and as a function.
    activation: Option<Activation>,
}

impl Case {
    fn new(op: &'static str, direction: &'static str) -> Case {
        Case {
            op,
            direction,
            seq: 4,
            batch: 3,
            input: 2,
            hidden: 3,
            lens: None,
            clip: None,
            input_forget: false,
            linear_before_reset: false,
            activation: None,
        }
    }

    fn gates(&self) -> usize {
        match self.op {
            "RNN" => 1,
            "GRU" => 3,
            _ => 4,
        }
    }

    fn dirs(&self) -> usize {
        if self.direction == "bidirectional" {
            2
        } else {
            1
        }
    }
}

fn data(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((((i * 37 + seed * 101) % 29) as f32) - 14.0) / 14.0)
        .collect()
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// The operands X, W, R, B, initial_h, initial_c, P (shapes, values).
fn operands(c: &Case) -> Vec<(Vec<usize>, Vec<f32>)> {
    let (nd, gh, h) = (c.dirs(), c.gates() * c.hidden, c.hidden);
    let shapes = [
        vec![c.seq, c.batch, c.input],
        vec![nd, gh, c.input],
        vec![nd, gh, h],
        vec![nd, 2 * gh],
        vec![nd, c.batch, h],
        vec![nd, c.batch, h],
        vec![nd, 3 * h],
    ];
    shapes
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let n = s.iter().product();
            (s, data(n, i))
        })
        .collect()
}

/// ONNX's equations evaluated directly: Y `[seq, dirs, batch, hidden]`, Y_h, Y_c.
fn naive(c: &Case, ops: &[(Vec<usize>, Vec<f32>)]) -> [Vec<f32>; 3] {
    let (nd, g, hn) = (c.dirs(), c.gates(), c.hidden);
    let gh = g * hn;
    let [x, w, r, b, h0, c0, p] = [0, 1, 2, 3, 4, 5, 6].map(|i| &ops[i].1);
    let lstm = c.op == "LSTM";
    let mut y = vec![0f32; c.seq * nd * c.batch * hn];
    let mut yh = vec![0f32; nd * c.batch * hn];
    let mut yc = yh.clone();
    let clip = |v: f32| c.clip.map_or(v, |k| v.clamp(-k, k));
    for d in 0..nd {
        let reverse = c.direction == "reverse" || d == 1;
        for bt in 0..c.batch {
            let at = |s: &[f32], base: usize| s[base..base + hn].to_vec();
            let mut h = at(h0, (d * c.batch + bt) * hn);
            let mut cs = if lstm {
                at(c0, (d * c.batch + bt) * hn)
            } else {
                vec![0.0; hn]
            };
            let len = c.lens.as_ref().map_or(c.seq, |l| l[bt] as usize);
            for step in 0..len {
                let t = if reverse { len - 1 - step } else { step };
                let xt = &x[(t * c.batch + bt) * c.input..][..c.input];
                // Input and recurrence terms of every gate row, biases included.
                let xg: Vec<f32> = (0..gh)
                    .map(|j| {
                        let row = &w[(d * gh + j) * c.input..][..c.input];
                        row.iter().zip(xt).map(|(a, b)| a * b).sum::<f32>() + b[d * 2 * gh + j]
                    })
                    .collect();
                let rec = |hv: &[f32], j: usize| -> f32 {
                    let row = &r[(d * gh + j) * hn..][..hn];
                    row.iter().zip(hv).map(|(a, b)| a * b).sum::<f32>() + b[d * 2 * gh + gh + j]
                };
                let new_h: Vec<f32> = match c.op {
                    "RNN" => {
                        let f = c.activation.map_or(f32::tanh as fn(f32) -> f32, |a| a.1);
                        (0..hn).map(|j| f(clip(xg[j] + rec(&h, j)))).collect()
                    }
                    "GRU" => {
                        let z: Vec<f32> =
                            (0..hn).map(|j| sigmoid(clip(xg[j] + rec(&h, j)))).collect();
                        let rr: Vec<f32> = (0..hn)
                            .map(|j| sigmoid(clip(xg[hn + j] + rec(&h, hn + j))))
                            .collect();
                        let rh: Vec<f32> = rr.iter().zip(&h).map(|(a, b)| a * b).collect();
                        (0..hn)
                            .map(|j| {
                                let k = 2 * hn + j;
                                let pre = if c.linear_before_reset {
                                    xg[k] + rr[j] * rec(&h, k)
                                } else {
                                    xg[k] + rec(&rh, k)
                                };
                                (1.0 - z[j]) * clip(pre).tanh() + z[j] * h[j]
                            })
                            .collect()
                    }
                    _ => {
                        let pp = |k: usize, j: usize| p[d * 3 * hn + k * hn + j];
                        let mut out = vec![0.0; hn];
                        for j in 0..hn {
                            let i = sigmoid(clip(xg[j] + rec(&h, j) + pp(0, j) * cs[j]));
                            let f = if c.input_forget {
                                1.0 - i
                            } else {
                                sigmoid(clip(
                                    xg[2 * hn + j] + rec(&h, 2 * hn + j) + pp(2, j) * cs[j],
                                ))
                            };
                            let cc = clip(xg[3 * hn + j] + rec(&h, 3 * hn + j)).tanh();
                            let cn = f * cs[j] + i * cc;
                            let o = sigmoid(clip(xg[hn + j] + rec(&h, hn + j) + pp(1, j) * cn));
                            out[j] = o * cn.tanh();
                            cs[j] = cn;
                        }
                        out
                    }
                };
                h = new_h;
                y[((t * nd + d) * c.batch + bt) * hn..][..hn].copy_from_slice(&h);
            }
            yh[(d * c.batch + bt) * hn..][..hn].copy_from_slice(&h);
            yc[(d * c.batch + bt) * hn..][..hn].copy_from_slice(&cs);
        }
    }
    [y, yh, yc]
}

fn attr_s(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attr_type::STRING,
        s: s.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn attr_strings(name: &str, s: &[&str]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attr_type::STRINGS,
        strings: s.iter().map(|s| s.as_bytes().to_vec()).collect(),
        ..Default::default()
    }
}

/// The model of one node of `c` with every operand a graph input (`sequence_lens` an
/// int32 input when `c.lens` is set) and `extra` attributes.
fn build(c: &Case, extra: Vec<AttributeProto>) -> Model {
    let ops = operands(c);
    let lstm = c.op == "LSTM";
    let names = ["X", "W", "R", "B", "initial_h", "initial_c", "P"];
    let mut node_inputs: Vec<&str> = vec!["X", "W", "R", "B"];
    node_inputs.push(if c.lens.is_some() {
        "sequence_lens"
    } else {
        ""
    });
    node_inputs.push("initial_h");
    if lstm {
        node_inputs.extend(["initial_c", "P"]);
    }
    let mut inputs = Vec::new();
    for (i, (shape, _)) in ops.iter().enumerate() {
        if !lstm && i >= 5 {
            continue;
        }
        let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        inputs.push(f32_input(names[i], &dims));
        if i == 3 && c.lens.is_some() {
            inputs.push(value_info(
                "sequence_lens",
                data_type::INT32,
                &[D::N(c.batch as i64)],
            ));
        }
    }
    let mut attrs = vec![
        attr_i("hidden_size", c.hidden as i64),
        attr_s("direction", c.direction),
    ];
    if let Some(k) = c.clip {
        attrs.push(attr_f("clip", k));
    }
    if c.input_forget {
        attrs.push(attr_i("input_forget", 1));
    }
    if c.linear_before_reset {
        attrs.push(attr_i("linear_before_reset", 1));
    }
    if let Some((name, _)) = c.activation {
        attrs.push(attr_strings("activations", &vec![name; c.dirs()]));
    }
    attrs.extend(extra);
    let (nd, b, h) = (c.dirs() as i64, c.batch as i64, c.hidden as i64);
    let mut outputs = vec![
        f32_input("Y", &[c.seq as i64, nd, b, h]),
        f32_input("Y_h", &[nd, b, h]),
    ];
    let mut out_names = vec!["Y", "Y_h"];
    if lstm {
        outputs.push(f32_input("Y_c", &[nd, b, h]));
        out_names.push("Y_c");
    }
    let m = model(
        vec![node(c.op, &node_inputs, &out_names, attrs)],
        inputs,
        outputs,
        vec![],
        14,
    );
    Model::decode(&bytes(&m)).unwrap()
}

fn check(c: &Case) {
    let what = format!(
        "{} {} lens {:?} clip {:?}",
        c.op, c.direction, c.lens, c.clip
    );
    let ops = operands(c);
    let want = naive(c, &ops);
    let g = import(&build(c, vec![]), &ImportOptions::default())
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let mut ins = Vec::new();
    for (i, (shape, v)) in ops.into_iter().enumerate() {
        if c.op != "LSTM" && i >= 5 {
            continue;
        }
        ins.push(Tensor::from_f32(shape, v).unwrap());
        if i == 3 {
            if let Some(l) = &c.lens {
                ins.push(Tensor::from_i32(vec![c.batch], l.clone()).unwrap());
            }
        }
    }
    let got = interp::run(&g, &ins).unwrap_or_else(|e| panic!("{what}: {e}"));
    for (k, (y, w)) in got.iter().zip(&want).enumerate() {
        let y = y.to_f64_vec();
        assert_eq!(y.len(), w.len(), "{what}: output {k}");
        for (i, (a, b)) in y.iter().zip(w).enumerate() {
            assert!(
                (a - *b as f64).abs() <= 1e-5 + 1e-4 * b.abs() as f64,
                "{what}: output {k} element {i}: got {a}, want {b}"
            );
        }
    }
}

#[test]
fn recurrent_ops_match_direct_evaluation() {
    for op in ["RNN", "GRU", "LSTM"] {
        for direction in ["forward", "reverse", "bidirectional"] {
            check(&Case::new(op, direction));
            let lens = Case {
                lens: Some(vec![4, 1, 2]),
                ..Case::new(op, direction)
            };
            check(&lens);
            check(&Case {
                clip: Some(0.4),
                ..lens
            });
        }
    }
    for direction in ["forward", "bidirectional"] {
        check(&Case {
            linear_before_reset: true,
            lens: Some(vec![2, 4, 3]),
            ..Case::new("GRU", direction)
        });
        check(&Case {
            input_forget: true,
            ..Case::new("LSTM", direction)
        });
    }
    check(&Case {
        activation: Some(("Relu", |x| x.max(0.0))),
        ..Case::new("RNN", "bidirectional")
    });
    check(&Case {
        activation: Some(("LeakyRelu", |x| if x < 0.0 { 0.01 * x } else { x })),
        ..Case::new("RNN", "forward")
    });
}

/// The import error of `c`'s node with `extra` attributes.
fn error(c: &Case, extra: Vec<AttributeProto>) -> String {
    import(&build(c, extra), &ImportOptions::default())
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_attributes_are_errors_naming_node_and_attribute() {
    let lstm = Case::new("LSTM", "forward");
    let e = error(
        &lstm,
        vec![attr_strings("activations", &["Sigmoid", "Gelu", "Tanh"])],
    );
    assert!(
        e.contains("LSTM_node") && e.contains("activations") && e.contains("Gelu"),
        "{e}"
    );
    let e = error(&lstm, vec![attr_strings("activations", &["Sigmoid"])]);
    assert!(e.contains("LSTM_node") && e.contains("activations"), "{e}");
    let e = error(
        &Case::new("RNN", "forward"),
        vec![attr_strings("activations", &["Affine"])],
    );
    assert!(
        e.contains("RNN_node") && e.contains("activation_alpha"),
        "{e}"
    );
    let e = error(&Case::new("GRU", "sideways"), vec![]);
    assert!(
        e.contains("GRU_node") && e.contains("direction") && e.contains("sideways"),
        "{e}"
    );
    let e = error(&Case::new("GRU", "forward"), vec![attr_i("layout", 2)]);
    assert!(e.contains("GRU_node") && e.contains("layout"), "{e}");
    let e = error(&Case::new("RNN", "forward"), vec![attr_f("clip", -1.0)]);
    assert!(e.contains("RNN_node") && e.contains("clip"), "{e}");
}
