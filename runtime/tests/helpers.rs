//! The shared test helpers themselves: random data, comparison and its failure text,
//! and one op through `check_op` end to end.

mod common;

use common::{check_op, compare, random_tensor, Tol};
use kiln_ir::{BinaryOp, DType, Op, Tensor};

#[test]
fn random_tensors_are_fresh_deterministic_and_never_zero() {
    for dtype in [
        DType::F32,
        DType::F16,
        DType::I32,
        DType::U32,
        DType::I8,
        DType::U8,
    ] {
        let t = random_tensor(dtype, &[4, 33], 5);
        assert_eq!(t.ty().to_string(), format!("{}[4,33]", t.dtype()));
        assert!(
            t.to_f64_vec()
                .iter()
                .all(|&x| x != 0.0 && (-9.0..=9.0).contains(&x)),
            "{dtype:?}"
        );
        assert_eq!(t, random_tensor(dtype, &[4, 33], 5));
        assert_ne!(t, random_tensor(dtype, &[4, 33], 6));
    }
    let b = random_tensor(DType::Bool, &[64], 1).to_f64_vec();
    assert!(b.contains(&0.0) && b.contains(&1.0));
}

#[test]
fn comparison_honours_tolerance_and_nan() {
    let t = |v: Vec<f32>| Tensor::from_f32([v.len()].as_slice(), v).unwrap();
    assert!(compare(
        &t(vec![1.0, f32::NAN, f32::INFINITY]),
        &t(vec![1.0, f32::NAN, f32::INFINITY]),
        Tol::EXACT
    )
    .is_ok());
    assert!(compare(&t(vec![100.001]), &t(vec![100.0]), Tol::new(0.0, 1e-4)).is_ok());
    let err = compare(
        &t(vec![1.0, 2.5, 3.0]),
        &t(vec![1.0, 2.0, f32::NAN]),
        Tol::F32,
    )
    .unwrap_err();
    assert_eq!(
        err,
        "2 of 3 elements of f32[3] differ (tol abs 0.00001 rel 0.00001)\n  at [1]: gpu 2.5 cpu 2 (diff 5e-1)\n  at [2]: gpu 3 cpu NaN (diff NaN)"
    );
    let i = Tensor::from_i32([2usize].as_slice(), vec![1, 2]).unwrap();
    assert_eq!(
        compare(&i, &t(vec![1.0, 2.0]), Tol::LOOSE).unwrap_err(),
        "GPU gave i32[2], CPU f32[2]"
    );
}

#[test]
fn an_op_checks_against_the_reference() {
    let a = random_tensor(DType::F32, &[7, 1], 1);
    let b = random_tensor(DType::F32, &[1, 257], 2);
    check_op(Op::Binary(BinaryOp::Add), vec![a, b], Tol::F32);
}
