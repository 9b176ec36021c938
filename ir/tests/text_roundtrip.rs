//! Round trips of the IR text: print → parse gives an equal graph for every op and
//! dtype, and canonical text prints back unchanged.

use half::f16;
use kiln_ir::parse::parse;
use kiln_ir::print::{print, print_with, PrintOptions};
use kiln_ir::verify::{verify, verify_structure};
use kiln_ir::*;

fn ty(dtype: DType, dims: &[usize]) -> TensorType {
    TensorType::new(dtype, dims)
}

/// Appends a node with results of the given types without shape inference.
fn push(
    g: &mut Graph,
    op: Op,
    inputs: &[Handle<Value>],
    results: &[TensorType],
    name: &str,
) -> Vec<Handle<Value>> {
    let node = Handle::new(g.nodes.len());
    let outputs: Vec<Handle<Value>> = results
        .iter()
        .enumerate()
        .map(|(output, ty)| {
            let def = ValueDef::Node { node, output };
            g.values.append(Value {
                ty: ty.clone(),
                name: None,
                def,
            })
        })
        .collect();
    g.nodes.append(Node {
        op,
        inputs: inputs.to_vec(),
        outputs: outputs.clone(),
        name: name.into(),
    });
    outputs
}

/// Parses `print(g)` and checks it equals `g` and prints back to the same text.
fn assert_round_trip(g: &Graph) -> String {
    let text = print(g);
    let back = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(&back, g, "{text}");
    assert_eq!(print(&back), text);
    text
}

/// A distinct number per `Op` variant; the match is exhaustive so a new variant
/// breaks this test's build until `all_ops` covers it.
fn variant(op: &Op) -> usize {
    match op {
        Op::Unary(_) => 0,
        Op::Binary(_) => 1,
        Op::Where => 2,
        Op::Cast { .. } => 3,
        Op::MatMul => 4,
        Op::Conv(_) => 5,
        Op::ConvTranspose(_) => 6,
        Op::BatchNorm { .. } => 7,
        Op::LayerNorm { .. } => 8,
        Op::InstanceNorm { .. } => 9,
        Op::Lrn { .. } => 10,
        Op::MaxPool(_) => 11,
        Op::AveragePool(_) => 12,
        Op::Reduce { .. } => 13,
        Op::Softmax { .. } => 14,
        Op::LogSoftmax { .. } => 15,
        Op::ArgReduce { .. } => 16,
        Op::Reshape { .. } => 17,
        Op::Transpose { .. } => 18,
        Op::Concat { .. } => 19,
        Op::Split { .. } => 20,
        Op::Slice { .. } => 21,
        Op::Gather { .. } => 22,
        Op::Expand { .. } => 23,
        Op::Pad { .. } => 24,
        Op::Tile { .. } => 25,
        Op::Resize(_) => 26,
        Op::DepthToSpace { .. } => 27,
        Op::SpaceToDepth { .. } => 28,
        Op::Shape { .. } => 29,
        Op::Identity => 30,
        Op::Elementwise { .. } => 31,
        Op::Fused { .. } => 32,
        Op::Attention { .. } => 33,
        Op::Quantize { .. } => 34,
        Op::Dequantize { .. } => 35,
        Op::MatMulInteger => 36,
        Op::ConvInteger(_) => 37,
        Op::Cumulative { .. } => 38,
        Op::ScatterNd { .. } => 39,
        Op::RmsNorm { .. } => 40,
        Op::SparseMatMul { .. } => 41,
        Op::SparseConv { .. } => 42,
        Op::BitCast { .. } => 43,
        Op::NonZero => 44,
        Op::Compress { .. } => 45,
        Op::NonMaxSuppression { .. } => 46,
        Op::Unique { .. } => 47,
        Op::MinMax { .. } => 48,
    }
}
const VARIANTS: usize = 49;

/// A distinct number per `Step` variant; exhaustive like [`variant`].
fn step_variant(step: &Step) -> usize {
    match step {
        Step::Input(_) => 0,
        Step::Const { .. } => 1,
        Step::Unary(..) => 2,
        Step::Binary(..) => 3,
        Step::Where(..) => 4,
        Step::Cast(..) => 5,
        Step::Quantize { .. } => 6,
        Step::Dequantize(..) => 7,
    }
}
const STEP_VARIANTS: usize = 8;

fn konst(dtype: DType, value: f64) -> Step {
    Step::Const { dtype, value }
}

