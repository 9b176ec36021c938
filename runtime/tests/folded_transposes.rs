//! Transposes folded into their readers. Attention: q, kt and v given as transposed
//! head views of [batch, seq, heads·depth] projections are read through permuted
//! strides, and the heads are merged back by writing the result transposed, with no
//! transpose kernel, in the one-kernel and the three-kernel form of attention.
//! Matrix products: either operand (batched, broadcast, or the anchor of a fused node)
//! read through the strides of the transpose before it, unless the product must be
//! split over bindings; likewise integer products. Convolutions: a channel shuffle (ShuffleNet's reshape →
//! transpose → reshape) before a plain, depthwise or fused conv is a channel remap of
//! its input reads.

mod bounds;
mod common;

use bounds::{abs, attention_bound, dot_bound};
use common::{compare, gpu, random_tensor, Tol};
use kiln_codegen::{build_plan_with, Limits, PlanOptions};
use kiln_ir::{DType, Graph, Handle, Op, Tensor, TensorType, Value};

/// Batch, sequence, heads, head depth.
const B: usize = 2;
const S: usize = 5;
const H: usize = 3;
const DH: usize = 4;

/// `[B,S,H·DH]` input `name` as heads `[B,H,S,DH]`, or `[B,H,DH,S]` when `keys`.
fn heads(g: &mut Graph, name: &str, keys: bool) -> Handle<Value> {
    let x = g.add_input(
        name,
        TensorType::new(DType::F32, vec![B, S, H * DH]),
        kiln_ir::Wide::No,
    );
    let r = g
        .add(
            Op::Reshape {
                shape: vec![B, S, H, DH],
            },
            &[x],
            "split_heads",
        )
        .unwrap();
    let perm = if keys {
        vec![0, 2, 3, 1]
    } else {
        vec![0, 2, 1, 3]
    };
    g.add(Op::Transpose { perm }, &[r], "heads").unwrap()
}

/// Multi-head attention over three projections, merged back to `[B,S,H·DH]`.
fn graph() -> Graph {
    let mut g = Graph::new("mha");
    let q = heads(&mut g, "q", false);
    let kt = heads(&mut g, "k", true);
    let v = heads(&mut g, "v", false);
    let a = g
        .add(Op::Attention { scale: 0.5 }, &[q, kt, v], "attention")
        .unwrap();
    let t = g
        .add(
            Op::Transpose {
                perm: vec![0, 2, 1, 3],
            },
            &[a],
            "merge",
        )
        .unwrap();
    let y = g
        .add(
            Op::Reshape {
                shape: vec![B, S, H * DH],
            },
            &[t],
            "merge_heads",
        )
        .unwrap();
    g.add_output("y", y, kiln_ir::Wide::No);
    g
}

/// Runs `g` on `inputs` under `limits` with and without folding; every result matches
/// the reference within `tol(i)` for result `i`. Returns the dispatch counts
/// (unfolded, folded).
fn run_both_on(
    g: &Graph,
    inputs: &[Tensor],
    limits: &Limits,
    tol: &dyn Fn(usize) -> Tol,
) -> (usize, usize) {
    let want = kiln_ir::interp::run(g, inputs).unwrap();
    let mut counts = Vec::new();
    for fold_transposes in [false, true] {
        let options = PlanOptions {
            fold_transposes,
            ..Default::default()
        };
        let compiled = build_plan_with(g, limits, &options).unwrap();
        counts.push(compiled.plan.dispatches.len());
        let mut session = gpu().load(&compiled.plan, &compiled.weights).unwrap();
        let got = session.run(inputs).unwrap();
        for (i, (got, want)) in got.iter().zip(&want).enumerate() {
            compare(got, want, tol(i))
                .unwrap_or_else(|e| panic!("folded {fold_transposes}, result {i}: {e}"));
        }
    }
    (counts[0], counts[1])
}

/// The plan builder's decisions for `g` with folding on.
fn decisions(g: &Graph) -> kiln_codegen::PlanDecisions {
    let options = PlanOptions {
        fold_transposes: true,
        ..Default::default()
    };
    build_plan_with(g, &Limits::default(), &options)
        .unwrap()
        .decisions
}

