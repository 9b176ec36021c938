//! ONNX's recurrent ops (RNN, GRU, LSTM) unrolled over their static sequence length:
//! per direction one matmul projects every time step's input, then each step is a small
//! matmul with the recurrence weights and element-wise gate math; `sequence_lens` masks
//! the steps at or past a batch entry's length (its state is held, its output is zero).
//!
//! Activation parameters (`activation_alpha`, `activation_beta`) are consumed in the
//! order of `activations` by the functions that take them, as onnxruntime does; the
//! others keep ONNX's defaults. `clip` bounds every gate's input to its activation.

use crate::builder::Cx;
use crate::error::ImportError;
use kiln_ir::{BinaryOp as B, DType, Handle, Op, UnaryOp as U, Value};

type Outs = Result<Vec<Handle<Value>>, ImportError>;
type V = Handle<Value>;
type Res<T> = Result<T, ImportError>;

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Kind {
    Rnn,
    Gru,
    Lstm,
}

impl Kind {
    /// The gates stacked in `W` and `R`.
    fn gates(self) -> usize {
        match self {
            Kind::Rnn => 1,
            Kind::Gru => 3,
            Kind::Lstm => 4,
        }
    }

    /// The activations of one direction when the node names none (f, g, h).
    fn default_activations(self) -> &'static [&'static str] {
        match self {
            Kind::Rnn => &["Tanh"],
            Kind::Gru => &["Sigmoid", "Tanh"],
            Kind::Lstm => &["Sigmoid", "Tanh", "Tanh"],
        }
    }
}

/// An activation function of the recurrent ops, with its parameters.
#[derive(Clone, Copy, Debug)]
enum Act {
    Relu,
    Tanh,
    Sigmoid,
    Affine { alpha: f32, beta: f32 },
    LeakyRelu(f32),
    ThresholdedRelu(f32),
    ScaledTanh { alpha: f32, beta: f32 },
    HardSigmoid { alpha: f32, beta: f32 },
    Elu(f32),
    Softsign,
    Softplus,
}

/// The attributes of one node, validated.
struct Spec {
    kind: Kind,
    hidden: usize,
    /// One per direction, whether it runs backwards in time.
    reverse: Vec<bool>,
    /// One list (f, g, h) per direction.
    acts: Vec<Vec<Act>>,
    clip: Option<f32>,
    input_forget: bool,
    linear_before_reset: bool,
    dtype: DType,
}

