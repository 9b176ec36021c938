//! GPU quantization kernels against the CPU reference on fresh random data of odd
//! sizes: quantize and dequantize for every quantized dtype (integers of 16, 8, 4 and 2
//! bits, signed and unsigned; f8e4m3fn, f8e5m2, f4e2m1 with and without saturation),
//! per tensor, per axis (a scale broadcast along one axis) and blocked; the exact
//! integer products MatMulInteger (direct and tiled engines, batch broadcast, per-row
//! and per-column zero points, mixed signedness) and ConvInteger (groups, padding,
//! strides, dilations, per-channel weight zero points), each on both integer engines
//! (exact f32 arithmetic; 8-bit operands packed for `dot4I8Packed`); a fused program of quantize
//! and dequantize steps; weights kept packed on the device (int8/uint4/uint2 and f16,
//! per axis and blocked, matmul engines and conv) against the same weights widened.
//!
//! Tolerance: none. Dequantization is `(x - z) · s`, one exact subtraction and one
//! correctly rounded multiply on both sides; quantization divides in f32 (correctly
//! rounded on lavapipe, as in the reference), rounds half to even and clamps; integer
//! products accumulate exactly in i32.

mod common;

use common::{check_graph, check_op, compare, gpu, random_tensor, Tol};
use kiln_codegen::{build_plan_with, BufferKind, Limits, PlanOptions};
use kiln_ir::{ConvAttrs, DType, Data, Graph, Op, Program, Step, Tensor};

/// A seeded stream of 64-bit values (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
}

/// Integers of `dtype` over its whole range (or a float type's bit-free stand-in).
fn ints(dtype: DType, dims: &[usize], seed: u64) -> Tensor {
    let mut rng = Rng(seed);
    let n: usize = dims.iter().product();
    let data = match (dtype.int_range(), kiln_ir::minifloat::Format::of(dtype)) {
        (Some((lo, hi)), _) => {
            Data::from_i64s(dtype, (0..n).map(|_| rng.int(lo, hi.min(lo + 65535)))).unwrap()
        }
        (None, Some(f)) => {
            // Every finite pattern.
            let bits = (0..n)
                .map(|_| loop {
                    let b = rng.int(0, (1 << dtype.bits()) - 1) as u8;
                    if f.decode(b).is_finite() {
                        break b;
                    }
                })
                .collect();
            Data::minifloats(dtype, bits).unwrap()
        }
        _ => panic!("{dtype} is not quantized"),
    };
    Tensor::new(dims, data).unwrap()
}

/// Positive scales of `dims` (f32 or f16), between 0.01 and 0.26.
fn scales(dtype: DType, dims: &[usize], seed: u64) -> Tensor {
    let mut rng = Rng(seed);
    let n: usize = dims.iter().product();
    let v: Vec<f64> = (0..n)
        .map(|_| 0.01 + rng.int(0, 1000) as f64 / 4000.0)
        .collect();
    let data = match dtype {
        DType::F16 => Data::F16(v.into_iter().map(half::f16::from_f64).collect()),
        _ => Data::F32(v.into_iter().map(|x| x as f32).collect()),
    };
    Tensor::new(dims, data).unwrap()
}

/// Zero points of `dtype` and `dims`: anywhere in an integer type's range, 0 for
/// minifloats (ONNX requires it).
fn zeros(dtype: DType, dims: &[usize], seed: u64) -> Tensor {
    if dtype.is_minifloat() {
        let n = dims.iter().product();
        return Tensor::new(dims, Data::minifloats(dtype, vec![0; n]).unwrap()).unwrap();
    }
    ints(dtype, dims, seed)
}

/// `x` of `dims` and, for each layout, the scale dims, axis and block.
const LAYOUTS: [(&[usize], usize, usize); 3] = [
    // Per tensor.
    (&[], 0, 0),
    // Per axis 1 of [3, 7, 5]: a [7, 1] scale broadcast.
    (&[7, 1], 0, 0),
    // Blocks of 3 along axis 1 (7 → 3 blocks, the last one short).
    (&[3, 3, 5], 1, 3),
];