/// Programs covering every step kind, every dtype's constants with their edge values,
/// and unary functions with attributes.
fn programs() -> Vec<Program> {
    use BinaryOp::*;
    let p = |steps: Vec<Step>| Program { steps };
    vec![
        Program::identity(),
        p(vec![
            Step::Input(0),
            Step::Input(1),
            Step::Binary(Add, 0, 1),
            konst(DType::F32, 0.5),
            Step::Binary(Mul, 2, 3),
            Step::Unary(UnaryOp::Relu, 4),
        ]),
        p(vec![
            Step::Input(0),
            Step::Unary(UnaryOp::Sigmoid, 0),
            Step::Binary(Mul, 0, 1),
            Step::Unary(UnaryOp::LeakyRelu { alpha: 0.01 }, 2),
            Step::Unary(UnaryOp::Gelu { tanh: true }, 3),
            Step::Unary(
                UnaryOp::Selu {
                    alpha: 1.6732632,
                    gamma: 1.050_701,
                },
                4,
            ),
            Step::Unary(UnaryOp::Silu, 5),
            Step::Cast(DType::F16, 6),
            Step::Cast(DType::Bool, 7),
            Step::Input(2),
            Step::Input(1),
            Step::Where(8, 9, 10),
        ]),
        p(vec![
            konst(DType::F32, 0.1f32 as f64),
            konst(DType::F32, -0.0),
            konst(DType::F32, f64::INFINITY),
            konst(DType::F32, f64::NEG_INFINITY),
            konst(DType::F32, f32::MAX as f64),
            konst(DType::F32, 1e-45f32 as f64),
            konst(DType::F16, f16::from_f32(0.1).to_f64()),
            konst(DType::F16, 65504.0),
            konst(DType::F16, f16::from_bits(1).to_f64()),
            konst(DType::I32, i32::MIN as f64),
            konst(DType::I32, i32::MAX as f64),
            konst(DType::U32, u32::MAX as f64),
            konst(DType::I8, -128.0),
            konst(DType::U8, 255.0),
            konst(DType::Bool, 1.0),
            konst(DType::Bool, 0.0),
            Step::Binary(And, 14, 15),
        ]),
        // Fake quantization: x → u8 → f32.
        p(vec![
            Step::Input(0),
            Step::Input(1),
            konst(DType::U8, 128.0),
            Step::Quantize {
                saturate: true,
                args: [0, 1, 2],
            },
            Step::Dequantize([3, 1, 2]),
        ]),
    ]
}

fn pool(ceil_mode: bool, count_include_pad: bool, storage_order: usize) -> PoolAttrs {
    PoolAttrs {
        kernel: vec![3, 2],
        strides: vec![2, 1],
        pads: vec![1, 0, 1, 0],
        dilations: vec![1, 2],
        ceil_mode,
        count_include_pad,
        storage_order,
    }
}

fn resize(mode: ResizeMode, coord: CoordTransform, nearest: NearestMode) -> ResizeAttrs {
    ResizeAttrs {
        mode,
        coord,
        nearest,
        cubic_coeff_a: -0.75,
        exclude_outside: mode == ResizeMode::Cubic,
        extrapolation_value: if coord == CoordTransform::TfCropAndResize {
            -f32::INFINITY
        } else {
            0.0
        },
        antialias: mode == ResizeMode::Linear,
        sizes: vec![1, 3, 7, 9],
        scales: vec![1.0, 1.0, 1.75, 0.3],
        roi: vec![0.0, 0.0, 0.1, 0.2, 1.0, 1.0, 0.9, 0.8],
    }
}

