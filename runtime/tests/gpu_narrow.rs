//! Narrow tensors on the GPU: intermediate 8- and 16-bit tensors (u8, i8, u16, i16,
//! f16) stored several elements to a word, written a whole word per invocation by the
//! element-wise kernels and by the conv, matmul and integer-product engines (which
//! store four columns of a row at once), and decoded where they are read (element-wise
//! kernels, `Where` moving words, epilogue operands, a conv's and a matmul's input
//! behind a dequantizing prologue, integer products' left operand); products whose
//! engine stores single elements keep one word per element. Each graph runs with
//! narrow tensors and without, against the CPU reference on fresh random data of
//! sizes that leave words part-filled, and the two plans' outputs must be identical.
//!
//! Tolerance: none where both sides compute the same correctly rounded operations
//! (element-wise ops, casts, quantization, and products of small integers, exact in
//! f32 in any order); `Tol::F32` for products of random floats, summed in another
//! order.

mod common;

use common::{compare, gpu, random_tensor, Tol};
use kiln_codegen::{build_plan_with, Limits, PlanOptions};
use kiln_ir::{BinaryOp, ConvAttrs, DType, Graph, Op, Program, Step, Tensor, TensorType, Wide};

/// Builds `g` with narrow tensors and without, checks that `narrow` tensors are stored
/// narrow, runs both on the GPU with `inputs` and compares every output with the
/// reference within `tol`, and the two plans' outputs with each other exactly (storage
/// changes no value).
fn check_narrow(g: &Graph, inputs: &[Tensor], narrow: usize, tol: Tol) {
    let base = PlanOptions {
        fold_transposes: true,
        ..PlanOptions::default()
    };
    check_narrow_with(g, inputs, narrow, tol, &base);
}

/// [`check_narrow`] with the plan options `base` (`narrow` switched on and off).
fn check_narrow_with(g: &Graph, inputs: &[Tensor], narrow: usize, tol: Tol, base: &PlanOptions) {
    let want = kiln_ir::interp::run(g, inputs).unwrap();
    let mut outputs = Vec::new();
    for on in [false, true] {
        let options = PlanOptions {
            narrow: on,
            ..base.clone()
        };
        let compiled = build_plan_with(g, &Limits::default(), &options).unwrap();
        kiln_codegen::verify_plan(&compiled.plan, compiled.weights.len() as u64).unwrap();
        assert_eq!(
            compiled.decisions.narrow_tensors,
            if on { narrow } else { 0 },
            "graph '{}': {}",
            g.name,
            compiled.decisions
        );
        let got = gpu()
            .load(&compiled.plan, &compiled.weights)
            .unwrap()
            .run(inputs)
            .unwrap();
        for (i, (got, want)) in got.iter().zip(&want).enumerate() {
            compare(got, want, tol)
                .unwrap_or_else(|e| panic!("graph '{}', narrow {on}, output {i}: {e}", g.name));
        }
        outputs.push(got);
    }
    for (i, (narrow, wide)) in outputs[1].iter().zip(&outputs[0]).enumerate() {
        compare(narrow, wide, Tol::EXACT)
            .unwrap_or_else(|e| panic!("graph '{}', output {i}, narrow against wide: {e}", g.name));
    }
}