pub(super) fn recurrent(cx: &mut Cx, kind: Kind) -> Outs {
    let x = cx.input(0)?;
    let (w, r) = (cx.input(1)?, cx.input(2)?);
    let b = cx.opt_input(3)?;
    let h0 = cx.opt_input(5)?;
    let (c0, p) = match kind {
        Kind::Lstm => (cx.opt_input(6)?, cx.opt_input(7)?),
        _ => (None, None),
    };
    let dtype = cx.ty(x).dtype;
    if !dtype.is_float() {
        return Err(cx.err(format!("X must be a float tensor, got {}", cx.ty(x))));
    }
    let reverse = match cx.attr_s("direction")?.as_deref().unwrap_or("forward") {
        "forward" => vec![false],
        "reverse" => vec![true],
        "bidirectional" => vec![false, true],
        other => {
            return Err(cx.err(format!(
                "attribute 'direction' is '{other}' (forward, reverse or bidirectional)"
            )))
        }
    };
    let nd = reverse.len();
    let layout = cx.attr_i("layout", 0)?;
    if layout != 0 && layout != 1 {
        return Err(cx.err(format!("attribute 'layout' is {layout} (0 or 1)")));
    }
    if cx.rank(x) != 3 {
        return Err(cx.err(format!("X must be 3-D, got {}", cx.ty(x))));
    }
    // Time-major from here on: X [seq, batch, input], states [directions, batch, hidden].
    let x = if layout == 1 {
        transpose(cx, x, &[1, 0, 2])?
    } else {
        x
    };
    let (seq, batch, input) = match cx.dims(x)[..] {
        [s, b, i] => (s, b, i),
        _ => unreachable!("X is 3-D"),
    };
    if seq == 0 {
        return Err(cx.err("X has no time steps (sequence length 0)"));
    }
    let g = kind.gates();
    let wd = cx.dims(w);
    if wd.len() != 3 || wd[0] != nd || wd[2] != input || wd[1] == 0 || !wd[1].is_multiple_of(g) {
        return Err(cx.err(format!(
            "W {} must be [{nd}, {g}·hidden_size, {input}]",
            cx.ty(w)
        )));
    }
    let hidden = wd[1] / g;
    if cx.attr("hidden_size").is_some() {
        let hs = cx.attr_i("hidden_size", 0)?;
        if hs != hidden as i64 {
            return Err(cx.err(format!(
                "attribute 'hidden_size' is {hs} but W {} has {hidden} per gate",
                cx.ty(w)
            )));
        }
    }
    let gh = g * hidden;
    let states = |cx: &mut Cx, v: Option<V>, what: &str| -> Res<Option<V>> {
        let Some(v) = v else { return Ok(None) };
        let want = if layout == 1 {
            [batch, nd, hidden]
        } else {
            [nd, batch, hidden]
        };
        if cx.dims(v) != want {
            return Err(cx.err(format!("{what} {} must be {want:?}", cx.ty(v))));
        }
        Ok(Some(if layout == 1 {
            transpose(cx, v, &[1, 0, 2])?
        } else {
            v
        }))
    };
    let h0 = states(cx, h0, "initial_h")?;
    let c0 = states(cx, c0, "initial_c")?;
    for (v, want, what) in [
        (Some(r), vec![nd, gh, hidden], "R"),
        (b, vec![nd, 2 * gh], "B"),
        (p, vec![nd, 3 * hidden], "P"),
    ] {
        if let Some(v) = v {
            if cx.dims(v) != want {
                return Err(cx.err(format!("{what} {} must be {want:?}", cx.ty(v))));
            }
        }
    }
    for v in [Some(w), Some(r), b, h0, c0, p].into_iter().flatten() {
        if cx.ty(v).dtype != dtype {
            return Err(cx.err(format!("operand {} must have X's type {dtype}", cx.ty(v))));
        }
    }
    let clip = match cx.attr("clip") {
        Some(_) => {
            let c = cx.attr_f("clip", 0.0)?;
            if c.is_nan() || c <= 0.0 {
                return Err(cx.err(format!("attribute 'clip' is {c}; it must be positive")));
            }
            Some(c)
        }
        None => None,
    };
    let spec = Spec {
        kind,
        hidden,
        acts: activations(cx, kind, nd)?,
        reverse,
        clip,
        input_forget: kind == Kind::Lstm && cx.attr_i("input_forget", 0)? != 0,
        linear_before_reset: kind == Kind::Gru && cx.attr_i("linear_before_reset", 0)? != 0,
        dtype,
    };
    let masks = masks(cx, seq, batch)?;

    let (mut ys, mut hs, mut cs) = (Vec::new(), Vec::new(), Vec::new());
    for d in 0..nd {
        let wt = direction(cx, w, d)?;
        let wt = transpose(cx, wt, &[1, 0])?;
        let rt = direction(cx, r, d)?;
        let rt = transpose(cx, rt, &[1, 0])?;
        // The biases: Wb + Rb go into the projection, except GRU's Rb_h with
        // linear_before_reset, which is added to the recurrence before the reset gate.
        let mut rec_bias_h = None;
        let mut proj = cx.add(Op::MatMul, &[x, wt])?;
        if let Some(b) = b {
            let bd = direction(cx, b, d)?;
            let wb = cx.slice_axis(bd, 0, 0, gh)?;
            let rb = cx.slice_axis(bd, 0, gh, gh)?;
            let bias = if spec.linear_before_reset {
                let h2 = 2 * hidden;
                let (wb_zr, wb_h) = (
                    cx.slice_axis(wb, 0, 0, h2)?,
                    cx.slice_axis(wb, 0, h2, hidden)?,
                );
                let (rb_zr, rb_h) = (
                    cx.slice_axis(rb, 0, 0, h2)?,
                    cx.slice_axis(rb, 0, h2, hidden)?,
                );
                rec_bias_h = Some(rb_h);
                let zr = cx.binary(B::Add, wb_zr, rb_zr)?;
                cx.add(Op::Concat { axis: 0 }, &[zr, wb_h])?
            } else {
                cx.binary(B::Add, wb, rb)?
            };
            proj = cx.binary(B::Add, proj, bias)?;
        }
        let peep = match p {
            Some(p) => {
                let pd = direction(cx, p, d)?;
                let mut v = Vec::new();
                for k in 0..3 {
                    v.push(cx.slice_axis(pd, 0, k * hidden, hidden)?);
                }
                Some([v[0], v[1], v[2]])
            }
            None => None,
        };
        let state = |cx: &mut Cx, s: Option<V>| -> Res<Option<V>> {
            s.map(|s| {
                let s = cx.slice_axis(s, 0, d, 1)?;
                cx.reshape(s, vec![batch, hidden])
            })
            .transpose()
        };
        let mut h = state(cx, h0)?;
        let mut c = state(cx, c0)?;
        let zero = cx.scalar(dtype, 0.0)?;
        let mut y = vec![None; seq];
        let steps: Vec<usize> = if spec.reverse[d] {
            (0..seq).rev().collect()
        } else {
            (0..seq).collect()
        };
        for t in steps {
            let xt = cx.slice_axis(proj, 0, t, 1)?;
            let xt = cx.reshape(xt, vec![batch, gh])?;
            let cell = Cell {
                spec: &spec,
                acts: &spec.acts[d],
                rt,
                rec_bias_h,
                peep,
            };
            let (hn, cn) = cell.step(cx, xt, h, c)?;
            let (hn, cn, yt) = match &masks {
                Some(m) => {
                    let m = m[t];
                    let keep_h = h.unwrap_or(zero);
                    let held = cx.add(Op::Where, &[m, hn, keep_h])?;
                    let yt = cx.add(Op::Where, &[m, hn, zero])?;
                    let cn = match cn {
                        Some(cn) => {
                            let keep_c = c.unwrap_or(zero);
                            Some(cx.add(Op::Where, &[m, cn, keep_c])?)
                        }
                        None => None,
                    };
                    (held, cn, yt)
                }
                None => (hn, cn, hn),
            };
            h = Some(hn);
            c = cn;
            y[t] = Some(cx.reshape(yt, vec![1, 1, batch, hidden])?);
        }
        let y: Vec<V> = y.into_iter().map(|v| v.expect("every step ran")).collect();
        ys.push(concat(cx, &y, 0)?);
        let h = h.expect("at least one step ran");
        hs.push(cx.reshape(h, vec![1, batch, hidden])?);
        if let Some(c) = c {
            cs.push(cx.reshape(c, vec![1, batch, hidden])?);
        }
    }
    let mut y = concat(cx, &ys, 1)?;
    let mut y_h = concat(cx, &hs, 0)?;
    let mut y_c = if cs.is_empty() {
        None
    } else {
        Some(concat(cx, &cs, 0)?)
    };
    if layout == 1 {
        y = transpose(cx, y, &[2, 0, 1, 3])?;
        y_h = transpose(cx, y_h, &[1, 0, 2])?;
        y_c = y_c.map(|c| transpose(cx, c, &[1, 0, 2])).transpose()?;
    }
    let mut outs = vec![y, y_h];
    outs.extend(y_c);
    Ok(outs)
}

