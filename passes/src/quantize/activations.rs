//! `w8a8`'s and `f16`'s activations: the input each quantized layer reads, and what the
//! layer reads in its place. `w8a8`: a uint8 `quantize` → `dequantize` pair
//! (asymmetric, the range widened to hold 0 as ONNX's quantizers do); with calibration
//! sets the range is their range, per tensor, fixed at compile time; without, it is
//! each row's (a matmul's row, a convolution's image), computed by the kernels at run
//! time. `f16`: a cast to f16 and back, which fusion turns into an f16 tensor (stored
//! narrow, two to a word, where the kernels allow) widened where the layer loads it.

use super::weights::Role;
use kiln_ir::{
    BinaryOp, DType, Data, Graph, Handle, Op, Program, ReduceOp, Step, Tensor, UnaryOp, Value,
};

/// A layer's input activation and how it is quantized.
#[derive(Clone, Debug)]
pub struct Activation {
    /// Which operand of the layer's node it is.
    pub operand: usize,
    pub value: Handle<Value>,
    pub range: Range,
}

/// Where an activation's quantization range comes from.
#[derive(Clone, Debug)]
pub enum Range {
    /// The calibration sets': scale and zero point fixed at compile time.
    Fixed { scale: f32, zero: u8 },
    /// Each row's, at run time: the minimum and maximum over `axes`.
    Dynamic { axes: Vec<usize> },
    /// None: the activation is rounded to f16 (`f16` mode).
    Half,
}

/// The axes a dynamic range reduces over for a layer reading its activation as `role`:
/// a matmul's reduction axis (one range per row), a convolution's channels and
/// positions (one per image).
pub fn row_axes(role: Role, rank: usize) -> Vec<usize> {
    match role {
        Role::Conv => (1..rank).collect(),
        Role::MatMulA => vec![rank.saturating_sub(2)],
        _ => vec![rank - 1],
    }
}

/// The operand that holds the activation of a layer reading its weight as `role`.
pub fn operand(role: Role) -> Option<usize> {
    match role {
        Role::Conv | Role::MatMulB => Some(0),
        Role::MatMulA => Some(1),
        Role::Gather { .. } => None,
    }
}

/// The smallest and largest element of each probed activation over every input set
/// (`probed[set][activation]`, as [`crate::measure::run_probed`] reads them).
pub fn ranges(probed: &[Vec<Tensor>]) -> Vec<(f32, f32)> {
    let count = probed.first().map_or(0, Vec::len);
    let mut ranges = vec![(0f32, 0f32); count];
    for set in probed {
        for (range, t) in ranges.iter_mut().zip(set) {
            for x in t.to_f64_vec() {
                range.0 = range.0.min(x as f32);
                range.1 = range.1.max(x as f32);
            }
        }
    }
    ranges
}

/// The scale and zero point of each row of `x` (its range over `axes`, widened to hold 0),
/// computed as [`params`] computes a fixed one: `(hi - lo) / 255` (at least f32's smallest
/// normal, so an all-zero row divides by something) and `round(-lo / scale)` as uint8.
/// Each is one element-wise program of the row's minimum and maximum: as separate ops,
/// the fusion phase would try every split of the chain, for every layer (on MiniLM it
/// ran into its time limit).
fn dynamic_params(
    graph: &mut Graph,
    x: Handle<Value>,
    axes: &[usize],
    name: &str,
) -> Result<(Handle<Value>, Handle<Value>), String> {
    let step = |g: &mut Graph, op: Op, args: &[Handle<Value>], what: &str| {
        g.add(op, args, format!("{name}.input_{what}"))
            .map_err(|e| e.to_string())
    };
    let reduce = |op| Op::Reduce {
        op,
        axes: axes.to_vec(),
        keepdims: true,
    };
    let lo = step(graph, reduce(ReduceOp::Min), &[x], "min")?;
    let hi = step(graph, reduce(ReduceOp::Max), &[x], "max")?;
    // Inputs: the row's minimum and maximum. Step 9 is the scale, at least f32's
    // smallest normal.
    let mut steps = kiln_ir::quant::u8_scale_steps();
    steps.extend([
        Step::Const {
            dtype: DType::F32,
            value: f64::from(f32::MIN_POSITIVE),
        },
        Step::Binary(BinaryOp::Max, 7, 8),
    ]);
    let scale = Program {
        steps: steps.clone(),
    };
    steps.extend([
        Step::Unary(UnaryOp::Neg, 3),
        Step::Binary(BinaryOp::Div, 10, 9),
        Step::Unary(UnaryOp::Round, 11),
        Step::Binary(BinaryOp::Min, 12, 6),
        Step::Cast(DType::U8, 13),
    ]);
    let zero = Program { steps };
    let scale = step(
        graph,
        Op::Elementwise { program: scale },
        &[lo, hi],
        "scale",
    )?;
    let z = step(graph, Op::Elementwise { program: zero }, &[lo, hi], "zero")?;
    Ok((scale, z))
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

/// Adds `dequantize(quantize(x))` with `act`'s range to `graph` (`cast(cast(x, f16),
/// f32)` for [`Range::Half`]), returning its result.
pub fn emit(
    graph: &mut Graph,
    x: Handle<Value>,
    act: &Activation,
    name: &str,
) -> Result<Handle<Value>, String> {
    let (scale, zero) = match &act.range {
        Range::Half => {
            let cast = |g: &mut Graph, to, x, what: &str| {
                g.add(Op::Cast { to }, &[x], format!("{name}.{what}_input"))
                    .map_err(|e| e.to_string())
            };
            let half = cast(graph, DType::F16, x, "f16")?;
            return cast(graph, DType::F32, half, "f32");
        }
        Range::Fixed { scale, zero } => {
            let scale = Tensor::from_f32(vec![], vec![*scale]).map_err(|e| e.to_string())?;
            let zero = Tensor::new(vec![], Data::U8(vec![*zero])).map_err(|e| e.to_string())?;
            (graph.add_const(None, scale), graph.add_const(None, zero))
        }
        Range::Dynamic { axes } => dynamic_params(graph, x, axes, name)?,
    };
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
