//! DFT, STFT, MelWeightMatrix and CausalConvWithState checked on the reference
//! interpreter against direct evaluations of their definitions (and, for
//! MelWeightMatrix, values of the ONNX reference implementation), on shapes and
//! attribute combinations the ONNX node tests leave out; and their import errors.

mod common;

use common::*;
use kiln_ir::{interp, Tensor};
use kiln_onnx::proto::{attr_type, data_type, AttributeProto, TensorProto};
use kiln_onnx::{import, ImportOptions, Model};
use std::f64::consts::PI;

fn attr_s(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attr_type::STRING,
        s: s.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn data(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((((i * 37 + seed * 101) % 29) as f32) - 14.0) / 7.0)
        .collect()
}

fn scalar_i64(name: &str, v: i64) -> TensorProto {
    i64_tensor(name, &[], &[v])
}

/// Imports a one-node model and runs it on the reference interpreter.
fn run(m: kiln_onnx::proto::ModelProto, inputs: Vec<Tensor>) -> Vec<Vec<f64>> {
    let g = import(
        &Model::decode(&bytes(&m)).unwrap(),
        &ImportOptions::default(),
    )
    .unwrap_or_else(|e| panic!("import: {e}"));
    interp::run(&g, &inputs)
        .unwrap_or_else(|e| panic!("run: {e}"))
        .iter()
        .map(|t| t.to_f64_vec())
        .collect()
}

fn import_error(m: kiln_onnx::proto::ModelProto) -> String {
    import(
        &Model::decode(&bytes(&m)).unwrap(),
        &ImportOptions::default(),
    )
    .unwrap_err()
    .to_string()
}

fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}: element {i}: got {g}, want {w}"
        );
    }
}

/// The DFT of one complex signal from its definition: cut or zero-padded to `n`,
/// `inverse` with `+` in the exponent and `1/n`, `onesided` keeping `n/2 + 1` bins
/// (forward) or reading them as a Hermitian spectrum and returning the real part
/// (inverse).
fn naive_dft(x: &[(f64, f64)], n: usize, inverse: bool, onesided: bool) -> Vec<(f64, f64)> {
    let half = n / 2 + 1;
    let at = |k: usize| x.get(k).copied().unwrap_or((0.0, 0.0));
    let signal: Vec<(f64, f64)> = (0..n)
        .map(|k| match (inverse && onesided, k < half) {
            (false, _) => at(k),
            (true, true) if k == 0 || 2 * k == n => (at(k).0, 0.0),
            (true, true) => at(k),
            (true, false) => (at(n - k).0, -at(n - k).1),
        })
        .collect();
    let sign = if inverse { 1.0 } else { -1.0 };
    let scale = if inverse { 1.0 / n as f64 } else { 1.0 };
    let count = if onesided && !inverse { half } else { n };
    (0..count)
        .map(|k| {
            let (mut re, mut im) = (0.0, 0.0);
            for (j, &(a, b)) in signal.iter().enumerate() {
                let t = sign * 2.0 * PI * (j * k) as f64 / n as f64;
                re += a * t.cos() - b * t.sin();
                im += a * t.sin() + b * t.cos();
            }
            (re * scale, im * scale)
        })
        .collect()
}