#[test]
fn narrow_tensors_of_every_dtype_are_written_and_read_exactly() {
    // t = max(x, y) and u = where(m, x, y) are stored narrow (111 and 385 elements: the
    // last word part-filled); read as they are (a cast), broadcast against a row, and
    // as words by `where`.
    for (seed, dtype) in [DType::U8, DType::I8, DType::U16, DType::I16, DType::F16]
        .into_iter()
        .enumerate()
    {
        for (k, dims) in [vec![3usize, 37], vec![5, 7, 11]].into_iter().enumerate() {
            let seed = (seed * 10 + k) as u64;
            let row = vec![*dims.last().unwrap()];
            let mut g = Graph::new(format!("narrow_{dtype}_{k}"));
            let ty = |d: &[usize]| TensorType::new(dtype, d.to_vec());
            let x = g.add_input("x", ty(&dims), Wide::No);
            let y = g.add_input("y", ty(&dims), Wide::No);
            let r = g.add_input("r", ty(&row), Wide::No);
            let m = g.add_input("m", TensorType::new(DType::Bool, dims.clone()), Wide::No);
            let t = g.add(Op::Binary(BinaryOp::Max), &[x, y], "t").unwrap();
            let u = g.add(Op::Where, &[m, x, y], "u").unwrap();
            let wide = g.add(Op::Cast { to: DType::F32 }, &[t], "wide").unwrap();
            let low = g.add(Op::Binary(BinaryOp::Min), &[t, r], "low").unwrap();
            let moved = g.add(Op::Where, &[m, u, t], "moved").unwrap();
            let back = g.add(Op::Cast { to: DType::F32 }, &[u], "back").unwrap();
            for (name, v) in [
                ("wide", wide),
                ("low", low),
                ("moved", moved),
                ("back", back),
            ] {
                g.add_output(name, v, Wide::No);
            }
            let inputs = [
                random_tensor(dtype, &dims, seed),
                random_tensor(dtype, &dims, seed + 1),
                random_tensor(dtype, &row, seed + 2),
                random_tensor(DType::Bool, &dims, seed + 3),
            ];
            check_narrow(&g, &inputs, 2, Tol::EXACT);
        }
    }
}

#[test]
fn views_of_narrow_tensors_are_read_narrow() {
    // t = max(x, y), i8 [4, 6, 5], is read through a reshape and through a transpose
    // folded into its reader (strided reads of the same words): one narrow tensor.
    let dims = [4usize, 6, 5];
    let mut g = Graph::new("narrow_views");
    let ty = TensorType::new(DType::I8, dims.to_vec());
    let x = g.add_input("x", ty.clone(), Wide::No);
    let y = g.add_input("y", ty, Wide::No);
    let t = g.add(Op::Binary(BinaryOp::Max), &[x, y], "t").unwrap();
    let flat = g
        .add(Op::Reshape { shape: vec![24, 5] }, &[t], "flat")
        .unwrap();
    let turned = g
        .add(
            Op::Transpose {
                perm: vec![2, 0, 1],
            },
            &[t],
            "turned",
        )
        .unwrap();
    for (name, v) in [("flat", flat), ("turned", turned)] {
        let out = g.add(Op::Cast { to: DType::F32 }, &[v], name).unwrap();
        g.add_output(name, out, Wide::No);
    }
    let inputs = [
        random_tensor(DType::I8, &dims, 21),
        random_tensor(DType::I8, &dims, 22),
    ];
    check_narrow(&g, &inputs, 1, Tol::EXACT);
}

#[test]
fn f16_special_values_survive_narrow_storage() {
    // ±0, ±inf, NaN, the largest finite halves and subnormals down to 2^-24, through a
    // narrow f16 tensor (x · 1, stored; cast to f32).
    let specials: Vec<f32> = vec![
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        65504.0,
        -65504.0,
        6.1035156e-5,
        5.9604645e-8,
        -5.9604645e-8,
        3.0517578e-5,
        1.0,
        -2.5,
    ];
    let n = specials.len();
    let halves: Vec<half::f16> = specials.iter().map(|&v| half::f16::from_f32(v)).collect();
    let x = Tensor::new([n].as_slice(), kiln_ir::Data::F16(halves)).unwrap();
    let one = Tensor::new([1].as_slice(), kiln_ir::Data::F16(vec![half::f16::ONE])).unwrap();
    let mut g = Graph::new("narrow_f16_specials");
    let xi = g.add_input("x", TensorType::new(DType::F16, vec![n]), Wide::No);
    let k = g.add_const(None, one);
    let t = g.add(Op::Binary(BinaryOp::Mul), &[xi, k], "t").unwrap();
    let y = g.add(Op::Cast { to: DType::F32 }, &[t], "y").unwrap();
    g.add_output("y", y, Wide::No);
    check_narrow(&g, &[x], 1, Tol::EXACT);
}

/// A program quantizing input 0 with scale `s` and zero point `z` (u8).
fn quantize(s: f32, z: f32) -> Program {
    Program {
        steps: vec![
            Step::Input(0),
            Step::Const {
                dtype: DType::F32,
                value: s as f64,
            },
            Step::Const {
                dtype: DType::U8,
                value: z as f64,
            },
            Step::Quantize {
                saturate: true,
                args: [0, 1, 2],
            },
        ],
    }
}

