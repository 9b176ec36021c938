//! The window functions HannWindow, HammingWindow and BlackmanWindow: constants at
//! import, computed in f64 from their cosine series and rounded once to the output type
//! (`size` must be known at import, as every shape-deciding operand).

use crate::builder::Cx;
use crate::error::ImportError;
use crate::known::{round_float, KData, Known};
use crate::tensor_proto::ir_dtype;
use kiln_ir::{DType, Handle, Value};

type Outs = Result<Vec<Handle<Value>>, ImportError>;

/// The most elements a window may have (it becomes a constant).
const MAX_WINDOW: i64 = 1 << 24;

/// `w[n] = Σ_j (-1)^j · a_j · cos(2π j n / N)` over `coefficients` `a_j`, with `N =
/// size` (`periodic`, the default) or `size - 1` (symmetric).
fn cosine_window(cx: &mut Cx, coefficients: &[f64]) -> Outs {
    let size = *cx
        .static_ints(0, "size")?
        .first()
        .ok_or_else(|| cx.err("size must be a scalar"))?;
    if !(0..=MAX_WINDOW).contains(&size) {
        return Err(cx.err(format!(
            "size must be between 0 and {MAX_WINDOW}, got {size}"
        )));
    }
    let code = cx.attr_i("output_datatype", 1)?;
    let dtype = ir_dtype(code as i32)
        .map(|(d, _)| d)
        .ok_or_else(|| cx.err(format!("output_datatype {code} is not supported")))?;
    let periodic = cx.attr_i("periodic", 1)? != 0;
    let denominator = if periodic { size } else { size - 1 } as f64;
    let value = |n: i64| -> f64 {
        coefficients
            .iter()
            .enumerate()
            .map(|(j, a)| {
                let sign = if j % 2 == 0 { 1.0 } else { -1.0 };
                let angle = 2.0 * std::f64::consts::PI * (j as i64 * n) as f64 / denominator;
                sign * a * if j == 0 { 1.0 } else { angle.cos() }
            })
            .sum()
    };
    let n = size as usize;
    let known = if dtype.is_float() {
        let v = (0..size).map(|i| round_float(dtype, value(i))).collect();
        Known::new(dtype, vec![n], KData::Float(v))
    } else if dtype.is_int() && dtype != DType::Bool {
        Known::ints(dtype, (0..size).map(|i| value(i) as i64).collect())
    } else {
        return Err(cx.err(format!("output_datatype {dtype} is not a number type")));
    };
    let name = cx.node.output.first().cloned();
    Ok(vec![cx.imp.add_known(name, known)?])
}

/// HannWindow: `0.5 - 0.5 · cos(2πn/N)`.
pub(super) fn hann(cx: &mut Cx) -> Outs {
    cosine_window(cx, &[0.5, 0.5])
}

/// HammingWindow: `25/46 - 21/46 · cos(2πn/N)`.
pub(super) fn hamming(cx: &mut Cx) -> Outs {
    cosine_window(cx, &[25.0 / 46.0, 21.0 / 46.0])
}

/// BlackmanWindow: `0.42 - 0.5 · cos(2πn/N) + 0.08 · cos(4πn/N)`.
pub(super) fn blackman(cx: &mut Cx) -> Outs {
    cosine_window(cx, &[0.42, 0.5, 0.08])
}