/// Every op variant, every unary/binary/reduce/arg function, every enum word.
fn all_ops() -> Vec<Op> {
    use UnaryOp::*;
    let unary = [
        Neg,
        Abs,
        Sqrt,
        Reciprocal,
        Exp,
        Log,
        Erf,
        Floor,
        Ceil,
        Round,
        Sign,
        Sin,
        Cos,
        Tanh,
        Sigmoid,
        Relu,
        Softplus,
        Mish,
        HardSwish,
        Not,
        Silu,
        Tan,
        Sinh,
        Cosh,
        Asin,
        Acos,
        Atan,
        Asinh,
        Acosh,
        Atanh,
        IsNan,
        IsInf,
        BitNot,
        LeakyRelu { alpha: 0.01 },
        Elu { alpha: 1.0 },
        Selu {
            alpha: 1.6732632,
            gamma: 1.050_701,
        },
        HardSigmoid {
            alpha: 0.2,
            beta: 0.5,
        },
        Gelu { tanh: true },
        Gelu { tanh: false },
    ];
    let binary = BinaryOp::ALL;
    let reduce = [
        ReduceOp::Sum,
        ReduceOp::Mean,
        ReduceOp::Max,
        ReduceOp::Min,
        ReduceOp::Prod,
        ReduceOp::L2,
        ReduceOp::SumSquare,
    ];
    let mut ops: Vec<Op> = unary.into_iter().map(Op::Unary).collect();
    ops.extend(binary.into_iter().map(Op::Binary));
    ops.extend(DType::ALL.map(|to| Op::Cast { to }));
    ops.extend(reduce.iter().enumerate().map(|(i, &op)| Op::Reduce {
        op,
        axes: (0..i % 3).collect(),
        keepdims: i % 2 == 0,
    }));
    for (op, exclusive, reverse) in [(CumOp::Sum, false, true), (CumOp::Prod, true, false)] {
        ops.push(Op::Cumulative {
            op,
            axis: 1,
            exclusive,
            reverse,
        });
    }
    for reduction in [
        ScatterReduction::None,
        ScatterReduction::Add,
        ScatterReduction::Mul,
        ScatterReduction::Max,
        ScatterReduction::Min,
    ] {
        ops.push(Op::ScatterNd { reduction });
    }
    for (op, select_last_index) in [(ArgOp::Max, false), (ArgOp::Min, true)] {
        ops.push(Op::ArgReduce {
            op,
            axis: 1,
            keepdims: !select_last_index,
            select_last_index,
        });
    }
    for mode in [
        PadMode::Constant,
        PadMode::Reflect,
        PadMode::Edge,
        PadMode::Wrap,
    ] {
        ops.push(Op::Pad {
            mode,
            pads: vec![0, 1, -2, 0, 3, -1],
        });
    }
    use CoordTransform::*;
    let coords = [
        HalfPixel,
        HalfPixelSymmetric,
        PytorchHalfPixel,
        AlignCorners,
        Asymmetric,
        TfCropAndResize,
    ];
    let nearests = [
        NearestMode::RoundPreferFloor,
        NearestMode::RoundPreferCeil,
        NearestMode::Floor,
        NearestMode::Ceil,
    ];
    let modes = [ResizeMode::Nearest, ResizeMode::Linear, ResizeMode::Cubic];
    for (i, coord) in coords.into_iter().enumerate() {
        ops.push(Op::Resize(resize(modes[i % 3], coord, nearests[i % 4])));
    }
    ops.extend([
        Op::Where,
        Op::MatMul,
        Op::Conv(ConvAttrs {
            strides: vec![2, 2],
            pads: vec![3, 3, 3, 3],
            dilations: vec![1, 1],
            group: 1,
        }),
        Op::Conv(ConvAttrs {
            strides: vec![1],
            pads: vec![0, 1],
            dilations: vec![2],
            group: 4,
        }),
        Op::ConvTranspose(ConvTransposeAttrs {
            strides: vec![2, 3],
            pads: vec![1, 0, 1, 2],
            dilations: vec![1, 1],
            output_padding: vec![1, 0],
            group: 2,
        }),
        Op::BatchNorm { epsilon: 1e-5 },
        Op::LayerNorm {
            axis: 2,
            epsilon: 1e-12,
        },
        Op::RmsNorm {
            axis: 1,
            epsilon: 1e-6,
        },
        Op::InstanceNorm { epsilon: 0.001 },
        Op::Lrn {
            size: 5,
            alpha: 0.0001,
            beta: 0.75,
            bias: 2.0,
        },
        Op::MaxPool(pool(true, false, 1)),
        Op::AveragePool(pool(false, true, 0)),
        Op::Softmax { axis: 3 },
        Op::LogSoftmax { axis: 0 },
        Op::Reshape {
            shape: vec![6, 1, 0],
        },
        Op::Reshape { shape: vec![] },
        Op::Transpose {
            perm: vec![0, 2, 3, 1],
        },
        Op::Concat { axis: 1 },
        Op::Split {
            axis: 0,
            sizes: vec![1, 1],
        },
        Op::Slice {
            starts: vec![0, 5],
            steps: vec![1, -2],
            lens: vec![2, 3],
        },
        Op::Gather { axis: 1 },
        Op::Expand {
            shape: vec![4, 2, 3],
        },
        Op::Tile {
            repeats: vec![1, 2],
        },
        Op::DepthToSpace {
            blocksize: 2,
            mode: DepthToSpaceMode::Dcr,
        },
        Op::DepthToSpace {
            blocksize: 3,
            mode: DepthToSpaceMode::Crd,
        },
        Op::SpaceToDepth { blocksize: 2 },
        Op::Shape { start: 1, end: 3 },
        Op::MinMax {
            axes: vec![0, 2],
            keepdims: true,
        },
        Op::NonZero,
        Op::Compress { axis: None },
        Op::Compress { axis: Some(1) },
        Op::Unique {
            axis: Some(1),
            sorted: true,
        },
        Op::Unique {
            axis: None,
            sorted: false,
        },
        Op::NonMaxSuppression {
            center_point_box: true,
            max_per_class: 3,
            score_threshold: false,
        },
        Op::Identity,
        Op::Attention { scale: 0.125 },
        Op::Attention { scale: 0.088388346 },
        Op::Quantize {
            axis: 0,
            block: 0,
            saturate: true,
        },
        Op::Quantize {
            axis: 0,
            block: 32,
            saturate: false,
        },
        Op::Dequantize { axis: 1, block: 16 },
        Op::MatMulInteger,
        Op::ConvInteger(ConvAttrs {
            strides: vec![1, 2],
            pads: vec![1, 0, 1, 0],
            dilations: vec![1, 1],
            group: 2,
        }),
        Op::SparseMatMul {
            format: SparseFormat::Blocks { rows: 4, cols: 4 },
            axis: 1,
            k: 2048,
            n: 30,
        },
        Op::BitCast { to: DType::I32 },
        Op::SparseConv {
            format: SparseFormat::Blocks { rows: 1, cols: 1 },
            conv: ConvAttrs {
                strides: vec![2, 1],
                pads: vec![1, 1, 0, 1],
                dilations: vec![1, 2],
                group: 1,
            },
            kernel: vec![3, 3],
            n: 17,
        },
        Op::SparseMatMul {
            format: SparseFormat::NOfM { keep: 2, group: 4 },
            axis: 3,
            k: 16,
            n: 3,
        },
    ]);
    ops.extend(
        programs()
            .into_iter()
            .map(|program| Op::Elementwise { program }),
    );
    let anchors = [
        Op::Conv(ConvAttrs {
            strides: vec![1, 1],
            pads: vec![0, 0, 0, 0],
            dilations: vec![1, 1],
            group: 1,
        }),
        Op::MatMul,
        Op::Reduce {
            op: ReduceOp::Mean,
            axes: vec![2, 3],
            keepdims: true,
        },
        Op::Softmax { axis: 1 },
        Op::MaxPool(pool(false, false, 0)),
        Op::Attention { scale: 0.5 },
        Op::Elementwise {
            program: programs()[1].clone(),
        },
    ];
    ops.push(Op::Fused {
        anchor: Box::new(anchors[0].clone()),
        prologue: Some(Box::new(Op::MaxPool(pool(true, false, 0)))),
        arity: 2,
        epilogue: programs()[0].clone(),
    });
    for (i, anchor) in anchors.into_iter().enumerate() {
        let programs = programs();
        ops.push(Op::Fused {
            anchor: Box::new(anchor),
            prologue: None,
            arity: i % 3 + 1,
            epilogue: programs[i % programs.len()].clone(),
        });
    }
    ops
}

