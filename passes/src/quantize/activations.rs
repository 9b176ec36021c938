//! `w8a8`'s activations: the input each quantized layer reads, its range over the
//! calibration sets, and the uint8 `quantize` → `dequantize` pair the layer reads in its
//! place (per tensor, asymmetric, the range widened to hold 0 as ONNX's quantizers do).

use super::weights::Role;
use kiln_ir::{interp, DType, Data, Graph, Handle, Op, Tensor, Value};

/// A layer's input activation and how it is quantized.
#[derive(Clone, Debug)]
pub struct Activation {
    /// Which operand of the layer's node it is.
    pub operand: usize,
    pub value: Handle<Value>,
    pub scale: f32,
    pub zero: u8,
}

/// The operand that holds the activation of a layer reading its weight as `role`.
pub fn operand(role: Role) -> Option<usize> {
    match role {
        Role::Conv | Role::MatMulB => Some(0),
        Role::MatMulA => Some(1),
        Role::Gather { .. } => None,
    }
}

/// The smallest and largest element of each of `values` over every input set: `graph`
/// run with them as extra outputs.
pub fn ranges(
    graph: &Graph,
    values: &[Handle<Value>],
    samples: &[Vec<Tensor>],
) -> Result<Vec<(f32, f32)>, String> {
    let mut probe = graph.clone();
    for (i, &v) in values.iter().enumerate() {
        probe.add_output(format!("activation {i}"), v, false);
    }
    let mut ranges = vec![(0f32, 0f32); values.len()];
    for inputs in samples {
        let outputs = interp::run(&probe, inputs).map_err(|e| e.to_string())?;
        for (range, t) in ranges.iter_mut().zip(&outputs[graph.outputs.len()..]) {
            for x in t.to_f64_vec() {
                range.0 = range.0.min(x as f32);
                range.1 = range.1.max(x as f32);
            }
        }
    }
    Ok(ranges)
}

/// uint8 scale and zero point for `lo..=hi` (which holds 0): `(hi - lo) / 255` and
/// `round(-lo / scale)`.
pub fn params((lo, hi): (f32, f32)) -> (f32, u8) {
    let scale = (hi - lo) / 255.0;
    if !(scale > 0.0 && scale.is_finite()) {
        return (1.0, 0);
    }
    (scale, (-lo / scale).round().clamp(0.0, 255.0) as u8)
}

/// Adds `dequantize(quantize(x))` with `act`'s scale and zero point to `graph`,
/// returning its result.
pub fn emit(
    graph: &mut Graph,
    x: Handle<Value>,
    act: &Activation,
    name: &str,
) -> Result<Handle<Value>, String> {
    let scale = graph.add_const(
        None,
        Tensor::from_f32(vec![], vec![act.scale]).map_err(|e| e.to_string())?,
    );
    let zero = Tensor::new(vec![], Data::U8(vec![act.zero])).map_err(|e| e.to_string())?;
    let zero = graph.add_const(None, zero);
    let quantize = Op::Quantize {
        axis: 0,
        block: 0,
        saturate: true,
    };
    let q = graph
        .add(
            quantize,
            &[x, scale, zero],
            format!("{name}.quantize_input"),
        )
        .map_err(|e| e.to_string())?;
    debug_assert_eq!(graph.ty(q).dtype, DType::U8);
    graph
        .add(
            Op::Dequantize { axis: 0, block: 0 },
            &[q, scale, zero],
            format!("{name}.dequantize_input"),
        )
        .map_err(|e| e.to_string())
}
