//! Resize on the GPU against the CPU reference: nearest with every rounding mode
//! (bit-exact copies, integers too), linear and cubic in 1-D/2-D/3-D, antialiased
//! downsampling, exclude_outside, every coordinate transform, tf_crop_and_resize
//! with its extrapolation value. Bound: the GPU blends with f32 weights (each within
//! u of the reference's f64 weight) and sums T taps in f32, so it differs by at most
//! (T + 2)·u·Σ|w_i|·max|x| where Σ|w_i| ≤ 2 per axis for these kernels.

mod bounds;
mod common;

use bounds::{check_within, U};
use common::random_tensor;
use kiln_ir::{CoordTransform, DType, NearestMode, Op, ResizeAttrs, ResizeMode};

fn attrs(mode: ResizeMode, coord: CoordTransform, input: &[usize], sizes: &[usize]) -> ResizeAttrs {
    ResizeAttrs {
        mode,
        coord,
        nearest: NearestMode::RoundPreferFloor,
        cubic_coeff_a: -0.75,
        exclude_outside: false,
        extrapolation_value: 0.0,
        antialias: false,
        sizes: sizes.to_vec(),
        scales: input
            .iter()
            .zip(sizes)
            .map(|(&i, &o)| o as f32 / i as f32)
            .collect(),
        roi: Vec::new(),
    }
}

/// Checks a blend; `taps` is the most taps one output reads.
fn blend(a: ResizeAttrs, input: &[usize], taps: usize, seed: u64) {
    let resized = a.sizes.iter().zip(input).filter(|(o, i)| o != i).count() as i32;
    let x = random_tensor(DType::F32, input, seed);
    let max = x.to_f64_vec().iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let bound =
        (taps + 2) as f64 * U * 2f64.powi(resized) * max.max(a.extrapolation_value.abs() as f64)
            + 1e-30;
    let n: usize = a.sizes.iter().product();
    check_within(Op::Resize(a), &[x], &[Some(vec![bound; n])]);
}

#[test]
fn nearest_every_mode_and_transform_is_exact() {
    let modes = [
        NearestMode::RoundPreferFloor,
        NearestMode::RoundPreferCeil,
        NearestMode::Floor,
        NearestMode::Ceil,
    ];
    let coords = [
        CoordTransform::HalfPixel,
        CoordTransform::HalfPixelSymmetric,
        CoordTransform::PytorchHalfPixel,
        CoordTransform::AlignCorners,
        CoordTransform::Asymmetric,
    ];
    let mut seed = 0;
    for nearest in modes {
        for coord in coords {
            for (input, sizes) in [([1, 2, 4, 5], [1, 2, 7, 9]), ([1, 1, 6, 7], [1, 1, 4, 3])] {
                let mut a = attrs(ResizeMode::Nearest, coord, &input, &sizes);
                a.nearest = nearest;
                seed += 1;
                let x = random_tensor(DType::F32, &input, seed);
                check_within(Op::Resize(a), &[x], &[None]);
            }
        }
    }
    // Given scales that are not out/in exactly, and integer data.
    let mut a = attrs(
        ResizeMode::Nearest,
        CoordTransform::Asymmetric,
        &[1, 1, 5, 5],
        &[1, 1, 3, 3],
    );
    a.scales = vec![1.0, 1.0, 0.6, 0.6];
    check_within(
        Op::Resize(a),
        &[random_tensor(DType::F32, &[1, 1, 5, 5], 99)],
        &[None],
    );
    let a = attrs(
        ResizeMode::Nearest,
        CoordTransform::HalfPixel,
        &[2, 3, 4],
        &[2, 6, 9],
    );
    check_within(
        Op::Resize(a),
        &[random_tensor(DType::I32, &[2, 3, 4], 98)],
        &[None],
    );
    let a = attrs(
        ResizeMode::Nearest,
        CoordTransform::HalfPixel,
        &[1, 257],
        &[1, 7],
    );
    check_within(
        Op::Resize(a),
        &[random_tensor(DType::U8, &[1, 257], 97)],
        &[None],
    );
}

#[test]
fn linear_1d_2d_3d_every_transform() {
    let coords = [
        CoordTransform::HalfPixel,
        CoordTransform::HalfPixelSymmetric,
        CoordTransform::PytorchHalfPixel,
        CoordTransform::AlignCorners,
        CoordTransform::Asymmetric,
    ];
    for (i, coord) in coords.into_iter().enumerate() {
        blend(
            attrs(ResizeMode::Linear, coord, &[1, 2, 4, 5], &[1, 2, 7, 3]),
            &[1, 2, 4, 5],
            4,
            i as u64,
        );
    }
    blend(
        attrs(
            ResizeMode::Linear,
            CoordTransform::HalfPixel,
            &[3, 17],
            &[3, 1],
        ),
        &[3, 17],
        2,
        10,
    );
    let a = attrs(
        ResizeMode::Linear,
        CoordTransform::AlignCorners,
        &[1, 2, 3, 4, 5],
        &[1, 2, 5, 4, 8],
    );
    blend(a, &[1, 2, 3, 4, 5], 4, 11);
}

#[test]
fn cubic_with_coefficient_and_exclude_outside() {
    let mut a = attrs(
        ResizeMode::Cubic,
        CoordTransform::HalfPixel,
        &[1, 1, 4, 4],
        &[1, 1, 8, 7],
    );
    blend(a.clone(), &[1, 1, 4, 4], 16, 20);
    a.cubic_coeff_a = -0.5;
    a.exclude_outside = true;
    blend(a, &[1, 1, 4, 4], 16, 21);
    let a = attrs(
        ResizeMode::Cubic,
        CoordTransform::Asymmetric,
        &[2, 9],
        &[2, 4],
    );
    blend(a, &[2, 9], 4, 22);
}

#[test]
fn antialiased_downsampling() {
    let mut a = attrs(
        ResizeMode::Linear,
        CoordTransform::HalfPixel,
        &[1, 1, 16, 13],
        &[1, 1, 5, 4],
    );
    a.antialias = true;
    blend(a, &[1, 1, 16, 13], 64, 30);
    let mut a = attrs(
        ResizeMode::Cubic,
        CoordTransform::PytorchHalfPixel,
        &[1, 2, 9, 8],
        &[1, 2, 3, 3],
    );
    a.antialias = true;
    blend(a, &[1, 2, 9, 8], 256, 31);
}

#[test]
fn tf_crop_and_resize_extrapolates() {
    for mode in [ResizeMode::Linear, ResizeMode::Nearest, ResizeMode::Cubic] {
        let mut a = attrs(
            mode,
            CoordTransform::TfCropAndResize,
            &[1, 1, 5, 6],
            &[1, 1, 4, 5],
        );
        a.roi = vec![0.0, 0.0, -0.3, 0.2, 1.0, 1.0, 0.9, 1.4];
        a.extrapolation_value = 10.0;
        blend(a, &[1, 1, 5, 6], 16, 40);
    }
}
