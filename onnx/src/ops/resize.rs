//! Resize (and the older Upsample, Resize-10's semantics): attributes and the static
//! roi/scales/sizes operands resolved to [`ResizeAttrs`] (full-rank sizes, scales and
//! roi).

use crate::builder::{checked_numel, Cx, MAX_ELEMENTS};
use crate::error::ImportError;
use kiln_ir::{CoordTransform, Handle, NearestMode, Op, ResizeAttrs, ResizeMode, Value};

type Outs = Result<Vec<Handle<Value>>, ImportError>;

pub(super) fn resize(cx: &mut Cx) -> Outs {
    let x = cx.input(0)?;
    let dims = cx.dims(x);
    let r = dims.len();
    let mode = match cx.attr_s("mode")?.as_deref().unwrap_or("nearest") {
        "nearest" => ResizeMode::Nearest,
        "linear" | "bilinear" | "trilinear" => ResizeMode::Linear,
        "cubic" | "bicubic" => ResizeMode::Cubic,
        other => return Err(cx.err(format!("mode '{other}' is not supported"))),
    };
    let legacy = cx.opset < 11 || cx.node.op_type == "Upsample";
    let coord = if legacy {
        CoordTransform::Asymmetric
    } else {
        match cx
            .attr_s("coordinate_transformation_mode")?
            .as_deref()
            .unwrap_or("half_pixel")
        {
            "half_pixel" => CoordTransform::HalfPixel,
            "half_pixel_symmetric" => CoordTransform::HalfPixelSymmetric,
            "pytorch_half_pixel" => CoordTransform::PytorchHalfPixel,
            "align_corners" => CoordTransform::AlignCorners,
            "asymmetric" => CoordTransform::Asymmetric,
            "tf_crop_and_resize" => CoordTransform::TfCropAndResize,
            other => {
                return Err(cx.err(format!(
                    "coordinate_transformation_mode '{other}' is not supported"
                )))
            }
        }
    };
    let nearest = if legacy {
        NearestMode::Floor
    } else {
        match cx
            .attr_s("nearest_mode")?
            .as_deref()
            .unwrap_or("round_prefer_floor")
        {
            "round_prefer_floor" => NearestMode::RoundPreferFloor,
            "round_prefer_ceil" => NearestMode::RoundPreferCeil,
            "floor" => NearestMode::Floor,
            "ceil" => NearestMode::Ceil,
            other => return Err(cx.err(format!("nearest_mode '{other}' is not supported"))),
        }
    };
    let axes: Vec<usize> = match cx.attr_ints("axes")? {
        Some(a) => a.iter().map(|&a| cx.axis(a, r)).collect::<Result<_, _>>()?,
        None => (0..r).collect(),
    };
    let (roi, scales, sizes) = if legacy {
        // Resize-10 and Upsample-9 take the scales as operand 1, Upsample-7 as an attribute.
        let scales = match cx.opt_static_floats(1, "scales")? {
            Some(s) => Some(s),
            None => cx
                .attr_floats("scales")?
                .map(|v| v.into_iter().map(f64::from).collect()),
        };
        (None, scales, None)
    } else {
        let roi = cx.opt_static_floats(1, "roi")?.filter(|v| !v.is_empty());
        let scales = cx.opt_static_floats(2, "scales")?.filter(|v| !v.is_empty());
        let sizes = cx.opt_static_ints(3, "sizes")?.filter(|v| !v.is_empty());
        (roi, scales, sizes)
    };
    let n = axes.len();
    let policy = cx
        .attr_s("keep_aspect_ratio_policy")?
        .unwrap_or_else(|| "stretch".into());
    let (out_sizes, out_scales) = match (scales, sizes) {
        (Some(s), None) => {
            if s.len() != n {
                return Err(cx.err(format!("scales has {} entries, expected {n}", s.len())));
            }
            let mut scales = vec![1.0f32; r];
            let mut sizes = dims.clone();
            for (i, &a) in axes.iter().enumerate() {
                let sc = s[i] as f32;
                if sc.is_nan() || sc <= 0.0 {
                    return Err(cx.err(format!("scale {sc} must be positive")));
                }
                scales[a] = sc;
                sizes[a] = (dims[a] as f64 * sc as f64).floor() as usize;
            }
            (sizes, scales)
        }
        (None, Some(z)) => {
            if z.len() != n {
                return Err(cx.err(format!("sizes has {} entries, expected {n}", z.len())));
            }
            let z = z
                .iter()
                .map(|&v| match usize::try_from(v) {
                    Ok(u) if u <= MAX_ELEMENTS => Ok(u),
                    Ok(_) => Err(cx.err(format!("size {v} is too large"))),
                    Err(_) => Err(cx.err(format!("size {v} is negative"))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut scales = vec![1.0f32; r];
            let mut sizes = dims.clone();
            let ratio = |i: usize| z[i] as f64 / dims[axes[i]].max(1) as f64;
            let common = match policy.as_str() {
                "stretch" => None,
                "not_larger" => Some((0..n).map(ratio).fold(f64::INFINITY, f64::min)),
                "not_smaller" => Some((0..n).map(ratio).fold(f64::NEG_INFINITY, f64::max)),
                other => {
                    return Err(cx.err(format!(
                        "keep_aspect_ratio_policy '{other}' is not supported"
                    )))
                }
            };
            for (i, &a) in axes.iter().enumerate() {
                match common {
                    None => {
                        sizes[a] = z[i];
                        scales[a] = ratio(i) as f32;
                    }
                    Some(c) => {
                        sizes[a] = (c * dims[a] as f64 + 0.5) as usize;
                        scales[a] = c as f32;
                    }
                }
            }
            (sizes, scales)
        }
        (Some(_), Some(_)) => return Err(cx.err("only one of scales and sizes may be given")),
        (None, None) => return Err(cx.err("one of scales and sizes is required")),
    };
    let mut full_roi: Vec<f32> = [vec![0.0; r], vec![1.0; r]].concat();
    if let Some(roi) = roi {
        if roi.len() != 2 * n {
            return Err(cx.err(format!("roi has {} entries, expected {}", roi.len(), 2 * n)));
        }
        for (i, &a) in axes.iter().enumerate() {
            full_roi[a] = roi[i] as f32;
            full_roi[r + a] = roi[n + i] as f32;
        }
    }
    if checked_numel(&out_sizes).is_none() {
        return Err(cx.err(format!(
            "result dims {out_sizes:?} are too large (kiln imports values of at most 2^40 elements)"
        )));
    }
    let attrs = ResizeAttrs {
        mode,
        coord,
        nearest,
        cubic_coeff_a: cx.attr_f("cubic_coeff_a", -0.75)?,
        exclude_outside: cx.attr_i("exclude_outside", 0)? != 0,
        extrapolation_value: cx.attr_f("extrapolation_value", 0.0)?,
        antialias: cx.attr_i("antialias", 0)? != 0,
        sizes: out_sizes,
        scales: out_scales,
        roi: full_roi,
    };
    Ok(vec![cx.add(Op::Resize(attrs), &[x])?])
}