/// The prologue dequantizing what [`quantize`] stores.
fn dequantize(s: f32, z: f32) -> Program {
    let mut p = quantize(s, z);
    p.steps[3] = Step::Dequantize([0, 1, 2]);
    p
}

#[test]
fn products_and_epilogues_read_narrow_inputs_where_they_load_them() {
    // x → u8 (narrow) → conv dequantizing it in its prologue, whose epilogue adds a
    // narrow i8 tensor; a → u8 (narrow) → matmul dequantizing it where it loads A.
    let (s, z) = (0.03125f32, 121.0f32);
    let mut g = Graph::new("narrow_products");
    let f = |d: &[usize]| TensorType::new(DType::F32, d.to_vec());
    let x = g.add_input("x", f(&[1, 6, 11, 9]), Wide::No);
    let e = g.add_input("e", f(&[1, 4, 6, 9]), Wide::No);
    let a = g.add_input("a", f(&[5, 13]), Wide::No);
    let w = g.add_const(None, random_tensor(DType::F32, &[4, 3, 3, 3], 61));
    let b = g.add_const(None, random_tensor(DType::F32, &[13, 7], 62));
    let program = quantize(s, z);
    let qx = g
        .add(
            Op::Elementwise {
                program: program.clone(),
            },
            &[x],
            "qx",
        )
        .unwrap();
    let qa = g.add(Op::Elementwise { program }, &[a], "qa").unwrap();
    let qe = g.add(Op::Cast { to: DType::I8 }, &[e], "qe").unwrap();
    let conv = Op::Fused {
        anchor: Box::new(Op::Conv(ConvAttrs {
            strides: vec![2, 1],
            pads: vec![1, 0, 1, 2],
            dilations: vec![1, 1],
            group: 2,
        })),
        prologue: Some(Box::new(Op::Elementwise {
            program: dequantize(s, z),
        })),
        arity: 2,
        epilogue: Program {
            steps: vec![
                Step::Input(0),
                Step::Input(1),
                Step::Cast(DType::F32, 1),
                Step::Binary(BinaryOp::Add, 0, 2),
            ],
        },
    };
    let y = g.add(conv, &[qx, w, qe], "y").unwrap();
    let matmul = Op::Fused {
        anchor: Box::new(Op::MatMul),
        prologue: Some(Box::new(Op::Elementwise {
            program: dequantize(s, z),
        })),
        arity: 2,
        epilogue: Program::identity(),
    };
    let c = g.add(matmul, &[qa, b], "c").unwrap();
    g.add_output("y", y, Wide::No);
    g.add_output("c", c, Wide::No);
    // Inputs spread over the whole u8 range (and past it: saturation), i8 addends.
    let spread = |t: Tensor, k: f64| {
        let v: Vec<f32> = t.to_f64_vec().iter().map(|v| (v * k) as f32).collect();
        Tensor::new(t.shape().dims(), kiln_ir::Data::F32(v)).unwrap()
    };
    let inputs = [
        spread(random_tensor(DType::F32, &[1, 6, 11, 9], 63), 2.5),
        spread(random_tensor(DType::F32, &[1, 4, 6, 9], 64), 40.0),
        spread(random_tensor(DType::F32, &[5, 13], 65), 2.5),
    ];
    check_narrow(&g, &inputs, 3, Tol::F32);
}

/// Small integers (±1..±9) as f32: products and sums of them, and their quantization by
/// power-of-two scales, are exact in f32, so the GPU's summation order changes nothing
/// and every requantized value is the reference's.
fn small_ints(dims: &[usize], seed: u64) -> Tensor {
    let t = random_tensor(DType::I8, dims, seed);
    let v: Vec<f32> = t.to_f64_vec().iter().map(|&v| v as f32).collect();
    Tensor::new(dims, kiln_ir::Data::F32(v)).unwrap()
}

