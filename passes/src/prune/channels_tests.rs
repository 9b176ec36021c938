//! Channel pruning on small graphs: each pruned graph computes what the original does
//! with the removed channels' consumer weights zeroed (built here, by weight name), on
//! the CPU reference and seeded random inputs; the groups found and refused; FLOPs.

use super::*;
use kiln_ir::parse::parse;
use kiln_ir::print::print;
use kiln_ir::random::random_tensor;
use kiln_ir::{DType, SparseFormat, ValueDef};

/// `text` parsed, its f32 constants (written as splats) replaced by seeded random
/// ones; those named `*var` are made positive (batch-norm variances).
fn graph(text: &str) -> Graph {
    let mut g = parse(text).unwrap_or_else(|e| panic!("test graph does not parse: {e}"));
    let handles: Vec<_> = g.values.iter().map(|(h, _)| h).collect();
    for (i, h) in handles.into_iter().enumerate() {
        let v = &g.values[h];
        let ValueDef::Const(t) = &v.def else { continue };
        if t.dtype() != DType::F32 {
            continue;
        }
        let mut r = random_tensor(DType::F32, t.shape().dims(), 7000 + i as u64);
        if v.name.as_deref().is_some_and(|n| n.ends_with("var")) {
            let pos = r
                .to_f64_vec()
                .iter()
                .map(|x| (x.abs() + 0.5) as f32)
                .collect();
            r = Tensor::from_f32(t.shape().dims().to_vec(), pos).unwrap();
        }
        g.values[h].def = ValueDef::Const(r);
    }
    g
}

/// `g` with the constant named `name` zeroed at every index along `axis` that `keep`
/// (of `channels`, starting at `offset`) leaves out.
fn zeroed(
    g: &Graph,
    name: &str,
    axis: usize,
    offset: usize,
    channels: usize,
    keep: &[usize],
) -> Graph {
    zeroed_strided(g, name, axis, 1, offset, channels, keep)
}

/// [`zeroed`] where each channel is `inner` consecutive indices along `axis`.
fn zeroed_strided(
    g: &Graph,
    name: &str,
    axis: usize,
    inner: usize,
    offset: usize,
    channels: usize,
    keep: &[usize],
) -> Graph {
    let mut z = g.clone();
    let (h, t) = z
        .values
        .iter()
        .find_map(|(h, v)| match &v.def {
            ValueDef::Const(t) if v.name.as_deref() == Some(name) => Some((h, t.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no constant '{name}'"));
    let dims = t.shape().dims().to_vec();
    let after: usize = dims[axis + 1..].iter().product();
    let removed = |c: usize| c >= offset && c < offset + channels && !keep.contains(&(c - offset));
    let v = t
        .to_f64_vec()
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            if removed((i / after) % dims[axis] / inner) {
                0.0
            } else {
                x as f32
            }
        })
        .collect();
    z.values[h].def = ValueDef::Const(Tensor::from_f32(dims, v).unwrap());
    z
}

/// Asserts `pruned` computes what `want` does on three seeded inputs, within the
/// rounding error of f32 sums of `terms` products in all (`terms` · ε relative to the
/// largest output), and that it is in canonical form (its text parses back equal).
fn assert_same(pruned: &Graph, want: &Graph, terms: usize) {
    kiln_ir::verify::verify(pruned).unwrap();
    assert_eq!(&parse(&print(pruned)).unwrap(), pruned, "not canonical");
    for seed in 0..3 {
        let inputs: Vec<Tensor> = want
            .inputs
            .iter()
            .map(|p| random_tensor(DType::F32, want.ty(p.value).shape.dims(), 100 + seed))
            .collect();
        let got = interp::run(pruned, &inputs).unwrap();
        let exp = interp::run(want, &inputs).unwrap();
        for (g, w) in got.iter().zip(&exp) {
            assert_eq!(g.shape(), w.shape());
            let (g, w) = (g.to_f64_vec(), w.to_f64_vec());
            let scale = w.iter().fold(1.0f64, |m, x| m.max(x.abs()));
            let tol = terms as f64 * f32::EPSILON as f64 * scale;
            for (i, (a, b)) in g.iter().zip(&w).enumerate() {
                assert!(
                    (a - b).abs() <= tol,
                    "element {i}: {a} vs {b} (tolerance {tol})"
                );
            }
        }
    }
}

/// The group named `name`.
fn group<'a>(groups: &'a [ChannelGroup], name: &str) -> &'a ChannelGroup {
    groups
        .iter()
        .find(|g| g.name == name)
        .unwrap_or_else(|| panic!("no group '{name}' in {groups:?}"))
}

