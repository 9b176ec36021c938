//! GPU elementwise kernels (Unary, Binary with broadcasting, Where, Cast) against the
//! CPU reference, on fresh random inputs of odd sizes and every dtype each op accepts,
//! and the device check of integer division by zero.
//!
//! Tolerances follow the arithmetic. WGSL's `+ - *` are correctly rounded, as is the
//! reference's f32 (or f64-then-rounded) result, so those and every integer, bool,
//! comparison, select and cast are exact. `x / y` is within 2.5 ulp (3e-7 relative).
//! Transcendental helpers compose at most three builtins (exp: 3 + 2|x| ulp, log: 3 ulp
//! or 2^-21 absolute near 1) plus a few roundings: 2e-6 relative + 1e-6 absolute.
//! WGSL only promises 2^-11 absolute for sin and cos. f16 results round once on the
//! GPU side (at readback) like the reference: within one f16 ulp (1e-3 relative).

mod common;

use common::{check_graph, compare, gpu, random_tensor, Tol};
use half::f16;
use kiln_codegen::{build_plan, Limits};
use kiln_ir::{BinaryOp, DType, Data, Graph, Op, Tensor, UnaryOp};

const TRANSCENDENTAL: Tol = Tol::new(1e-6, 2e-6);
const DIV: Tol = Tol::new(0.0, 3e-7);
const F16: Tol = Tol::new(1e-4, 1e-3);

/// A graph with inputs typed like `inputs` and one node per `(op, operand indices)`.
fn graph(name: &str, inputs: &[Tensor], nodes: &[(Op, Vec<usize>)]) -> Graph {
    let mut g = Graph::new(name);
    let vs: Vec<_> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| g.add_input(format!("x{i}"), t.ty(), kiln_ir::Wide::No))
        .collect();
    for (k, (op, args)) in nodes.iter().enumerate() {
        let a: Vec<_> = args.iter().map(|&i| vs[i]).collect();
        let y = g
            .add(op.clone(), &a, format!("n{k}"))
            .unwrap_or_else(|e| panic!("{op:?}: {e}"));
        g.add_output(format!("{k}_{}", op.name()), y, kiln_ir::Wide::No);
    }
    g
}

/// [`check_graph`] of [`graph`] on `inputs`.
fn check(name: &str, inputs: Vec<Tensor>, nodes: &[(Op, Vec<usize>)], tol: Tol) {
    check_graph(&graph(name, &inputs, nodes), &inputs, tol);
}

/// `t` with `f` applied to every f32 element.
fn map_f32(t: &Tensor, f: impl Fn(f32) -> f32) -> Tensor {
    let Data::F32(v) = &*t.data() else {
        panic!("f32 expected")
    };
    Tensor::new(
        t.shape().clone(),
        Data::F32(v.iter().map(|&x| f(x)).collect()),
    )
    .unwrap()
}

fn tensor(dims: &[usize], data: Data) -> Tensor {
    Tensor::new(dims, data).unwrap()
}

fn exact_unary() -> Vec<UnaryOp> {
    use UnaryOp::*;
    vec![
        Neg,
        Abs,
        Floor,
        Ceil,
        Round,
        Sign,
        Relu,
        LeakyRelu { alpha: 0.125 },
    ]
}

fn transcendental_unary() -> Vec<UnaryOp> {
    use UnaryOp::*;
    vec![
        Exp,
        Erf,
        Tanh,
        Sigmoid,
        Softplus,
        Mish,
        Elu { alpha: 0.7 },
        Selu {
            alpha: 1.6732632,
            gamma: 1.050701,
        },
        Gelu { tanh: false },
        Gelu { tanh: true },
    ]
}

#[test]
fn unary_f32_exact_ops() {
    // Halves exercise round-half-to-even; 0.0 and -0.0 the sign cases.
    for (seed, n) in [(1u64, 1usize), (2, 7), (3, 257)] {
        let mut x = random_tensor(DType::F32, &[n], seed);
        x = map_f32(&x, |v| {
            (v * 4.0).round() / 2.0 + if v > 1.5 { 0.0 } else { 0.3 }
        });
        let nodes: Vec<_> = exact_unary()
            .into_iter()
            .map(|u| (Op::Unary(u), vec![0]))
            .collect();
        check("unary_exact", vec![x], &nodes, Tol::EXACT);
    }
}