/// A fused 2-D conv (square padding and stride) with `prologue` and `epilogue` programs.
fn conv(pads: usize, stride: usize, prologue: Option<Program>, epilogue: Program) -> Op {
    Op::Fused {
        anchor: Box::new(Op::Conv(ConvAttrs {
            strides: vec![stride; 2],
            pads: vec![pads; 4],
            dilations: vec![1, 1],
            group: 1,
        })),
        prologue: prologue.map(|program| Box::new(Op::Elementwise { program })),
        arity: 2,
        epilogue,
    }
}

/// An epilogue casting the anchor's value to `to`.
fn cast(to: DType) -> Program {
    Program {
        steps: vec![Step::Input(0), Step::Cast(to, 0)],
    }
}

#[test]
fn convs_store_narrow_results_a_word_at_a_time() {
    // Two images. conv → u8 (120 positions: whole words) → conv dequantizing it → f16
    // (30 positions: two halves to a word, and a store's four columns may cross into
    // the next image), read by a cast; a third conv's u8 result has 99 positions, whose
    // words would straddle images: it stays one word per element.
    let mut g = Graph::new("narrow_convs");
    let x = g.add_input(
        "x",
        TensorType::new(DType::F32, vec![2, 3, 10, 12]),
        Wide::No,
    );
    let w1 = g.add_const(None, small_ints(&[8, 3, 3, 3], 71));
    let w2 = g.add_const(None, small_ints(&[6, 8, 3, 3], 72));
    let w3 = g.add_const(None, small_ints(&[5, 8, 2, 2], 73));
    let c1 = g
        .add(conv(1, 1, None, quantize(16.0, 128.0)), &[x, w1], "c1")
        .unwrap();
    let back = Some(dequantize(0.0625, 128.0));
    let c2 = g
        .add(conv(1, 2, back.clone(), cast(DType::F16)), &[c1, w2], "c2")
        .unwrap();
    let c3 = g
        .add(conv(0, 1, back, quantize(16.0, 128.0)), &[c1, w3], "c3")
        .unwrap();
    for (name, v) in [("y2", c2), ("y3", c3)] {
        let y = g.add(Op::Cast { to: DType::F32 }, &[v], name).unwrap();
        g.add_output(name, y, Wide::No);
    }
    check_narrow(&g, &[small_ints(&[2, 3, 10, 12], 74)], 2, Tol::EXACT);
}

#[test]
fn a_conv_pooling_its_narrow_input_decodes_it() {
    // An f16 model: t = x · 1 (narrow f16), read by a 1×1 conv through a max-pool
    // prologue, which loads each tap of every window from the packed words.
    let mut g = Graph::new("narrow_pooled_conv");
    let x = g.add_input(
        "x",
        TensorType::new(DType::F16, vec![1, 5, 9, 11]),
        Wide::No,
    );
    let one = Tensor::new([1].as_slice(), kiln_ir::Data::F16(vec![half::f16::ONE])).unwrap();
    let k = g.add_const(None, one);
    let t = g.add(Op::Binary(BinaryOp::Mul), &[x, k], "t").unwrap();
    let w = g.add_const(None, random_tensor(DType::F16, &[4, 5, 1, 1], 101));
    let pool = Op::MaxPool(kiln_ir::PoolAttrs::window(
        &[2, 2],
        &[2, 2],
        &[0; 4],
        &[1, 1],
    ));
    let op = Op::Fused {
        anchor: Box::new(Op::Conv(ConvAttrs {
            strides: vec![1, 1],
            pads: vec![0; 4],
            dilations: vec![1, 1],
            group: 1,
        })),
        prologue: Some(Box::new(pool)),
        arity: 2,
        epilogue: Program::identity(),
    };
    let y = g.add(op, &[t, w], "y").unwrap();
    g.add_output("y", y, Wide::No);
    // f16 products of 5 terms, rounded to f16 once: within one f16 step.
    check_narrow(
        &g,
        &[random_tensor(DType::F16, &[1, 5, 9, 11], 102)],
        1,
        Tol::new(1e-6, 1e-3),
    );
}

