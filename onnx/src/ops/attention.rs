//! ONNX `Attention` (opsets 23–25): heads split from 3-D inputs, the past KV cache
//! concatenated, grouped KV heads repeated, and the masks (boolean or additive,
//! causal, sliding window, per-batch KV lengths) folded into one additive bias. With
//! no softcap and no scores output it becomes kiln's fused `Attention` op; otherwise
//! the composition `softmax(q·kt·scale (softcapped) + bias)·v`, which the optimizer
//! can still fuse. A query row whose bias masks every key yields zeros, as the spec's
//! reference does. f16 inputs are computed in f32 and the results rounded once.

use crate::builder::Cx;
use crate::error::ImportError;
use kiln_ir::{BinaryOp, DType, Data, Handle, Op, PadMode, ReduceOp, Tensor, UnaryOp, Value};

type Outs = Result<Vec<Handle<Value>>, ImportError>;
type V = Handle<Value>;

/// A float constant of `dtype` (f32 or f16) from f32 values.
fn float_const(
    cx: &mut Cx,
    dtype: DType,
    shape: Vec<usize>,
    v: Vec<f32>,
) -> Result<V, ImportError> {
    let data = match dtype {
        DType::F32 => Data::F32(v),
        DType::F16 => Data::F16(v.into_iter().map(half::f16::from_f32).collect()),
        d => {
            return Err(cx.err(format!(
                "attention in {d} is not supported (float, float16)"
            )))
        }
    };
    let t = Tensor::new(shape, data).map_err(|e| cx.err(e.to_string()))?;
    Ok(cx.constant(t))
}

/// `[B, S, H·D]` → `[B, H, S, D]`.
fn split_heads(cx: &mut Cx, x: V, heads: usize, what: &str) -> Result<V, ImportError> {
    let d = cx.dims(x);
    if heads == 0 || !d[2].is_multiple_of(heads) {
        return Err(cx.err(format!(
            "{what} hidden size {} is not a multiple of {heads} heads",
            d[2]
        )));
    }
    let x = cx.reshape(x, vec![d[0], d[1], heads, d[2] / heads])?;
    cx.add(
        Op::Transpose {
            perm: vec![0, 2, 1, 3],
        },
        &[x],
    )
}

/// Where keys are allowed by causality and the sliding window, as a function of
/// `diff = i + offset - j` (query `i`, key `j`).
struct Positional {
    causal: bool,
    left: i64,
    right: i64,
}

impl Positional {
    fn active(&self) -> bool {
        self.causal || self.left >= 0 || self.right >= 0
    }
    fn allows(&self, diff: i64) -> bool {
        (!self.causal || diff >= 0)
            && (self.left < 0 || diff <= self.left)
            && (self.right < 0 || -diff <= self.right)
    }
}