/// One direction's step function: the weights it reads and its activations.
struct Cell<'s> {
    spec: &'s Spec,
    acts: &'s [Act],
    /// Rᵀ of this direction, `[hidden, gates·hidden]`.
    rt: V,
    /// GRU with `linear_before_reset`: Rb_h of this direction.
    rec_bias_h: Option<V>,
    /// LSTM peepholes of this direction (i, o, f).
    peep: Option<[V; 3]>,
}

impl Cell<'_> {
    /// The activation `k` of the cell applied to `x` clipped.
    fn act(&self, cx: &mut Cx, k: usize, x: V) -> Res<V> {
        let x = match self.spec.clip {
            Some(c) => {
                let lo = cx.scalar(self.spec.dtype, -c as f64)?;
                let hi = cx.scalar(self.spec.dtype, c as f64)?;
                let x = cx.binary(B::Max, x, lo)?;
                cx.binary(B::Min, x, hi)?
            }
            None => x,
        };
        apply(cx, self.acts[k], x)
    }

    /// `h · Rᵀ[.., start..start + len]`, or nothing when `h` is the zero initial state.
    fn recur(&self, cx: &mut Cx, h: Option<V>, start: usize, len: usize) -> Res<Option<V>> {
        let Some(h) = h else { return Ok(None) };
        let rt = cx.slice_axis(self.rt, 1, start, len)?;
        Ok(Some(cx.add(Op::MatMul, &[h, rt])?))
    }

    /// The new hidden state (and cell state, for LSTM) from the projected input `xt`
    /// (`[batch, gates·hidden]`, biases included) and the previous states (`None`:
    /// zero).
    fn step(&self, cx: &mut Cx, xt: V, h: Option<V>, c: Option<V>) -> Res<(V, Option<V>)> {
        let n = self.spec.hidden;
        let dt = self.spec.dtype;
        match self.spec.kind {
            Kind::Rnn => {
                let rec = self.recur(cx, h, 0, n)?;
                let pre = add_opt(cx, xt, rec)?;
                Ok((self.act(cx, 0, pre)?, None))
            }
            Kind::Lstm => {
                let rec = self.recur(cx, h, 0, 4 * n)?;
                let gates = add_opt(cx, xt, rec)?;
                let gate = |cx: &mut Cx, k: usize| cx.slice_axis(gates, 1, k * n, n);
                let (gi, go, gf, gc) = (gate(cx, 0)?, gate(cx, 1)?, gate(cx, 2)?, gate(cx, 3)?);
                let peep = |cx: &mut Cx, k: usize, g: V, state: Option<V>| -> Res<V> {
                    match (self.peep, state) {
                        (Some(p), Some(s)) => {
                            let ps = cx.binary(B::Mul, p[k], s)?;
                            cx.binary(B::Add, g, ps)
                        }
                        _ => Ok(g),
                    }
                };
                let gi = peep(cx, 0, gi, c)?;
                let i = self.act(cx, 0, gi)?;
                let f = if self.spec.input_forget {
                    let one = cx.scalar(dt, 1.0)?;
                    cx.binary(B::Sub, one, i)?
                } else {
                    let gf = peep(cx, 2, gf, c)?;
                    self.act(cx, 0, gf)?
                };
                let cc = self.act(cx, 1, gc)?;
                let ic = cx.binary(B::Mul, i, cc)?;
                let fc = c.map(|c| cx.binary(B::Mul, f, c)).transpose()?;
                let c_new = match fc {
                    Some(fc) => cx.binary(B::Add, fc, ic)?,
                    None => ic,
                };
                let go = peep(cx, 1, go, Some(c_new))?;
                let o = self.act(cx, 0, go)?;
                let hc = self.act_unclipped(cx, 2, c_new)?;
                Ok((cx.binary(B::Mul, o, hc)?, Some(c_new)))
            }
            Kind::Gru => {
                let gate = |cx: &mut Cx, v: V, k: usize| cx.slice_axis(v, 1, k * n, n);
                let (xz, xr, xh) = (gate(cx, xt, 0)?, gate(cx, xt, 1)?, gate(cx, xt, 2)?);
                let (rec_zr, rec_h) = if self.spec.linear_before_reset {
                    match self.recur(cx, h, 0, 3 * n)? {
                        Some(all) => (
                            Some(cx.slice_axis(all, 1, 0, 2 * n)?),
                            Some(gate(cx, all, 2)?),
                        ),
                        None => (None, None),
                    }
                } else {
                    (self.recur(cx, h, 0, 2 * n)?, None)
                };
                let (rz, rr) = match rec_zr {
                    Some(v) => (Some(gate(cx, v, 0)?), Some(gate(cx, v, 1)?)),
                    None => (None, None),
                };
                let pz = add_opt(cx, xz, rz)?;
                let z = self.act(cx, 0, pz)?;
                let pr = add_opt(cx, xr, rr)?;
                let r = self.act(cx, 0, pr)?;
                let pre_h = if self.spec.linear_before_reset {
                    // xh + r ⊙ (h·Rhᵀ + Rbh)
                    let inner = match (rec_h, self.rec_bias_h) {
                        (Some(a), Some(b)) => Some(cx.binary(B::Add, a, b)?),
                        (a, b) => a.or(b),
                    };
                    let gated = inner.map(|v| cx.binary(B::Mul, r, v)).transpose()?;
                    add_opt(cx, xh, gated)?
                } else {
                    // xh + (r ⊙ h)·Rhᵀ
                    let rh = h.map(|h| cx.binary(B::Mul, r, h)).transpose()?;
                    let rec = self.recur(cx, rh, 2 * n, n)?;
                    add_opt(cx, xh, rec)?
                };
                let hh = self.act(cx, 1, pre_h)?;
                // (1 − z) ⊙ hh + z ⊙ h
                let one = cx.scalar(dt, 1.0)?;
                let keep = cx.binary(B::Sub, one, z)?;
                let new = cx.binary(B::Mul, keep, hh)?;
                let h_new = match h {
                    Some(h) => {
                        let old = cx.binary(B::Mul, z, h)?;
                        cx.binary(B::Add, new, old)?
                    }
                    None => new,
                };
                Ok((h_new, None))
            }
        }
    }

    /// The activation `k` applied to `x` without clipping (LSTM's `h(C)`, whose operand
    /// is the cell state rather than a gate).
    fn act_unclipped(&self, cx: &mut Cx, k: usize, x: V) -> Res<V> {
        apply(cx, self.acts[k], x)
    }
}