/// The `keep_count(channels, 0.5)` best channels of `g`, sorted.
fn best_half(graph: &Graph, g: &ChannelGroup) -> Vec<usize> {
    let mut keep = ranked(graph, g)[..keep_count(g.channels, 0.5)].to_vec();
    keep.sort();
    keep
}

const CHAIN: &str = r#"
graph "chain" {
  input %v0 "x" : f32[1,3,8,8]
  const %v1 "w1" : f32[8,3,3,3] = splat(1.0)
  const %v2 "b1" : f32[8] = splat(1.0)
  const %v3 "gamma" : f32[8] = splat(1.0)
  const %v4 "beta" : f32[8] = splat(1.0)
  const %v5 "mean" : f32[8] = splat(1.0)
  const %v6 "var" : f32[8] = splat(1.0)
  const %v7 "w2" : f32[6,8,3,3] = splat(1.0)
  %v8 = conv{strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1}(%v0, %v1, %v2) : f32[1,8,8,8] @"conv1"
  %v9 = batch_norm{epsilon=1e-5}(%v8, %v3, %v4, %v5, %v6) : f32[1,8,8,8] @"bn"
  %v10 = relu(%v9) : f32[1,8,8,8] @"relu"
  %v11 = conv{strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1}(%v10, %v7) : f32[1,6,8,8] @"conv2"
  output "y" = %v11
}"#;

#[test]
fn a_conv_bn_relu_conv_chain_loses_the_cut_channels() {
    let g = graph(CHAIN);
    let groups = groups(&g);
    assert_eq!(groups.len(), 1, "{groups:?}");
    let (c1, keep) = (&groups[0], vec![0, 3, 5, 6]);
    assert_eq!((c1.name.as_str(), c1.channels), ("conv1", 8));
    assert_eq!(c1.producers, ["conv1"]);
    let pruned = prune(&g, &[(c1, keep.clone())]).unwrap();
    assert!(
        print(&pruned).contains("f32[1,4,8,8]"),
        "{}",
        print(&pruned)
    );
    assert_same(&pruned, &zeroed(&g, "w2", 1, 0, 8, &keep), 27 + 72);
    assert!(flops(&pruned) < flops(&g));
}