pub(super) fn attention(cx: &mut Cx) -> Outs {
    let (mut q, mut k, mut v) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
    let mask = cx.opt_input(3)?;
    let past_key = cx.opt_input(4)?;
    let past_value = cx.opt_input(5)?;
    let nonpad = cx.opt_input(6)?;
    let dtype = cx.ty(q).dtype;
    if !matches!(dtype, DType::F32 | DType::F16) {
        return Err(cx.err(format!(
            "attention in {dtype} is not supported (float, float16)"
        )));
    }
    let rank = cx.rank(q);
    if cx.rank(k) != rank || cx.rank(v) != rank || !(rank == 3 || rank == 4) {
        return Err(cx.err(format!(
            "Q, K and V must all be 3-D or 4-D, got {}, {} and {}",
            cx.ty(q),
            cx.ty(k),
            cx.ty(v)
        )));
    }
    if past_key.is_some() != past_value.is_some() {
        return Err(cx.err("past_key and past_value must be given together"));
    }
    if nonpad.is_some() && past_key.is_some() {
        return Err(cx.err("nonpad_kv_seqlen cannot be combined with a past cache"));
    }
    if rank == 3 {
        let qh = cx.attr_i("q_num_heads", 0)?;
        let kvh = cx.attr_i("kv_num_heads", 0)?;
        if qh <= 0 || kvh <= 0 {
            return Err(cx.err("3-D inputs need positive q_num_heads and kv_num_heads"));
        }
        q = split_heads(cx, q, qh as usize, "Q")?;
        k = split_heads(cx, k, kvh as usize, "K")?;
        v = split_heads(cx, v, kvh as usize, "V")?;
    }
    let (qd, kd, vd) = (cx.dims(q), cx.dims(k), cx.dims(v));
    let (batch, q_heads, s, head) = (qd[0], qd[1], qd[2], qd[3]);
    if kd[0] != batch || vd[0] != batch || kd[1] != vd[1] || kd[3] != head || kd[2] != vd[2] {
        return Err(cx.err(format!(
            "Q [B, H, S, D] {qd:?}, K [B, Hkv, T, D] {kd:?} and V [B, Hkv, T, E] {vd:?} do not agree"
        )));
    }
    for (past, cur) in [(past_key, k), (past_value, v)] {
        if let Some(p) = past {
            let (pd, cd) = (cx.dims(p), cx.dims(cur));
            if pd.len() != 4 || pd[0] != cd[0] || pd[1] != cd[1] || pd[3] != cd[3] {
                return Err(cx.err(format!("past cache {pd:?} does not fit {cd:?}")));
            }
        }
    }
    if let (Some(pk), Some(pv)) = (past_key, past_value) {
        k = cx.add(Op::Concat { axis: 2 }, &[pk, k])?;
        v = cx.add(Op::Concat { axis: 2 }, &[pv, v])?;
    }
    let (present_key, present_value) = (k, v);
    // Computed in f32 whatever the input type (f16 results then match the reference
    // to its tolerance; kiln computes f16 in f32 on the GPU anyway), cast back at the end.
    let out_dtype = dtype;
    let dtype = DType::F32;
    q = cx.cast(q, dtype)?;
    k = cx.cast(k, dtype)?;
    v = cx.cast(v, dtype)?;
    let kv_heads = kd[1];
    let t = cx.dims(k)[2];
    let e = vd[3];
    let past_len = past_key.map_or(0, |p| cx.dims(p)[2]);

    let softcap = cx.attr_f("softcap", 0.0)?;
    let mode = cx.attr_i("qk_matmul_output_mode", 0)?;
    if !(0..=3).contains(&mode) {
        return Err(cx.err(format!(
            "qk_matmul_output_mode {mode} is not supported (0..3)"
        )));
    }
    let precision = cx.attr_i("softmax_precision", 0)?;
    let softmax_dtype = match precision {
        0 => DType::F32,
        // double: kiln's widest float is f32.
        1 | 11 => DType::F32,
        10 => DType::F16,
        p => return Err(cx.err(format!("softmax_precision {p} is not supported"))),
    };
    let pos = Positional {
        causal: cx.attr_i("is_causal", 0)? != 0,
        left: cx.attr_i("left_window_size", -1)?,
        right: cx.attr_i("right_window_size", -1)?,
    };
    if pos.left < -1 || pos.right < -1 {
        return Err(cx.err("window sizes must be -1 or non-negative"));
    }
    let scale = match cx.attr("scale") {
        Some(_) => cx.attr_f("scale", 1.0)?,
        None => 1.0 / (head as f32).sqrt(),
    };

    // The additive bias, and whether some query row may be masked entirely.
    let neg_inf = cx.scalar(dtype, f64::NEG_INFINITY)?;
    let zero = cx.scalar(dtype, 0.0)?;
    let mut bias: Option<V> = None;
    let mut maybe_fully_masked = false;
    if let Some(m) = mask {
        let mt = cx.ty(m);
        let mut m = match mt.dtype {
            DType::Bool => cx.add(Op::Where, &[m, zero, neg_inf])?,
            d if d.is_float() => cx.cast(m, dtype)?,
            d => return Err(cx.err(format!("attn_mask must be bool or float, got {d}"))),
        };
        let md = cx.dims(m);
        let last = md.last().copied().unwrap_or(1);
        if md.is_empty() || last > t {
            return Err(cx.err(format!("attn_mask {md:?} does not fit {t} keys")));
        }
        if last < t {
            let r = md.len();
            let mut pads = vec![0i64; 2 * r];
            pads[2 * r - 1] = (t - last) as i64;
            m = cx.add(
                Op::Pad {
                    mode: PadMode::Constant,
                    pads,
                },
                &[m, neg_inf],
            )?;
        }
        bias = Some(m);
        maybe_fully_masked = true;
    }
    let add_bias = |cx: &mut Cx, bias: &mut Option<V>, b: V| -> Result<(), ImportError> {
        *bias = Some(match *bias {
            Some(a) => cx.binary(BinaryOp::Add, a, b)?,
            None => b,
        });
        Ok(())
    };
    if pos.active() {
        match nonpad {
            None => {
                let mut vals = Vec::with_capacity(s * t);
                let mut masked_row = false;
                for i in 0..s {
                    let mut any = false;
                    for j in 0..t {
                        let ok = pos.allows(i as i64 + past_len as i64 - j as i64);
                        any |= ok;
                        vals.push(if ok { 0.0 } else { f32::NEG_INFINITY });
                    }
                    masked_row |= !any;
                }
                maybe_fully_masked |= masked_row;
                let c = float_const(cx, dtype, vec![s, t], vals)?;
                add_bias(cx, &mut bias, c)?;
            }
            Some(n) => {
                // diff[b, i, j] = i - j + (nonpad[b] - S)
                let base: Vec<i32> = (0..s)
                    .flat_map(|i| (0..t).map(move |j| i as i32 - j as i32 - s as i32))
                    .collect();
                let base =
                    Tensor::from_i32(vec![1, 1, s, t], base).map_err(|e| cx.err(e.to_string()))?;
                let base = cx.constant(base);
                let n = nonpad_per_batch(cx, n, batch)?;
                let diff = cx.binary(BinaryOp::Add, base, n)?;
                let allowed = positional_allowed(cx, &pos, diff)?;
                let b = cx.add(Op::Where, &[allowed, zero, neg_inf])?;
                add_bias(cx, &mut bias, b)?;
                maybe_fully_masked = true;
            }
        }
    }
    if let Some(n) = nonpad {
        let iota: Vec<i32> = (0..t as i32).collect();
        let iota = Tensor::from_i32(vec![1, 1, 1, t], iota).map_err(|e| cx.err(e.to_string()))?;
        let iota = cx.constant(iota);
        let n = nonpad_per_batch(cx, n, batch)?;
        let kept = cx.binary(BinaryOp::Less, iota, n)?;
        let b = cx.add(Op::Where, &[kept, zero, neg_inf])?;
        add_bias(cx, &mut bias, b)?;
        maybe_fully_masked = true;
    }
    // Grouped KV heads: query head h reads KV head h / (Hq / Hkv). Q is viewed as
    // [B, Hkv, Hq/Hkv, S, D] and K, V as [B, Hkv, 1, T, ..], so the products broadcast
    // each KV head over its group instead of copying it.
    let grouped = q_heads != kv_heads;
    if grouped {
        if kv_heads == 0 || !q_heads.is_multiple_of(kv_heads) {
            return Err(cx.err(format!(
                "{q_heads} query heads are not a multiple of {kv_heads} KV heads"
            )));
        }
        let rep = q_heads / kv_heads;
        q = cx.reshape(q, vec![batch, kv_heads, rep, s, head])?;
        k = cx.reshape(k, vec![batch, kv_heads, 1, t, head])?;
        v = cx.reshape(v, vec![batch, kv_heads, 1, t, e])?;
        if let Some(b) = bias {
            let mut bd = cx.dims(b);
            while bd.len() < 4 {
                bd.insert(0, 1);
            }
            if bd.len() > 4 || !(bd[1] == 1 || bd[1] == q_heads) {
                return Err(cx.err(format!(
                    "attn_mask {:?} does not broadcast over {q_heads} heads",
                    cx.dims(b)
                )));
            }
            let (g, r) = if bd[1] == 1 { (1, 1) } else { (kv_heads, rep) };
            bias = Some(cx.reshape(b, vec![bd[0], g, r, bd[2], bd[3]])?);
        }
    }
    // Rows whose bias is -inf everywhere: their probabilities (and outputs) are 0.
    let guard = match bias {
        Some(b) if maybe_fully_masked => {
            let r = cx.rank(b);
            let row_max = cx.add(
                Op::Reduce {
                    op: ReduceOp::Max,
                    axes: vec![r - 1],
                    keepdims: true,
                },
                &[b],
            )?;
            Some(cx.binary(BinaryOp::Equal, row_max, neg_inf)?)
        }
        _ => None,
    };
    let r = cx.rank(k);
    let mut perm: Vec<usize> = (0..r).collect();
    perm.swap(r - 2, r - 1);
    let kt = cx.add(Op::Transpose { perm }, &[k])?;
    let wants_scores = cx.num_outputs() > 3;
    let mut scores_out = None;
    let mut y = if softcap <= 0.0 && !wants_scores {
        let mut ins = vec![q, kt, v];
        ins.extend(bias);
        let y = cx.add(Op::Attention { scale }, &ins)?;
        match guard {
            Some(g) => cx.add(Op::Where, &[g, zero, y])?,
            None => y,
        }
    } else {
        let mut scores = cx.add(Op::MatMul, &[q, kt])?;
        if scale != 1.0 {
            let sc = cx.scalar(dtype, scale as f64)?;
            scores = cx.binary(BinaryOp::Mul, scores, sc)?;
        }
        if softcap > 0.0 {
            let c = cx.scalar(dtype, softcap as f64)?;
            let d = cx.binary(BinaryOp::Div, scores, c)?;
            let th = cx.unary(UnaryOp::Tanh, d)?;
            scores = cx.binary(BinaryOp::Mul, th, c)?;
        }
        let with_bias = match bias {
            Some(b) => cx.binary(BinaryOp::Add, scores, b)?,
            None => scores,
        };
        let x = cx.cast(with_bias, softmax_dtype)?;
        let p = cx.add(Op::Softmax { axis: r - 1 }, &[x])?;
        let mut p = cx.cast(p, dtype)?;
        let guard_p = mode == 3 && guard.is_some();
        if let (true, Some(g)) = (guard_p, guard) {
            p = cx.add(Op::Where, &[g, zero, p])?;
        }
        scores_out = Some(match mode {
            0 | 1 => scores,
            2 => with_bias,
            _ => p,
        });
        let y = cx.add(Op::MatMul, &[p, v])?;
        match guard {
            Some(g) if !guard_p => cx.add(Op::Where, &[g, zero, y])?,
            _ => y,
        }
    };
    y = cx.cast(y, out_dtype)?;
    y = cx.reshape(y, vec![batch, q_heads, s, e])?;
    let scores_out = match scores_out {
        Some(x) => {
            let x = cx.cast(x, out_dtype)?;
            Some(cx.reshape(x, vec![batch, q_heads, s, t])?)
        }
        None => None,
    };
    if rank == 3 {
        let yt = cx.add(
            Op::Transpose {
                perm: vec![0, 2, 1, 3],
            },
            &[y],
        )?;
        y = cx.reshape(yt, vec![batch, s, q_heads * e])?;
    }
    let mut outs = vec![y];
    let n = cx.num_outputs();
    if n > 1 {
        outs.push(present_key);
    }
    if n > 2 {
        outs.push(present_value);
    }
    if n > 3 {
        outs.extend(scores_out);
    }
    Ok(outs)
}

