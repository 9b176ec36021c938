//! TopK along an axis that is not the last (the ONNX node tests only take the last
//! axis of a matrix or a vector's only axis), with ties, largest and smallest, checked
//! on the reference interpreter against a stable sort.

mod common;

use common::*;
use kiln_ir::{interp, Tensor};
use kiln_onnx::{import, ImportOptions, Model};

fn top_k_model(dims: &[i64], axis: i64, k: i64, largest: i64) -> Model {
    let mut out = dims.to_vec();
    out[axis as usize] = k;
    let m = model(
        vec![node(
            "TopK",
            &["x", "k"],
            &["values", "indices"],
            vec![attr_i("axis", axis), attr_i("largest", largest)],
        )],
        vec![f32_input("x", dims)],
        vec![f32_input("values", &out), f32_input("indices", &out)],
        vec![i64_tensor("k", &[1], &[k])],
        11,
    );
    Model::decode(&bytes(&m)).unwrap()
}

#[test]
fn top_k_matches_a_stable_sort_along_an_inner_axis() {
    let dims = [3usize, 5, 2];
    let x: Vec<f32> = (0..30).map(|i| ((i * 7) % 4) as f32 - 1.5).collect();
    for (k, largest) in [(3, 1), (5, 0), (1, 0)] {
        let m = top_k_model(&[3, 5, 2], 1, k, largest);
        let g = import(&m, &ImportOptions::default()).unwrap();
        let outs = interp::run(&g, &[Tensor::from_f32(dims.to_vec(), x.clone()).unwrap()]).unwrap();
        let (values, indices) = (outs[0].to_f64_vec(), outs[1].to_f64_vec());
        let k = k as usize;
        for a in 0..3 {
            for c in 0..2 {
                let mut order: Vec<usize> = (0..5).collect();
                let at = |i: usize| x[(a * 5 + i) * 2 + c];
                // A stable sort keeps equal elements in index order.
                if largest == 1 {
                    order.sort_by(|&i, &j| at(j).partial_cmp(&at(i)).unwrap());
                } else {
                    order.sort_by(|&i, &j| at(i).partial_cmp(&at(j)).unwrap());
                }
                for (p, &i) in order[..k].iter().enumerate() {
                    let e = (a * k + p) * 2 + c;
                    assert_eq!(
                        indices[e], i as f64,
                        "k {k} largest {largest} at {a},{p},{c}"
                    );
                    assert_eq!(values[e], at(i) as f64);
                }
            }
        }
    }
}