/// Runs `graph()` under `limits` with and without folding; both match the reference.
/// Returns the dispatch counts (unfolded, folded).
fn run_both(limits: &Limits) -> (usize, usize) {
    let inputs: Vec<_> = (0..3)
        .map(|i| random_tensor(DType::F32, &[B, S, H * DH], 40 + i))
        .collect();
    let tol = |_| Tol::new(attention_bound(DH, S, 0.5), 0.0);
    run_both_on(&graph(), &inputs, limits, &tol)
}

#[test]
fn head_transposes_fold_into_one_kernel_attention() {
    let (unfolded, folded) = run_both(&Limits::default());
    // q, kt, v and the merged result need no copy: attention is the only kernel.
    assert_eq!(unfolded - folded, 4);
    assert_eq!(folded, 1);
}

#[test]
fn head_transposes_fold_into_three_kernel_attention() {
    // Too little workgroup memory for a row block of scores: the three-kernel form.
    let limits = Limits {
        max_compute_workgroup_storage_size: 16,
        ..Limits::default()
    };
    let (unfolded, folded) = run_both(&limits);
    assert_eq!(unfolded - folded, 4);
    assert_eq!(folded, 3);
}

/// Inner dimension of the products below.
const K: usize = 7;

/// Adds a random `[dims]` input to `g` and its value to `inputs`.
fn add(g: &mut Graph, inputs: &mut Vec<Tensor>, dims: &[usize]) -> Handle<Value> {
    let name = format!("x{}", inputs.len());
    inputs.push(random_tensor(DType::F32, dims, 60 + inputs.len() as u64));
    g.add_input(
        &name,
        TensorType::new(DType::F32, dims.to_vec()),
        kiln_ir::Wide::No,
    )
}

fn transpose(g: &mut Graph, x: Handle<Value>, perm: &[usize]) -> Handle<Value> {
    let perm = perm.to_vec();
    g.add(Op::Transpose { perm }, &[x], "t").unwrap()
}

/// `relu(p · wᵀ)` as a fused product, `p` of `rows × K`, `w` of `9 × K`.
fn fused_product(g: &mut Graph, inputs: &mut Vec<Tensor>, rows: usize) -> Handle<Value> {
    let p = add(g, inputs, &[rows, K]);
    let w = add(g, inputs, &[9, K]);
    let wt = transpose(g, w, &[1, 0]);
    let relu = Op::Fused {
        anchor: Box::new(Op::MatMul),
        prologue: None,
        arity: 2,
        epilogue: "[in0, relu(%0)]".parse().unwrap(),
    };
    g.add(relu, &[p, wt], "fused").unwrap()
}

/// Runs `g` with and without folding, each result within the bound of a K-term dot
/// product (from the products of absolute values; relu passes the error on with a
/// factor ≤ 1). Returns the dispatch counts (unfolded, folded).
fn run_products(g: &Graph, inputs: &[Tensor], limits: &Limits) -> (usize, usize) {
    run_dot_products(g, inputs, limits, &[K; 8])
}

/// [`run_products`] for results that are dot products of `terms[i]` terms each.
fn run_dot_products(
    g: &Graph,
    inputs: &[Tensor],
    limits: &Limits,
    terms: &[usize],
) -> (usize, usize) {
    let magnitude_inputs: Vec<Tensor> = inputs.iter().map(abs).collect();
    let magnitudes = kiln_ir::interp::run(g, &magnitude_inputs).unwrap();
    // One tolerance per result: its largest per-element bound (the elements of a
    // result have magnitudes of one order, so this is within a small factor of each).
    let bounds: Vec<f64> = magnitudes
        .iter()
        .zip(terms)
        .map(|(m, &k)| {
            dot_bound(&m.to_f64_vec(), k, 0.0)
                .into_iter()
                .fold(0.0, f64::max)
        })
        .collect();
    run_both_on(g, inputs, limits, &|i| Tol::new(bounds[i], 0.0))
}