/// The DFT along `axis` of `x` (`dims`, last axis `c`), row-major, as ONNX lays it
/// out (last axis 2, or 1 for an inverse onesided transform).
fn naive_dft_nd(
    x: &[f32],
    dims: &[usize],
    axis: usize,
    n: usize,
    inverse: bool,
    onesided: bool,
) -> (Vec<usize>, Vec<f64>) {
    let c = *dims.last().unwrap();
    let len = dims[axis];
    let outer: usize = dims[..axis].iter().product();
    let inner: usize = dims[axis + 1..dims.len() - 1].iter().product();
    let c_out = if inverse && onesided { 1 } else { 2 };
    let bins = if onesided && !inverse { n / 2 + 1 } else { n };
    let mut out_dims = dims.to_vec();
    out_dims[axis] = bins;
    *out_dims.last_mut().unwrap() = c_out;
    let mut out = vec![0.0; outer * bins * inner * c_out];
    for o in 0..outer {
        for i in 0..inner {
            let sig: Vec<(f64, f64)> = (0..len)
                .map(|j| {
                    let base = ((o * len + j) * inner + i) * c;
                    let im = if c == 2 { x[base + 1] as f64 } else { 0.0 };
                    (x[base] as f64, im)
                })
                .collect();
            for (k, (re, im)) in naive_dft(&sig, n, inverse, onesided)
                .into_iter()
                .enumerate()
            {
                let base = ((o * bins + k) * inner + i) * c_out;
                out[base] = re;
                if c_out == 2 {
                    out[base + 1] = im;
                }
            }
        }
    }
    (out_dims, out)
}

struct DftCase {
    dims: Vec<usize>,
    axis: i64,
    n: Option<usize>,
    inverse: bool,
    onesided: bool,
    opset: i64,
}

/// A DFT model; its result declared with `out` dims.
fn dft_model(c: &DftCase, out: &[usize]) -> kiln_onnx::proto::ModelProto {
    let dims: Vec<i64> = c.dims.iter().map(|&d| d as i64).collect();
    let mut inits = Vec::new();
    let mut ins = vec!["x".to_string()];
    let mut attrs = vec![
        attr_i("inverse", c.inverse as i64),
        attr_i("onesided", c.onesided as i64),
    ];
    ins.push(match c.n {
        Some(n) => {
            inits.push(scalar_i64("n", n as i64));
            "n".into()
        }
        None => String::new(),
    });
    if c.opset >= 20 {
        inits.push(scalar_i64("axis", c.axis));
        ins.push("axis".into());
    } else {
        attrs.push(attr_i("axis", c.axis));
    }
    let ins: Vec<&str> = ins.iter().map(String::as_str).collect();
    let out: Vec<i64> = out.iter().map(|&d| d as i64).collect();
    model(
        vec![node("DFT", &ins, &["y"], attrs)],
        vec![f32_input("x", &dims)],
        vec![f32_input("y", &out)],
        inits,
        c.opset,
    )
}

#[test]
fn dft_matches_direct_evaluation() {
    let mut cases = Vec::new();
    for (dims, axis) in [
        (vec![2, 7, 3, 1], 1),
        (vec![2, 7, 3, 2], 1),
        (vec![3, 6, 2], -2),
        (vec![5, 2, 2], 0),
        (vec![2, 3, 8, 2], 2),
    ] {
        for (inverse, onesided) in [(false, false), (false, true), (true, false), (true, true)] {
            for n in [None, Some(4), Some(9)] {
                for opset in [17, 20] {
                    cases.push(DftCase {
                        dims: dims.clone(),
                        axis,
                        n,
                        inverse,
                        onesided,
                        opset,
                    });
                }
            }
        }
    }
    for c in &cases {
        let what = format!(
            "dims {:?} axis {} n {:?} inverse {} onesided {} opset {}",
            c.dims, c.axis, c.n, c.inverse, c.onesided, c.opset
        );
        let rank = c.dims.len() as i64;
        let axis = if c.axis < 0 { c.axis + rank } else { c.axis } as usize;
        let len = c.dims[axis];
        let n = c.n.unwrap_or(if c.inverse && c.onesided {
            2 * (len - 1)
        } else {
            len
        });
        let numel = c.dims.iter().product();
        let x = data(numel, 3);
        let (out, want) = naive_dft_nd(&x, &c.dims, axis, n, c.inverse, c.onesided);
        let got = run(
            dft_model(c, &out),
            vec![Tensor::from_f32(c.dims.clone(), x).unwrap()],
        );
        assert_close(&what, &got[0], &want, 1e-4);
    }
}

