//! ONNX `LinearAttention` as a recurrence unrolled over the static sequence length:
//! per step the state `S[B, H_kv, d_k, d_v]` decays by `exp(decay)` (gated rules),
//! takes the delta correction `v ← β·(v - kᵀS)` (delta rules), adds `k ⊗ v`, and each
//! query head reads `scale · q·S` of its key/value head (grouped heads share one). All
//! in f32, as ONNX's reference computes it; `chunk_size` is a tuning hint with no
//! effect on the result.

use crate::builder::Cx;
use crate::error::ImportError;
use kiln_ir::{BinaryOp, DType, Handle, Op, UnaryOp, Value};

type V = Handle<Value>;

/// `[B, T, H, D]` ⇄ `[B, H, T, D]`.
fn swap_time_heads(cx: &mut Cx, x: V) -> Result<V, ImportError> {
    cx.add(
        Op::Transpose {
            perm: vec![0, 2, 1, 3],
        },
        &[x],
    )
}

/// `[B, T, H·D]` → `[B, H, T, D]` in f32.
fn heads(cx: &mut Cx, x: V, h: usize, what: &str) -> Result<V, ImportError> {
    let d = cx.dims(x);
    if d.len() != 3 || !d[2].is_multiple_of(h) {
        return Err(cx.err(format!("{what} must be [B, T, {h}·D], got {}", cx.ty(x))));
    }
    let x = cx.cast(x, DType::F32)?;
    let x = cx.reshape(x, vec![d[0], d[1], h, d[2] / h])?;
    swap_time_heads(cx, x)
}

/// Step `t` of a `[B, H, T, D]` tensor: `[B, H, 1, D]`.
fn step(cx: &mut Cx, x: V, t: usize) -> Result<V, ImportError> {
    cx.slice_axis(x, 2, t, 1)
}