#[test]
fn unary_f32_rounded_ops() {
    use UnaryOp::*;
    let x = random_tensor(DType::F32, &[3, 86], 11); // 258 elements: a partial second workgroup
    let pos = map_f32(&random_tensor(DType::F32, &[3, 86], 12), |v| v.abs() * 8.0);
    let mut nodes: Vec<_> = transcendental_unary()
        .into_iter()
        .map(|u| (Op::Unary(u), vec![0]))
        .collect();
    nodes.push((Op::Unary(Log), vec![1]));
    check(
        "unary_transcendental",
        vec![x.clone(), pos.clone()],
        &nodes,
        TRANSCENDENTAL,
    );
    let nodes = vec![(Op::Unary(Reciprocal), vec![0]), (Op::Unary(Sqrt), vec![1])];
    check(
        "unary_div",
        vec![x.clone(), pos],
        &nodes,
        Tol::new(0.0, 5e-7),
    );
    let nodes = vec![
        (Op::Unary(HardSwish), vec![0]),
        (
            Op::Unary(HardSigmoid {
                alpha: 0.2,
                beta: 0.5,
            }),
            vec![0],
        ),
    ];
    check("unary_hard", vec![x.clone()], &nodes, Tol::new(1e-7, 3e-7));
    let nodes = vec![(Op::Unary(Sin), vec![0]), (Op::Unary(Cos), vec![0])];
    check("unary_trig", vec![x], &nodes, Tol::new(1.0 / 2048.0, 0.0));
}

#[test]
fn unary_inverse_and_hyperbolic_trig() {
    use UnaryOp::*;
    // sinh, asinh and atanh go through expm1/log1p (the transcendental bound); WGSL
    // promises 4096 ulp (5e-4 relative) for atan, which asin, acos and acosh inherit,
    // and tan inherits sin / cos's 2^-11 absolute divided by cos (≥ 0.54 on (-1, 1)).
    let x = random_tensor(DType::F32, &[3, 86], 13);
    let unit = map_f32(&x, |v| v * 0.45);
    let big = map_f32(&x, |v| 1.0 + v.abs() * 3.0);
    let nodes = vec![
        (Op::Unary(Sinh), vec![0]),
        (Op::Unary(Asinh), vec![0]),
        (Op::Unary(Atanh), vec![1]),
        (Op::Unary(Cosh), vec![0]),
    ];
    let ins = vec![x.clone(), unit.clone(), big.clone()];
    check("unary_hyperbolic", ins.clone(), &nodes, TRANSCENDENTAL);
    let nodes = vec![
        (Op::Unary(Atan), vec![0]),
        (Op::Unary(Asin), vec![1]),
        (Op::Unary(Acos), vec![1]),
        (Op::Unary(Acosh), vec![2]),
    ];
    check(
        "unary_inverse_trig",
        ins.clone(),
        &nodes,
        Tol::new(1e-6, 5e-4),
    );
    check(
        "unary_tan",
        ins,
        &[(Op::Unary(Tan), vec![1])],
        Tol::new(1e-3, 0.0),
    );
}

#[test]
fn nan_and_inf_tests_on_floats() {
    use UnaryOp::*;
    let v = vec![
        0.0,
        -0.0,
        1.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        -f32::NAN,
        3.0e38,
    ];
    let x = tensor(&[v.len()], Data::F32(v.clone()));
    let h = tensor(
        &[v.len()],
        Data::F16(v.iter().map(|&f| f16::from_f32(f)).collect()),
    );
    for x in [x, h] {
        let nodes = vec![(Op::Unary(IsNan), vec![0]), (Op::Unary(IsInf), vec![0])];
        check("nan_inf", vec![x], &nodes, Tol::EXACT);
    }
}