#[test]
fn dft_errors_name_the_problem() {
    let base = DftCase {
        dims: vec![2, 4, 1],
        axis: 2,
        n: None,
        inverse: false,
        onesided: false,
        opset: 20,
    };
    let e = import_error(dft_model(&base, &[2, 4, 2]));
    assert!(e.contains("axis 2 must be in"), "{e}");
    let e = import_error(dft_model(
        &DftCase {
            dims: vec![2, 4, 3],
            axis: 1,
            ..base
        },
        &[2, 4, 2],
    ));
    assert!(e.contains("real (1) or real and imaginary (2)"), "{e}");
    let e = import_error(dft_model(
        &DftCase {
            axis: 1,
            n: Some(0),
            ..base
        },
        &[2, 4, 2],
    ));
    assert!(e.contains("dft_length must be a positive scalar"), "{e}");
    // An axis operand that is a graph input without a value cannot be specialised.
    let m = model(
        vec![node("DFT", &["x", "", "axis"], &["y"], vec![])],
        vec![
            f32_input("x", &[2, 4, 1]),
            value_info("axis", data_type::INT64, &[]),
        ],
        vec![f32_input("y", &[2, 4, 2])],
        vec![],
        20,
    );
    let e = import_error(m);
    assert!(e.contains("axis") && !e.contains('\n'), "{e}");
}

/// The STFT of `x` (`[b, len, c]`) from its definition.
fn naive_stft(
    x: &[f32],
    dims: [usize; 3],
    step: usize,
    window: Option<&[f32]>,
    frame: usize,
    onesided: bool,
) -> Vec<f64> {
    let [b, len, c] = dims;
    let frames = 1 + (len - frame) / step;
    let mut out = Vec::new();
    for bi in 0..b {
        for f in 0..frames {
            let sig: Vec<(f64, f64)> = (0..frame)
                .map(|i| {
                    let base = (bi * len + f * step + i) * c;
                    let w = window.map_or(1.0, |w| w[i] as f64);
                    let im = if c == 2 { x[base + 1] as f64 } else { 0.0 };
                    (x[base] as f64 * w, im * w)
                })
                .collect();
            for (re, im) in naive_dft(&sig, frame, false, onesided) {
                out.extend([re, im]);
            }
        }
    }
    out
}

#[test]
fn stft_matches_direct_evaluation() {
    for c in [1, 2] {
        for (len, step, frame, with_window, given_len) in [
            (20, 3, 6, true, true),
            (20, 4, 7, false, true),
            (17, 5, 5, true, false),
            (9, 2, 9, false, false),
        ] {
            for onesided in [0, 1] {
                let what = format!(
                    "c {c} len {len} step {step} frame {frame} window {with_window} \
                     onesided {onesided}"
                );
                let dims = [2, len, c];
                let x = data(2 * len * c, 1);
                let window: Vec<f32> = (0..frame).map(|i| 0.5 + i as f32 / 10.0).collect();
                let mut inits = vec![scalar_i64("step", step as i64)];
                let mut inputs = vec![f32_input("x", &[2, len as i64, c as i64])];
                let mut ins = vec!["x", "step"];
                let mut tensors = vec![Tensor::from_f32(dims.to_vec(), x.clone()).unwrap()];
                if with_window {
                    inputs.push(f32_input("w", &[frame as i64]));
                    tensors.push(Tensor::from_f32(vec![frame], window.clone()).unwrap());
                    ins.push("w");
                } else {
                    ins.push("");
                }
                if given_len {
                    inits.push(scalar_i64("frame", frame as i64));
                    ins.push("frame");
                }
                let frames = 1 + (len - frame) / step;
                let bins = if onesided == 1 { frame / 2 + 1 } else { frame };
                let m = model(
                    vec![node(
                        "STFT",
                        &ins,
                        &["y"],
                        vec![attr_i("onesided", onesided)],
                    )],
                    inputs,
                    vec![f32_input("y", &[2, frames as i64, bins as i64, 2])],
                    inits,
                    17,
                );
                let want = naive_stft(
                    &x,
                    dims,
                    step,
                    with_window.then_some(&window[..]),
                    frame,
                    onesided == 1,
                );
                let got = run(m, tensors);
                assert_close(&what, &got[0], &want, 1e-4);
            }
        }
    }
}

