//! The `quantize` pass on small graphs: each mode's stored weights within half a step
//! of the f32 weights, the budget keeping layers f32, bad calibration sets refused.

use super::*;
use kiln_codegen::Limits;
use kiln_ir::interp::{eval_op, run};
use kiln_ir::random::random_tensor;
use kiln_ir::{ConvAttrs, DType, Data, Op, TensorType, ValueDef};

/// A random f32 weight whose slices along `axis` have ranges 1, 2, 3, ... times apart,
/// so that one scale for all would lose the small ones.
fn weight(dims: &[usize], axis: usize, seed: u64) -> Tensor {
    let t = random_tensor(DType::F32, dims, seed);
    let inner: usize = dims[axis + 1..].iter().product();
    let v = t
        .to_f64_vec()
        .iter()
        .enumerate()
        .map(|(i, &x)| (x * (1 + (i / inner) % dims[axis]) as f64) as f32)
        .collect();
    Tensor::from_f32(dims.to_vec(), v).unwrap()
}

/// `y = x · w1 · w2` with `x` `[3, k]`, `w1` `[k, m]`, `w2` `[m, n]`.
fn two_matmuls(k: usize, m: usize, n: usize) -> Graph {
    let mut g = Graph::new("g");
    let x = g.add_input(
        "x",
        TensorType::new(DType::F32, vec![3, k]),
        kiln_ir::Wide::No,
    );
    let w1 = g.add_const(None, weight(&[k, m], 1, 1));
    let w2 = g.add_const(None, weight(&[m, n], 1, 2));
    let h = g.add(Op::MatMul, &[x, w1], "mm1").unwrap();
    let y = g.add(Op::MatMul, &[h, w2], "mm2").unwrap();
    g.add_output("y", y, kiln_ir::Wide::No);
    g
}

fn options(mode: QuantMode, budget: Option<f64>) -> QuantizeOptions {
    QuantizeOptions {
        mode,
        budget,
        samples: Vec::new(),
    }
}

/// Each node of `g` with `op`'s name, with its constant operands evaluated: (the node's
/// result as the reference computes it, its operands).
fn evaluated(g: &Graph, name: &str) -> Vec<(Tensor, Vec<Tensor>)> {
    g.nodes
        .iter()
        .filter(|(_, n)| n.op.name() == name)
        .map(|(_, n)| {
            let args: Vec<Tensor> = n
                .inputs
                .iter()
                .map(|&v| g.constant(v).expect("constant operands").clone())
                .collect();
            let refs: Vec<&Tensor> = args.iter().collect();
            let out = eval_op(&n.op, &refs, &[g.ty(n.outputs[0]).clone()])
                .unwrap()
                .remove(0);
            (out, args)
        })
        .collect()
}

/// The f32 constants of `g` with `dims`.
fn constant_with(g: &Graph, dims: &[usize]) -> Tensor {
    g.values
        .iter()
        .find_map(|(_, v)| match &v.def {
            ValueDef::Const(t) if t.shape().dims() == dims && t.dtype() == DType::F32 => {
                Some(t.clone())
            }
            _ => None,
        })
        .expect("the weight")
}

#[test]
fn w8_weights_are_within_half_a_step_per_channel() {
    let g = two_matmuls(41, 53, 29);
    let (q, report) = quantize(&g, &options(QuantMode::W8, None), &Limits::default()).unwrap();
    assert_eq!(report.layers.len(), 2, "{report}");
    assert_eq!(report.quantized(), 2);
    let deq = evaluated(&q, "dequantize");
    assert_eq!(deq.len(), 2);
    for (dq, args) in deq {
        let (w_q, s) = (&args[0], args[1].to_f64_vec());
        assert_eq!(w_q.dtype(), DType::I8);
        let dims = dq.shape().dims().to_vec();
        let w = constant_with(&g, &dims).to_f64_vec();
        let n = dims[1];
        for (col, &scale) in s.iter().enumerate() {
            let max = (0..dims[0])
                .map(|r| w[r * n + col].abs())
                .fold(0.0, f64::max);
            assert!(
                scale >= max / 127.0 && scale <= max / 127.0 * 1.001,
                "column {col}: scale {scale}, max {max}"
            );
            assert_eq!(
                half::f16::from_f64(scale).to_f64(),
                scale,
                "scales are f16 values"
            );
        }
        for (i, (&got, &want)) in dq.to_f64_vec().iter().zip(&w).enumerate() {
            assert!(
                (got - want).abs() <= s[i % n] / 2.0,
                "element {i}: {got} vs {want}"
            );
        }
    }
    assert!(
        report.outputs[0].rel_l2 > 0.0 && report.outputs[0].rel_l2 < 2e-2,
        "{report}"
    );
}