#[test]
fn unary_large_and_special_arguments() {
    use UnaryOp::*;
    // Tails: saturation of tanh/sigmoid/erf, softplus overflow guard, gelu's erfc branch.
    let v = vec![
        -30.0,
        -9.5,
        -4.0,
        -1.0e-3,
        1.0e-4,
        3.0,
        12.0,
        40.0,
        88.0,
        -88.0,
        f32::NAN,
    ];
    let x = tensor(&[v.len()], Data::F32(v));
    let nodes: Vec<_> = [
        Tanh,
        Sigmoid,
        Erf,
        Softplus,
        Mish,
        Gelu { tanh: false },
        Gelu { tanh: true },
    ]
    .into_iter()
    .map(|u| (Op::Unary(u), vec![0]))
    .collect();
    check("unary_tails", vec![x], &nodes, TRANSCENDENTAL);
}

#[test]
fn unary_f16() {
    let x = random_tensor(DType::F16, &[7, 3], 21);
    let nodes: Vec<_> = exact_unary()
        .into_iter()
        .chain(transcendental_unary())
        .map(|u| (Op::Unary(u), vec![0]))
        .collect();
    check("unary_f16", vec![x], &nodes, F16);
}

#[test]
fn unary_integers_wrap_like_the_reference() {
    use UnaryOp::*;
    let ops = [Neg, Abs, Sign, Relu];
    let cases = [
        tensor(&[5], Data::I8(vec![-128, 127, -1, 0, 5])),
        tensor(&[4], Data::U8(vec![0, 1, 200, 255])),
        tensor(&[4], Data::I32(vec![i32::MIN, i32::MAX, -7, 3])),
        tensor(&[3], Data::U32(vec![0, 1, u32::MAX])),
        random_tensor(DType::I8, &[257], 31),
        random_tensor(DType::U8, &[7], 32),
    ];
    for x in cases {
        let nodes: Vec<_> = ops.iter().map(|&u| (Op::Unary(u), vec![0])).collect();
        check("unary_int", vec![x], &nodes, Tol::EXACT);
    }
    let b = random_tensor(DType::Bool, &[257], 33);
    check("not", vec![b], &[(Op::Unary(Not), vec![0])], Tol::EXACT);
}

/// Shapes pairs covering equal shapes, numpy broadcasting both ways, scalars and size 1.
fn shape_pairs() -> Vec<(Vec<usize>, Vec<usize>)> {
    vec![
        (vec![257], vec![257]),
        (vec![2, 1, 7], vec![3, 1]),
        (vec![1], vec![5, 3]),
        (vec![], vec![4, 1, 2]),
        (vec![3, 5, 17], vec![17]),
    ]
}

#[test]
fn binary_float_ops_broadcast() {
    use BinaryOp::*;
    for (k, (sa, sb)) in shape_pairs().into_iter().enumerate() {
        let a = random_tensor(DType::F32, &sa, 40 + k as u64);
        let b = random_tensor(DType::F32, &sb, 50 + k as u64);
        let exact = [
            Add,
            Sub,
            Mul,
            Max,
            Min,
            Equal,
            Less,
            Greater,
            LessOrEqual,
            GreaterOrEqual,
        ];
        let mut nodes: Vec<_> = exact.iter().map(|&o| (Op::Binary(o), vec![0, 1])).collect();
        if slope_fits(&sb, &sa) {
            nodes.push((Op::Binary(Prelu), vec![0, 1]));
        }
        check("binary_f32", vec![a.clone(), b.clone()], &nodes, Tol::EXACT);
        let nodes = vec![(Op::Binary(Div), vec![0, 1])];
        check("div_f32", vec![a.clone(), b.clone()], &nodes, DIV);
        // Positive bases for real powers; negative bases with integral exponents.
        let pa = map_f32(&a, |v| v.abs() * 3.0);
        let ib = map_f32(&b, |v| (v * 3.0).round());
        let nodes = vec![(Op::Binary(Pow), vec![0, 1]), (Op::Binary(Pow), vec![2, 3])];
        let ins = [pa, b.clone(), a.clone(), ib];
        check_graph(&graph("pow_f32", &ins, &nodes), &ins, Tol::new(1e-6, 4e-6));
    }
}