#[test]
fn transposes_fold_into_both_operands_of_products() {
    // A batched transposed `a`; the fused product's unbatched transposed `b`; a
    // batch-permuted `a` times a `b` broadcast over the batch; both operands transposed.
    let mut g = Graph::new("products");
    let mut inputs = Vec::new();
    let x1 = add(&mut g, &mut inputs, &[2, K, 5]);
    let z1 = add(&mut g, &mut inputs, &[2, K, 9]);
    let a1 = transpose(&mut g, x1, &[0, 2, 1]);
    let y1 = g.add(Op::MatMul, &[a1, z1], "y1").unwrap();
    let y2 = fused_product(&mut g, &mut inputs, 5);
    let x3 = add(&mut g, &mut inputs, &[3, 2, 5, K]);
    let z3 = add(&mut g, &mut inputs, &[K, 9]);
    let a3 = transpose(&mut g, x3, &[1, 0, 2, 3]);
    let y3 = g.add(Op::MatMul, &[a3, z3], "y3").unwrap();
    let x4 = add(&mut g, &mut inputs, &[2, K, 5]);
    let z4 = add(&mut g, &mut inputs, &[2, 9, K]);
    let a4 = transpose(&mut g, x4, &[0, 2, 1]);
    let b4 = transpose(&mut g, z4, &[0, 2, 1]);
    let y4 = g.add(Op::MatMul, &[a4, b4], "y4").unwrap();
    for (i, y) in [y1, y2, y3, y4].into_iter().enumerate() {
        g.add_output(format!("y{}", i + 1), y, kiln_ir::Wide::No);
    }
    let (unfolded, folded) = run_products(&g, &inputs, &Limits::default());
    // Five transposes run no kernel; the four products are all that is left.
    assert_eq!(unfolded - folded, 5);
    assert_eq!(folded, 4);
    assert_eq!(decisions(&g).transposes_read_strided, 5);
}

#[test]
fn transposes_fold_into_integer_products() {
    // A quantized attention's products: u8 heads [B, H, S, DH] and transposed keys
    // [B, H, DH, S] read through the strides of the transposes before them, with a
    // zero point per row of `a`, on the exact f32 engine and the packed 8-bit one;
    // and an i8 batch-permuted `a` times an unbatched `b`. Integer results are exact.
    let mut g = Graph::new("integer_products");
    let u8s = |d: &[usize]| TensorType::new(DType::U8, d.to_vec());
    let q = g.add_input("q", u8s(&[B, S, H, DH]), kiln_ir::Wide::No);
    let k = g.add_input("k", u8s(&[B, S, H, DH]), kiln_ir::Wide::No);
    let x = g.add_input(
        "x",
        TensorType::new(DType::I8, vec![3, 2, 5, K]),
        kiln_ir::Wide::No,
    );
    let qh = transpose(&mut g, q, &[0, 2, 1, 3]);
    let kt = transpose(&mut g, k, &[0, 2, 3, 1]);
    let zq = g.add_const(None, random_tensor(DType::U8, &[S], 70));
    let zk = g.add_const(None, random_tensor(DType::U8, &[], 71));
    let scores = g
        .add(Op::MatMulInteger, &[qh, kt, zq, zk], "scores")
        .unwrap();
    let a = transpose(&mut g, x, &[1, 0, 2, 3]);
    let w = g.add_const(None, random_tensor(DType::I8, &[K, 9], 72));
    let zx = g.add_const(None, random_tensor(DType::I8, &[], 73));
    let zw = g.add_const(None, random_tensor(DType::I8, &[9], 74));
    let y = g.add(Op::MatMulInteger, &[a, w, zx, zw], "y").unwrap();
    g.add_output("scores", scores, kiln_ir::Wide::No);
    g.add_output("y", y, kiln_ir::Wide::No);
    let inputs = [
        random_tensor(DType::U8, &[B, S, H, DH], 75),
        random_tensor(DType::U8, &[B, S, H, DH], 76),
        random_tensor(DType::I8, &[3, 2, 5, K], 77),
    ];
    let want = kiln_ir::interp::run(&g, &inputs).unwrap();
    for packed_dot in [false, true] {
        let mut counts = Vec::new();
        for fold_transposes in [false, true] {
            let options = PlanOptions {
                fold_transposes,
                packed_dot,
                ..Default::default()
            };
            let compiled = build_plan_with(&g, &Limits::default(), &options).unwrap();
            counts.push(compiled.plan.dispatches.len());
            let mut session = gpu().load(&compiled.plan, &compiled.weights).unwrap();
            let got = session.run(&inputs).unwrap();
            for (i, (got, want)) in got.iter().zip(&want).enumerate() {
                compare(got, want, Tol::EXACT).unwrap_or_else(|e| {
                    panic!("packed {packed_dot}, folded {fold_transposes}, result {i}: {e}")
                });
            }
        }
        // Three transposes run no kernel; the two products are all that is left.
        assert_eq!(counts, [5, 2], "packed {packed_dot}");
    }
}