#[test]
fn w4_conv_weights_are_blocked_along_the_reduction() {
    let mut g = Graph::new("g");
    let x = g.add_input(
        "x",
        TensorType::new(DType::F32, vec![1, 6, 9, 7]),
        kiln_ir::Wide::No,
    );
    let w = g.add_const(None, weight(&[8, 6, 5, 5], 0, 3));
    let attrs = ConvAttrs {
        strides: vec![1, 1],
        pads: vec![2, 1, 2, 1],
        dilations: vec![1, 1],
        group: 1,
    };
    let y = g.add(Op::Conv(attrs), &[x, w], "conv").unwrap();
    g.add_output("y", y, kiln_ir::Wide::No);
    let (q, report) = quantize(&g, &options(QuantMode::W4, None), &Limits::default()).unwrap();
    assert_eq!(report.quantized(), 1, "{report}");
    let [(dq, args)] = &evaluated(&q, "dequantize")[..] else {
        panic!("one dequantize")
    };
    // [8, 150] in blocks of 32 along the 150: 5 blocks per output channel.
    assert_eq!(dq.shape().dims(), [8, 150]);
    assert_eq!(args[0].dtype(), DType::I4);
    assert_eq!(args[1].shape().dims(), [8, 5]);
    let (s, w) = (
        args[1].to_f64_vec(),
        constant_with(&g, &[8, 6, 5, 5]).to_f64_vec(),
    );
    for (i, (&got, &want)) in dq.to_f64_vec().iter().zip(&w).enumerate() {
        let scale = s[(i / 150) * 5 + (i % 150) / W4_BLOCK];
        assert!(
            (got - want).abs() <= scale / 2.0,
            "element {i}: {got} vs {want}, scale {scale}"
        );
    }
    assert!(q
        .nodes
        .iter()
        .any(|(_, n)| matches!(&n.op, Op::Reshape { shape } if shape == &[8, 6, 5, 5])));
}

#[test]
fn f16_embedding_tables_round_to_nearest() {
    let mut g = Graph::new("g");
    let ids = g.add_input(
        "ids",
        TensorType::new(DType::I32, vec![5]),
        kiln_ir::Wide::No,
    );
    let table = g.add_const(None, weight(&[300, 7], 0, 4));
    let y = g
        .add(Op::Gather { axis: 0 }, &[table, ids], "gather")
        .unwrap();
    g.add_output("y", y, kiln_ir::Wide::No);
    let (q, report) = quantize(&g, &options(QuantMode::F16, None), &Limits::default()).unwrap();
    assert_eq!(report.layers[0].form, "f16");
    assert_eq!(
        (report.layers[0].bytes_before, report.layers[0].bytes_after),
        (8400, 4200)
    );
    let [(widened, args)] = &evaluated(&q, "cast")[..] else {
        panic!("one cast")
    };
    assert_eq!(args[0].dtype(), DType::F16);
    let w = constant_with(&g, &[300, 7]).to_f64_vec();
    for (&got, &want) in widened.to_f64_vec().iter().zip(&w) {
        assert_eq!(got, half::f16::from_f64(want).to_f64());
    }
    // The random inputs index the whole table: every id below its 300 rows.
    assert!(report.outputs[0].rel_l2 < 1e-3, "{report}");
}