#[test]
fn binary_nan_propagates_through_max_and_min() {
    let a = tensor(&[4], Data::F32(vec![f32::NAN, 1.0, -2.0, f32::NAN]));
    let b = tensor(&[4], Data::F32(vec![3.0, f32::NAN, -1.0, f32::NAN]));
    let nodes = vec![
        (Op::Binary(BinaryOp::Max), vec![0, 1]),
        (Op::Binary(BinaryOp::Min), vec![0, 1]),
    ];
    check("nan", vec![a, b], &nodes, Tol::EXACT);
}

#[test]
fn binary_f16_ops() {
    use BinaryOp::*;
    let a = random_tensor(DType::F16, &[2, 3, 7], 61);
    let b = random_tensor(DType::F16, &[3, 1], 62);
    let nodes: Vec<_> = [Add, Sub, Mul, Div, Max, Min, Prelu, Less, Equal]
        .iter()
        .map(|&o| (Op::Binary(o), vec![0, 1]))
        .collect();
    check("binary_f16", vec![a, b], &nodes, F16);
}

#[test]
fn binary_integer_ops_wrap_like_the_reference() {
    use BinaryOp::*;
    let ops = [
        Add,
        Sub,
        Mul,
        Div,
        Max,
        Min,
        Pow,
        Equal,
        Less,
        Greater,
        LessOrEqual,
        GreaterOrEqual,
    ];
    for (i, dtype) in [DType::I32, DType::I8, DType::U32, DType::U8]
        .into_iter()
        .enumerate()
    {
        for (k, (sa, sb)) in shape_pairs().into_iter().enumerate() {
            let a = random_tensor(dtype, &sa, 70 + (i * 10 + k) as u64);
            let b = random_tensor(dtype, &sb, 170 + (i * 10 + k) as u64);
            let mut nodes: Vec<_> = ops.iter().map(|&o| (Op::Binary(o), vec![0, 1])).collect();
            if slope_fits(&sb, &sa) {
                nodes.push((Op::Binary(Prelu), vec![0, 1]));
            }
            check("binary_int", vec![a, b], &nodes, Tol::EXACT);
        }
    }
    // Overflow: i8 and u8 wrap (add, mul) and saturate (pow) exactly as the reference.
    let a = tensor(&[4], Data::I8(vec![127, -128, 100, -100]));
    let b = tensor(&[4], Data::I8(vec![1, -1, 3, 2]));
    let nodes: Vec<_> = [Add, Sub, Mul, Div, Pow]
        .iter()
        .map(|&o| (Op::Binary(o), vec![0, 1]))
        .collect();
    check("i8_overflow", vec![a, b], &nodes, Tol::EXACT);
    let a = tensor(&[3], Data::U8(vec![255, 3, 16]));
    let b = tensor(&[3], Data::U8(vec![1, 200, 2]));
    let nodes: Vec<_> = [Add, Sub, Mul, Pow]
        .iter()
        .map(|&o| (Op::Binary(o), vec![0, 1]))
        .collect();
    check("u8_overflow", vec![a, b], &nodes, Tol::EXACT);
}

#[test]
fn binary_mixed_pow_and_bool_logic() {
    use BinaryOp::*;
    let base = random_tensor(DType::F32, &[7], 81);
    let exp = random_tensor(DType::I32, &[7], 82);
    let ibase = random_tensor(DType::I32, &[7], 83);
    let nodes = vec![(Op::Binary(Pow), vec![0, 1]), (Op::Binary(Pow), vec![2, 1])];
    let ins = [base, exp, ibase];
    check_graph(&graph("pow_mixed", &ins, &nodes), &ins, Tol::new(0.0, 4e-6));
    let p = random_tensor(DType::Bool, &[2, 1, 7], 84);
    let q = random_tensor(DType::Bool, &[3, 1], 85);
    let nodes: Vec<_> = [And, Or, Equal]
        .iter()
        .map(|&o| (Op::Binary(o), vec![0, 1]))
        .collect();
    check("bool", vec![p, q], &nodes, Tol::EXACT);
}