/// Parses `activations`, `activation_alpha` and `activation_beta`: one list per
/// direction.
fn activations(cx: &Cx, kind: Kind, dirs: usize) -> Res<Vec<Vec<Act>>> {
    let per = kind.default_activations().len();
    let names: Vec<String> = match cx.attr_strings("activations")? {
        Some(n) => n,
        None => (0..dirs)
            .flat_map(|_| kind.default_activations().iter().map(|s| s.to_string()))
            .collect(),
    };
    if names.len() != per * dirs {
        return Err(cx.err(format!(
            "attribute 'activations' has {} entries, expected {} ({per} per direction)",
            names.len(),
            per * dirs
        )));
    }
    let alphas = cx.attr_floats("activation_alpha")?.unwrap_or_default();
    let betas = cx.attr_floats("activation_beta")?.unwrap_or_default();
    let (mut alphas, mut betas) = (alphas.into_iter(), betas.into_iter());
    let mut acts = Vec::new();
    for name in &names {
        let take = |values: &mut std::vec::IntoIter<f32>, attr: &str, default: Option<f32>| {
            values.next().or(default).ok_or_else(|| {
                cx.err(format!(
                    "activation '{name}' needs a value in attribute '{attr}'"
                ))
            })
        };
        let act = match name.to_ascii_lowercase().as_str() {
            "relu" => Act::Relu,
            "tanh" => Act::Tanh,
            "sigmoid" => Act::Sigmoid,
            "affine" => Act::Affine {
                alpha: take(&mut alphas, "activation_alpha", None)?,
                beta: take(&mut betas, "activation_beta", None)?,
            },
            "leakyrelu" => Act::LeakyRelu(take(&mut alphas, "activation_alpha", Some(0.01))?),
            "thresholdedrelu" => {
                Act::ThresholdedRelu(take(&mut alphas, "activation_alpha", Some(1.0))?)
            }
            "scaledtanh" => Act::ScaledTanh {
                alpha: take(&mut alphas, "activation_alpha", None)?,
                beta: take(&mut betas, "activation_beta", None)?,
            },
            "hardsigmoid" => Act::HardSigmoid {
                alpha: take(&mut alphas, "activation_alpha", Some(0.2))?,
                beta: take(&mut betas, "activation_beta", Some(0.5))?,
            },
            "elu" => Act::Elu(take(&mut alphas, "activation_alpha", Some(1.0))?),
            "softsign" => Act::Softsign,
            "softplus" => Act::Softplus,
            _ => {
                return Err(cx.err(format!(
                    "attribute 'activations': activation '{name}' is not supported (Relu, \
                     Tanh, Sigmoid, Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, \
                     HardSigmoid, Elu, Softsign, Softplus)"
                )))
            }
        };
        acts.push(act);
    }
    Ok(acts.chunks(per).map(<[Act]>::to_vec).collect())
}