#[test]
fn the_budget_keeps_layers_f32_and_is_met() {
    let g = two_matmuls(64, 48, 33);
    let (_, all) = quantize(&g, &options(QuantMode::W4, None), &Limits::default()).unwrap();
    let alone: Vec<f64> = all.layers.iter().map(|l| l.error).collect();
    let min = alone.iter().copied().fold(f64::INFINITY, f64::min);
    // Tighter than any layer alone: nothing is quantized and the graph computes as before.
    let (q, report) = quantize(
        &g,
        &options(QuantMode::W4, Some(min / 2.0)),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(report.quantized(), 0, "{report}");
    assert!(report
        .layers
        .iter()
        .all(|l| l.form == "f32" && l.kept_because.is_some()));
    let x = random_tensor(DType::F32, &[3, 64], 9);
    assert_eq!(
        run(&q, std::slice::from_ref(&x)).unwrap(),
        run(&g, &[x]).unwrap()
    );
    // Room for one layer: the measured error is within the budget.
    let budget = min * 1.2;
    let (_, report) = quantize(
        &g,
        &options(QuantMode::W4, Some(budget)),
        &Limits::default(),
    )
    .unwrap();
    assert!(report.quantized() >= 1, "{report}");
    assert!(worst(&report.outputs) <= budget, "{report}");
    assert!(report.to_string().contains("kept:"), "{report}");
}

#[test]
fn small_weights_and_other_constants_stay() {
    let g = two_matmuls(8, 16, 4);
    let (q, report) = quantize(&g, &options(QuantMode::W8, None), &Limits::default()).unwrap();
    assert!(report.layers.is_empty());
    assert_eq!(q, g);
}

#[test]
fn calibration_sets_must_name_every_input() {
    let g = two_matmuls(41, 53, 29);
    let mut set = BTreeMap::new();
    set.insert(
        "input_0".to_string(),
        random_tensor(DType::F32, &[3, 41], 1),
    );
    let by_position = QuantizeOptions {
        samples: vec![set.clone()],
        ..options(QuantMode::W8, None)
    };
    let (_, report) = quantize(&g, &by_position, &Limits::default()).unwrap();
    assert!(!report.random_inputs && report.samples == 1);
    set.clear();
    set.insert("image".to_string(), random_tensor(DType::F32, &[3, 41], 1));
    let missing = QuantizeOptions {
        samples: vec![set.clone()],
        ..options(QuantMode::W8, None)
    };
    let err = quantize(&g, &missing, &Limits::default()).unwrap_err();
    assert_eq!(err, "calibration set 0 has no input 'x' (nor 'input_0')");
    set.insert(
        "x".to_string(),
        Tensor::new(vec![2], Data::I32(vec![1, 2])).unwrap(),
    );
    let wrong = QuantizeOptions {
        samples: vec![set],
        ..options(QuantMode::W8, None)
    };
    let err = quantize(&g, &wrong, &Limits::default()).unwrap_err();
    assert_eq!(
        err,
        "calibration set 0: input 'x' must be f32[3,41], the file holds i32[2]"
    );
    let err = quantize(&g, &options(QuantMode::W8, Some(0.0)), &Limits::default()).unwrap_err();
    assert!(err.starts_with("accuracy budget 0"), "{err}");
}

/// `sqrt(x · w)`: NaN wherever the product is negative, as it is somewhere on every
/// seeded random input.
fn nan_on_random_inputs() -> Graph {
    let mut g = Graph::new("g");
    let x = g.add_input(
        "x",
        TensorType::new(DType::F32, vec![3, 64]),
        kiln_ir::Wide::No,
    );
    let w = g.add_const(None, weight(&[64, 32], 1, 1));
    let h = g.add(Op::MatMul, &[x, w], "mm").unwrap();
    let y = g
        .add(Op::Unary(kiln_ir::UnaryOp::Sqrt), &[h], "sqrt")
        .unwrap();
    g.add_output("y", y, kiln_ir::Wide::No);
    g
}

#[test]
fn errors_are_not_made_up_when_the_float_model_gives_nan() {
    let g = nan_on_random_inputs();
    // Without a budget the layer is quantized and the report says the errors mean nothing.
    let (_, report) = quantize(&g, &options(QuantMode::W8, None), &Limits::default()).unwrap();
    assert_eq!(report.quantized(), 1);
    let why = report.unmeasured.as_deref().expect("unmeasured");
    assert!(why.starts_with("the float model's output 'y' is NaN on seeded random input set 0"));
    assert!(report.layers[0].error.is_nan());
    let text = report.to_string();
    assert!(
        text.contains("errors not measured: ") && text.contains("alone n/a"),
        "{text}"
    );
    assert!(!text.contains("relative L2"), "{text}");
    // A budget cannot be held to: the pass refuses, saying what to give it.
    let err = quantize(&g, &options(QuantMode::W8, Some(0.01)), &Limits::default()).unwrap_err();
    assert!(
        err.starts_with("accuracy budget 0.01: no error can be measured, the float model's")
            && err.ends_with("give --calibration DIR with inputs the model is meant for"),
        "{err}"
    );
    // Calibration inputs on which the model is finite measure as usual.
    let mut set = BTreeMap::new();
    set.insert(
        "x".to_string(),
        Tensor::from_f32(vec![3, 64], vec![0.5; 192]).unwrap(),
    );
    let mut positive = g.clone();
    let w = positive
        .values
        .iter()
        .find_map(|(h, v)| matches!(v.def, ValueDef::Const(_)).then_some(h))
        .unwrap();
    let abs = weight(&[64, 32], 1, 1)
        .to_f64_vec()
        .iter()
        .map(|v| v.abs() as f32)
        .collect();
    positive.values[w].def = ValueDef::Const(Tensor::from_f32(vec![64, 32], abs).unwrap());
    let calibrated = QuantizeOptions {
        samples: vec![set],
        ..options(QuantMode::W8, Some(0.05))
    };
    let (_, report) = quantize(&positive, &calibrated, &Limits::default()).unwrap();
    assert_eq!(report.unmeasured, None);
    assert!(
        worst(&report.outputs) > 0.0 && worst(&report.outputs) <= 0.05,
        "{report}"
    );
}

#[test]
fn f16_rounds_the_inputs_their_producers_store() {
    // mm1 reads the graph's input (no kernel stores it: it stays f32); mm2 reads mm1's
    // result, which only mm2 reads: rounded to f16 and widened where mm2 loads it.
    let g = two_matmuls(64, 48, 33);
    let (q, report) = quantize(&g, &options(QuantMode::F16, None), &Limits::default()).unwrap();
    let forms: Vec<&str> = report.layers.iter().map(|l| l.form).collect();
    assert_eq!(forms, ["f16", "f16 weights and input"]);
    let casts: Vec<(DType, String)> = q
        .nodes
        .iter()
        .filter_map(|(_, n)| match n.op {
            Op::Cast { to } if q.constant(n.inputs[0]).is_none() => Some((to, n.name.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        casts,
        [
            (DType::F16, "mm2.f16_input".to_string()),
            (DType::F32, "mm2.f32_input".to_string())
        ]
    );
    // The rounding is measured: mm2 alone moves the output (its input and weights
    // rounded), by about f16's relative precision.
    let mm2 = &report.layers[1];
    assert!(mm2.error > 0.0 && mm2.error < 2e-3, "{report}");
}

#[test]
fn f16_leaves_inputs_a_data_movement_produces_in_f32() {
    // mm2 reads a transpose of mm1's result: a transpose kernel cannot round as it
    // stores (no epilogue), so rounding would take a kernel of its own; mm2's input
    // stays f32 and only its weights are f16.
    let mut g = Graph::new("g");
    let x = g.add_input(
        "x",
        TensorType::new(DType::F32, vec![3, 64]),
        kiln_ir::Wide::No,
    );
    let w1 = g.add_const(None, weight(&[64, 48], 1, 1));
    let w2 = g.add_const(None, weight(&[3, 400], 1, 2));
    let h = g.add(Op::MatMul, &[x, w1], "mm1").unwrap();
    let t = g
        .add(Op::Transpose { perm: vec![1, 0] }, &[h], "t")
        .unwrap();
    let y = g.add(Op::MatMul, &[t, w2], "mm2").unwrap();
    g.add_output("y", y, kiln_ir::Wide::No);
    let (q, report) = quantize(&g, &options(QuantMode::F16, None), &Limits::default()).unwrap();
    let forms: Vec<&str> = report.layers.iter().map(|l| l.form).collect();
    assert_eq!(forms, ["f16", "f16"], "{report}");
    let rounded = q
        .nodes
        .iter()
        .any(|(_, n)| matches!(n.op, Op::Cast { .. }) && q.constant(n.inputs[0]).is_none());
    assert!(!rounded, "no activation is rounded");
}