#[test]
fn pools_read_narrow_inputs() {
    // t = max(x, y) stored narrow (u8, i8, f16; 5 × 7 × 9 elements: the last word
    // part-filled), max-pooled (u8, i8) or average-pooled (f16) with padding.
    for (seed, dtype) in [DType::U8, DType::I8, DType::F16].into_iter().enumerate() {
        let dims = [1usize, 5, 7, 9];
        let mut g = Graph::new(format!("narrow_pool_{dtype}"));
        let ty = TensorType::new(dtype, dims.to_vec());
        let x = g.add_input("x", ty.clone(), Wide::No);
        let y = g.add_input("y", ty, Wide::No);
        let t = g.add(Op::Binary(BinaryOp::Max), &[x, y], "t").unwrap();
        let attrs = kiln_ir::PoolAttrs::window(&[3, 2], &[2, 1], &[1, 0, 1, 1], &[1, 1]);
        let pool = if dtype == DType::F16 {
            Op::AveragePool(attrs)
        } else {
            Op::MaxPool(attrs)
        };
        let p = g.add(pool, &[t], "pool").unwrap();
        g.add_output("p", p, Wide::No);
        let inputs = [
            random_tensor(dtype, &dims, 111 + seed as u64),
            random_tensor(dtype, &dims, 121 + seed as u64),
        ];
        // An f16 average is a sum in f32 rounded once: within one f16 step.
        let tol = if dtype == DType::F16 {
            Tol::new(1e-6, 1e-3)
        } else {
            Tol::EXACT
        };
        check_narrow(&g, &inputs, 1, tol);
    }
}

#[test]
fn matmuls_store_narrow_results_a_word_at_a_time() {
    // 6 × 16 u8 from the tiled engine (narrow), read as A by a matmul dequantizing it;
    // 3 × 16 from the direct engine, whose invocations own single elements: one word
    // per element.
    let mut g = Graph::new("narrow_matmuls");
    let f = |d: &[usize]| TensorType::new(DType::F32, d.to_vec());
    let a = g.add_input("a", f(&[6, 20]), Wide::No);
    let thin = g.add_input("thin", f(&[3, 20]), Wide::No);
    let b1 = g.add_const(None, small_ints(&[20, 16], 81));
    let b2 = g.add_const(None, small_ints(&[16, 12], 82));
    let matmul = |prologue: Option<Program>, epilogue: Program| Op::Fused {
        anchor: Box::new(Op::MatMul),
        prologue: prologue.map(|program| Box::new(Op::Elementwise { program })),
        arity: 2,
        epilogue,
    };
    for (name, a) in [("wide", a), ("thin", thin)] {
        let q = g
            .add(matmul(None, quantize(16.0, 128.0)), &[a, b1], "q")
            .unwrap();
        let back = Some(dequantize(0.0625, 128.0));
        let r = g
            .add(matmul(back, Program::identity()), &[q, b2], name)
            .unwrap();
        g.add_output(name, r, Wide::No);
    }
    let inputs = [small_ints(&[6, 20], 83), small_ints(&[3, 20], 84)];
    check_narrow(&g, &inputs, 1, Tol::EXACT);
}