#[test]
fn mel_weight_matrix_matches_the_onnx_reference() {
    let m = model(
        vec![node(
            "MelWeightMatrix",
            &["mels", "n", "rate", "lo", "hi"],
            &["y"],
            vec![],
        )],
        vec![],
        vec![f32_input("y", &[21, 6])],
        vec![
            scalar_i64("mels", 6),
            scalar_i64("n", 40),
            scalar_i64("rate", 8000),
            f32_tensor("lo", &[], &[50.0]),
            f32_tensor("hi", &[], &[3500.0]),
        ],
        17,
    );
    // onnx.reference's MelWeightMatrix(6, 40, 8000, 50.0, 3500.0): rows of 6.
    let third = 1.0 / 3.0;
    let mut want = vec![0.0; 21 * 6];
    for (row, col, v) in [
        (1, 0, 1.0),
        (2, 1, 1.0),
        (3, 2, 1.0),
        (4, 2, 0.5),
        (4, 3, 0.5),
        (5, 3, 1.0),
        (6, 3, 0.5),
        (6, 4, 0.5),
        (7, 4, 1.0),
        (8, 4, 2.0 * third),
        (8, 5, third),
        (9, 4, third),
        (9, 5, 2.0 * third),
        (10, 5, 1.0),
        (11, 5, 2.0 * third),
        (12, 5, third),
    ] {
        want[row * 6 + col] = v;
    }
    let got = run(m, vec![]);
    assert_close("mel", &got[0], &want, 1e-6);

    // Edges beyond the spectrogram's bins are refused, not indexed out of range.
    let m = model(
        vec![node(
            "MelWeightMatrix",
            &["mels", "n", "rate", "lo", "hi"],
            &["y"],
            vec![],
        )],
        vec![],
        vec![f32_input("y", &[21, 6])],
        vec![
            scalar_i64("mels", 6),
            scalar_i64("n", 40),
            scalar_i64("rate", 8000),
            f32_tensor("lo", &[], &[50.0]),
            f32_tensor("hi", &[], &[40000.0]),
        ],
        17,
    );
    let e = import_error(m);
    assert!(e.contains("outside the 21 spectrogram bins"), "{e}");
}

/// CausalConvWithState from its definition: `(output, present_state)`.
fn naive_causal_conv(
    x: &[f32],
    [b, c, l]: [usize; 3],
    w: &[f32],
    k: usize,
    bias: Option<&[f32]>,
    past: Option<&[f32]>,
    silu: bool,
) -> (Vec<f64>, Vec<f64>) {
    let p = l + k - 1;
    let mut padded = vec![0.0f64; b * c * p];
    for bi in 0..b {
        for ci in 0..c {
            for t in 0..p {
                padded[(bi * c + ci) * p + t] = if t < k - 1 {
                    past.map_or(0.0, |s| s[(bi * c + ci) * (k - 1) + t] as f64)
                } else {
                    x[(bi * c + ci) * l + t - (k - 1)] as f64
                };
            }
        }
    }
    let mut y = Vec::new();
    let mut state = Vec::new();
    for bi in 0..b {
        for ci in 0..c {
            let row = &padded[(bi * c + ci) * p..(bi * c + ci + 1) * p];
            for t in 0..l {
                let mut acc = bias.map_or(0.0, |b| b[ci] as f64);
                for j in 0..k {
                    acc += row[t + j] * w[ci * k + j] as f64;
                }
                if silu {
                    acc /= 1.0 + (-acc).exp();
                }
                y.push(acc);
            }
            state.extend_from_slice(&row[p - (k - 1)..]);
        }
    }
    (y, state)
}