#[test]
fn residual_partners_are_one_group_with_the_downsample() {
    let g = graph(
        r#"
graph "residual" {
  input %v0 "x" : f32[1,4,6,6]
  const %v1 "wa" : f32[8,4,3,3] = splat(1.0)
  const %v2 "a_gamma" : f32[8] = splat(1.0)
  const %v3 "a_beta" : f32[8] = splat(1.0)
  const %v4 "a_mean" : f32[8] = splat(1.0)
  const %v5 "a_var" : f32[8] = splat(1.0)
  const %v6 "wb" : f32[12,8,3,3] = splat(1.0)
  const %v7 "b_gamma" : f32[12] = splat(1.0)
  const %v8 "b_beta" : f32[12] = splat(1.0)
  const %v9 "b_mean" : f32[12] = splat(1.0)
  const %v10 "b_var" : f32[12] = splat(1.0)
  const %v11 "wd" : f32[12,4,1,1] = splat(1.0)
  const %v12 "d_gamma" : f32[12] = splat(1.0)
  const %v13 "d_beta" : f32[12] = splat(1.0)
  const %v14 "d_mean" : f32[12] = splat(1.0)
  const %v15 "d_var" : f32[12] = splat(1.0)
  const %v16 "wc" : f32[5,12,3,3] = splat(1.0)
  %v17 = conv{strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1}(%v0, %v1) : f32[1,8,6,6] @"conv_a"
  %v18 = batch_norm{epsilon=1e-5}(%v17, %v2, %v3, %v4, %v5) : f32[1,8,6,6] @"bn_a"
  %v19 = relu(%v18) : f32[1,8,6,6] @"relu_a"
  %v20 = conv{strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1}(%v19, %v6) : f32[1,12,6,6] @"conv_b"
  %v21 = batch_norm{epsilon=1e-5}(%v20, %v7, %v8, %v9, %v10) : f32[1,12,6,6] @"bn_b"
  %v22 = conv{strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1}(%v0, %v11) : f32[1,12,6,6] @"conv_d"
  %v23 = batch_norm{epsilon=1e-5}(%v22, %v12, %v13, %v14, %v15) : f32[1,12,6,6] @"bn_d"
  %v24 = add(%v21, %v23) : f32[1,12,6,6] @"add"
  %v25 = relu(%v24) : f32[1,12,6,6] @"relu"
  %v26 = conv{strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1}(%v25, %v16) : f32[1,5,6,6] @"conv_c"
  output "y" = %v26
}"#,
    );
    let groups = groups(&g);
    assert_eq!(groups.len(), 2, "{groups:?}");
    let (a, b) = (group(&groups, "conv_a"), group(&groups, "conv_b"));
    assert_eq!((a.channels, b.channels), (8, 12));
    assert_eq!(b.producers, ["conv_b", "conv_d"]);
    let (keep_a, keep_b) = (best_half(&g, a), best_half(&g, b));
    assert_eq!((keep_a.len(), keep_b.len()), (4, 8));
    let pruned = prune(&g, &[(a, keep_a.clone()), (b, keep_b.clone())]).unwrap();
    let want = zeroed(&zeroed(&g, "wb", 1, 0, 8, &keep_a), "wc", 1, 0, 12, &keep_b);
    assert_same(&pruned, &want, 36 + 72 + 4 + 108);
}

#[test]
fn a_concat_maps_its_slices_to_their_producers() {
    let g = graph(
        r#"
graph "concat" {
  input %v0 "x" : f32[1,3,5,5]
  const %v1 "wp" : f32[8,3,3,3] = splat(1.0)
  const %v2 "wq" : f32[12,3,1,1] = splat(1.0)
  const %v3 "bq" : f32[12] = splat(1.0)
  const %v4 "scale" : f32[1,20,1,1] = splat(1.0)
  const %v5 "wr" : f32[4,20,1,1] = splat(1.0)
  %v6 = conv{strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1}(%v0, %v1) : f32[1,8,5,5] @"conv_p"
  %v7 = conv{strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1}(%v0, %v2, %v3) : f32[1,12,5,5] @"conv_q"
  %v8 = concat{axis=1}(%v6, %v7) : f32[1,20,5,5] @"cat"
  %v9 = mul(%v8, %v4) : f32[1,20,5,5] @"scale"
  %v10 = sigmoid(%v9) : f32[1,20,5,5] @"act"
  %v11 = conv{strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1}(%v10, %v5) : f32[1,4,5,5] @"conv_r"
  output "y" = %v11
}"#,
    );
    let groups = groups(&g);
    assert_eq!(groups.len(), 2, "{groups:?}");
    let (p, q) = (group(&groups, "conv_p"), group(&groups, "conv_q"));
    let (keep_p, keep_q) = (vec![1, 2, 4, 7], vec![0, 1, 2, 3, 8, 9, 10, 11]);
    let pruned = prune(&g, &[(p, keep_p.clone()), (q, keep_q.clone())]).unwrap();
    let want = zeroed(&zeroed(&g, "wr", 1, 0, 8, &keep_p), "wr", 1, 8, 12, &keep_q);
    assert_same(&pruned, &want, 27 + 20);
    // One side alone: the other's slice stays whole.
    let pruned = prune(&g, &[(q, keep_q.clone())]).unwrap();
    assert_same(&pruned, &zeroed(&g, "wr", 1, 8, 12, &keep_q), 27 + 20);
}