#[test]
fn shared_operands_are_bound_once() {
    use BinaryOp::*;
    // The same value as two operands is bound once and read twice.
    let x = random_tensor(DType::F32, &[257], 86);
    let nodes = vec![
        (Op::Binary(Add), vec![0, 0]),
        (Op::Binary(Mul), vec![0, 0]),
        (Op::Binary(Equal), vec![0, 0]),
    ];
    check("shared", vec![x], &nodes, Tol::EXACT);
    let c = random_tensor(DType::Bool, &[3, 1], 87);
    let y = random_tensor(DType::I8, &[1, 7], 88);
    let nodes = [(Op::Where, vec![0, 1, 1])];
    check("where_shared", vec![c, y], &nodes, Tol::EXACT);
}

/// Prelu's slope must broadcast to x (one-directional).
fn slope_fits(slope: &[usize], x: &[usize]) -> bool {
    slope.len() <= x.len()
        && slope
            .iter()
            .rev()
            .zip(x.iter().rev())
            .all(|(&s, &d)| s == d || s == 1)
}

#[test]
fn where_selects_every_dtype_with_broadcasting() {
    for (i, dtype) in DType::ALL.into_iter().enumerate() {
        let c = random_tensor(DType::Bool, &[3, 1, 1], 90 + i as u64);
        let x = random_tensor(dtype, &[1, 7], 100 + i as u64);
        let y = random_tensor(dtype, &[2, 1], 110 + i as u64);
        let nodes = vec![(Op::Where, vec![0, 1, 2]), (Op::Where, vec![0, 2, 1])];
        check("where", vec![c, x, y], &nodes, Tol::EXACT);
    }
}

#[test]
fn cast_between_every_pair_of_dtypes() {
    let special = vec![
        0.0,
        -0.0,
        0.5,
        -0.5,
        1.5,
        2.5,
        -1.5,
        127.9,
        128.0,
        -128.5,
        -129.0,
        255.5,
        256.0,
        300.0,
        -300.0,
        65504.0,
        65519.0,
        65520.0,
        1e-5,
        3.0e-8,
        1e10,
        -1e10,
        3.0e9,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        0.1,
        1.0 / 3.0,
    ];
    let mut inputs = vec![
        tensor(&[special.len()], Data::F32(special)),
        map_f32(&random_tensor(DType::F32, &[257], 120), |v| v * 150.0),
        random_tensor(DType::F16, &[7], 121),
        tensor(
            &[6],
            Data::I32(vec![i32::MIN, i32::MAX, -129, 255, 256, 16777217]),
        ),
        tensor(&[4], Data::U32(vec![u32::MAX, 128, 255, 16777217])),
        tensor(&[3], Data::I8(vec![-128, 127, -1])),
        tensor(&[3], Data::U8(vec![0, 128, 255])),
        random_tensor(DType::Bool, &[7], 122),
    ];
    inputs.push(tensor(
        &[2],
        Data::F16(vec![f16::from_f32(-2.5), f16::INFINITY]),
    ));
    // The narrow integers and the minifloats (every f8e5m2 pattern, NaNs and infinities
    // included).
    inputs.push(tensor(&[4], Data::I16(vec![i16::MIN, -300, 255, i16::MAX])));
    inputs.push(tensor(&[3], Data::U4(vec![0, 9, 15])));
    inputs.push(tensor(&[4], Data::I2(vec![-2, -1, 0, 1])));
    inputs.push(tensor(&[256], Data::F8E5M2((0..=255).collect())));
    inputs.push(tensor(&[16], Data::F4E2M1((0..16).collect())));
    inputs.push(tensor(&[256], Data::F8E4M3FNUZ((0..=255).collect())));
    inputs.push(tensor(&[256], Data::F8E5M2FNUZ((0..=255).collect())));
    for x in inputs {
        // Every cast inference accepts (minifloats convert to and from floats only):
        // from floats that includes rounding and saturating to every minifloat.
        let nodes: Vec<_> = DType::ALL
            .into_iter()
            .filter(|&to| kiln_ir::infer::infer(&Op::Cast { to }, &[&x.ty()]).is_ok())
            .map(|to| (Op::Cast { to }, vec![0]))
            .collect();
        check("cast", vec![x], &nodes, Tol::EXACT);
    }
}

