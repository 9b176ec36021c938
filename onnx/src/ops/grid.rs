//! AffineGrid: the sampling grid of an affine transform, one product of the constant
//! normalized base grid with each batch entry's transposed `theta`. GridSample: the
//! sample coordinates computed element-wise from the grid, each interpolation tap one
//! data-dependent gather of the input's pixel rows, weighted and summed.

use crate::builder::{Cx, MAX_ELEMENTS};
use crate::error::ImportError;
use kiln_ir::{BinaryOp as B, DType, Data, Handle, Op, Tensor, UnaryOp as U, Value};

type Outs = Result<Vec<Handle<Value>>, ImportError>;

/// The normalized coordinates of `n` samples along an axis of [-1, 1], as ONNX's
/// reference computes them (`arange` in f64): the extremes themselves with
/// `align_corners`, else the centres of `n` equal cells.
fn coords(n: usize, align_corners: bool) -> Vec<f64> {
    if align_corners {
        if n == 1 {
            return vec![-1.0];
        }
        let step = 2.0 / (n - 1) as f64;
        (0..n).map(|i| -1.0 + i as f64 * step).collect()
    } else {
        let step = 2.0 / n as f64;
        (0..n)
            .map(|i| (-1.0 + step / 2.0) + i as f64 * step)
            .collect()
    }
}

/// AffineGrid → `[1, spatial, r+1]` base points `(x, y[, z], 1)` (x along the last
/// axis) times `theta` transposed (`[N, r+1, r]`), viewed as `[N, spatial..., r]`.
pub(super) fn affine_grid(cx: &mut Cx) -> Outs {
    let theta = cx.input(0)?;
    let size = cx.static_ints(1, "size")?;
    let align = cx.attr_i("align_corners", 0)? != 0;
    let ty = cx.ty(theta);
    let r = size.len().saturating_sub(2);
    if !(r == 2 || r == 3) || size.iter().any(|&d| d <= 0 || d as usize > MAX_ELEMENTS) {
        return Err(cx.err(format!(
            "size {size:?} must be positive [N, C, H, W] or [N, C, D, H, W]"
        )));
    }
    let n = size[0] as usize;
    if ty.shape.dims() != [n, r, r + 1] || !matches!(ty.dtype, DType::F32 | DType::F16) {
        return Err(cx.err(format!(
            "theta must be f32 or f16 [{n}, {r}, {}], got {ty}",
            r + 1
        )));
    }
    let spatial: Vec<usize> = size[2..].iter().map(|&d| d as usize).collect();
    let points: usize = spatial.iter().product();
    if points.saturating_mul(r + 1) > MAX_ELEMENTS {
        return Err(cx.err(format!("a grid of {spatial:?} is too large")));
    }
    // Coordinates per spatial axis; x runs along the last axis.
    let axes: Vec<Vec<f64>> = spatial.iter().map(|&d| coords(d, align)).collect();
    let mut base = Vec::with_capacity(points * (r + 1));
    for p in 0..points {
        let mut rest = p;
        let mut at = vec![0; r];
        for a in (0..r).rev() {
            at[a] = rest % spatial[a];
            rest /= spatial[a];
        }
        // (x, y[, z]): the last spatial axis first.
        for a in (0..r).rev() {
            base.push(axes[a][at[a]]);
        }
        base.push(1.0);
    }
    let data = match ty.dtype {
        DType::F16 => Data::F16(base.into_iter().map(half::f16::from_f64).collect()),
        _ => Data::F32(base.into_iter().map(|v| v as f32).collect()),
    };
    let base = Tensor::new(vec![1, points, r + 1], data).map_err(|e| cx.err(e.to_string()))?;
    let base = cx.constant(base);
    let t = cx.add(
        Op::Transpose {
            perm: vec![0, 2, 1],
        },
        &[theta],
    )?;
    let grid = cx.add(Op::MatMul, &[base, t])?;
    let mut dims = vec![n];
    dims.extend(&spatial);
    dims.push(r);
    Ok(vec![cx.reshape(grid, dims)?])
}

/// How GridSample interpolates.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Nearest,
    Linear,
    Cubic,
}

/// How GridSample reads outside the image.
#[derive(Clone, Copy, PartialEq)]
enum Padding {
    Zeros,
    Border,
    Reflection,
}

/// One interpolation tap along one axis: the index read, its weight (`None` for 1) and
/// whether it lies inside the image (`None`: always, after clamping or reflection).
struct Tap {
    index: Handle<Value>,
    weight: Option<Handle<Value>>,
    inside: Option<Handle<Value>>,
}

/// Element-wise helpers on f32 values of one shape.
struct Ew<'a, 'b, 'c> {
    cx: &'a mut Cx<'b, 'c>,
}