const QUANTIZED: [DType; 11] = [
    DType::U8,
    DType::I8,
    DType::U16,
    DType::I16,
    DType::U4,
    DType::I4,
    DType::U2,
    DType::I2,
    DType::F8E4M3FN,
    DType::F8E5M2,
    DType::F4E2M1,
];

#[test]
fn quantize_every_dtype_and_layout() {
    let dims = [3usize, 7, 5];
    for (seed, dtype) in QUANTIZED.into_iter().enumerate() {
        for (layout, &(sdims, axis, block)) in LAYOUTS.iter().enumerate() {
            for saturate in [true, false] {
                if !saturate && !dtype.is_minifloat() {
                    continue;
                }
                let seed = (seed * 10 + layout) as u64;
                // Values up to 4 / 0.01 = 400 scale steps: every type saturates somewhere.
                let x = random_tensor(DType::F32, &dims, seed);
                let x = Tensor::new(
                    dims.as_slice(),
                    Data::F32(x.to_f64_vec().iter().map(|v| (v * 2.0) as f32).collect()),
                )
                .unwrap();
                let s = scales(DType::F32, sdims, seed + 1);
                let z = zeros(dtype, sdims, seed + 2);
                let op = Op::Quantize {
                    axis,
                    block,
                    saturate,
                };
                check_op(op, vec![x, s, z], Tol::EXACT);
            }
        }
    }
}

#[test]
fn dequantize_every_dtype_and_layout() {
    let dims = [3usize, 7, 5];
    for (seed, dtype) in QUANTIZED.into_iter().chain([DType::I32]).enumerate() {
        for (layout, &(sdims, axis, block)) in LAYOUTS.iter().enumerate() {
            for scale in [DType::F32, DType::F16] {
                let seed = (seed * 10 + layout) as u64;
                let x = if dtype == DType::I32 {
                    random_tensor(DType::I32, &dims, seed)
                } else {
                    ints(dtype, &dims, seed)
                };
                let s = scales(scale, sdims, seed + 1);
                let z = if dtype == DType::I32 {
                    random_tensor(DType::I32, sdims, seed + 2)
                } else {
                    zeros(dtype, sdims, seed + 2)
                };
                check_op(Op::Dequantize { axis, block }, vec![x, s, z], Tol::EXACT);
            }
        }
    }
}

#[test]
fn fused_fake_quantization_program() {
    // x → u8 → f32, with a per-channel scale and zero point, as one element-wise kernel.
    let program = Program {
        steps: vec![
            Step::Input(0),
            Step::Input(1),
            Step::Input(2),
            Step::Quantize {
                saturate: true,
                args: [0, 1, 2],
            },
            Step::Dequantize([3, 1, 2]),
        ],
    };
    let x = random_tensor(DType::F32, &[2, 5, 9], 41);
    let s = scales(DType::F32, &[5, 1], 42);
    let z = ints(DType::U8, &[5, 1], 43);
    check_op(Op::Elementwise { program }, vec![x, s, z], Tol::EXACT);
}

/// MatMulInteger of `a` and `b` (dtypes and dims) with zero points of `za`, `zb` dims.
fn matmul_integer(
    (ta, da): (DType, &[usize]),
    (tb, db): (DType, &[usize]),
    (za, zb): (&[usize], &[usize]),
    seed: u64,
) {
    let inputs = vec![
        ints(ta, da, seed),
        ints(tb, db, seed + 1),
        ints(ta, za, seed + 2),
        ints(tb, zb, seed + 3),
    ];
    check_integer_engines(Op::MatMulInteger, inputs);
}

