//! Unit tests of the elementwise lowering (generated WGSL validated by naga), and the
//! one-node graph helpers the other families' tests share.

use crate::{build_plan, CodegenError, CompiledPlan, Limits};
use kiln_ir::{BinaryOp, DType, Graph, Op, TensorType, UnaryOp};

/// A graph applying `op` to fresh inputs of `types`, all results as outputs.
pub(in crate::lower) fn one_node(op: Op, types: &[TensorType]) -> Graph {
    let mut g = Graph::new("t");
    let inputs: Vec<_> = types
        .iter()
        .enumerate()
        .map(|(i, t)| g.add_input(format!("x{i}"), t.clone(), kiln_ir::Wide::No))
        .collect();
    let outs = g
        .add_node(op, &inputs, None, "n")
        .expect("op fits its operands");
    for (i, v) in outs.into_iter().enumerate() {
        g.add_output(format!("y{i}"), v, kiln_ir::Wide::No);
    }
    g
}

/// Compiles [`one_node`] with WebGPU's default limits (every kernel naga-validated).
pub(in crate::lower) fn compile(
    op: Op,
    types: &[TensorType],
) -> Result<CompiledPlan, CodegenError> {
    build_plan(&one_node(op, types), &Limits::default())
}

/// `dtype` tensor type of `dims`.
pub(in crate::lower) fn ty(dtype: DType, dims: &[usize]) -> TensorType {
    TensorType::new(dtype, dims.to_vec())
}

/// True when shape inference accepts `op` on `types` (the reference then defines it).
pub(in crate::lower) fn accepted(op: &Op, types: &[TensorType]) -> bool {
    let refs: Vec<&TensorType> = types.iter().collect();
    kiln_ir::infer::infer(op, &refs).is_ok()
}

/// Lowers every node of `g` directly (no plan), validating each kernel with naga, and
/// asserts no kernel binds one slot twice.
pub(in crate::lower) fn lower_all(g: &Graph) -> Vec<crate::lower::Lowered> {
    let limits = Limits::default();
    let mut out = Vec::new();
    for (node, _) in g.nodes.iter() {
        let ctx = crate::lower::NodeCtx::new(g, node, &limits);
        let lowered = crate::lower::lower_node(&ctx).unwrap();
        for k in &lowered.kernels {
            crate::validate_wgsl(&k.wgsl).unwrap_or_else(|e| panic!("{e}\n{}", k.wgsl));
            let mut slots: Vec<String> =
                k.bindings.iter().map(|b| format!("{:?}", b.slot)).collect();
            slots.sort();
            slots.dedup();
            assert_eq!(
                slots.len(),
                k.bindings.len(),
                "a slot bound twice: {:?}",
                k.bindings
            );
            // Two operand slots naming the same value would bind one buffer twice.
            let values: Vec<_> = k
                .bindings
                .iter()
                .filter_map(|b| match b.slot {
                    crate::lower::Slot::Operand(i) => Some(g.nodes[node].inputs[i]),
                    _ => None,
                })
                .collect();
            let mut dedup = values.clone();
            dedup.sort_by_key(|v| v.index());
            dedup.dedup();
            assert_eq!(
                dedup.len(),
                values.len(),
                "one value bound twice: {:?}",
                k.bindings
            );
        }
        out.push(lowered);
    }
    out
}

const UNARY: [UnaryOp; 37] = [
    UnaryOp::Tan,
    UnaryOp::Sinh,
    UnaryOp::Cosh,
    UnaryOp::Asin,
    UnaryOp::Acos,
    UnaryOp::Atan,
    UnaryOp::Asinh,
    UnaryOp::Acosh,
    UnaryOp::Atanh,
    UnaryOp::IsNan,
    UnaryOp::IsInf,
    UnaryOp::BitNot,
    UnaryOp::Neg,
    UnaryOp::Abs,
    UnaryOp::Sqrt,
    UnaryOp::Reciprocal,
    UnaryOp::Exp,
    UnaryOp::Log,
    UnaryOp::Erf,
    UnaryOp::Floor,
    UnaryOp::Ceil,
    UnaryOp::Round,
    UnaryOp::Sign,
    UnaryOp::Sin,
    UnaryOp::Cos,
    UnaryOp::Tanh,
    UnaryOp::Sigmoid,
    UnaryOp::Relu,
    UnaryOp::Softplus,
    UnaryOp::Mish,
    UnaryOp::HardSwish,
    UnaryOp::Not,
    UnaryOp::LeakyRelu { alpha: 0.1 },
    UnaryOp::Elu { alpha: 1.0 },
    UnaryOp::Selu {
        alpha: 1.67,
        gamma: 1.05,
    },
    UnaryOp::HardSigmoid {
        alpha: 0.2,
        beta: 0.5,
    },
    UnaryOp::Gelu { tanh: false },
];