#[test]
fn integer_products_read_and_store_narrow_tensors() {
    // u8 → matmul_integer requantizing to u8 → matmul_integer; u8 → conv_integer
    // requantizing to u8 → cast. Every 8-bit tensor between them is narrow, and so are
    // the three i8 weights (constants).
    let requantize = Program {
        steps: vec![
            Step::Input(0),
            Step::Cast(DType::F32, 0),
            Step::Const {
                dtype: DType::F32,
                value: 1.0 / 64.0,
            },
            Step::Binary(BinaryOp::Mul, 1, 2),
            Step::Const {
                dtype: DType::F32,
                value: 1.0,
            },
            Step::Const {
                dtype: DType::U8,
                value: 128.0,
            },
            Step::Quantize {
                saturate: true,
                args: [3, 4, 5],
            },
        ],
    };
    let integer = |anchor: Op, epilogue: Program| Op::Fused {
        anchor: Box::new(anchor),
        prologue: None,
        arity: 4,
        epilogue,
    };
    let mut g = Graph::new("narrow_integer_products");
    let f = |d: &[usize]| TensorType::new(DType::F32, d.to_vec());
    let a = g.add_input("a", f(&[6, 20]), Wide::No);
    let x = g.add_input("x", f(&[1, 3, 10, 12]), Wide::No);
    let i8s = |dims: &[usize], seed| random_tensor(DType::I8, dims, seed);
    let b1 = g.add_const(None, i8s(&[20, 16], 91));
    let b2 = g.add_const(None, i8s(&[16, 8], 92));
    let w = g.add_const(None, i8s(&[8, 3, 3, 3], 93));
    let z_u8 = g.add_const(
        None,
        Tensor::new([0usize; 0].as_slice(), kiln_ir::Data::U8(vec![128])).unwrap(),
    );
    let z_i8 = g.add_const(
        None,
        Tensor::new([0usize; 0].as_slice(), kiln_ir::Data::I8(vec![0])).unwrap(),
    );
    let to_u8 = quantize(1.0, 128.0);
    let qa = g
        .add(
            Op::Elementwise {
                program: to_u8.clone(),
            },
            &[a],
            "qa",
        )
        .unwrap();
    let qx = g
        .add(Op::Elementwise { program: to_u8 }, &[x], "qx")
        .unwrap();
    let y1 = g
        .add(
            integer(Op::MatMulInteger, requantize.clone()),
            &[qa, b1, z_u8, z_i8],
            "y1",
        )
        .unwrap();
    let y2 = g
        .add(
            integer(Op::MatMulInteger, Program::identity()),
            &[y1, b2, z_u8, z_i8],
            "y2",
        )
        .unwrap();
    let attrs = ConvAttrs {
        strides: vec![1, 1],
        pads: vec![1; 4],
        dilations: vec![1, 1],
        group: 1,
    };
    let c = g
        .add(
            integer(Op::ConvInteger(attrs), requantize),
            &[qx, w, z_u8, z_i8],
            "c",
        )
        .unwrap();
    let y3 = g.add(Op::Cast { to: DType::F32 }, &[c], "y3").unwrap();
    g.add_output("y2", y2, Wide::No);
    g.add_output("y3", y3, Wide::No);
    let inputs = [small_ints(&[6, 20], 94), small_ints(&[1, 3, 10, 12], 95)];
    check_narrow(&g, &inputs, 7, Tol::EXACT);
}

#[test]
fn integer_products_decode_narrow_constant_weights() {
    // Constant 8-bit weights stay packed on the device, as the bundle stores them, and
    // the integer products decode them where they load them: u8 weights of a matmul
    // (13 × 7: the last word part-filled) with a zero point per column, i8 weights of
    // a depthwise conv (5 × 1 × 3 × 3, the direct engine) and of a dense conv (6 × 5 ×
    // 3 × 3, tiled), on the exact f32 engines and on the packed 8-bit one. An i16
    // constant read by an element-wise kernel is decoded too. The weights and the
    // inputs are random over the whole 8-bit range: the products are exact in i32.
    let mut g = Graph::new("narrow_constant_weights");
    let ty = |d: DType, dims: &[usize]| TensorType::new(d, dims.to_vec());
    let a = g.add_input("a", ty(DType::U8, &[9, 13]), Wide::No);
    let x = g.add_input("x", ty(DType::I8, &[1, 5, 7, 9]), Wide::No);
    let h = g.add_input("h", ty(DType::I16, &[37]), Wide::No);
    let b = g.add_const(None, random_tensor(DType::U8, &[13, 7], 201));
    let zb = g.add_const(None, random_tensor(DType::U8, &[7], 202));
    let za = g.add_const(None, random_tensor(DType::U8, &[9], 203));
    let dw = g.add_const(None, random_tensor(DType::I8, &[5, 1, 3, 3], 204));
    let w = g.add_const(None, random_tensor(DType::I8, &[6, 5, 3, 3], 205));
    let zx = g.add_const(None, random_tensor(DType::I8, &[], 206));
    let zw = g.add_const(None, random_tensor(DType::I8, &[], 207));
    let k = g.add_const(None, random_tensor(DType::I16, &[37], 208));
    let y = g.add(Op::MatMulInteger, &[a, b, za, zb], "y").unwrap();
    let conv = |group| {
        Op::ConvInteger(ConvAttrs {
            strides: vec![1, 1],
            pads: vec![1; 4],
            dilations: vec![1, 1],
            group,
        })
    };
    let d = g.add(conv(5), &[x, dw, zx, zw], "d").unwrap();
    let c = g.add(conv(1), &[x, w, zx, zw], "c").unwrap();
    let s = g.add(Op::Binary(BinaryOp::Max), &[h, k], "s").unwrap();
    for (name, v) in [("y", y), ("d", d), ("c", c), ("s", s)] {
        g.add_output(name, v, Wide::No);
    }
    let inputs = [
        random_tensor(DType::U8, &[9, 13], 209),
        random_tensor(DType::I8, &[1, 5, 7, 9], 210),
        random_tensor(DType::I16, &[37], 211),
    ];
    for packed_dot in [false, true] {
        let base = PlanOptions {
            packed_dot,
            ..PlanOptions::default()
        };
        check_narrow_with(&g, &inputs, 4, Tol::EXACT, &base);
    }
}