/// A one-node integer product checked exactly against the reference on both integer
/// engines: exact f32 arithmetic, and 8-bit operands packed for `dot4I8Packed`
/// ([`PlanOptions::packed_dot`]; other operands and thin products stay on the first).
fn check_integer_engines(op: Op, inputs: Vec<Tensor>) {
    let g = common::op_graph(op, &inputs);
    for packed_dot in [false, true] {
        let options = PlanOptions {
            packed_dot,
            ..Default::default()
        };
        common::check_graph_planned(&g, &inputs, Tol::EXACT, &Limits::default(), &options);
    }
}

#[test]
fn matmul_integer_engines_batches_and_zero_points() {
    use DType::{I8, U8};
    // Thin (the direct engine), 1-D operands, scalar zero points.
    matmul_integer((U8, &[3, 13]), (U8, &[13, 5]), (&[], &[]), 1);
    matmul_integer((U8, &[13]), (I8, &[13, 6]), (&[1], &[1]), 2);
    matmul_integer((I8, &[4, 9]), (I8, &[9]), (&[4], &[]), 3);
    // Wide enough to tile, odd sizes, per-row and per-column zero points, mixed signs.
    matmul_integer((U8, &[33, 70]), (I8, &[70, 65]), (&[33], &[65]), 4);
    // Batch broadcast: [2, 1, 9, 17] × [3, 17, 11].
    matmul_integer((I8, &[2, 1, 9, 17]), (U8, &[3, 17, 11]), (&[], &[11]), 5);
    // Long reductions: sums far beyond 2^24 (f32's exact integers) stay exact, both in
    // the tiled engine (flushed every tile of k) and in the direct one (every 256 k).
    matmul_integer((U8, &[5, 300]), (U8, &[300, 37]), (&[], &[]), 6);
    matmul_integer((U8, &[3, 700]), (U8, &[700, 5]), (&[], &[]), 7);
}

/// ConvInteger with `attrs` on `x` and `w` dims (u8 input, i8 weights), a per-channel
/// weight zero point when `per_channel`.
fn conv_integer(attrs: ConvAttrs, x: &[usize], w: &[usize], per_channel: bool, seed: u64) {
    let wz: &[usize] = if per_channel { &w[..1] } else { &[] };
    let inputs = vec![
        ints(DType::U8, x, seed),
        ints(DType::I8, w, seed + 1),
        ints(DType::U8, &[], seed + 2),
        ints(DType::I8, wz, seed + 3),
    ];
    check_integer_engines(Op::ConvInteger(attrs), inputs);
}

#[test]
fn conv_integer_geometry_and_zero_points() {
    let attrs = |strides: [usize; 2], pads: [usize; 4], dilations: [usize; 2], group| ConvAttrs {
        strides: strides.to_vec(),
        pads: pads.to_vec(),
        dilations: dilations.to_vec(),
        group,
    };
    // 3×3, padded, grouped, per-channel weight zero points.
    conv_integer(
        attrs([1, 1], [1, 1, 1, 1], [1, 1], 2),
        &[1, 6, 11, 9],
        &[4, 3, 3, 3],
        true,
        1,
    );
    // Strided, dilated, asymmetric padding, two images.
    conv_integer(
        attrs([2, 1], [0, 2, 1, 0], [1, 2], 1),
        &[2, 3, 13, 10],
        &[5, 3, 3, 2],
        false,
        2,
    );
    // 1×1 with enough channels and positions to tile; depthwise.
    conv_integer(
        attrs([1, 1], [0, 0, 0, 0], [1, 1], 1),
        &[1, 40, 9, 7],
        &[36, 40, 1, 1],
        true,
        3,
    );
    conv_integer(
        attrs([1, 1], [1, 1, 1, 1], [1, 1], 8),
        &[1, 8, 7, 7],
        &[8, 1, 3, 3],
        true,
        4,
    );
}