#[test]
fn programs_cover_every_step_kind() {
    let mut seen = [false; STEP_VARIANTS];
    for program in programs() {
        for step in &program.steps {
            seen[step_variant(step)] = true;
        }
    }
    assert!(seen.iter().all(|&s| s), "step kinds not covered: {seen:?}");
}

#[test]
fn all_ops_cover_every_variant_and_name() {
    let ops = all_ops();
    let mut seen = [false; VARIANTS];
    for op in &ops {
        seen[variant(op)] = true;
    }
    assert!(seen.iter().all(|&s| s), "variants not covered: {seen:?}");
    let mut names: Vec<&str> = ops.iter().map(|op| op.name()).collect();
    names.sort();
    names.dedup();
    // 38 unary + 23 binary + 7 reduce + 2 arg + 2 cumulative + 44 other op names.
    assert_eq!(names.len(), 38 + 23 + 7 + 2 + 2 + 44);
}

#[test]
fn every_op_round_trips() {
    let mut g = Graph::new("every op");
    let x = g.add_input("x", ty(DType::F32, &[2, 3]), kiln_ir::Wide::No);
    let w = g.add_const(
        Some("w".into()),
        Tensor::splat(vec![3, 3], Data::F32(vec![0.5])).unwrap(),
    );
    let mut prev = x;
    for (i, op) in all_ops().into_iter().enumerate() {
        let results = match op {
            Op::Split { .. } => 2,
            Op::MaxPool(_) | Op::MinMax { .. } => 2,
            Op::LayerNorm { .. } => 3,
            Op::NonZero | Op::Compress { .. } | Op::NonMaxSuppression { .. } => 2,
            Op::Unique { .. } => 5,
            _ => 1,
        };
        let types = vec![ty(DType::F32, &[2, 3 + i % 2]); results];
        let operands: Vec<Handle<Value>> = match &op {
            Op::Unary(_) | Op::Cast { .. } | Op::Identity => vec![prev],
            Op::Where => vec![prev, x, w],
            Op::Concat { .. } => vec![prev, x, w, prev],
            _ => vec![prev, w],
        };
        let name = if i % 3 == 0 {
            format!("node{i}")
        } else {
            String::new()
        };
        prev = push(&mut g, op, &operands, &types, &name)[0];
    }
    g.add_output("y", prev, kiln_ir::Wide::No);
    let text = assert_round_trip(&g);
    verify_structure(&g).unwrap();
    assert!(
        text.contains("= conv{strides=[2,2], pads=[3,3,3,3], dilations=[1,1], group=1}(%v"),
        "{text}"
    );
    assert!(
        text.contains("= slice{starts=[0,5], steps=[1,-2], lens=[2,3]}("),
        "{text}"
    );
    assert!(text.contains("resize{mode=linear, coord=half_pixel_symmetric, nearest=round_prefer_ceil, cubic_coeff_a=-0.75, exclude_outside=false, extrapolation_value=0.0, antialias=true, sizes=[1,3,7,9], scales=[1.0,1.0,1.75,0.3], roi=[0.0,0.0,0.1,0.2,1.0,1.0,0.9,0.8]}"), "{text}");
    assert!(text.contains("extrapolation_value=-inf"), "{text}");
    assert!(
        text.contains("= elementwise{program=[in0, in1, add(%0,%1), const(f32 0.5), mul(%2,%3), relu(%4)]}(%v"),
        "{text}"
    );
    assert!(text.contains("leaky_relu{alpha=0.01}(%2), gelu{tanh=true}(%3), selu{alpha=1.6732632, gamma=1.050701}(%4), silu(%5), cast{to=f16}(%6), cast{to=bool}(%7), in2, in1, where(%8,%9,%10)]"), "{text}");
    assert!(text.contains("[const(f32 0.1), const(f32 -0.0), const(f32 inf), const(f32 -inf), const(f32 3.4028235e38), const(f32 1e-45), const(f16 0.099975586), const(f16 65504.0), const(f16 5.9604645e-8), const(i32 -2147483648), const(i32 2147483647), const(u32 4294967295), const(i8 -128), const(u8 255), const(bool true), const(bool false), and(%14,%15)]"), "{text}");
    assert!(
        text.contains("= fused{anchor=conv{strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1}, arity=1, epilogue=[in0]}(%v"),
        "{text}"
    );
    assert!(
        text.contains("= fused{anchor=matmul, arity=2, epilogue=[in0, in1, add(%0,%1), const(f32 0.5), mul(%2,%3), relu(%4)]}(%v"),
        "{text}"
    );
    assert!(
        text.contains("= fused{anchor=elementwise{program=[in0, in1, add(%0,%1), const(f32 0.5), mul(%2,%3), relu(%4)]}, arity=1, epilogue=[in0, in1, add(%0,%1), "),
        "{text}"
    );
    assert!(text.contains("= attention{scale=0.125}(%v"), "{text}");
    assert!(
        text.contains("= elementwise{program=[in0, in1, const(u8 128), quantize{axis=0, block=0, saturate=true}(%0,%1,%2), dequantize{axis=0, block=0}(%3,%1,%2)]}(%v"),
        "{text}"
    );
    assert!(
        text.contains("= fused{anchor=conv{strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1}, prologue=max_pool{kernel=[3,2], strides=[2,1], pads=[1,0,1,0], dilations=[1,2], ceil_mode=true, count_include_pad=false, storage_order=0}, arity=2, epilogue=[in0"),
        "{text}"
    );
}