#[test]
fn a_depthwise_conv_passes_its_channels_through() {
    let g = graph(
        r#"
graph "depthwise" {
  input %v0 "x" : f32[1,4,7,7]
  const %v1 "w1" : f32[8,4,1,1] = splat(1.0)
  const %v2 "wdw" : f32[8,1,3,3] = splat(1.0)
  const %v3 "bdw" : f32[8] = splat(1.0)
  const %v4 "w2" : f32[6,8,1,1] = splat(1.0)
  %v5 = conv{strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1}(%v0, %v1) : f32[1,8,7,7] @"pw1"
  %v6 = relu(%v5) : f32[1,8,7,7] @"relu1"
  %v7 = conv{strides=[2,2], pads=[1,1,1,1], dilations=[1,1], group=8}(%v6, %v2, %v3) : f32[1,8,4,4] @"dw"
  %v8 = relu(%v7) : f32[1,8,4,4] @"relu2"
  %v9 = conv{strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1}(%v8, %v4) : f32[1,6,4,4] @"pw2"
  output "y" = %v9
}"#,
    );
    let groups = groups(&g);
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0].producers, ["pw1"]);
    let keep = vec![2, 3, 4, 5];
    let pruned = prune(&g, &[(&groups[0], keep.clone())]).unwrap();
    assert!(print(&pruned).contains("group=4"), "{}", print(&pruned));
    assert_same(&pruned, &zeroed(&g, "w2", 1, 0, 8, &keep), 4 + 9 + 8);
}

#[test]
fn a_grouped_conv_is_a_barrier() {
    let g = graph(
        r#"
graph "grouped" {
  input %v0 "x" : f32[1,4,6,6]
  const %v1 "wa" : f32[8,4,3,3] = splat(1.0)
  const %v2 "wg" : f32[8,4,3,3] = splat(1.0)
  const %v3 "wb" : f32[6,8,1,1] = splat(1.0)
  %v4 = conv{strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1}(%v0, %v1) : f32[1,8,6,6] @"conv_a"
  %v5 = conv{strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=2}(%v4, %v2) : f32[1,8,6,6] @"grouped"
  %v6 = conv{strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1}(%v5, %v3) : f32[1,6,6,6] @"conv_b"
  output "y" = %v6
}"#,
    );
    assert_eq!(groups(&g), []);
    // A group made up by hand is not one of the graph's.
    let fake = ChannelGroup {
        name: "conv_a".into(),
        producers: vec!["conv_a".into()],
        channels: 8,
        nodes: vec![g.nodes.iter().next().unwrap().0],
    };
    let err = prune(&g, &[(&fake, vec![0, 1, 2, 3])]).unwrap_err();
    assert!(err.contains("not a prunable group"), "{err}");
}

const HEAD: &str = r#"
graph "head" {
  input %v0 "x" : f32[2,3,6,6]
  const %v1 "w" : f32[8,3,3,3] = splat(1.0)
  const %v2 "gamma" : f32[8] = splat(1.0)
  const %v3 "beta" : f32[8] = splat(1.0)
  const %v4 "mean" : f32[8] = splat(1.0)
  const %v5 "var" : f32[8] = splat(1.0)
  const %v6 "fc" : f32[8,10] = splat(1.0)
  const %v7 "fc_bias" : f32[10] = splat(1.0)
  %v8 = conv{strides=[2,2], pads=[1,1,1,1], dilations=[1,1], group=1}(%v0, %v1) : f32[2,8,3,3] @"conv"
  %v9 = batch_norm{epsilon=1e-5}(%v8, %v2, %v3, %v4, %v5) : f32[2,8,3,3] @"bn"
  %v10 = relu(%v9) : f32[2,8,3,3] @"relu"
  %v11 = reduce_mean{axes=[2,3], keepdims=true}(%v10) : f32[2,8,1,1] @"pool"
  %v12 = reshape{shape=[2,8]}(%v11) : f32[2,8] @"flatten"
  %v13 = matmul(%v12, %v6) : f32[2,10] @"fc"
  %v14 = add(%v13, %v7) : f32[2,10] @"fc"
  output "logits" = %v14
}"#;