#[test]
fn packed_products_with_constant_zero_points() {
    // Zero points that are constants become literals, and the packed engine leaves out
    // the corrections a zero point of 0 (128 for unsigned values) makes unnecessary:
    // every combination of needed corrections, both signs, K not a multiple of 4.
    use DType::{I8, U8};
    for (case, (ta, tb, za, zb)) in [
        (U8, I8, 128, 0),
        (U8, I8, 3, 0),
        (I8, U8, 0, 77),
        (U8, U8, 250, 1),
        (I8, I8, -128, 127),
    ]
    .into_iter()
    .enumerate()
    {
        let seed = 100 + 10 * case as u64;
        let (a, b) = (ints(ta, &[2, 19, 45], seed), ints(tb, &[45, 23], seed + 1));
        let mut g = Graph::new("packed_constant_zero_points");
        let ai = g.add_input("a", a.ty(), kiln_ir::Wide::No);
        let bi = g.add_input("b", b.ty(), kiln_ir::Wide::No);
        let zero = |dtype, v: i64| {
            Tensor::new(vec![], Data::from_i64s(dtype, [v].into_iter()).unwrap()).unwrap()
        };
        let zai = g.add_const(Some("za".into()), zero(ta, za));
        let zbi = g.add_const(Some("zb".into()), zero(tb, zb));
        let y = g.add(Op::MatMulInteger, &[ai, bi, zai, zbi], "mm").unwrap();
        g.add_output("y", y, kiln_ir::Wide::No);
        let options = PlanOptions {
            packed_dot: true,
            ..Default::default()
        };
        let compiled = build_plan_with(&g, &Limits::default(), &options).unwrap();
        assert_eq!(compiled.decisions.packed_products, 1);
        let corrections =
            ["sum_a[i] +=", "sum_b[j] +="].map(|s| compiled.plan.kernels[0].wgsl.contains(s));
        // A correction where the other operand's zero point is not 0 (128 unsigned).
        let shifted = |t: DType, z: i64| if t == U8 { z - 128 } else { z };
        assert_eq!(
            corrections,
            [shifted(tb, zb) != 0, shifted(ta, za) != 0],
            "case {case}"
        );
        common::check_graph_planned(&g, &[a, b], Tol::EXACT, &Limits::default(), &options);
    }
}

#[test]
fn requantized_integer_product_matches() {
    // QLinearMatMul's lowering: dequantize(matmul_integer(..), multiplier) → quantize.
    let mut g = Graph::new("requantize");
    let a = g.add_input("a", ints(DType::U8, &[6, 21], 1).ty(), kiln_ir::Wide::No);
    let b = g.add_input("b", ints(DType::I8, &[21, 10], 2).ty(), kiln_ir::Wide::No);
    let za = g.add_input("za", ints(DType::U8, &[], 3).ty(), kiln_ir::Wide::No);
    let zb = g.add_input("zb", ints(DType::I8, &[], 4).ty(), kiln_ir::Wide::No);
    let m = g.add_input("m", scales(DType::F32, &[10], 5).ty(), kiln_ir::Wide::No);
    let zy = g.add_input("zy", ints(DType::U8, &[], 6).ty(), kiln_ir::Wide::No);
    let acc = g.add(Op::MatMulInteger, &[a, b, za, zb], "mm").unwrap();
    let zi = g.add_input(
        "zi",
        random_tensor(DType::I32, &[], 7).ty(),
        kiln_ir::Wide::No,
    );
    let real = g
        .add(Op::Dequantize { axis: 0, block: 0 }, &[acc, m, zi], "dq")
        .unwrap();
    let one = g.add_input("one", scales(DType::F32, &[], 8).ty(), kiln_ir::Wide::No);
    let y = g
        .add(
            Op::Quantize {
                axis: 0,
                block: 0,
                saturate: true,
            },
            &[real, one, zy],
            "q",
        )
        .unwrap();
    g.add_output("y", y, kiln_ir::Wide::No);
    let inputs = vec![
        ints(DType::U8, &[6, 21], 1),
        ints(DType::I8, &[21, 10], 2),
        ints(DType::U8, &[], 3),
        ints(DType::I8, &[], 4),
        scales(DType::F32, &[10], 5),
        ints(DType::U8, &[], 6),
        random_tensor(DType::I32, &[], 7),
        scales(DType::F32, &[], 8),
    ];
    check_graph(&g, &inputs, Tol::EXACT);
}