#[test]
fn batched_products_store_narrow_results() {
    // A batched matmul (3 × 6 × 20 by 20 × 16) quantizing to u8 and one rounding to
    // f16 (N = 18: the second half-word pair of a row's last store is cut), read by
    // casts.
    let mut g = Graph::new("narrow_batched");
    let a = g.add_input("a", TensorType::new(DType::F32, vec![3, 6, 20]), Wide::No);
    let b1 = g.add_const(None, small_ints(&[20, 16], 131));
    let b2 = g.add_const(None, small_ints(&[20, 18], 132));
    let matmul = |epilogue: Program| Op::Fused {
        anchor: Box::new(Op::MatMul),
        prologue: None,
        arity: 2,
        epilogue,
    };
    let q = g.add(matmul(quantize(16.0, 128.0)), &[a, b1], "q").unwrap();
    let h = g.add(matmul(cast(DType::F16)), &[a, b2], "h").unwrap();
    for (name, v) in [("q", q), ("h", h)] {
        let y = g.add(Op::Cast { to: DType::F32 }, &[v], name).unwrap();
        g.add_output(name, y, Wide::No);
    }
    check_narrow(&g, &[small_ints(&[3, 6, 20], 133)], 2, Tol::EXACT);
}

#[test]
fn gathers_decode_narrow_tables() {
    // Embedding tables of 8- and 16-bit constants (37 rows of 5: the last word
    // part-filled) stay narrow; the gather decodes the rows it copies, at constant and
    // at run-time indices, negative ones included.
    for (seed, dtype) in [DType::U8, DType::I8, DType::I16, DType::F16]
        .into_iter()
        .enumerate()
    {
        let seed = 300 + 10 * seed as u64;
        let mut g = Graph::new(format!("narrow_table_{dtype}"));
        let ids = g.add_input("ids", TensorType::new(DType::I32, vec![2, 3]), Wide::No);
        let table = g.add_const(None, random_tensor(dtype, &[37, 5], seed));
        let fixed = g.add_const(
            None,
            Tensor::new([4usize].as_slice(), kiln_ir::Data::I32(vec![36, 0, -1, 17])).unwrap(),
        );
        let gather = Op::Gather { axis: 0 };
        let a = g.add(gather.clone(), &[table, ids], "a").unwrap();
        let b = g.add(gather, &[table, fixed], "b").unwrap();
        for (name, v) in [("a", a), ("b", b)] {
            let wide = g.add(Op::Cast { to: DType::F32 }, &[v], name).unwrap();
            g.add_output(name, wide, Wide::No);
        }
        let ids = Tensor::new(
            [2usize, 3].as_slice(),
            kiln_ir::Data::I32(vec![5, -37, 36, 0, 12, -3]),
        )
        .unwrap();
        check_narrow(&g, &[ids], 1, Tol::EXACT);
    }
}