/// `nonpad_kv_seqlen` (`[B]`) as i32 `[B, 1, 1, 1]`.
fn nonpad_per_batch(cx: &mut Cx, n: V, batch: usize) -> Result<V, ImportError> {
    if cx.dims(n) != [batch] || !cx.ty(n).dtype.is_int() {
        return Err(cx.err(format!(
            "nonpad_kv_seqlen must be an integer [{batch}] tensor, got {}",
            cx.ty(n)
        )));
    }
    let n = cx.cast(n, DType::I32)?;
    cx.reshape(n, vec![batch, 1, 1, 1])
}

/// `pos.allows(diff)` element-wise on an i32 tensor.
fn positional_allowed(cx: &mut Cx, pos: &Positional, diff: V) -> Result<V, ImportError> {
    let mut allowed: Option<V> = None;
    let mut and = |cx: &mut Cx, c: V| -> Result<(), ImportError> {
        allowed = Some(match allowed {
            Some(a) => cx.binary(BinaryOp::And, a, c)?,
            None => c,
        });
        Ok(())
    };
    if pos.causal {
        let z = cx.scalar(DType::I32, 0.0)?;
        let c = cx.binary(BinaryOp::GreaterOrEqual, diff, z)?;
        and(cx, c)?;
    }
    if pos.left >= 0 {
        let l = cx.scalar(DType::I32, pos.left as f64)?;
        let c = cx.binary(BinaryOp::LessOrEqual, diff, l)?;
        and(cx, c)?;
    }
    if pos.right >= 0 {
        let r = cx.scalar(DType::I32, -(pos.right as f64))?;
        let c = cx.binary(BinaryOp::GreaterOrEqual, diff, r)?;
        and(cx, c)?;
    }
    allowed.ok_or_else(|| cx.err("no positional constraint"))
}