#[test]
fn conv_dequantizing_its_input_where_it_loads_it() {
    // fused{conv; prologue dequantize}: u8 input, padded, strided, grouped; the padding
    // reads as 0 after dequantization. f32 sums in another order: Tol::F32.
    let program = Program {
        steps: vec![
            Step::Input(0),
            Step::Const {
                dtype: DType::F32,
                value: 0.0625,
            },
            Step::Const {
                dtype: DType::U8,
                value: 131.0,
            },
            Step::Dequantize([0, 1, 2]),
        ],
    };
    let attrs = ConvAttrs {
        strides: vec![2, 1],
        pads: vec![1, 0, 1, 2],
        dilations: vec![1, 1],
        group: 2,
    };
    let op = Op::Fused {
        anchor: Box::new(Op::Conv(attrs)),
        prologue: Some(Box::new(Op::Elementwise { program })),
        arity: 2,
        epilogue: Program::identity(),
    };
    let x = ints(DType::U8, &[1, 6, 11, 9], 51);
    let w = random_tensor(DType::F32, &[4, 3, 3, 3], 52);
    check_op(op, vec![x, w], Tol::F32);
}

/// `g` built with the weights widened to f32 words at upload and kept packed
/// ([`PlanOptions::packed_weights`]), each run on the GPU: the packed plan's decoded
/// weights are the widened words bit for bit (the same `(q - z) · s` in f32), so its
/// outputs must equal the widened plan's exactly; both are held to the reference within
/// `tol` (sums in another order). Returns how many weights the packed plan keeps packed
/// and the device bytes of both plans' constants.
fn packed_matches_widened(g: &Graph, inputs: &[Tensor], tol: Tol) -> (usize, [u64; 2]) {
    let want = kiln_ir::interp::run(g, inputs).unwrap();
    let mut outputs = Vec::new();
    let mut bytes = [0; 2];
    let mut packed_count = 0;
    for packed_weights in [false, true] {
        let options = PlanOptions {
            fold_transposes: true,
            packed_weights,
            ..Default::default()
        };
        let compiled = build_plan_with(g, &Limits::default(), &options).unwrap();
        kiln_codegen::verify_plan(&compiled.plan, compiled.weights.len() as u64).unwrap();
        bytes[usize::from(packed_weights)] = compiled
            .plan
            .buffers
            .iter()
            .filter(|b| !matches!(b.kind, BufferKind::Input(_) | BufferKind::Intermediate))
            .map(|b| b.size)
            .sum();
        if packed_weights {
            packed_count = compiled.decisions.packed_weights;
        }
        let mut session = gpu().load(&compiled.plan, &compiled.weights).unwrap();
        let got = session.run(inputs).unwrap();
        for (got, want) in got.iter().zip(&want) {
            compare(got, want, tol).unwrap_or_else(|e| panic!("packed {packed_weights}: {e}"));
        }
        outputs.push(got);
    }
    for (packed, widened) in outputs[1].iter().zip(&outputs[0]) {
        compare(packed, widened, Tol::EXACT)
            .unwrap_or_else(|e| panic!("packed against widened weights: {e}"));
    }
    (packed_count, bytes)
}

