//! GPU cumulative sums and products (`cum_sum`, `cum_prod`) against the CPU reference:
//! every axis of an odd-sized 3-D operand, exclusive and reverse scans, floats and
//! wrapping integers. Exact: both sides combine the same elements in the same order in
//! f32 (correctly rounded `+` and `*`) or in wrapping integers, and f16 results round
//! once at the end on both.

mod common;

use common::{check_graph, random_tensor, Tol};
use kiln_ir::{CumOp, DType, Data, Graph, Op, Tensor};

/// Every (axis, exclusive, reverse) scan of `x` with `op`, one output each.
fn check_scans(x: Tensor, op: CumOp) {
    let mut g = Graph::new("scan");
    let v = g.add_input("x", x.ty(), kiln_ir::Wide::No);
    let rank = x.shape().rank();
    for axis in 0..rank {
        for (exclusive, reverse) in [(false, false), (true, false), (false, true), (true, true)] {
            let node = Op::Cumulative {
                op,
                axis,
                exclusive,
                reverse,
            };
            let name = format!("a{axis}_e{exclusive}_r{reverse}");
            let y = g.add(node, &[v], name.clone()).unwrap();
            g.add_output(name, y, kiln_ir::Wide::No);
        }
    }
    check_graph(&g, &[x], Tol::EXACT);
}

#[test]
fn float_scans_match_the_reference() {
    for (seed, dtype) in [(400u64, DType::F32), (401, DType::F16)] {
        for op in [CumOp::Sum, CumOp::Prod] {
            check_scans(random_tensor(dtype, &[3, 7, 5], seed), op);
        }
    }
    // A long line: 300 partial sums, each rounded in order.
    check_scans(random_tensor(DType::F32, &[300], 402), CumOp::Sum);
}

#[test]
fn integer_scans_wrap_like_the_reference() {
    for (i, dtype) in [DType::I32, DType::I8, DType::U32, DType::U8, DType::I16]
        .into_iter()
        .enumerate()
    {
        for op in [CumOp::Sum, CumOp::Prod] {
            check_scans(random_tensor(dtype, &[2, 9, 3], 410 + i as u64), op);
        }
    }
    // Overflow wraps to the width.
    let x = Tensor::new(vec![6], Data::I8(vec![100, 100, -128, 3, 127, 2])).unwrap();
    check_scans(x.clone(), CumOp::Sum);
    check_scans(x, CumOp::Prod);
}