/// `n` 8-bit values of `dtype` spread over its whole range (a fixed LCG), as a tensor
/// of `dims`.
fn full_range(dtype: DType, dims: &[usize], seed: u32) -> Tensor {
    let n: usize = dims.iter().product();
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let bytes: Vec<u8> = (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect();
    let data = match dtype {
        DType::U8 => kiln_ir::Data::U8(bytes),
        DType::I8 => kiln_ir::Data::I8(bytes.into_iter().map(|b| b as i8).collect()),
        other => panic!("not an 8-bit dtype: {other}"),
    };
    Tensor::new(dims, data).unwrap()
}

#[test]
fn thin_integer_products_read_whole_words() {
    // Integer products too thin to tile (M ≤ 3) run on the direct engine, which reads
    // a narrow 8-bit operand a word at a time where the layout allows: four columns of
    // B per load (N a multiple of 4) and four k of A (K a multiple of 4), each
    // invocation then computing four columns. Cases: a matrix-vector product with
    // K = 300 (an i32 flush inside K), per-row and per-column zero points, K = 18 (A by
    // element, B by word), N = 10 (B by element, A by word), and a batched product.
    // Operands and zero points span the whole 8-bit range, signed and unsigned; A comes
    // from an element-wise kernel that stores it narrow, B is a constant weight. The
    // products are exact in i32: every output must equal the reference's.
    struct Case {
        name: &'static str,
        a: (DType, Vec<usize>),
        b: (DType, Vec<usize>),
        za: Vec<usize>,
        zb: Vec<usize>,
        words: [bool; 2],
    }
    let case =
        |name, a: (DType, &[usize]), b: (DType, &[usize]), za: &[usize], zb: &[usize], words| {
            Case {
                name,
                a: (a.0, a.1.to_vec()),
                b: (b.0, b.1.to_vec()),
                za: za.to_vec(),
                zb: zb.to_vec(),
                words,
            }
        };
    let cases = [
        case(
            "vector",
            (DType::U8, &[1, 300]),
            (DType::I8, &[300, 20]),
            &[],
            &[],
            [true, true],
        ),
        case(
            "rows",
            (DType::I8, &[3, 20]),
            (DType::U8, &[20, 12]),
            &[3],
            &[12],
            [true, true],
        ),
        case(
            "odd_k",
            (DType::U8, &[2, 18]),
            (DType::I8, &[18, 16]),
            &[],
            &[16],
            [false, true],
        ),
        case(
            "odd_n",
            (DType::I8, &[1, 16]),
            (DType::U8, &[16, 10]),
            &[1],
            &[],
            [true, false],
        ),
        case(
            "batched",
            (DType::U8, &[2, 1, 24]),
            (DType::I8, &[2, 24, 8]),
            &[],
            &[],
            [true, true],
        ),
    ];
    for (i, c) in cases.iter().enumerate() {
        let seed = 400 + 10 * i as u32;
        let mut g = Graph::new(format!("thin_integer_{}", c.name));
        let x = g.add_input("x", TensorType::new(DType::F32, c.a.1.clone()), Wide::No);
        // Whole numbers in the 8-bit range of A's dtype: quantizing them with scale 1
        // and zero point 0 stores them exactly, narrow.
        let values = full_range(c.a.0, &c.a.1, seed);
        let input = Tensor::new(
            c.a.1.as_slice(),
            kiln_ir::Data::F32(values.to_f64_vec().iter().map(|&v| v as f32).collect()),
        )
        .unwrap();
        let mut to_a = quantize(1.0, 0.0);
        to_a.steps[2] = Step::Const {
            dtype: c.a.0,
            value: 0.0,
        };
        let a = g.add(Op::Elementwise { program: to_a }, &[x], "a").unwrap();
        let b = g.add_const(None, full_range(c.b.0, &c.b.1, seed + 1));
        let za = g.add_const(None, full_range(c.a.0, &c.za, seed + 2));
        let zb = g.add_const(None, full_range(c.b.0, &c.zb, seed + 3));
        let y = g.add(Op::MatMulInteger, &[a, b, za, zb], "y").unwrap();
        g.add_output("y", y, Wide::No);
        let options = PlanOptions {
            narrow: true,
            ..PlanOptions::default()
        };
        let compiled = build_plan_with(&g, &Limits::default(), &options).unwrap();
        let product = compiled
            .plan
            .kernels
            .iter()
            .find(|k| k.name.starts_with("matmul_integer"))
            .expect("an integer product kernel");
        for (load, want) in ["fn load_a4(", "fn load_b4("].iter().zip(c.words) {
            assert_eq!(product.wgsl.contains(load), want, "{}: {load}", c.name);
        }
        check_narrow_with(&g, &[input], 2, Tol::EXACT, &PlanOptions::default());
    }
}