/// `act(x)`.
fn apply(cx: &mut Cx, act: Act, x: V) -> Res<V> {
    let dt = cx.ty(x).dtype;
    match act {
        Act::Relu => cx.unary(U::Relu, x),
        Act::Tanh => cx.unary(U::Tanh, x),
        Act::Sigmoid => cx.unary(U::Sigmoid, x),
        Act::Softplus => cx.unary(U::Softplus, x),
        Act::LeakyRelu(alpha) => cx.unary(U::LeakyRelu { alpha }, x),
        Act::Elu(alpha) => cx.unary(U::Elu { alpha }, x),
        Act::HardSigmoid { alpha, beta } => cx.unary(U::HardSigmoid { alpha, beta }, x),
        Act::Affine { alpha, beta } => {
            let (a, b) = (cx.scalar(dt, alpha as f64)?, cx.scalar(dt, beta as f64)?);
            let ax = cx.binary(B::Mul, x, a)?;
            cx.binary(B::Add, ax, b)
        }
        Act::ScaledTanh { alpha, beta } => {
            let (a, b) = (cx.scalar(dt, alpha as f64)?, cx.scalar(dt, beta as f64)?);
            let bx = cx.binary(B::Mul, x, b)?;
            let t = cx.unary(U::Tanh, bx)?;
            cx.binary(B::Mul, t, a)
        }
        Act::ThresholdedRelu(alpha) => {
            let (a, zero) = (cx.scalar(dt, alpha as f64)?, cx.scalar(dt, 0.0)?);
            let keep = cx.binary(B::Greater, x, a)?;
            cx.add(Op::Where, &[keep, x, zero])
        }
        Act::Softsign => {
            let one = cx.scalar(dt, 1.0)?;
            let abs = cx.unary(U::Abs, x)?;
            let d = cx.binary(B::Add, abs, one)?;
            cx.binary(B::Div, x, d)
        }
    }
}

