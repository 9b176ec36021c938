//! MaxPool and AveragePool on the GPU against the CPU reference: 1-D/2-D/3-D,
//! pads, strides, dilations, ceil_mode, max-pool indices in both storage orders,
//! integer max pooling (ties: the first maximum wins), count_include_pad, windows
//! entirely in padding, kernel extent 1 on an axis. Max pooling is exact; an average of c
//! taps differs from another summation order by at most 2·c·u·Σ|x|/c (+ the
//! division's rounding).

mod bounds;
mod common;

use bounds::{abs, check_within, cpu, U};
use common::random_tensor;
use kiln_ir::{DType, Op, PoolAttrs};

fn attrs(
    kernel: &[usize],
    strides: &[usize],
    pads: &[usize],
    dilations: &[usize],
    ceil_mode: bool,
) -> PoolAttrs {
    PoolAttrs {
        ceil_mode,
        ..PoolAttrs::window(kernel, strides, pads, dilations)
    }
}

fn max_exact(a: PoolAttrs, dtype: DType, shape: &[usize], seed: u64) {
    let x = random_tensor(dtype, shape, seed);
    check_within(Op::MaxPool(a), &[x], &[None, None]);
}

#[test]
fn max_pool_2d_with_indices_ceil_mode_and_pads() {
    max_exact(
        attrs(&[3, 3], &[2, 2], &[1, 1, 1, 1], &[1, 1], true),
        DType::F32,
        &[2, 3, 8, 7],
        1,
    );
    max_exact(
        attrs(&[2, 2], &[2, 2], &[0, 0, 0, 0], &[1, 1], true),
        DType::F32,
        &[1, 2, 7, 7],
        2,
    );
    max_exact(
        attrs(&[3, 2], &[1, 2], &[1, 0, 1, 1], &[2, 1], false),
        DType::F32,
        &[1, 3, 9, 6],
        3,
    );
    let mut column_major = attrs(&[2, 3], &[1, 1], &[0, 1, 0, 1], &[1, 1], false);
    column_major.storage_order = 1;
    max_exact(column_major, DType::F32, &[2, 2, 5, 6], 4);
}

#[test]
fn max_pool_1d_3d_and_integers() {
    max_exact(
        attrs(&[3], &[2], &[1, 1], &[1], true),
        DType::F32,
        &[2, 3, 257],
        5,
    );
    max_exact(
        attrs(
            &[2, 2, 2],
            &[2, 1, 2],
            &[0, 1, 0, 0, 0, 1],
            &[1, 1, 1],
            true,
        ),
        DType::F32,
        &[1, 2, 5, 4, 5],
        6,
    );
    max_exact(
        attrs(&[2], &[1], &[0, 0], &[2], false),
        DType::I32,
        &[2, 3, 9],
        7,
    );
    max_exact(
        attrs(&[3, 3], &[2, 2], &[1, 1, 1, 1], &[1, 1], false),
        DType::U8,
        &[1, 2, 7, 7],
        8,
    );
    max_exact(
        attrs(&[2, 2], &[1, 1], &[0, 0, 0, 0], &[1, 1], false),
        DType::I8,
        &[1, 1, 4, 5],
        9,
    );
}

fn avg(a: PoolAttrs, shape: &[usize], seed: u64) {
    let taps: usize = a.kernel.iter().product();
    let x = random_tensor(DType::F32, shape, seed);
    let op = Op::AveragePool(a);
    let mag = cpu(&op, &[abs(&x)], 0);
    // The mean of |x| bounds Σ|x|/c; the window's taps bound c.
    let bound: Vec<f64> = mag
        .iter()
        .map(|m| (2 * taps + 2) as f64 * U * m + 1e-30)
        .collect();
    check_within(op, &[x], &[Some(bound)]);
}

#[test]
fn average_pool_variants() {
    avg(
        attrs(&[3, 3], &[2, 2], &[1, 1, 1, 1], &[1, 1], true),
        &[2, 3, 8, 7],
        11,
    );
    let mut include = attrs(&[3, 3], &[2, 2], &[1, 1, 1, 1], &[1, 1], true);
    include.count_include_pad = true;
    avg(include, &[2, 3, 8, 7], 12);
    let mut include_1d = attrs(&[4], &[3], &[2, 1], &[1], false);
    include_1d.count_include_pad = true;
    avg(include_1d, &[1, 2, 257], 13);
    avg(
        attrs(
            &[2, 2, 2],
            &[1, 2, 2],
            &[0, 0, 1, 1, 1, 0],
            &[1, 1, 2],
            true,
        ),
        &[1, 2, 5, 6, 7],
        14,
    );
    avg(
        attrs(&[1, 1], &[1, 1], &[0, 0, 0, 0], &[1, 1], false),
        &[1, 1, 1, 1],
        15,
    );
}

#[test]
fn max_pool_3d_dilated_column_major_indices_with_ties() {
    // Integers in [-9, 9] tie often: the index is that of the first maximum.
    let mut a = attrs(
        &[3, 2, 2],
        &[2, 1, 3],
        &[1, 0, 2, 2, 1, 0],
        &[2, 3, 1],
        true,
    );
    a.storage_order = 1;
    for (dtype, seed) in [(DType::I32, 21), (DType::F32, 22), (DType::U32, 23)] {
        max_exact(a.clone(), dtype, &[2, 3, 7, 6, 9], seed);
    }
    a.storage_order = 0;
    max_exact(a, DType::F16, &[1, 2, 7, 6, 9], 24);
}

#[test]
fn windows_entirely_in_padding() {
    // Pads as wide as the window: the first window on each axis lies in the padding
    // (max: the lowest value and index 0; average: NaN, or with count_include_pad
    // zero over the padded taps).
    let a = attrs(&[2, 2], &[1, 3], &[2, 2, 3, 1], &[1, 1], false);
    max_exact(a.clone(), DType::F32, &[1, 3, 5, 6], 25);
    max_exact(a.clone(), DType::I8, &[1, 3, 5, 6], 26);
    avg(a.clone(), &[1, 3, 5, 6], 27);
    let mut include = a;
    include.count_include_pad = true;
    avg(include, &[1, 3, 5, 6], 28);
}

#[test]
fn average_pool_3d_ceil_mode_count_include_pad() {
    // ceil_mode adds windows that reach past the padded input; count_include_pad
    // must not count those taps.
    let mut a = attrs(
        &[3, 2, 3],
        &[2, 2, 2],
        &[1, 0, 1, 1, 0, 0],
        &[1, 2, 2],
        true,
    );
    a.count_include_pad = true;
    avg(a.clone(), &[2, 3, 8, 7, 10], 29);
    a.count_include_pad = false;
    avg(a, &[2, 3, 8, 7, 10], 30);
    // Kernel extent 1 on the middle axis, strided.
    let mut b = attrs(
        &[2, 1, 3],
        &[1, 2, 2],
        &[0, 0, 1, 1, 0, 1],
        &[1, 1, 1],
        true,
    );
    b.count_include_pad = true;
    avg(b.clone(), &[1, 2, 5, 5, 6], 31);
    max_exact(b, DType::F32, &[1, 2, 5, 5, 6], 32);
}
