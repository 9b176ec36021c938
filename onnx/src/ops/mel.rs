//! MelWeightMatrix: an import-time constant built from its scalar operands as the ONNX
//! reference builds it (triangular filters between mel-spaced bin edges), in f64 and
//! rounded once to the output type.

use crate::builder::Cx;
use crate::error::ImportError;
use crate::known::{round_float, KData, Known};
use crate::tensor_proto::ir_dtype;
use kiln_ir::{DType, Handle, Value};

type Outs = Result<Vec<Handle<Value>>, ImportError>;

/// The most entries the matrix may have (it becomes a constant).
const MAX_ENTRIES: usize = 1 << 26;

/// The `[dft_length / 2 + 1, num_mel_bins]` filter bank.
pub(super) fn mel_weight_matrix(cx: &mut Cx) -> Outs {
    let int = |cx: &mut Cx, i: usize, role: &str| -> Result<i64, ImportError> {
        match cx.static_ints(i, role)?[..] {
            [v] => Ok(v),
            ref v => Err(cx.err(format!("{role} must be a scalar, got {v:?}"))),
        }
    };
    let float = |cx: &mut Cx, i: usize, role: &str| -> Result<f64, ImportError> {
        match cx.opt_static_floats(i, role)?.as_deref() {
            Some(&[v]) => Ok(v),
            _ => Err(cx.err(format!("{role} must be a scalar"))),
        }
    };
    let mel_bins = int(cx, 0, "num_mel_bins")?;
    let dft_length = int(cx, 1, "dft_length")?;
    let sample_rate = int(cx, 2, "sample_rate")?;
    let lower = float(cx, 3, "lower_edge_hertz")?;
    let upper = float(cx, 4, "upper_edge_hertz")?;
    if mel_bins < 1 || dft_length < 1 || sample_rate < 1 || dft_length >= 1 << 40 {
        return Err(cx.err(format!(
            "num_mel_bins ({mel_bins}), dft_length ({dft_length}) and sample_rate \
             ({sample_rate}) must be positive (dft_length below 2^40)"
        )));
    }
    let code = cx.attr_i("output_datatype", 1)?;
    let dtype = ir_dtype(code as i32)
        .map(|(d, _)| d)
        .filter(|d| d.is_numeric() && *d != DType::Bool)
        .ok_or_else(|| cx.err(format!("output_datatype {code} is not supported")))?;
    let bins = (dft_length / 2 + 1) as usize;
    let mels = mel_bins as usize;
    if bins.checked_mul(mels).is_none_or(|e| e > MAX_ENTRIES) {
        return Err(cx.err(format!(
            "a {bins}×{mels} matrix is larger than kiln builds ({MAX_ENTRIES} entries)"
        )));
    }
    let w = filters(mels, dft_length, sample_rate, lower, upper).map_err(|e| cx.err(e))?;
    let known = if dtype.is_float() {
        let v = w.iter().map(|&x| round_float(dtype, x)).collect();
        Known::new(dtype, vec![bins, mels], KData::Float(v))
    } else {
        let v = w.iter().map(|&x| x as i64).collect();
        Known::new(dtype, vec![bins, mels], KData::Int(v))
    };
    let name = cx.node.output.first().cloned();
    Ok(vec![cx.imp.add_known(name, known)?])
}

/// The filters, row-major `[dft_length / 2 + 1, mels]`. Band edges are `mels + 2`
/// points spaced by `(mel(upper) - mel(lower)) / (mels + 2)` from `mel(lower)`,
/// mapped back to hertz and to the bin `⌊(dft_length + 1) · f / sample_rate⌋`; filter
/// `i` rises from edge `i` to 1 at edge `i + 1` and falls to edge `i + 2`.
fn filters(
    mels: usize,
    dft_length: i64,
    sample_rate: i64,
    lower: f64,
    upper: f64,
) -> Result<Vec<f64>, String> {
    let bins = (dft_length / 2 + 1) as usize;
    let mel = |hz: f64| 2595.0 * (hz / 700.0).ln_1p() / std::f64::consts::LN_10;
    let (lo, hi) = (mel(lower), mel(upper));
    let step = (hi - lo) / (mels + 2) as f64;
    let edges: Vec<i64> = (0..mels + 2)
        .map(|i| {
            let m = i as f64 * step + lo;
            let hz = 700.0 * (m / 2595.0 * std::f64::consts::LN_10).exp_m1();
            ((dft_length + 1) as f64 * hz / sample_rate as f64).floor() as i64
        })
        .collect();
    let bad = edges.iter().find(|&&e| e < 0 || e >= bins as i64);
    if let Some(e) = bad {
        return Err(format!(
            "band edge at bin {e} is outside the {bins} spectrogram bins (check the \
             edge frequencies against the sample rate)"
        ));
    }
    let mut w = vec![0f64; bins * mels];
    for i in 0..mels {
        let (left, center, right) = (edges[i], edges[i + 1], edges[i + 2]);
        let at = |j: i64| j as usize * mels + i;
        let rise = center - left;
        if rise == 0 {
            w[at(center)] = 1.0;
        } else {
            for j in left..=center {
                w[at(j)] = (j - left) as f64 / rise as f64;
            }
        }
        let fall = right - center;
        if fall > 0 {
            for j in center..right {
                w[at(j)] = (right - j) as f64 / fall as f64;
            }
        }
    }
    Ok(w)
}