/// A fused conv with a max-pool prologue verifies (operand 0 is the pre-pool tensor,
/// the conv reads the pooled one) and prints back byte for byte; other prologues and
/// anchors are refused.
#[test]
fn fused_prologue_round_trips_and_verifies() {
    let text = r#"graph "prologue" {
  input %v0 "x" : f32[1,3,8,8]
  const %v1 "w" : f32[5,3,1,1] = splat(0.01)
  const %v2 "b" : f32[5] = splat(0.5)
  %v3 = fused{anchor=conv{strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1}, prologue=max_pool{kernel=[3,3], strides=[2,2], pads=[1,1,1,1], dilations=[1,1], ceil_mode=true, count_include_pad=false, storage_order=0}, arity=3, epilogue=[in0, relu(%0)]}(%v0, %v1, %v2) : f32[1,5,5,5]
  output "y" = %v3
}
"#;
    let g = parse(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(print(&g), text);
    verify(&g).unwrap();
    let Op::Fused { prologue, .. } = &g.nodes[Handle::new(0)].op else {
        panic!("node 0 is not fused")
    };
    assert!(matches!(prologue.as_deref(), Some(Op::MaxPool(_))));
    // The pooled shape decides the result: a 4×4 result is wrong.
    let wrong = text.replace(": f32[1,5,5,5]", ": f32[1,5,4,4]");
    assert!(verify(&parse(&wrong).unwrap()).is_err());
    let avg = text.replace("prologue=max_pool", "prologue=average_pool");
    let err = verify(&parse(&avg).unwrap()).unwrap_err().to_string();
    assert!(
        err.contains("only max_pool or an element-wise program before conv"),
        "{err}"
    );
    let pool = "max_pool{kernel=[3,3], strides=[2,2], pads=[1,1,1,1], dilations=[1,1], ceil_mode=true, count_include_pad=false, storage_order=0}";
    let not_op = text.replace(pool, "[1]");
    let err = parse(&not_op).unwrap_err().to_string();
    assert!(
        err.contains("attribute `prologue` of `fused` must be an op"),
        "{err}"
    );
}

/// An element-wise prologue may read single-element operands after the anchor's (the
/// epilogue's inputs): it round-trips and verifies; one reading a whole tensor there,
/// or more inputs than the node has, is refused.
#[test]
fn elementwise_prologue_reads_single_elements() {
    let text = r#"graph "prologue" {
  input %v0 "x" : f32[1,3,8,8]
  input %v1 "s" : f32[]
  input %v2 "t" : f32[1,5,8,8]
  const %v3 "w" : f32[5,3,1,1] = splat(0.01)
  %v4 = fused{anchor=conv{strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1}, prologue=elementwise{program=[in0, in1, mul(%0,%1)]}, arity=2, epilogue=[in0, in2, add(%0,%1)]}(%v0, %v3, %v1, %v2) : f32[1,5,8,8]
  output "y" = %v4
}
"#;
    let g = parse(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(print(&g), text);
    verify(&g).unwrap();
    // A whole tensor read beside the operand; an input the node does not have.
    for (input, want) in [
        ("in2", "reads single elements beside its operand"),
        ("in3", "prologue reads 4 inputs, node provides 3"),
    ] {
        let bad = text.replace("[in0, in1, mul", &format!("[in0, {input}, mul"));
        let err = verify(&parse(&bad).unwrap()).unwrap_err().to_string();
        assert!(err.contains(want), "{err}");
    }
}