#[test]
fn a_pooled_flattened_head_drops_the_matmul_rows() {
    // Pooled with kept dims and flattened, or pooled straight to [N, C].
    let squeezed = HEAD
        .replace(
            "keepdims=true}(%v10) : f32[2,8,1,1]",
            "keepdims=false}(%v10) : f32[2,8]",
        )
        .replace("reshape{shape=[2,8]}(%v11)", "transpose{perm=[0,1]}(%v11)");
    assert_ne!(squeezed, HEAD);
    for (text, flat) in [
        (HEAD, "reshape{shape=[2,4]}"),
        (&squeezed[..], "keepdims=false"),
    ] {
        let g = graph(text);
        let groups = groups(&g);
        // The matmul's own channels reach the output: only the conv's group.
        assert_eq!(groups.len(), 1, "{groups:?}");
        assert_eq!(groups[0].producers, ["conv"]);
        let keep = best_half(&g, &groups[0]);
        let pruned = prune(&g, &[(&groups[0], keep.clone())]).unwrap();
        assert!(print(&pruned).contains(flat), "{}", print(&pruned));
        assert!(print(&pruned).contains("f32[4,10]"), "{}", print(&pruned));
        assert_same(&pruned, &zeroed(&g, "fc", 0, 0, 8, &keep), 27 + 9 + 8);
    }
}

#[test]
fn a_flattened_feature_map_drops_whole_blocks_of_matmul_rows() {
    let g = graph(
        r#"
graph "vgg" {
  input %v0 "x" : f32[2,3,6,6]
  const %v1 "w" : f32[8,3,3,3] = splat(1.0)
  const %v2 "bias" : f32[1,8,1,1] = splat(1.0)
  const %v3 "fc" : f32[72,10] = splat(1.0)
  %v4 = conv{strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1}(%v0, %v1) : f32[2,8,6,6] @"conv"
  %v5 = add(%v4, %v2) : f32[2,8,6,6] @"bias"
  %v6 = max_pool{kernel=[2,2], strides=[2,2], pads=[0,0,0,0], dilations=[1,1], ceil_mode=false, count_include_pad=false, storage_order=0}(%v5) : f32[2,8,3,3] @"pool"
  %v7 = reshape{shape=[2,72]}(%v6) : f32[2,72] @"flatten"
  %v8 = relu(%v7) : f32[2,72] @"relu"
  %v9 = matmul(%v8, %v3) : f32[2,10] @"fc"
  output "y" = %v9
}"#,
    );
    let groups = groups(&g);
    assert_eq!(groups.len(), 1, "{groups:?}");
    let keep = vec![0, 2, 5, 7];
    let pruned = prune(&g, &[(&groups[0], keep.clone())]).unwrap();
    assert!(
        print(&pruned).contains("reshape{shape=[2,36]}"),
        "{}",
        print(&pruned)
    );
    // Channel c is rows 9c..9c+9 of the matmul's weight.
    assert_same(
        &pruned,
        &zeroed_strided(&g, "fc", 0, 9, 0, 8, &keep),
        27 + 72,
    );
}

