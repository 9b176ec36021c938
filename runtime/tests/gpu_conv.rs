//! Conv and ConvTranspose on the GPU against the CPU reference: 1-D, 2-D and 3-D,
//! groups and depthwise, dilations, strides, asymmetric pads, output_padding, with
//! and without bias, on both the tiled and the direct engine, with the tiles of both
//! device classes (GPU, CPU driver). Bounds: a K-term dot
//! product (K = C/group · kernel taps, plus one for the bias), see `bounds`.

mod bounds;
mod common;

use bounds::{abs, check_within_both, cpu, dot_bound};
use common::random_tensor;
use kiln_ir::{ConvAttrs, ConvTransposeAttrs, DType, Op, Tensor};

fn inputs(x: &[usize], w: &[usize], bias: Option<usize>, seed: u64) -> Vec<Tensor> {
    let mut v = vec![
        random_tensor(DType::F32, x, seed),
        random_tensor(DType::F32, w, seed + 1),
    ];
    if let Some(b) = bias {
        v.push(random_tensor(DType::F32, &[b], seed + 2));
    }
    v
}

fn check(op: Op, ins: Vec<Tensor>, terms: usize) {
    let mags: Vec<Tensor> = ins.iter().map(abs).collect();
    let mag = cpu(&op, &mags, 0);
    check_within_both(op, &ins, &[Some(dot_bound(&mag, terms, 1e-30))]);
}

fn conv(strides: &[usize], pads: &[usize], dilations: &[usize], group: usize) -> Op {
    Op::Conv(ConvAttrs {
        strides: strides.to_vec(),
        pads: pads.to_vec(),
        dilations: dilations.to_vec(),
        group,
    })
}

#[test]
fn conv_2d_tiled_with_bias_stride_pad_dilation() {
    // 16 output channels: the tiled engine.
    let op = conv(&[2, 1], &[1, 0, 2, 1], &[1, 2], 1);
    check(
        op,
        inputs(&[2, 3, 11, 9], &[16, 3, 3, 3], Some(16), 1),
        3 * 9 + 1,
    );
    // Odd channel counts around the tile (33 outputs, 7 inputs), 1×1 kernel.
    let op = conv(&[1, 1], &[0, 0, 0, 0], &[1, 1], 1);
    check(op, inputs(&[1, 7, 5, 7], &[33, 7, 1, 1], None, 2), 7);
}

#[test]
fn conv_depthwise_and_grouped() {
    // Depthwise: one output channel per group, the direct engine.
    let op = conv(&[1, 1], &[1, 1, 1, 1], &[1, 1], 8);
    check(op, inputs(&[2, 8, 7, 7], &[8, 1, 3, 3], Some(8), 3), 9 + 1);
    // Depthwise with a channel multiplier of 2, strided.
    let op = conv(&[2, 2], &[1, 1, 1, 1], &[1, 1], 4);
    check(op, inputs(&[1, 4, 9, 8], &[8, 1, 3, 3], None, 4), 9);
    // Grouped with enough channels per group to tile.
    let op = conv(&[1, 1], &[1, 1, 1, 1], &[2, 2], 2);
    check(
        op,
        inputs(&[1, 6, 8, 8], &[16, 3, 3, 3], Some(16), 5),
        27 + 1,
    );
}

#[test]
fn conv_1d_and_3d() {
    let op = conv(&[3], &[2, 1], &[2], 1);
    check(op, inputs(&[2, 4, 17], &[5, 4, 3], Some(5), 6), 12 + 1);
    let op = conv(&[1], &[0, 0], &[1], 1);
    check(op, inputs(&[1, 1, 257], &[1, 1, 7], None, 7), 7);
    let op = conv(&[1, 2, 1], &[0, 1, 0, 0, 1, 1], &[1, 1, 2], 1);
    check(
        op,
        inputs(&[1, 2, 4, 5, 6], &[9, 2, 2, 3, 2], Some(9), 8),
        24 + 1,
    );
}

fn conv_t(
    strides: &[usize],
    pads: &[usize],
    dilations: &[usize],
    output_padding: &[usize],
    group: usize,
) -> Op {
    Op::ConvTranspose(ConvTransposeAttrs {
        strides: strides.to_vec(),
        pads: pads.to_vec(),
        dilations: dilations.to_vec(),
        output_padding: output_padding.to_vec(),
        group,
    })
}

#[test]
fn conv_transpose_variants() {
    // 2-D, stride 2 with pads and output_padding, bias; 8 outputs: tiled.
    let op = conv_t(&[2, 2], &[1, 1, 1, 1], &[1, 1], &[1, 1], 1);
    check(
        op,
        inputs(&[1, 3, 4, 5], &[3, 8, 3, 3], Some(8), 11),
        3 * 9 + 1,
    );
    // 1-D, groups 2, dilation 2, stride 3: one output channel per group (direct).
    let op = conv_t(&[3], &[0, 0], &[2], &[0], 2);
    check(op, inputs(&[2, 4, 6], &[4, 1, 3], None, 12), 2 * 3);
    // 3-D, unit stride, asymmetric pads.
    let op = conv_t(&[1, 1, 2], &[0, 1, 0, 1, 0, 1], &[1, 1, 1], &[0, 0, 1], 1);
    check(
        op,
        inputs(&[1, 2, 3, 4, 3], &[2, 5, 2, 2, 3], Some(5), 13),
        2 * 12 + 1,
    );
    // Depthwise-style: groups equal to channels.
    let op = conv_t(&[2, 2], &[0, 0, 0, 0], &[1, 1], &[0, 0], 3);
    check(op, inputs(&[1, 3, 5, 5], &[3, 1, 2, 2], None, 14), 4);
}
