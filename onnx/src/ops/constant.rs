//! Ops whose results are constants at import: Constant, ConstantOfShape, Range.

use crate::builder::{checked_numel, Cx};

/// The most elements a Range may produce (it becomes a constant).
const MAX_RANGE: usize = 1 << 24;
use crate::error::ImportError;
use crate::known::{round_float, KData, Known};
use crate::tensor_proto::{self, Decoded};
use kiln_ir::{DType, Data, Handle, Tensor, Value};

type Outs = Result<Vec<Handle<Value>>, ImportError>;

pub(super) fn constant(cx: &mut Cx) -> Outs {
    let name = cx.node.output.first().cloned();
    let a = cx
        .node
        .attribute
        .first()
        .ok_or_else(|| cx.err("has no value attribute"))?;
    let k = match a.name.as_str() {
        "value" => {
            let t =
                a.t.as_ref()
                    .ok_or_else(|| cx.err("attribute 'value' holds no tensor"))?;
            match tensor_proto::decode(t, None)? {
                Decoded::Ir(tensor) => {
                    let v = cx.imp.graph.add_const(name, tensor);
                    if t.data_type == crate::proto::data_type::BFLOAT16 {
                        crate::bf16::mark(cx.imp, v, true);
                    }
                    return Ok(vec![v]);
                }
                Decoded::I64(k) => k,
            }
        }
        "value_float" => Known::new(DType::F32, vec![], KData::Float(vec![a.f as f64])),
        "value_floats" => Known::new(
            DType::F32,
            vec![a.floats.len()],
            KData::Float(a.floats.iter().map(|&f| f as f64).collect()),
        ),
        "value_int" => Known::new(DType::I32, vec![], KData::Int(vec![a.i])),
        "value_ints" => Known::ints(DType::I32, a.ints.clone()),
        other => return Err(cx.err(format!("constant attribute '{other}' is not supported"))),
    };
    Ok(vec![cx.imp.add_known(name, k)?])
}

/// ConstantOfShape → a splat constant (one stored element).
pub(super) fn constant_of_shape(cx: &mut Cx) -> Outs {
    let shape = cx.static_ints(0, "shape")?;
    let shape = shape
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| cx.err(format!("shape {shape:?} has a negative dim")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if checked_numel(&shape).is_none() {
        return Err(cx.err(format!(
            "shape {shape:?} is too large (kiln imports values of at most 2^40 elements)"
        )));
    }
    let value = match cx.attr("value").and_then(|a| a.t.as_ref()) {
        Some(t) => tensor_proto::decode(t, None)?.into_tensor(&t.name)?,
        None => Tensor::scalar(Data::F32(vec![0.0])).map_err(|e| cx.err(e.to_string()))?,
    };
    if value.numel() != 1 {
        return Err(cx.err(format!("value must hold one element, got {}", value.ty())));
    }
    let splat =
        Tensor::splat(shape, value.data().into_owned()).map_err(|e| cx.err(e.to_string()))?;
    Ok(vec![cx.constant(splat)])
}

/// Range → a constant `start, start + delta, ...` below `limit` (above, for a
/// negative delta).
pub(super) fn range(cx: &mut Cx) -> Outs {
    let dtype = cx.ty(cx.input(0)?).dtype;
    let name = cx.node.output.first().cloned();
    let k = if dtype.is_float() {
        let get = |cx: &mut Cx, i, role| -> Result<f64, ImportError> {
            let v = cx
                .opt_static_floats(i, role)?
                .ok_or_else(|| cx.err(format!("{role} is required")))?;
            v.first()
                .copied()
                .ok_or_else(|| cx.err(format!("{role} must be a scalar")))
        };
        let (start, limit, delta) = (
            get(cx, 0, "start")?,
            get(cx, 1, "limit")?,
            get(cx, 2, "delta")?,
        );
        let n = ((limit - start) / delta).ceil();
        if !n.is_finite() || n > MAX_RANGE as f64 {
            return Err(cx.err(format!(
                "range({start}, {limit}, {delta}) has no finite length"
            )));
        }
        let n = n.max(0.0) as usize;
        let v = (0..n)
            .map(|i| round_float(dtype, start + i as f64 * delta))
            .collect();
        Known::new(dtype, vec![n], KData::Float(v))
    } else {
        let get = |cx: &mut Cx, i, role| -> Result<i64, ImportError> {
            let v = cx.static_ints(i, role)?;
            v.first()
                .copied()
                .ok_or_else(|| cx.err(format!("{role} must be a scalar")))
        };
        let (start, limit, delta) = (
            get(cx, 0, "start")?,
            get(cx, 1, "limit")?,
            get(cx, 2, "delta")?,
        );
        if delta == 0 {
            return Err(cx.err("delta must not be 0"));
        }
        let span = limit as i128 - start as i128;
        let (p, q) = if delta > 0 {
            (span, delta as i128)
        } else {
            (-span, -(delta as i128))
        };
        let n = (p + q - 1).div_euclid(q).max(0);
        if n > MAX_RANGE as i128 {
            return Err(cx.err(format!("range({start}, {limit}, {delta}) is too long")));
        }
        let v = (0..n as i64)
            .map(|i| start.wrapping_add(i.wrapping_mul(delta)))
            .collect();
        Known::ints(dtype, v)
    };
    Ok(vec![cx.imp.add_known(name, k)?])
}
