//! GPU remainders (`mod`, `fmod`), bitwise ops, shifts and `xor` against the CPU
//! reference, on random operands of odd sizes with broadcasting and on the edge cases:
//! zero and negative divisors, infinite and NaN floats, shift amounts outside the
//! type's width. Every result is exact: integer arithmetic is, and a float remainder
//! `a − b·trunc(a / b)` is exactly representable once the quotient's integer is right,
//! which `fma` and the sign correction make it for these magnitudes.

mod common;

use common::{check_graph, random_tensor, Tol};
use kiln_ir::{BinaryOp, DType, Data, Graph, Op, Tensor, UnaryOp};

/// A graph applying each op to inputs `x0`, `x1` (or `x0` alone for a unary op).
fn check(name: &str, inputs: Vec<Tensor>, ops: &[Op]) {
    let mut g = Graph::new(name);
    let vs: Vec<_> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| g.add_input(format!("x{i}"), t.ty(), kiln_ir::Wide::No))
        .collect();
    for (k, op) in ops.iter().enumerate() {
        let args = if matches!(op, Op::Unary(_)) {
            &vs[..1]
        } else {
            &vs[..]
        };
        let y = g
            .add(op.clone(), args, format!("n{k}"))
            .unwrap_or_else(|e| panic!("{op:?}: {e}"));
        g.add_output(format!("{k}_{}", op.name()), y, kiln_ir::Wide::No);
    }
    check_graph(&g, &inputs, Tol::EXACT);
}

fn tensor(dims: &[usize], data: Data) -> Tensor {
    Tensor::new(dims, data).unwrap()
}

/// Integer operands of `dtype` from `v`, wrapped to the type.
fn ints(dtype: DType, v: &[i64]) -> Tensor {
    tensor(
        &[v.len()],
        Data::from_i64s(dtype, v.iter().copied()).unwrap(),
    )
}

const INT_TYPES: [DType; 6] = [
    DType::I32,
    DType::I16,
    DType::I8,
    DType::U32,
    DType::U16,
    DType::U8,
];

#[test]
fn integer_remainders_match_the_reference() {
    use BinaryOp::*;
    let ops = [Op::Binary(Mod), Op::Binary(Fmod)];
    for (i, dtype) in INT_TYPES.into_iter().enumerate() {
        // Both signs, zero divisors, the type's extremes.
        let (lo, hi) = dtype.int_range().unwrap();
        let a = ints(dtype, &[7, -7, 7, -7, 0, 5, lo, hi, lo, 9, -3]);
        let b = ints(dtype, &[3, 3, -3, -3, 4, 0, -1, 7, 3, -4, 0]);
        check("rem_edges", vec![a, b], &ops);
        let a = random_tensor(dtype, &[3, 5, 17], 300 + i as u64);
        let b = random_tensor(dtype, &[17], 310 + i as u64);
        check("rem_broadcast", vec![a, b], &ops);
    }
}

#[test]
fn float_remainders_match_the_reference() {
    use BinaryOp::*;
    let ops = [Op::Binary(Mod), Op::Binary(Fmod)];
    let (inf, nan) = (f32::INFINITY, f32::NAN);
    let a = vec![
        0.0, -0.0, 0.0, -0.0, -3.0, 3.0, -1.0, 1.0, inf, -inf, 1.0, 1.0, nan, 1.0, 5.5, -5.5,
    ];
    let b = vec![
        -2.0, 2.0, 2.0, -2.0, inf, inf, -inf, -inf, 2.0, 2.0, 0.0, -0.0, 2.0, nan, 1.5, 1.5,
    ];
    let (a, b) = (tensor(&[16], Data::F32(a)), tensor(&[16], Data::F32(b)));
    check("rem_float_edges", vec![a, b], &ops);
    for (seed, (sa, sb)) in [
        (320u64, (vec![257], vec![257])),
        (330, (vec![2, 1, 7], vec![3, 1])),
    ] {
        for dtype in [DType::F32, DType::F16] {
            let a = random_tensor(dtype, &sa, seed);
            let b = random_tensor(dtype, &sb, seed + 1);
            check("rem_float", vec![a, b], &ops);
        }
    }
}

#[test]
fn bitwise_ops_and_shifts_match_the_reference() {
    use BinaryOp::*;
    let ops: Vec<Op> = [BitAnd, BitOr, BitXor, ShiftLeft, ShiftRight]
        .into_iter()
        .map(Op::Binary)
        .chain([Op::Unary(UnaryOp::BitNot)])
        .collect();
    for (i, dtype) in INT_TYPES.into_iter().enumerate() {
        let (lo, hi) = dtype.int_range().unwrap();
        let w = dtype.bits() as i64;
        // Shift amounts below, inside and past the width, on both signs of value.
        let a = ints(dtype, &[1, -1, lo, hi, 5, -6, 3, lo, 127, -2]);
        let b = ints(dtype, &[-1, 0, 1, w - 1, w, w + 3, 2, w - 1, 1, 31]);
        check("bits_edges", vec![a, b], &ops);
        let a = random_tensor(dtype, &[2, 1, 7], 340 + i as u64);
        let b = Data::from_i64s(dtype, [0, 1, 3].into_iter()).unwrap();
        let b = tensor(&[3, 1], b);
        check("bits_broadcast", vec![a, b], &ops);
    }
}

#[test]
fn xor_on_bool() {
    let p = random_tensor(DType::Bool, &[2, 1, 7], 350);
    let q = random_tensor(DType::Bool, &[3, 1], 351);
    check("xor", vec![p, q], &[Op::Binary(BinaryOp::Xor)]);
}