/// Constants and inputs of every dtype, with the edge values of each.
#[test]
fn every_dtype_round_trips() {
    let mut g = Graph::new("dtypes");
    for (i, dtype) in DType::ALL.into_iter().enumerate() {
        g.add_input(
            format!("in_{dtype}"),
            ty(dtype, &[i + 1, 2]),
            [Wide::I64, Wide::No, Wide::U64, Wide::F64, Wide::Bf16][i % 5],
        );
    }
    let f32s = vec![
        0.1,
        -0.0,
        0.0,
        1.0,
        -2.5,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MAX,
        f32::MIN,
        f32::MIN_POSITIVE,
        1e-45,
        3.4e-40,
        1e20,
        123456.79,
    ];
    let f16s: Vec<f16> = [
        0.1f32,
        -0.0,
        65504.0,
        -65504.0,
        6e-8,
        1e-5,
        0.333,
        f32::NAN,
        f32::INFINITY,
    ]
    .iter()
    .map(|&x| f16::from_f32(x))
    .collect();
    let dense = [
        Data::F32(f32s),
        Data::F16(f16s),
        Data::I32(vec![i32::MIN, -1, 0, 7, i32::MAX]),
        Data::U32(vec![0, 1, u32::MAX]),
        Data::I8(vec![i8::MIN, -3, 0, i8::MAX]),
        Data::U8(vec![0, 200, u8::MAX]),
        Data::Bool(vec![true, false, false, true]),
        Data::I16(vec![i16::MIN, -1, 0, i16::MAX]),
        Data::U16(vec![0, 7, u16::MAX]),
        Data::I4(vec![-8, -1, 0, 7]),
        Data::U4(vec![0, 9, 15]),
        Data::I2(vec![-2, -1, 0, 1]),
        Data::U2(vec![0, 1, 2, 3]),
        // 448, -NaN, the smallest subnormal, -0.
        Data::F8E4M3FN(vec![0x7e, 0xff, 0x01, 0x80, 0x7f]),
        // inf, -inf, NaN, 57344, 1.25.
        Data::F8E5M2(vec![0x7c, 0xfc, 0x7f, 0x7b, 0x3d]),
        // 6, -0.5, 0.
        Data::F4E2M1(vec![0x7, 0x9, 0x0]),
        // 240, NaN, the smallest subnormal.
        Data::F8E4M3FNUZ(vec![0x7f, 0x80, 0x01]),
        // 57344, NaN, -1.25.
        Data::F8E5M2FNUZ(vec![0x7f, 0x80, 0xbd]),
    ];
    for (i, data) in dense.into_iter().enumerate() {
        let name = (i % 2 == 0).then(|| format!("dense {i}"));
        g.add_const(name, Tensor::new(vec![data.len()], data).unwrap());
    }
    let splats = [
        Data::F32(vec![f32::NAN]),
        Data::F16(vec![f16::from_f32(-1.5)]),
        Data::I32(vec![-7]),
        Data::U32(vec![4_000_000_000]),
        Data::I8(vec![-128]),
        Data::U8(vec![9]),
        Data::Bool(vec![true]),
        Data::I4(vec![-3]),
        Data::F8E5M2(vec![0x3c]),
    ];
    for data in splats {
        g.add_const(None, Tensor::splat(vec![2, 0, 3], data).unwrap());
    }
    g.add_const(
        Some("scalar".into()),
        Tensor::scalar(Data::F32(vec![-0.0])).unwrap(),
    );
    g.add_const(None, Tensor::new(vec![0], Data::I32(vec![])).unwrap());
    g.add_const(
        None,
        Tensor::splat(Shape::scalar(), Data::U8(vec![1])).unwrap(),
    );
    let last = Handle::new(g.values.len() - 1);
    g.add_output("o", last, kiln_ir::Wide::I64);
    g.add_output("in", Handle::new(0), kiln_ir::Wide::No);
    let text = assert_round_trip(&g);
    verify_structure(&g).unwrap();
    assert!(text.contains("[0.1, -0.0, 0.0, 1.0, -2.5, nan, inf, -inf, 3.4028235e38, -3.4028235e38, 1.1754944e-38, 1e-45, 3.4e-40, 1e20, 123456.79]"), "{text}");
    assert!(
        text.contains("const %v37 : f16[2,0,3] = splat(-1.5)"),
        "{text}"
    );
    assert!(
        text.contains("input %v0 \"in_f32\" : f32[1,2] (i64)\n"),
        "{text}"
    );
}

/// Arena order differs from text order: constants appended after nodes, inputs in a
/// different arena order than their ports, node results not contiguous.
#[test]
fn arena_indices_are_kept() {
    let mut g = Graph::new("order");
    let c = g.add_const(None, Tensor::from_f32(vec![2], vec![1.0, 2.0]).unwrap());
    let a = g.add_input("a", ty(DType::F32, &[2]), kiln_ir::Wide::No);
    let r = push(
        &mut g,
        Op::Binary(BinaryOp::Add),
        &[a, c],
        &[ty(DType::F32, &[2])],
        "add",
    );
    let late = g.add_const(
        Some("late".into()),
        Tensor::from_f32(vec![2], vec![3.0, 4.0]).unwrap(),
    );
    let m = push(
        &mut g,
        Op::Binary(BinaryOp::Mul),
        &[r[0], late],
        &[ty(DType::F32, &[2])],
        "",
    );
    g.add_output("m", m[0], kiln_ir::Wide::No);
    let text = assert_round_trip(&g);
    assert_eq!(
        text,
        "graph \"order\" {
  input %v1 \"a\" : f32[2]
  const %v0 : f32[2] = [1.0, 2.0]
  const %v3 \"late\" : f32[2] = [3.0, 4.0]
  %v2 = add(%v1, %v0) : f32[2] @\"add\"
  %v4 = mul(%v2, %v3) : f32[2]
  output \"m\" = %v4
}
"
    );
}

/// Names that need escaping, ports named apart from their values, unnamed inputs and
/// a node without results.
#[test]
fn names_and_odd_shapes_round_trip() {
    let mut g = Graph::new("quote \" back \\ nl \n tab \t bell \u{7} ünï");
    let a = g.add_input("a", ty(DType::F32, &[1]), kiln_ir::Wide::No);
    let b = g.add_input("port b", ty(DType::F32, &[1]), kiln_ir::Wide::I64);
    g.values[b].name = Some("value b".into());
    let c = g.add_input("port c", ty(DType::Bool, &[]), kiln_ir::Wide::No);
    g.values[c].name = None;
    push(&mut g, Op::Identity, &[a], &[], "no results \"here\"");
    let r = push(
        &mut g,
        Op::Binary(BinaryOp::Add),
        &[a, b],
        &[ty(DType::F32, &[1])],
        "",
    );
    g.values[r[0]].name = Some(String::new());
    g.add_output("", r[0], kiln_ir::Wide::I64);
    let text = assert_round_trip(&g);
    assert_eq!(
        text,
        "graph \"quote \\\" back \\\\ nl \\n tab \\t bell \\u{7} ünï\" {
  input %v0 \"a\" : f32[1]
  input %v1 \"value b\" : f32[1] (i64) port \"port b\"
  input %v2 : bool[] port \"port c\"
  () = identity(%v0) @\"no results \\\"here\\\"\"
  %v3 \"\" = add(%v0, %v1) : f32[1]
  output \"\" = %v3 (i64)
}
"
    );
}