impl Ew<'_, '_, '_> {
    fn c(&mut self, v: f64) -> Result<Handle<Value>, ImportError> {
        self.cx.scalar(DType::F32, v)
    }
    fn b(
        &mut self,
        op: B,
        x: Handle<Value>,
        y: Handle<Value>,
    ) -> Result<Handle<Value>, ImportError> {
        self.cx.binary(op, x, y)
    }
    /// `x op v` for a constant `v`.
    fn bc(&mut self, op: B, x: Handle<Value>, v: f64) -> Result<Handle<Value>, ImportError> {
        let c = self.c(v)?;
        self.cx.binary(op, x, c)
    }
    /// `v op x` for a constant `v`.
    fn cb(&mut self, op: B, v: f64, x: Handle<Value>) -> Result<Handle<Value>, ImportError> {
        let c = self.c(v)?;
        self.cx.binary(op, c, x)
    }
    fn u(&mut self, op: U, x: Handle<Value>) -> Result<Handle<Value>, ImportError> {
        self.cx.unary(op, x)
    }
    fn select(
        &mut self,
        c: Handle<Value>,
        x: Handle<Value>,
        y: Handle<Value>,
    ) -> Result<Handle<Value>, ImportError> {
        self.cx.add(Op::Where, &[c, x, y])
    }
    /// Truncation toward zero (C's `int(x)`).
    fn trunc(&mut self, x: Handle<Value>) -> Result<Handle<Value>, ImportError> {
        let zero = self.c(0.0)?;
        let neg = self.b(B::Less, x, zero)?;
        let up = self.u(U::Ceil, x)?;
        let down = self.u(U::Floor, x)?;
        self.select(neg, up, down)
    }
    /// ONNX's reference `_gs_reflect`: `x` reflected by the nearer border until it
    /// lies in `[lo, hi]`.
    fn reflect(
        &mut self,
        x: Handle<Value>,
        lo: f64,
        hi: f64,
    ) -> Result<Handle<Value>, ImportError> {
        let range = hi - lo;
        let mut out = x;
        for below in [true, false] {
            // dx = lo - x below, x - hi above; n = int(dx / range); r = dx - n·range.
            let dx = if below {
                self.cb(B::Sub, lo, x)?
            } else {
                self.bc(B::Sub, x, hi)?
            };
            let q = self.bc(B::Div, dx, range)?;
            let n = self.u(U::Floor, q)?;
            let nr = self.bc(B::Mul, n, range)?;
            let r = self.b(B::Sub, dx, nr)?;
            let half = self.bc(B::Mul, n, 0.5)?;
            let half = self.u(U::Floor, half)?;
            let twice = self.bc(B::Mul, half, 2.0)?;
            let odd = self.b(B::Sub, n, twice)?;
            let even = self.bc(B::Equal, odd, 0.0)?;
            let from_lo = self.cb(B::Add, lo, r)?;
            let from_hi = self.cb(B::Sub, hi, r)?;
            let (e, o) = if below {
                (from_lo, from_hi)
            } else {
                (from_hi, from_lo)
            };
            let v = self.select(even, e, o)?;
            let outside = if below {
                self.bc(B::Less, x, lo)?
            } else {
                self.bc(B::Greater, x, hi)?
            };
            out = self.select(outside, v, out)?;
        }
        Ok(out)
    }
}

/// The interpolation weights of offset `t` (in `[0, 1)`) from the first tap: linear
/// `1 - t, t`; cubic (Keys, a = -0.75) for taps at `-1, 0, 1, 2`.
fn weights(ew: &mut Ew, mode: Mode, t: Handle<Value>) -> Result<Vec<Handle<Value>>, ImportError> {
    if mode == Mode::Linear {
        return Ok(vec![ew.cb(B::Sub, 1.0, t)?, t]);
    }
    let a = -0.75;
    // Outer taps: ((a·s - 5a)·s + 8a)·s - 4a at s = t + 1 and 2 - t.
    let outer = |ew: &mut Ew, s: Handle<Value>| -> Result<Handle<Value>, ImportError> {
        let p = ew.bc(B::Mul, s, a)?;
        let p = ew.bc(B::Sub, p, 5.0 * a)?;
        let p = ew.b(B::Mul, p, s)?;
        let p = ew.bc(B::Add, p, 8.0 * a)?;
        let p = ew.b(B::Mul, p, s)?;
        ew.bc(B::Sub, p, 4.0 * a)
    };
    // Inner taps: ((a + 2)·s - (a + 3))·s·s + 1 at s = t and 1 - t.
    let inner = |ew: &mut Ew, s: Handle<Value>| -> Result<Handle<Value>, ImportError> {
        let p = ew.bc(B::Mul, s, a + 2.0)?;
        let p = ew.bc(B::Sub, p, a + 3.0)?;
        let p = ew.b(B::Mul, p, s)?;
        let p = ew.b(B::Mul, p, s)?;
        ew.bc(B::Add, p, 1.0)
    };
    let t1 = ew.bc(B::Add, t, 1.0)?;
    let one_minus = ew.cb(B::Sub, 1.0, t)?;
    let two_minus = ew.cb(B::Sub, 2.0, t)?;
    Ok(vec![
        outer(ew, t1)?,
        inner(ew, t)?,
        inner(ew, one_minus)?,
        outer(ew, two_minus)?,
    ])
}