#[test]
fn transposed_convs_and_resizes_carry_channels() {
    let g = graph(
        r#"
graph "up" {
  input %v0 "x" : f32[1,3,4,4]
  const %v1 "w1" : f32[8,3,3,3] = splat(1.0)
  const %v2 "wt" : f32[8,12,2,2] = splat(1.0)
  const %v3 "bt" : f32[12] = splat(1.0)
  const %v4 "w2" : f32[2,12,3,3] = splat(1.0)
  %v5 = conv{strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1}(%v0, %v1) : f32[1,8,4,4] @"conv1"
  %v6 = resize{mode=nearest, coord=asymmetric, nearest=floor, cubic_coeff_a=-0.75, exclude_outside=false, extrapolation_value=0.0, antialias=false, sizes=[1,8,8,8], scales=[1.0,1.0,2.0,2.0], roi=[]}(%v5) : f32[1,8,8,8] @"resize"
  %v7 = conv_transpose{strides=[2,2], pads=[0,0,0,0], dilations=[1,1], output_padding=[0,0], group=1}(%v6, %v2, %v3) : f32[1,12,16,16] @"up"
  %v8 = relu(%v7) : f32[1,12,16,16] @"relu"
  %v9 = conv{strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1}(%v8, %v4) : f32[1,2,16,16] @"conv2"
  output "y" = %v9
}"#,
    );
    let groups = groups(&g);
    assert_eq!(groups.len(), 2, "{groups:?}");
    let (c1, up) = (group(&groups, "conv1"), group(&groups, "up"));
    assert_eq!((c1.channels, up.channels), (8, 12));
    let (keep1, keep_up) = (best_half(&g, c1), best_half(&g, up));
    let pruned = prune(&g, &[(c1, keep1.clone()), (up, keep_up.clone())]).unwrap();
    assert!(
        print(&pruned).contains("sizes=[1,4,8,8]"),
        "{}",
        print(&pruned)
    );
    let want = zeroed(&zeroed(&g, "wt", 0, 0, 8, &keep1), "w2", 1, 0, 12, &keep_up);
    assert_same(&pruned, &want, 27 + 8 + 108);
}

#[test]
fn channels_that_reach_an_output_or_a_mixing_op_are_refused() {
    // The relu'd conv result is an output as well as the next conv's input.
    let g = graph(
        r#"
graph "out" {
  input %v0 "x" : f32[1,3,4,4]
  const %v1 "w1" : f32[8,3,1,1] = splat(1.0)
  const %v2 "w2" : f32[8,8,1,1] = splat(1.0)
  %v3 = conv{strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1}(%v0, %v1) : f32[1,8,4,4] @"conv1"
  %v4 = relu(%v3) : f32[1,8,4,4] @"relu"
  %v5 = conv{strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1}(%v4, %v2) : f32[1,8,4,4] @"conv2"
  %v6 = add(%v4, %v5) : f32[1,8,4,4] @"add"
  output "y" = %v6
  output "feature" = %v4
}"#,
    );
    assert_eq!(groups(&g), []);
    // Between a conv and the next layer: reshaping [1, 8, 4, 4] to [1, 2, 64] splits
    // the channels, to [8, 16] merges them with the axis before; a softmax over them
    // mixes them; an input added at full width pins them. A softmax over another axis
    // (the control) keeps the group.
    let conv = "conv{strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1}";
    let cases = [
        (
            "reshape{shape=[1,2,64]}(%v4) : f32[1,2,64]",
            "matmul",
            "f32[64,3]",
            "f32[1,2,3]",
            0,
        ),
        (
            "reshape{shape=[8,16]}(%v4) : f32[8,16]",
            "matmul",
            "f32[16,3]",
            "f32[8,3]",
            0,
        ),
        (
            "softmax{axis=1}(%v4) : f32[1,8,4,4]",
            conv,
            "f32[2,8,1,1]",
            "f32[1,2,4,4]",
            0,
        ),
        (
            "add(%v4, %v0) : f32[1,8,4,4]",
            conv,
            "f32[2,8,1,1]",
            "f32[1,2,4,4]",
            0,
        ),
        (
            "softmax{axis=3}(%v4) : f32[1,8,4,4]",
            conv,
            "f32[2,8,1,1]",
            "f32[1,2,4,4]",
            1,
        ),
    ];
    for (tail, next, w2, y, want) in cases {
        let text = format!(
            r#"graph "g" {{
  input %v0 "x" : f32[1,8,4,4]
  const %v1 "w1" : f32[8,8,1,1] = splat(1.0)
  const %v2 "w2" : {w2} = splat(1.0)
  %v3 = {conv}(%v0, %v1) : f32[1,8,4,4] @"conv1"
  %v4 = sigmoid(%v3) : f32[1,8,4,4] @"s"
  %v5 = {tail} @"tail"
  %v6 = {next}(%v5, %v2) : {y} @"next"
  output "y" = %v6
}}"#
        );
        let g = graph(&text);
        assert_eq!(groups(&g).len(), want, "{text}");
    }
}