#[test]
fn causal_conv_with_state_matches_direct_evaluation() {
    for (b, c, l, k) in [(2, 3, 5, 3), (1, 4, 1, 4), (3, 2, 2, 5), (2, 2, 6, 1)] {
        for with_bias in [false, true] {
            for with_past in [false, true] {
                for activation in ["none", "silu", "swish"] {
                    let what = format!(
                        "b {b} c {c} l {l} k {k} bias {with_bias} past {with_past} {activation}"
                    );
                    let x = data(b * c * l, 1);
                    let w = data(c * k, 2);
                    let bias = data(c, 3);
                    let past = data(b * c * (k - 1), 4);
                    let mut inputs = vec![
                        f32_input("x", &[b as i64, c as i64, l as i64]),
                        f32_input("w", &[c as i64, 1, k as i64]),
                    ];
                    let mut tensors = vec![
                        Tensor::from_f32(vec![b, c, l], x.clone()).unwrap(),
                        Tensor::from_f32(vec![c, 1, k], w.clone()).unwrap(),
                    ];
                    let mut ins = vec!["x", "w", "", ""];
                    if with_bias {
                        ins[2] = "bias";
                        inputs.push(f32_input("bias", &[c as i64]));
                        tensors.push(Tensor::from_f32(vec![c], bias.clone()).unwrap());
                    }
                    if with_past {
                        ins[3] = "past";
                        inputs.push(f32_input("past", &[b as i64, c as i64, k as i64 - 1]));
                        tensors.push(Tensor::from_f32(vec![b, c, k - 1], past.clone()).unwrap());
                    }
                    let m = model(
                        vec![node(
                            "CausalConvWithState",
                            &ins,
                            &["y", "state"],
                            vec![attr_s("activation", activation)],
                        )],
                        inputs,
                        vec![
                            f32_input("y", &[b as i64, c as i64, l as i64]),
                            f32_input("state", &[b as i64, c as i64, k as i64 - 1]),
                        ],
                        vec![],
                        27,
                    );
                    let (want_y, want_state) = naive_causal_conv(
                        &x,
                        [b, c, l],
                        &w,
                        k,
                        with_bias.then_some(&bias[..]),
                        with_past.then_some(&past[..]),
                        activation != "none",
                    );
                    let got = run(m, tensors);
                    assert_close(&what, &got[0], &want_y, 1e-5);
                    assert_close(&what, &got[1], &want_state, 0.0);
                }
            }
        }
    }
}

#[test]
fn causal_conv_with_state_errors_name_the_problem() {
    let build = |w_dims: &[i64], past: Option<&[i64]>, activation: &str| {
        let mut inputs = vec![f32_input("x", &[1, 2, 4]), f32_input("w", w_dims)];
        let mut ins = vec!["x", "w"];
        if let Some(p) = past {
            inputs.push(f32_input("past", p));
            ins.extend(["", "past"]);
        }
        model(
            vec![node(
                "CausalConvWithState",
                &ins,
                &["y", "state"],
                vec![attr_s("activation", activation)],
            )],
            inputs,
            vec![f32_input("y", &[1, 2, 4]), f32_input("state", &[1, 2, 2])],
            vec![],
            27,
        )
    };
    let e = import_error(build(&[2, 1, 3], None, "gelu"));
    assert!(e.contains("activation 'gelu'"), "{e}");
    let e = import_error(build(&[2, 2, 3], None, "none"));
    assert!(e.contains("weight must have shape (C, 1, k)"), "{e}");
    let e = import_error(build(&[3, 1, 3], None, "none"));
    assert!(e.contains("does not fit input"), "{e}");
    let e = import_error(build(&[2, 1, 3], Some(&[1, 2, 3]), "none"));
    assert!(e.contains("past_state must have shape (1, 2, 2)"), "{e}");
}