pub(super) fn linear_attention(cx: &mut Cx) -> Result<Vec<V>, ImportError> {
    let (query, key, value) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
    let (past, decay, beta) = (cx.opt_input(3)?, cx.opt_input(4)?, cx.opt_input(5)?);
    let rule = cx
        .attr_s("update_rule")?
        .unwrap_or_else(|| "gated_delta".into());
    let (gating, delta) = match rule.as_str() {
        "linear" => (false, false),
        "gated" => (true, false),
        "delta" => (false, true),
        "gated_delta" => (true, true),
        r => {
            return Err(cx.err(format!(
                "update_rule '{r}' is not one of linear, gated, delta, gated_delta"
            )))
        }
    };
    let (hq, hkv) = (cx.attr_i("q_num_heads", 0)?, cx.attr_i("kv_num_heads", 0)?);
    if hq <= 0 || hkv <= 0 || hq % hkv != 0 {
        return Err(cx.err(format!(
            "q_num_heads ({hq}) must be a positive multiple of kv_num_heads ({hkv})"
        )));
    }
    let (hq, hkv) = (hq as usize, hkv as usize);
    if gating != decay.is_some() || delta != beta.is_some() {
        return Err(cx.err(format!(
            "update_rule '{rule}' {} decay and {} beta",
            if gating { "needs" } else { "forbids" },
            if delta { "needs" } else { "forbids" }
        )));
    }
    let out_dtype = cx.ty(query).dtype;
    let q = heads(cx, query, hq, "query")?;
    let k = heads(cx, key, hkv, "key")?;
    let v = heads(cx, value, hkv, "value")?;
    let (qd, kd, vd) = (cx.dims(q), cx.dims(k), cx.dims(v));
    let (b, t, dk, dv) = (qd[0], qd[2], qd[3], vd[3]);
    if kd != [b, hkv, t, dk] || vd[..3] != [b, hkv, t] {
        return Err(cx.err(format!(
            "query {}, key {} and value {} do not agree in batch, length and key size",
            cx.ty(query),
            cx.ty(key),
            cx.ty(value)
        )));
    }
    // exp(decay) as [B, H_kv, T, 1 or d_k].
    let gate = match decay {
        None => None,
        Some(g) => {
            let last = cx.dims(g).last().copied().unwrap_or(0);
            if cx.rank(g) != 3 || (last != hkv && last != hkv * dk) {
                return Err(cx.err(format!(
                    "decay must be [B, T, {hkv}] or [B, T, {}], got {}",
                    hkv * dk,
                    cx.ty(g)
                )));
            }
            let g4 = if last == hkv {
                let g = cx.cast(g, DType::F32)?;
                let g = cx.reshape(g, vec![b, t, hkv, 1])?;
                swap_time_heads(cx, g)?
            } else {
                heads(cx, g, hkv, "decay")?
            };
            Some(cx.unary(UnaryOp::Exp, g4)?)
        }
    };
    // beta as [B, H_kv or 1, T, 1].
    let beta = match beta {
        None => None,
        Some(bt) => {
            let last = cx.dims(bt).last().copied().unwrap_or(0);
            if cx.rank(bt) != 3 || (last != hkv && last != 1) {
                return Err(cx.err(format!(
                    "beta must be [B, T, {hkv}] or [B, T, 1], got {}",
                    cx.ty(bt)
                )));
            }
            let bt = cx.cast(bt, DType::F32)?;
            let bt = cx.reshape(bt, vec![b, t, last, 1])?;
            Some(swap_time_heads(cx, bt)?)
        }
    };
    let state_shape = vec![b, hkv, dk, dv];
    let (mut state, state_dtype) = match past {
        Some(p) => {
            if cx.dims(p) != state_shape {
                return Err(cx.err(format!(
                    "past_state must be {state_shape:?}, got {}",
                    cx.ty(p)
                )));
            }
            (cx.cast(p, DType::F32)?, cx.ty(p).dtype)
        }
        None => (cx.splat(DType::F32, state_shape.clone(), 0.0)?, out_dtype),
    };
    let scale = match f64::from(cx.attr_f("scale", 0.0)?) {
        0.0 => 1.0 / (dk as f64).sqrt(),
        s => s,
    };
    let scale = cx.scalar(DType::F32, scale)?;
    let group = hq / hkv;
    let mut outs = Vec::with_capacity(t);
    for i in 0..t {
        let (q_t, k_t) = (step(cx, q, i)?, step(cx, k, i)?);
        let mut v_t = step(cx, v, i)?;
        if let Some(e) = gate {
            // [B, H_kv, 1, X] → [B, H_kv, X, 1]: each key row of the state decays.
            let g = step(cx, e, i)?;
            let x = cx.dims(g)[3];
            let g = cx.reshape(g, vec![b, hkv, x, 1])?;
            state = cx.binary(BinaryOp::Mul, state, g)?;
        }
        if let Some(bt) = beta {
            let retrieved = cx.add(Op::MatMul, &[k_t, state])?;
            let diff = cx.binary(BinaryOp::Sub, v_t, retrieved)?;
            let b_t = step(cx, bt, i)?;
            v_t = cx.binary(BinaryOp::Mul, b_t, diff)?;
        }
        let k_col = cx.reshape(k_t, vec![b, hkv, dk, 1])?;
        let outer = cx.binary(BinaryOp::Mul, k_col, v_t)?;
        state = cx.binary(BinaryOp::Add, state, outer)?;
        // Query head h reads key/value head h / group.
        let q_g = cx.reshape(q_t, vec![b, hkv, group, dk])?;
        let read = cx.add(Op::MatMul, &[q_g, state])?;
        let read = cx.reshape(read, vec![b, hq, 1, dv])?;
        outs.push(cx.binary(BinaryOp::Mul, read, scale)?);
    }
    let o = if outs.len() == 1 {
        outs[0]
    } else {
        cx.add(Op::Concat { axis: 2 }, &outs)?
    };
    let o = swap_time_heads(cx, o)?;
    let o = cx.reshape(o, vec![b, t, hq * dv])?;
    let output = cx.cast(o, out_dtype)?;
    let present = cx.cast(state, state_dtype)?;
    Ok(vec![output, present])
}
