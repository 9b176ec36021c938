//! Einsum's lowering (diagonals, sums, transposes, batched products) checked on the
//! reference interpreter against a direct evaluation of the equation, in f32 (the
//! ONNX node tests of Einsum are all double or bfloat16, which kiln computes as f32).

mod common;

use common::*;
use kiln_ir::{interp, Tensor};
use kiln_onnx::proto::{attr_type, AttributeProto};
use kiln_onnx::{import, ImportOptions, Model};

/// `equation` evaluated directly: every assignment of the labels, summed into the
/// output. Explicit equations only, `...` spelled out by the caller as letters.
fn naive(equation: &str, operands: &[(&[usize], &[f32])]) -> (Vec<usize>, Vec<f32>) {
    let (lhs, rhs) = equation.split_once("->").unwrap();
    let terms: Vec<Vec<char>> = lhs.split(',').map(|t| t.chars().collect()).collect();
    let out: Vec<char> = rhs.chars().collect();
    let mut labels: Vec<(char, usize)> = Vec::new();
    for (t, (dims, _)) in terms.iter().zip(operands) {
        for (&c, &d) in t.iter().zip(dims.iter()) {
            match labels.iter_mut().find(|(l, _)| *l == c) {
                Some((_, n)) => *n = (*n).max(d),
                None => labels.push((c, d)),
            }
        }
    }
    let size = |c: char| labels.iter().find(|(l, _)| *l == c).unwrap().1;
    let odims: Vec<usize> = out.iter().map(|&c| size(c)).collect();
    let mut y = vec![0f32; odims.iter().product()];
    let total: usize = labels.iter().map(|(_, n)| n).product();
    for flat in 0..total {
        let mut rem = flat;
        let mut at = Vec::new();
        for &(c, n) in labels.iter().rev() {
            at.push((c, rem % n));
            rem /= n;
        }
        let idx = |c: char| at.iter().find(|(l, _)| *l == c).unwrap().1;
        let mut p = 1f32;
        for (t, (dims, data)) in terms.iter().zip(operands) {
            let mut off = 0;
            for (&c, &d) in t.iter().zip(dims.iter()) {
                off = off * d + if d == 1 { 0 } else { idx(c) };
            }
            p *= data[off];
        }
        let mut o = 0;
        for (&c, &d) in out.iter().zip(&odims) {
            o = o * d + idx(c);
        }
        y[o] += p;
    }
    (odims, y)
}

fn data(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (((i * 7 + seed * 13) % 11) as f32 - 5.0) * 0.25)
        .collect()
}

/// The decoded model of one `Einsum(equation)` node over f32 inputs `x0, x1, ..` of
/// `shapes`, with output `y` declared of dims `out`.
fn einsum_model(equation: &str, shapes: &[&[usize]], out: &[usize]) -> Model {
    let dims = |d: &[usize]| d.iter().map(|&x| x as i64).collect::<Vec<_>>();
    let names: Vec<String> = (0..shapes.len()).map(|i| format!("x{i}")).collect();
    let attr = AttributeProto {
        name: "equation".into(),
        r#type: attr_type::STRING,
        s: equation.as_bytes().to_vec(),
        ..Default::default()
    };
    let inputs: Vec<&str> = names.iter().map(String::as_str).collect();
    let m = model(
        vec![node("Einsum", &inputs, &["y"], vec![attr])],
        shapes
            .iter()
            .zip(&names)
            .map(|(s, n)| f32_input(n, &dims(s)))
            .collect(),
        vec![f32_input("y", &dims(out))],
        vec![],
        12,
    );
    Model::decode(&bytes(&m)).unwrap()
}

/// Imports `Einsum(equation)` over f32 operands of `shapes`, runs it on the
/// interpreter and compares with `naive(spelled, ..)`.
fn check(equation: &str, spelled: &str, shapes: &[&[usize]]) {
    let values: Vec<Vec<f32>> = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| data(s.iter().product(), i))
        .collect();
    let operands: Vec<(&[usize], &[f32])> = shapes
        .iter()
        .zip(&values)
        .map(|(s, v)| (*s, v.as_slice()))
        .collect();
    let (odims, want) = naive(spelled, &operands);
    let model = einsum_model(equation, shapes, &odims);
    let g = import(&model, &ImportOptions::default()).unwrap_or_else(|e| panic!("{equation}: {e}"));
    let ins: Vec<Tensor> = shapes
        .iter()
        .zip(values)
        .map(|(s, v)| Tensor::from_f32(s.to_vec(), v).unwrap())
        .collect();
    let y = &interp::run(&g, &ins).unwrap()[0];
    assert_eq!(y.shape().0, odims, "{equation}");
    let got = y.to_f64_vec();
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (g - *w as f64).abs() <= 1e-4 * (1.0 + w.abs() as f64),
            "{equation}: element {i}: got {g}, want {w}"
        );
    }
}

#[test]
fn einsum_matches_direct_evaluation() {
    check("bij,bjk->bik", "bij,bjk->bik", &[&[5, 2, 3], &[5, 3, 4]]);
    check("i,i", "i,i->", &[&[5], &[5]]);
    check("ij->i", "ij->i", &[&[3, 4]]);
    check("ij->ji", "ij->ji", &[&[3, 4]]);
    check("ij", "ij->ij", &[&[3, 4]]);
    check("ji", "ji->ij", &[&[3, 4]]);
    check("...ii ->...i", "aii->ai", &[&[3, 5, 5]]);
    check("ii", "ii->", &[&[4, 4]]);
    check("ij,jk", "ij,jk->ik", &[&[3, 5], &[5, 2]]);
    check(
        "bhqd,bhkd->bhqk",
        "bhqd,bhkd->bhqk",
        &[&[2, 3, 4, 5], &[2, 3, 6, 5]],
    );
    check("i,j->ij", "i,j->ij", &[&[3], &[4]]);
    check("ij,ij->", "ij,ij->", &[&[3, 4], &[3, 4]]);
    check("abc,cd->abd", "abc,cd->abd", &[&[2, 3, 4], &[4, 5]]);
    check("ijk->", "ijk->", &[&[2, 3, 4]]);
    check("ij,jk,kl->il", "ij,jk,kl->il", &[&[2, 3], &[3, 4], &[4, 5]]);
    check("abc,b->ca", "abc,b->ca", &[&[2, 3, 4], &[3]]);
    check(
        "...ij,...jk->...ik",
        "zij,zjk->zik",
        &[&[1, 2, 3], &[4, 3, 5]],
    );
    check("iij,jk->ik", "iij,jk->ik", &[&[3, 3, 2], &[2, 4]]);
}

#[test]
fn malformed_equations_are_errors() {
    for (eq, shapes) in [
        ("ij,jk->ik", vec![vec![2, 3]]),
        ("ij->k", vec![vec![2, 3]]),
        ("ijk->i", vec![vec![2, 3]]),
        ("ij,jk->ik", vec![vec![2, 3], vec![4, 5]]),
        ("i1->i", vec![vec![2, 3]]),
        ("ii->i", vec![vec![2, 3]]),
        ("ij->ii", vec![vec![2, 3]]),
    ] {
        let shapes: Vec<&[usize]> = shapes.iter().map(Vec::as_slice).collect();
        let model = einsum_model(eq, &shapes, &[]);
        let err = import(&model, &ImportOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("Einsum"), "{eq}: {err}");
    }
}