/// Per time step, `t < sequence_lens[b]` as `[batch, 1]` bools; `None` when every
/// step of every batch entry runs (no `sequence_lens`, or a constant one of full
/// lengths).
fn masks(cx: &mut Cx, seq: usize, batch: usize) -> Res<Option<Vec<V>>> {
    let Some(lens) = cx.opt_input(4)? else {
        return Ok(None);
    };
    if cx.dims(lens) != [batch] || !cx.ty(lens).dtype.is_int() {
        return Err(cx.err(format!(
            "sequence_lens {} must be [{batch}] integers",
            cx.ty(lens)
        )));
    }
    if let Some(k) = cx.known(4)? {
        if let Some(v) = k.as_ints() {
            if let Some(&bad) = v.iter().find(|&&l| l < 0 || l as u64 > seq as u64) {
                return Err(cx.err(format!(
                    "sequence_lens holds {bad}, outside 0..={seq} (the sequence length)"
                )));
            }
            if v.iter().all(|&l| l as usize == seq) {
                return Ok(None);
            }
        }
    }
    let lens = cx.cast(lens, DType::I32)?;
    let lens = cx.reshape(lens, vec![batch, 1])?;
    (0..seq)
        .map(|t| {
            let t = cx.scalar(DType::I32, t as f64)?;
            cx.binary(B::Less, t, lens)
        })
        .collect::<Res<Vec<_>>>()
        .map(Some)
}

/// `a + b`, or `a` when `b` is absent.
fn add_opt(cx: &mut Cx, a: V, b: Option<V>) -> Res<V> {
    match b {
        Some(b) => cx.binary(B::Add, a, b),
        None => Ok(a),
    }
}

/// Direction `d` of a weight (`x[d]`, the leading axis dropped).
fn direction(cx: &mut Cx, x: V, d: usize) -> Res<V> {
    let s = cx.slice_axis(x, 0, d, 1)?;
    let dims = cx.dims(s)[1..].to_vec();
    cx.reshape(s, dims)
}

fn transpose(cx: &mut Cx, x: V, perm: &[usize]) -> Res<V> {
    cx.add(
        Op::Transpose {
            perm: perm.to_vec(),
        },
        &[x],
    )
}

/// The values concatenated along `axis` (the one value itself when alone).
fn concat(cx: &mut Cx, vs: &[V], axis: usize) -> Res<V> {
    match vs {
        [v] => Ok(*v),
        _ => cx.add(Op::Concat { axis }, vs),
    }
}