#[test]
fn integer_division_by_zero_fails_the_run_and_the_next_run_is_clean() {
    use BinaryOp::{Add, Div};
    // A plain division, and one inside a program; a float division and a program
    // dividing by a constant step need no check.
    let a = tensor(&[5], Data::I32(vec![7, -8, 9, 10, -11]));
    let good = tensor(&[5], Data::I32(vec![2, 3, -4, 5, 1]));
    let divide: kiln_ir::Program = "[in0, in1, div(%0,%1), in0, add(%2,%3)]".parse().unwrap();
    let halve: kiln_ir::Program = "[in0, const(i32 2), div(%0,%1)]".parse().unwrap();
    let nodes = [
        (Op::Binary(Div), vec![0, 1]),
        (Op::Elementwise { program: divide }, vec![0, 1]),
        (Op::Elementwise { program: halve }, vec![0]),
        (Op::Binary(Add), vec![0, 1]),
    ];
    let g = graph("divide", &[a.clone(), good.clone()], &nodes);
    let compiled = build_plan(&g, &Limits::default()).unwrap();
    assert_eq!(compiled.plan.checks.len(), 2);
    let mut session = gpu().load(&compiled.plan, &compiled.weights).unwrap();
    let want = kiln_ir::interp::run(&g, &[a.clone(), good.clone()]).unwrap();
    for zero_at in [0, 4] {
        let mut b = vec![2, 3, -4, 5, 1];
        b[zero_at] = 0;
        let bad = tensor(&[5], Data::I32(b));
        assert!(kiln_ir::interp::run(&g, &[a.clone(), bad.clone()]).is_err());
        let err = session.run(&[a.clone(), bad]).unwrap_err().to_string();
        assert_eq!(err, "div 'n0': an integer is divided by zero");
        let got = session.run(&[a.clone(), good.clone()]).unwrap();
        for (g, w) in got.iter().zip(&want) {
            compare(g, w, Tol::EXACT).unwrap();
        }
    }
    let f = random_tensor(DType::F32, &[5], 3);
    let floats = graph("fdiv", &[f.clone(), f], &[(Op::Binary(Div), vec![0, 1])]);
    assert!(build_plan(&floats, &Limits::default())
        .unwrap()
        .plan
        .checks
        .is_empty());
}

/// `bitcast` between every pair of same-width types it takes (f16 only as a source:
/// the GPU's `unpack2x16float` may flush the subnormal halves small integers make),
/// bit for bit, on random data of an odd size.
#[test]
fn bitcast_reinterprets_bits_exactly() {
    let pairs = [
        (DType::F32, DType::I32),
        (DType::F32, DType::U32),
        (DType::I32, DType::F32),
        (DType::U32, DType::I32),
        (DType::I32, DType::U32),
        (DType::F16, DType::I16),
        (DType::F16, DType::U16),
        (DType::I16, DType::U16),
        (DType::U16, DType::I16),
        (DType::I8, DType::U8),
        (DType::U8, DType::I8),
        (DType::Bool, DType::U8),
        (DType::Bool, DType::I8),
    ];
    for (seed, (from, to)) in pairs.into_iter().enumerate() {
        let x = random_tensor(from, &[3, 37], 900 + seed as u64);
        let graph = common::op_graph(Op::BitCast { to }, std::slice::from_ref(&x));
        check_graph(&graph, &[x], Tol::EXACT);
    }
}