/// GridSample (any number of spatial axes) → per output point, the coordinates along
/// each axis denormalized, rounded (nearest), clamped or reflected as ONNX's reference
/// does; every combination of the axes' taps gathers rows of the input viewed as
/// `[N·pixels, C]` at a computed index (clamped into the image; a tap outside it
/// weighs 0 with zero padding), and the weighted rows are summed.
pub(super) fn grid_sample(cx: &mut Cx) -> Outs {
    let (x, grid) = (cx.input(0)?, cx.input(1)?);
    let (xt, gt) = (cx.ty(x), cx.ty(grid));
    let xd = xt.shape.dims().to_vec();
    let gd = gt.shape.dims().to_vec();
    let r = xd.len().saturating_sub(2);
    let float = |d: DType| matches!(d, DType::F32 | DType::F16);
    if r == 0
        || gd.len() != r + 2
        || gd[0] != xd[0]
        || gd[r + 1] != r
        || !float(xt.dtype)
        || !float(gt.dtype)
    {
        return Err(cx.err(format!(
            "X (f32 or f16 [N, C, spatial...]) and grid ([N, out spatial..., rank]) do not fit: {xt} and {gt}"
        )));
    }
    let mode = match cx.attr_s("mode")?.as_deref().unwrap_or("linear") {
        "nearest" => Mode::Nearest,
        "linear" | "bilinear" => Mode::Linear,
        "cubic" | "bicubic" => Mode::Cubic,
        m => return Err(cx.err(format!("mode '{m}' is not supported"))),
    };
    let padding = match cx.attr_s("padding_mode")?.as_deref().unwrap_or("zeros") {
        "zeros" => Padding::Zeros,
        "border" => Padding::Border,
        "reflection" => Padding::Reflection,
        m => return Err(cx.err(format!("padding_mode '{m}' is not supported"))),
    };
    let align = cx.attr_i("align_corners", 0)? != 0;
    let (n, c) = (xd[0], xd[1]);
    let spatial = &xd[2..];
    let pixels: usize = spatial.iter().product();
    let points: usize = gd[1..=r].iter().product();
    if n * pixels > i32::MAX as usize {
        return Err(cx.err("X has too many pixels for i32 indices"));
    }
    let taps_per_axis = match mode {
        Mode::Nearest => 1usize,
        Mode::Linear => 2,
        Mode::Cubic => 4,
    };
    let mut out_dims = vec![n, c];
    out_dims.extend(&gd[1..=r]);
    if n * c * points == 0 {
        return Err(cx.err("empty inputs are not supported"));
    }
    // The input as rows of channels, [N·pixels, C], in f32.
    let mut perm = vec![0];
    perm.extend(2..r + 2);
    perm.push(1);
    let x32 = cx.cast(x, DType::F32)?;
    let rows = cx.add(Op::Transpose { perm }, &[x32])?;
    let rows = cx.reshape(rows, vec![n * pixels, c])?;
    let g32 = cx.cast(grid, DType::F32)?;
    let g32 = cx.reshape(g32, vec![n, points, r])?;
    let mut ew = Ew { cx };
    let mut axes: Vec<Vec<Tap>> = Vec::with_capacity(r);
    for (i, &d) in spatial.iter().enumerate() {
        // The grid's last axis lists x (the last spatial axis) first.
        let comp = ew.cx.slice_axis(g32, 2, r - 1 - i, 1)?;
        let g = ew.cx.reshape(comp, vec![n, points])?;
        let df = d as f64;
        let (lo, hi) = if align {
            (0.0, df - 1.0)
        } else {
            (-0.5, df - 0.5)
        };
        let g1 = ew.bc(B::Add, g, 1.0)?;
        let mut v = if align {
            let h = ew.bc(B::Div, g1, 2.0)?;
            ew.bc(B::Mul, h, df - 1.0)?
        } else {
            let s = ew.bc(B::Mul, g1, df)?;
            let s = ew.bc(B::Sub, s, 1.0)?;
            ew.bc(B::Div, s, 2.0)?
        };
        if mode == Mode::Nearest {
            v = ew.u(U::Round, v)?;
        }
        match padding {
            Padding::Zeros => {}
            Padding::Border => {
                let below = ew.bc(B::Less, v, lo)?;
                let above = ew.bc(B::Greater, v, hi)?;
                let out = ew.b(B::Or, below, above)?;
                let zero = ew.c(0.0)?;
                let top = ew.c(df - 1.0)?;
                let clamped = ew.b(B::Max, v, zero)?;
                let clamped = ew.b(B::Min, clamped, top)?;
                v = ew.select(out, clamped, v)?;
            }
            Padding::Reflection => v = ew.reflect(v, lo, hi)?,
        }
        let (first, offsets): (Handle<Value>, Vec<f64>) = match mode {
            Mode::Nearest => (ew.trunc(v)?, vec![0.0]),
            Mode::Linear => (ew.u(U::Floor, v)?, vec![0.0, 1.0]),
            Mode::Cubic => (ew.u(U::Floor, v)?, vec![-1.0, 0.0, 1.0, 2.0]),
        };
        let ws = if mode == Mode::Nearest {
            vec![None]
        } else {
            let t = ew.b(B::Sub, v, first)?;
            weights(&mut ew, mode, t)?.into_iter().map(Some).collect()
        };
        let mut taps = Vec::with_capacity(taps_per_axis);
        for (k, &off) in offsets.iter().enumerate() {
            let mut at = ew.bc(B::Add, first, off)?;
            let mut inside = None;
            match padding {
                Padding::Zeros => {
                    let ge = ew.bc(B::GreaterOrEqual, at, 0.0)?;
                    let lt = ew.bc(B::Less, at, df)?;
                    inside = Some(ew.b(B::And, ge, lt)?);
                }
                Padding::Border => {}
                Padding::Reflection if mode != Mode::Nearest => {
                    let reflected = ew.reflect(at, lo, hi)?;
                    at = ew.trunc(reflected)?;
                }
                Padding::Reflection => {}
            }
            // Clamped into the image whatever the padding (zeros mask what is outside).
            let zero = ew.c(0.0)?;
            let top = ew.c(df - 1.0)?;
            let at = ew.b(B::Max, at, zero)?;
            let at = ew.b(B::Min, at, top)?;
            let index = ew.cx.cast(at, DType::I32)?;
            taps.push(Tap {
                index,
                weight: ws[k],
                inside,
            });
        }
        axes.push(taps);
    }
    let cx = ew.cx;
    // Row offset of each batch entry, [N, 1].
    let base = (0..n).map(|b| (b * pixels) as i32).collect();
    let base = Tensor::new(vec![n, 1], Data::I32(base)).map_err(|e| cx.err(e.to_string()))?;
    let base = cx.constant(base);
    let strides: Vec<usize> = (0..r).map(|i| spatial[i + 1..].iter().product()).collect();
    let combos = taps_per_axis.pow(r as u32);
    let mut sum: Option<Handle<Value>> = None;
    for combo in 0..combos {
        let mut flat = base;
        let mut weight: Option<Handle<Value>> = None;
        let mut rest = combo;
        for (i, taps) in axes.iter().enumerate() {
            let tap = &taps[rest % taps_per_axis];
            rest /= taps_per_axis;
            let stride = cx.scalar(DType::I32, strides[i] as f64)?;
            let off = cx.binary(B::Mul, tap.index, stride)?;
            flat = cx.binary(B::Add, flat, off)?;
            let mut w = tap.weight;
            if let Some(inside) = tap.inside {
                let m = cx.cast(inside, DType::F32)?;
                w = Some(match w {
                    Some(w) => cx.binary(B::Mul, w, m)?,
                    None => m,
                });
            }
            if let Some(w) = w {
                weight = Some(match weight {
                    Some(acc) => cx.binary(B::Mul, acc, w)?,
                    None => w,
                });
            }
        }
        let flat = cx.reshape(flat, vec![n * points])?;
        let picked = cx.add(Op::Gather { axis: 0 }, &[rows, flat])?;
        let picked = cx.reshape(picked, vec![n, points, c])?;
        let term = match weight {
            Some(w) => {
                let w = cx.reshape(w, vec![n, points, 1])?;
                cx.binary(B::Mul, picked, w)?
            }
            None => picked,
        };
        sum = Some(match sum {
            Some(s) => cx.binary(B::Add, s, term)?,
            None => term,
        });
    }
    let sum = sum.expect("at least one tap");
    let y = cx.add(
        Op::Transpose {
            perm: vec![0, 2, 1],
        },
        &[sum],
    )?;
    let y = cx.reshape(y, out_dims)?;
    Ok(vec![cx.cast(y, xt.dtype)?])
}