/// `x · dequantize(q, s, z)` (or its transpose when `transposed`), one output.
fn dequantized_product(
    x: &Tensor,
    [q, s, z]: [Tensor; 3],
    (axis, block): (usize, usize),
    transposed: bool,
) -> Graph {
    let mut g = Graph::new("packed_matmul");
    let xv = g.add_input("x", x.ty(), kiln_ir::Wide::No);
    let parts = [q, s, z].map(|t| g.add_const(None, t));
    let mut w = g.add(Op::Dequantize { axis, block }, &parts, "dq").unwrap();
    if transposed {
        w = g
            .add(Op::Transpose { perm: vec![1, 0] }, &[w], "t")
            .unwrap();
    }
    let y = g.add(Op::MatMul, &[xv, w], "mm").unwrap();
    g.add_output("y", y, kiln_ir::Wide::No);
    g
}

#[test]
fn packed_weights_decode_as_the_upload_widens_them() {
    // Per output column, int8, the direct engine (5 rows).
    let x = random_tensor(DType::F32, &[5, 37], 61);
    let parts = [
        ints(DType::I8, &[37, 29], 62),
        scales(DType::F32, &[29], 63),
        zeros(DType::I8, &[29], 64),
    ];
    let (n, [widened, packed]) = packed_matches_widened(
        &dequantized_product(&x, parts, (0, 0), false),
        &[x],
        Tol::LOOSE,
    );
    assert_eq!(n, 1);
    assert!(
        packed * 3 < widened,
        "{packed} bytes packed, {widened} widened"
    );

    // uint2 in blocks of 16 along K (45: the last block short), f32 scales that are f16
    // values (stored as halves), per-block zero points, the tiled engine (70 rows).
    let x = random_tensor(DType::F32, &[70, 45], 65);
    let halves = scales(DType::F16, &[3, 33], 67).to_f64_vec();
    let halves = Data::F32(halves.into_iter().map(|v| v as f32).collect());
    let parts = [
        ints(DType::U2, &[45, 33], 66),
        Tensor::new(vec![3, 33], halves).unwrap(),
        zeros(DType::U2, &[3, 33], 68),
    ];
    let (n, _) = packed_matches_widened(
        &dequantized_product(&x, parts, (0, 16), false),
        &[x],
        Tol::LOOSE,
    );
    assert_eq!(n, 1);

    // uint4 per row of an [N, K] weight read through a folded transpose (Gemm's transB),
    // one zero point for all.
    let x = random_tensor(DType::F32, &[3, 40], 69);
    let zero = Tensor::new(
        vec![11, 1],
        Data::from_i64s(DType::U4, std::iter::repeat_n(7, 11)).unwrap(),
    )
    .unwrap();
    let parts = [
        ints(DType::U4, &[11, 40], 70),
        scales(DType::F32, &[11, 1], 71),
        zero,
    ];
    let (n, _) = packed_matches_widened(
        &dequantized_product(&x, parts, (0, 0), true),
        &[x],
        Tol::LOOSE,
    );
    assert_eq!(n, 1);
}