/// Hand-written canonical text prints back byte for byte.
#[test]
fn canonical_text_prints_back_unchanged() {
    let text = r#"graph "tiny" {
  input %v0 "x" : f32[1,3,8,8]
  input %v1 "idx" : i32[2] (i64)
  const %v2 "w" : f32[4,3,3,3] = splat(0.01)
  const %v3 : f32[4] = [0.5, -1.0, 1e-7, 2.0]
  %v4 "y" = conv{strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1}(%v0, %v2, %v3) : f32[1,4,8,8] @"conv1"
  %v5, %v6 = split{axis=1, sizes=[2,2]}(%v4) : f32[1,2,8,8], f32[1,2,8,8]
  %v7 = leaky_relu{alpha=0.01}(%v6) : f32[1,2,8,8]
  %v8 = gather{axis=1}(%v7, %v1) : f32[1,2,8,8]
  %v9, %v10 = max_pool{kernel=[2,2], strides=[2,2], pads=[0,0,0,0], dilations=[1,1], ceil_mode=false, count_include_pad=false, storage_order=0}(%v8) : f32[1,2,4,4], i32[1,2,4,4]
  output "y" = %v9
  output "indices" = %v10 (i64)
}
"#;
    let g = parse(text).unwrap();
    assert_eq!(print(&g), text);
    verify(&g).unwrap();
    assert_eq!(g.values.len(), 11);
    assert_eq!(g.nodes.len(), 5);
    assert_eq!(
        g.values[Handle::new(10)].def,
        ValueDef::Node {
            node: Handle::new(4),
            output: 1
        }
    );
    assert_eq!(g.inputs[1].name, "idx");
    assert_eq!(g.inputs[1].wide, Wide::I64);
    let w = g.constant(Handle::new(3)).unwrap();
    assert_eq!(w.to_f64_vec(), vec![0.5, -1.0, 1e-7f32 as f64, 2.0]);
}

/// Free-form text (comments, any spacing, attributes in any order, ints as floats)
/// parses and prints in canonical form.
#[test]
fn free_form_text_is_canonicalized() {
    let text = "// a comment\ngraph \"g\"{input %v0 \"x\":f32[2]   // trailing comment
        const %v1 : f16 [ 2 ] = [ 1 , 0.1 ]
        %v2=hard_sigmoid{beta=1,alpha=0.5}(%v0):f32[2]@\"hs\"
        output \"y\"=%v2}";
    let g = parse(text).unwrap();
    assert_eq!(
        print(&g),
        "graph \"g\" {
  input %v0 \"x\" : f32[2]
  const %v1 : f16[2] = [1.0, 0.099975586]
  %v2 = hard_sigmoid{alpha=0.5, beta=1.0}(%v0) : f32[2] @\"hs\"
  output \"y\" = %v2
}
"
    );
}

#[test]
fn elided_constants_print_a_summary_and_do_not_parse() {
    let mut g = Graph::new("big");
    g.add_const(
        Some("w".into()),
        Tensor::from_f32(vec![2, 3], vec![1.0; 6]).unwrap(),
    );
    g.add_const(
        None,
        Tensor::from_f32(vec![3], vec![1.0, 2.0, 3.0]).unwrap(),
    );
    g.add_const(
        None,
        Tensor::splat(vec![100], Data::F32(vec![1.0])).unwrap(),
    );
    let text = print_with(
        &g,
        &PrintOptions {
            elide_constants_over: Some(3),
        },
    );
    assert_eq!(
        text,
        "graph \"big\" {
  const %v0 \"w\" : f32[2,3] = <elided 6 values>
  const %v1 : f32[3] = [1.0, 2.0, 3.0]
  const %v2 : f32[100] = splat(1.0)
}
"
    );
    assert_eq!(
        parse(&text).unwrap_err().to_string(),
        "line 2:30: constant %v0 was printed with its data elided; print the graph with full constants to parse it back"
    );
}

/// Hand-written fused ops in canonical text verify and print back byte for byte.
#[test]
fn fused_ops_in_canonical_text_print_back_unchanged() {
    let text = r#"graph "fused" {
  input %v0 "x" : f32[1,3,8,8]
  input %v1 "q" : f16[2,4,16,8]
  input %v2 "kt" : f16[2,4,8,16]
  input %v3 "v" : f16[2,4,16,8]
  const %v4 "w" : f32[4,3,3,3] = splat(0.01)
  const %v5 "b" : f32[1,4,1,1] = [0.5, -1.0, 0.25, 2.0]
  const %v6 "mask" : f16[1,1,16,16] = splat(-inf)
  %v7 = fused{anchor=conv{strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1}, arity=2, epilogue=[in0, in1, add(%0,%1), relu(%2)]}(%v0, %v4, %v5) : f32[1,4,8,8] @"conv1"
  %v8 = elementwise{program=[in0, sigmoid(%0), mul(%0,%1), const(f32 0.5), greater(%2,%3), const(f32 0.0), where(%4,%2,%5), cast{to=f16}(%6)]}(%v7) : f16[1,4,8,8]
  %v9 = attention{scale=0.35355338}(%v1, %v2, %v3, %v6) : f16[2,4,16,8]
  %v10 = attention{scale=0.125}(%v1, %v2, %v3) : f16[2,4,16,8]
  %v11 = fused{anchor=reduce_mean{axes=[3], keepdims=true}, arity=1, epilogue=[in0, const(f16 1.001358e-5), add(%0,%1), sqrt(%2), reciprocal(%3)]}(%v9) : f16[2,4,16,1]
  output "y" = %v8
  output "a" = %v10
  output "r" = %v11
}
"#;
    let g = parse(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(print(&g), text);
    verify(&g).unwrap();
    let Op::Fused {
        anchor,
        arity,
        epilogue,
        ..
    } = &g.nodes[Handle::new(0)].op
    else {
        panic!("node 0 is not fused")
    };
    assert!(matches!(**anchor, Op::Conv(_)));
    assert_eq!(*arity, 2);
    assert_eq!(
        epilogue.steps,
        vec![
            Step::Input(0),
            Step::Input(1),
            Step::Binary(BinaryOp::Add, 0, 1),
            Step::Unary(UnaryOp::Relu, 2)
        ]
    );
    let Op::Fused { epilogue, .. } = &g.nodes[Handle::new(4)].op else {
        panic!("node 4 is not fused")
    };
    assert_eq!(
        epilogue.steps[1],
        konst(DType::F16, f16::from_f32(1e-5).to_f64())
    );
}