#[test]
fn ranking_is_by_weight_norm_times_the_batch_norm_scale() {
    let mut g = graph(CHAIN);
    let set = |g: &mut Graph, name: &str, v: Vec<f32>| {
        let h = g
            .values
            .iter()
            .find(|(_, x)| x.name.as_deref() == Some(name))
            .unwrap()
            .0;
        let dims = g.ty(h).shape.dims().to_vec();
        g.values[h].def = ValueDef::Const(Tensor::from_f32(dims, v).unwrap());
    };
    // Channel c's 27 weights are all (c + 1): norms grow with c ...
    let w: Vec<f32> = (0..8 * 27).map(|i| (i / 27 + 1) as f32).collect();
    set(&mut g, "w1", w);
    // ... but the batch norm scales channel 0 by 100 and channel 7 by 1/sqrt(20) (eps
    // aside: 8 / 4.47 < 2, below channel 1); gamma's sign does not matter.
    set(
        &mut g,
        "gamma",
        vec![-100.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
    );
    set(&mut g, "var", vec![1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 20.0]);
    let groups = groups(&g);
    assert_eq!(ranked(&g, &groups[0]), [0, 6, 5, 4, 3, 2, 1, 7]);
}

#[test]
fn keep_counts_are_multiples_of_four() {
    assert_eq!(keep_count(64, 0.5), 32);
    assert_eq!(keep_count(64, 0.0), 64);
    assert_eq!(keep_count(64, 0.3), 44); // 44.8 → 44
    assert_eq!(keep_count(10, 0.05), 8); // 9.5 rounds to 8, never above 10
    assert_eq!(keep_count(8, 0.99), 4);
    assert_eq!(keep_count(8, 1.0), 4);
    assert_eq!(keep_count(4, 0.5), 4);
    assert_eq!(keep_count(3, 0.5), 3);
    assert_eq!(keep_count(12, f64::NAN), 12);
}

#[test]
fn bad_cuts_are_errors() {
    let g = graph(CHAIN);
    let groups = groups(&g);
    let c = &groups[0];
    for (keep, want) in [
        (vec![], "non-empty increasing"),
        (vec![3, 1], "non-empty increasing"),
        (vec![1, 1], "non-empty increasing"),
        (vec![0, 8], "channel 8 cannot be kept"),
    ] {
        let err = prune(&g, &[(c, keep)]).unwrap_err();
        assert!(err.contains(want), "{err}");
    }
    let err = prune(&g, &[(c, vec![0]), (c, vec![1])]).unwrap_err();
    assert!(err.contains("cut twice"), "{err}");
    // A group of another graph.
    let other = graph(HEAD);
    let err = prune(&other, &[(c, vec![0])]).unwrap_err();
    assert!(err.contains("not a prunable group"), "{err}");
    assert_eq!(
        prune(&g, &[]).unwrap(),
        crate::rebuild(&g, &crate::Edits::new(&g)).unwrap()
    );
}

#[test]
fn flops_count_every_product() {
    let g = graph(
        r#"
graph "flops" {
  input %v0 "x" : f32[2,3,8,8]
  const %v1 "w" : f32[8,3,3,3] = splat(1.0)
  const %v2 "wdw" : f32[8,1,3,3] = splat(1.0)
  const %v3 "wt" : f32[8,4,2,2] = splat(1.0)
  const %v4 "fc" : f32[1024,10] = splat(1.0)
  %v5 = conv{strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1}(%v0, %v1) : f32[2,8,8,8] @"conv"
  %v6 = conv{strides=[2,2], pads=[1,1,1,1], dilations=[1,1], group=8}(%v5, %v2) : f32[2,8,4,4] @"dw"
  %v7 = conv_transpose{strides=[2,2], pads=[0,0,0,0], dilations=[1,1], output_padding=[0,0], group=1}(%v6, %v3) : f32[2,4,8,8] @"up"
  %v8 = reshape{shape=[2,256]}(%v7) : f32[2,256] @"flat"
  %v9 = relu(%v8) : f32[2,256] @"relu"
  output "y" = %v9
}"#,
    );
    // conv: 2·8·8·8 results of 3·3·3 products; depthwise: 2·8·4·4 results of 9;
    // transposed: each of 2·8·4·4 inputs into 4·2·2 results.
    let macs = 2 * 8 * 64 * 27 + 2 * 8 * 16 * 9 + 2 * 8 * 16 * 16;
    assert_eq!(flops(&g), 2 * macs as u64);
    let mm = graph(
        r#"
graph "mm" {
  input %v0 "x" : f32[3,5,7]
  const %v1 "w" : f32[7,11] = splat(1.0)
  %v2 = matmul(%v0, %v1) : f32[3,5,11] @"mm"
  output "y" = %v2
}"#,
    );
    assert_eq!(flops(&mm), 2 * 3 * 5 * 11 * 7);
    let att = graph(
        r#"
graph "att" {
  input %v0 "q" : f32[2,3,4]
  input %v1 "kt" : f32[2,4,5]
  input %v2 "v" : f32[2,5,6]
  %v3 = attention{scale=0.5}(%v0, %v1, %v2) : f32[2,3,6] @"att"
  output "y" = %v3
}"#,
    );
    // q · kt: 2 · 3 · 5 results of 4 products; p · v: 2 · 3 · 6 results of 5.
    assert_eq!(flops(&att), 2 * (2 * 3 * 5 * 4 + 2 * 3 * 6 * 5));
    // Sparse products count the weights they store, once per row of a ([5, 8]): 2 of
    // every 4 of an 8 × 3 weight, and three 2 × 2 blocks.
    for (format, arrays) in [
        (
            SparseFormat::NOfM { keep: 2, group: 4 },
            vec![
                Tensor::from_f32(vec![3, 4], vec![1.0; 12]).unwrap(),
                Tensor::new(vec![3, 4], kiln_ir::Data::U8([0, 2, 1, 3].repeat(3))).unwrap(),
            ],
        ),
        (
            SparseFormat::Blocks { rows: 2, cols: 2 },
            vec![
                Tensor::from_f32(vec![3, 2, 2], vec![1.0; 12]).unwrap(),
                Tensor::from_i32(vec![3], vec![0, 1, 2]).unwrap(),
                Tensor::from_i32(vec![3], vec![0, 2, 3]).unwrap(),
            ],
        ),
    ] {
        let mut g = Graph::new("sparse");
        let a = g.add_input(
            "a",
            kiln_ir::TensorType::new(DType::F32, vec![5, 8]),
            kiln_ir::Wide::No,
        );
        let mut operands = vec![a];
        operands.extend(arrays.into_iter().map(|t| g.add_const(None, t)));
        let op = Op::SparseMatMul {
            format,
            axis: 1,
            k: 8,
            n: 3,
        };
        let y = g.add(op, &operands, "sparse").unwrap();
        g.add_output("y", y, kiln_ir::Wide::No);
        assert_eq!(flops(&g), 2 * 5 * 12);
    }
}