#[test]
fn packed_conv_weights_and_f16_weights() {
    // int8 conv weights per output channel, padded and strided, with a bias.
    let mut g = Graph::new("packed_conv");
    let x = random_tensor(DType::F32, &[1, 5, 9, 7], 81);
    let xv = g.add_input("x", x.ty(), kiln_ir::Wide::No);
    let parts = [
        ints(DType::I8, &[6, 5, 3, 3], 82),
        scales(DType::F32, &[6, 1, 1, 1], 83),
        zeros(DType::I8, &[6, 1, 1, 1], 84),
    ]
    .map(|t| g.add_const(None, t));
    let w = g
        .add(Op::Dequantize { axis: 0, block: 0 }, &parts, "dq")
        .unwrap();
    let bias = g.add_const(None, random_tensor(DType::F32, &[6], 85));
    let attrs = ConvAttrs {
        strides: vec![2, 1],
        pads: vec![1, 1, 1, 0],
        dilations: vec![1, 1],
        group: 1,
    };
    let y = g.add(Op::Conv(attrs), &[xv, w, bias], "conv").unwrap();
    g.add_output("y", y, kiln_ir::Wide::No);
    assert_eq!(packed_matches_widened(&g, &[x], Tol::LOOSE).0, 1);

    // f16 weights widened by a cast, read packed two to a word; the same weights also
    // read by an add, which keeps the f32 words too.
    let mut g = Graph::new("packed_f16");
    let x = random_tensor(DType::F32, &[4, 23], 86);
    let xv = g.add_input("x", x.ty(), kiln_ir::Wide::No);
    let w = g.add_const(None, random_tensor(DType::F16, &[23, 19], 87));
    let w = g.add(Op::Cast { to: DType::F32 }, &[w], "widen").unwrap();
    let y = g.add(Op::MatMul, &[xv, w], "mm").unwrap();
    g.add_output("y", y, kiln_ir::Wide::No);
    let (n, [widened, packed]) = packed_matches_widened(&g, std::slice::from_ref(&x), Tol::LOOSE);
    assert_eq!(n, 1);
    assert!(
        packed * 3 / 2 < widened,
        "{packed} bytes packed, {widened} widened"
    );
    let both = g
        .add(Op::Binary(kiln_ir::BinaryOp::Add), &[w, w], "twice")
        .unwrap();
    g.add_output("both", both, kiln_ir::Wide::No);
    let (n, [widened, packed]) = packed_matches_widened(&g, &[x], Tol::LOOSE);
    assert_eq!(n, 1);
    assert!(packed > widened, "both forms are on the device");
}

#[test]
fn packed_embedding_tables() {
    // An int8 table with a scale and zero point per row, and an int4 one in blocks of
    // 32 along each row (13 → one short block), gathered by run-time indices (negative
    // ones count from the end).
    let idx: Vec<i32> = (0..11).map(|i| (i * 7 % 37) - 18).collect();
    let indices = Tensor::new(vec![11], Data::I32(idx)).unwrap();
    for (seed, dtype, (axis, block), scale_dims) in [
        (91u64, DType::I8, (0, 0), [37, 1]),
        (95, DType::I4, (1, 32), [37, 1]),
    ] {
        let mut g = Graph::new("packed_gather");
        let iv = g.add_input("i", indices.ty(), kiln_ir::Wide::No);
        let parts = [
            ints(dtype, &[37, 13], seed),
            scales(DType::F32, &scale_dims, seed + 1),
            zeros(dtype, &scale_dims, seed + 2),
        ]
        .map(|t| g.add_const(None, t));
        let table = g.add(Op::Dequantize { axis, block }, &parts, "dq").unwrap();
        let y = g
            .add(Op::Gather { axis: 0 }, &[table, iv], "gather")
            .unwrap();
        g.add_output("y", y, kiln_ir::Wide::No);
        let (n, _) = packed_matches_widened(&g, std::slice::from_ref(&indices), Tol::EXACT);
        assert_eq!(n, 1, "{dtype}");
    }
}

#[test]
fn packed_halves_decode_every_bit_pattern_exactly() {
    // All 65536 f16 patterns (zeros, subnormals, normals, infinities, NaNs) read packed
    // by a gather: decoded with integer operations, equal to the host's widening.
    let halves: Vec<half::f16> = (0..=u16::MAX).map(half::f16::from_bits).collect();
    let mut g = Graph::new("packed_halves");
    let idx = Tensor::new(vec![1 << 16], Data::I32((0..1 << 16).collect())).unwrap();
    let iv = g.add_input("i", idx.ty(), kiln_ir::Wide::No);
    let table = g.add_const(None, Tensor::new(vec![1 << 16], Data::F16(halves)).unwrap());
    let table = g
        .add(Op::Cast { to: DType::F32 }, &[table], "widen")
        .unwrap();
    let y = g
        .add(Op::Gather { axis: 0 }, &[table, iv], "gather")
        .unwrap();
    g.add_output("y", y, kiln_ir::Wide::No);
    assert_eq!(packed_matches_widened(&g, &[idx], Tol::EXACT).0, 1);
}