/// A NaN constant prints and reads back (Step's `PartialEq` treats NaN as unequal, so
/// compare the text).
#[test]
fn nan_program_constants_round_trip_as_text() {
    let text = r#"graph "nan" {
  input %v0 "x" : f32[2]
  %v1 = elementwise{program=[in0, const(f32 nan), max(%0,%1)]}(%v0) : f32[2]
  output "y" = %v1
}
"#;
    let g = parse(text).unwrap();
    assert_eq!(print(&g), text);
    let Op::Elementwise { program } = &g.nodes[Handle::new(0)].op else {
        panic!("not elementwise")
    };
    assert!(matches!(program.steps[1], Step::Const { dtype: DType::F32, value } if value.is_nan()));
}

/// Fused-op text in free form (spacing, attribute order, an f16 constant that is not
/// exact) parses and prints canonically.
#[test]
fn free_form_fused_text_is_canonicalized() {
    let text = "graph \"g\" { input %v0 \"x\" : f16[2]
        %v1=fused{ epilogue = [ in0 , const( f16 0.1 ), add( %0 , %1 ) ], arity=1, anchor = softmax{axis=0} }(%v0):f16[2]
        %v2 = elementwise{program=[in0,in0,max(%0,%1)]}(%v1) : f16[2]
        output \"y\" = %v2 }";
    let g = parse(text).unwrap();
    verify(&g).unwrap();
    assert_eq!(
        print(&g),
        "graph \"g\" {
  input %v0 \"x\" : f16[2]
  %v1 = fused{anchor=softmax{axis=0}, arity=1, epilogue=[in0, const(f16 0.099975586), add(%0,%1)]}(%v0) : f16[2]
  %v2 = elementwise{program=[in0, in0, max(%0,%1)]}(%v1) : f16[2]
  output \"y\" = %v2
}
"
    );
}

#[test]
fn programs_parse_back_from_their_step_lists() {
    for program in programs() {
        let text = program.to_string();
        let back: Program = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(back, program, "{text}");
    }
}

#[test]
fn extents_round_trip_verify_and_cut_outputs() {
    let mut g = Graph::new("selection");
    let x = g.add_input("x", ty(DType::F32, &[2, 3]), Wide::No);
    let c = g.add_input("c", ty(DType::Bool, &[3]), Wide::No);
    let nz = g.add_node(Op::NonZero, &[x], None, "nz").unwrap();
    let cp = g
        .add_node(Op::Compress { axis: Some(1) }, &[x, c], None, "cp")
        .unwrap();
    g.add_output("indices", nz[0], Wide::I64);
    g.add_output("kept", cp[0], Wide::No);
    g.add_output("indices_count", nz[1], Wide::No);
    g.add_output("kept_count", cp[1], Wide::No);
    g.extents.push(Extent {
        output: 0,
        axis: 1,
        count: 2,
    });
    g.extents.push(Extent {
        output: 1,
        axis: 1,
        count: 3,
    });
    let text = assert_round_trip(&g);
    assert!(
        text.contains("  extent output 0 axis 1 count 2\n"),
        "{text}"
    );
    verify(&g).unwrap();
    assert_eq!(g.model_outputs().len(), 2);

    let xs = Tensor::from_f32(vec![2, 3], vec![0.0, 1.5, 0.0, -2.0, 0.0, 3.0]).unwrap();
    let cs = Tensor::new(vec![3], Data::Bool(vec![true, false, true])).unwrap();
    let all = interp::run(&g, &[xs, cs]).unwrap();
    let cut = g.finish_outputs(all).unwrap();
    assert_eq!(cut.len(), 2);
    assert_eq!(cut[0].shape().dims(), &[2, 3]);
    assert_eq!(
        cut[0].data().to_i64_vec().unwrap(),
        vec![0, 1, 1, 1, 0, 2] // rows then columns of (0,1), (1,0), (1,2)
    );
    assert_eq!(cut[1].shape().dims(), &[2, 2]);
    assert_eq!(cut[1].data().to_f64_vec(), vec![0.0, 0.0, -2.0, 3.0]);

    // Each broken extent is refused.
    let broken = [
        (0, 2, 2), // axis out of range
        (2, 1, 2), // the output is a count, not a model output
        (0, 1, 1), // the count is a model output
    ];
    for (output, axis, count) in broken {
        let mut bad = g.clone();
        bad.extents[0] = Extent {
            output,
            axis,
            count,
        };
        assert!(verify(&bad).is_err(), "{output} {axis} {count}");
    }
    let mut twice = g.clone();
    twice.extents[1].count = 2;
    assert!(verify(&twice).is_err());
}