#[test]
fn transposes_stay_kernels_before_products_split_over_bindings() {
    // `p` (200 × 7 floats) exceeds a 4 KiB binding: the product is split by rows and
    // reads its operands row-major, so the transpose keeps its kernel.
    let limits = Limits {
        max_storage_buffer_binding_size: 4096,
        ..Limits::default()
    };
    let mut g = Graph::new("split");
    let mut inputs = Vec::new();
    let y = fused_product(&mut g, &mut inputs, 200);
    g.add_output("y", y, kiln_ir::Wide::No);
    let (unfolded, folded) = run_products(&g, &inputs, &limits);
    assert_eq!(unfolded, folded);
    assert!(
        folded >= 3,
        "a split product and the transpose: {folded} dispatches"
    );
}

#[test]
fn transposes_fold_into_elementwise_reads_and_epilogue_operands() {
    // A broadcast binary op, an element-wise program, and a fused product whose
    // epilogue adds a transposed operand.
    let mut g = Graph::new("elementwise");
    let mut inputs = Vec::new();
    let x1 = add(&mut g, &mut inputs, &[3, 5, K]);
    let b1 = add(&mut g, &mut inputs, &[5]);
    let t1 = transpose(&mut g, x1, &[2, 0, 1]);
    let y1 = g
        .add(Op::Binary(kiln_ir::BinaryOp::Add), &[t1, b1], "y1")
        .unwrap();
    let x2 = add(&mut g, &mut inputs, &[5, K]);
    let z2 = add(&mut g, &mut inputs, &[K, 5]);
    let t2 = transpose(&mut g, x2, &[1, 0]);
    let program = Op::Elementwise {
        program: "[in0, in1, mul(%0,%1), relu(%2)]".parse().unwrap(),
    };
    let y2 = g.add(program, &[t2, z2], "y2").unwrap();
    let p = add(&mut g, &mut inputs, &[5, K]);
    let q = add(&mut g, &mut inputs, &[K, 9]);
    let r = add(&mut g, &mut inputs, &[9, 5]);
    let rt = transpose(&mut g, r, &[1, 0]);
    let plus = Op::Fused {
        anchor: Box::new(Op::MatMul),
        prologue: None,
        arity: 2,
        epilogue: "[in0, in1, add(%0,%1)]".parse().unwrap(),
    };
    let y3 = g.add(plus, &[p, q, rt], "y3").unwrap();
    for (i, y) in [y1, y2, y3].into_iter().enumerate() {
        g.add_output(format!("y{}", i + 1), y, kiln_ir::Wide::No);
    }
    // y1 and y2 are one correctly rounded op (and a relu) per element: exact. y3: the
    // K-term dot product bound plus one rounding of the added result on each side.
    let magnitude_inputs: Vec<Tensor> = inputs.iter().map(abs).collect();
    let magnitudes = kiln_ir::interp::run(&g, &magnitude_inputs).unwrap();
    let largest = |t: &Tensor| t.to_f64_vec().into_iter().fold(0.0, f64::max);
    let y3_bound = dot_bound(&[largest(&magnitudes[2])], K, 0.0)[0]
        + 2.0 * bounds::U * largest(&magnitudes[2]);
    let tol = |i: usize| {
        if i < 2 {
            Tol::EXACT
        } else {
            Tol::new(y3_bound, 0.0)
        }
    };
    let (unfolded, folded) = run_both_on(&g, &inputs, &Limits::default(), &tol);
    assert_eq!(unfolded - folded, 3);
    assert_eq!(folded, 3);
}