#[test]
fn every_unary_op_validates_on_every_dtype_it_accepts() {
    let mut ok = 0;
    for op in UNARY.into_iter().chain([UnaryOp::Gelu { tanh: true }]) {
        for dtype in DType::ALL {
            let t = ty(dtype, &[3, 5]);
            if !accepted(&Op::Unary(op), std::slice::from_ref(&t)) {
                continue;
            }
            match compile(Op::Unary(op), &[t]) {
                Ok(p) => {
                    assert_eq!(p.plan.dispatches.len(), 1);
                    ok += 1;
                }
                Err(CodegenError::Node { .. }) => {} // dtype not accepted (the reference agrees)
                Err(e) => panic!("{op:?} on {dtype}: {e}"),
            }
        }
    }
    assert!(ok >= 26 + 6 * 4, "{ok}");
}

#[test]
fn binary_ops_validate_with_broadcasting() {
    let ops = BinaryOp::ALL;
    for op in ops {
        for dtype in DType::ALL {
            let (a, b) = (ty(dtype, &[2, 1, 7]), ty(dtype, &[3, 1]));
            if !accepted(&Op::Binary(op), &[a.clone(), b.clone()]) {
                continue;
            }
            match compile(Op::Binary(op), &[a, b]) {
                Ok(p) => assert!(
                    p.plan.kernels[0].wgsl.contains("% 7u"),
                    "{}",
                    p.plan.kernels[0].wgsl
                ),
                Err(CodegenError::Node { .. }) => {}
                Err(e) => panic!("{op:?} on {dtype}: {e}"),
            }
        }
    }
    // Mixed pow operand types.
    for (a, b) in [
        (DType::F32, DType::I32),
        (DType::I32, DType::F32),
        (DType::U8, DType::I8),
        (DType::I8, DType::U32),
    ] {
        compile(Op::Binary(BinaryOp::Pow), &[ty(a, &[4]), ty(b, &[1])]).unwrap();
    }
}

#[test]
fn same_value_twice_is_bound_once() {
    let mut g = Graph::new("t");
    let x = g.add_input("x", ty(DType::F32, &[5]), kiln_ir::Wide::No);
    let y = g.add(Op::Binary(BinaryOp::Add), &[x, x], "add").unwrap();
    g.add_output("y", y, kiln_ir::Wide::No);
    let lowered = lower_all(&g);
    assert_eq!(lowered[0].kernels[0].bindings.len(), 2);
}

#[test]
fn where_and_cast_validate() {
    let c = ty(DType::Bool, &[4, 1]);
    for dtype in DType::ALL {
        compile(
            Op::Where,
            &[c.clone(), ty(dtype, &[1, 3]), ty(dtype, &[4, 3])],
        )
        .unwrap();
        for to in DType::ALL {
            let x = [ty(dtype, &[7])];
            // Minifloats convert to and from floats only (inference refuses the rest).
            if accepted(&Op::Cast { to }, &x) {
                compile(Op::Cast { to }, &x).unwrap();
            }
        }
    }
}

#[test]
fn identical_shapes_index_directly() {
    let p = compile(
        Op::Binary(BinaryOp::Mul),
        &[ty(DType::F32, &[257]), ty(DType::F32, &[257])],
    )
    .unwrap();
    let k = &p.plan.kernels[0];
    assert!(
        k.wgsl.contains("let x0 = src0[i];") && k.wgsl.contains("let x1 = src1[i];"),
        "{}",
        k.wgsl
    );
    assert_eq!(p.plan.dispatches[0].workgroups, [2, 1, 1]);
}