/// Channels, shuffle groups and spatial size of the shuffle tests.
const C: usize = 12;
const G: usize = 3;
const HW: [usize; 2] = [5, 7];

/// `x` `[1, C, 5, 7]` with its channels shuffled in `G` groups.
fn shuffle(g: &mut Graph, x: Handle<Value>) -> Handle<Value> {
    let split = Op::Reshape {
        shape: vec![1, G, C / G, HW[0], HW[1]],
    };
    let grouped = g.add(split, &[x], "split").unwrap();
    let swapped = transpose(g, grouped, &[0, 2, 1, 3, 4]);
    let merge = Op::Reshape {
        shape: vec![1, C, HW[0], HW[1]],
    };
    g.add(merge, &[swapped], "merge").unwrap()
}

fn conv_attrs(k: usize, group: usize) -> kiln_ir::ConvAttrs {
    kiln_ir::ConvAttrs {
        strides: vec![1, 1],
        pads: vec![k / 2; 4],
        dilations: vec![1, 1],
        group,
    }
}

#[test]
fn channel_shuffles_fold_into_the_convolutions_reading_them() {
    // A depthwise 3×3 conv with bias, a plain 1×1 conv, and a fused 1×1 conv with a
    // max-pool prologue and a relu epilogue, each reading a shuffled input.
    let mut g = Graph::new("shuffles");
    let mut inputs = Vec::new();
    let x = [C, HW[0], HW[1]];
    let x1 = add(&mut g, &mut inputs, &[1, x[0], x[1], x[2]]);
    let w1 = add(&mut g, &mut inputs, &[C, 1, 3, 3]);
    let b1 = add(&mut g, &mut inputs, &[C]);
    let s1 = shuffle(&mut g, x1);
    let y1 = g
        .add(Op::Conv(conv_attrs(3, C)), &[s1, w1, b1], "depthwise")
        .unwrap();
    let x2 = add(&mut g, &mut inputs, &[1, x[0], x[1], x[2]]);
    let w2 = add(&mut g, &mut inputs, &[5, C, 1, 1]);
    let s2 = shuffle(&mut g, x2);
    let y2 = g
        .add(Op::Conv(conv_attrs(1, 1)), &[s2, w2], "pointwise")
        .unwrap();
    let x3 = add(&mut g, &mut inputs, &[1, x[0], x[1], x[2]]);
    let w3 = add(&mut g, &mut inputs, &[5, C, 1, 1]);
    let s3 = shuffle(&mut g, x3);
    let pooled = Op::Fused {
        anchor: Box::new(Op::Conv(conv_attrs(1, 1))),
        prologue: Some(Box::new(Op::MaxPool(kiln_ir::PoolAttrs::window(
            &[3, 3],
            &[1, 1],
            &[1, 1, 1, 1],
            &[1, 1],
        )))),
        arity: 2,
        epilogue: "[in0, relu(%0)]".parse().unwrap(),
    };
    let y3 = g.add(pooled, &[s3, w3], "pooled").unwrap();
    for (i, y) in [y1, y2, y3].into_iter().enumerate() {
        g.add_output(format!("y{}", i + 1), y, kiln_ir::Wide::No);
    }
    // Dot products of 9 taps and the bias, and of C channels.
    let (unfolded, folded) = run_dot_products(&g, &inputs, &Limits::default(), &[9 + 1, C, C]);
    // Three transposes run no kernel; the three convolutions are left.
    assert_eq!(unfolded - folded, 3);
    assert_eq!(folded, 3);
    let d = decisions(&g);
    assert_eq!((d.channel_shuffles, d.transposes_read_strided), (3, 0));
    assert_eq!(d.to_string(), "3 channel shuffles remapped by their convs");
}
