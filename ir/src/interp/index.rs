//! Index helpers shared by the interpreter: broadcasting maps and typed element access.

use crate::{DType, Data};
use half::f16;

/// For each element of `out` (row-major), the flat offset of the element of `input`
/// that numpy broadcasting reads. Fails when `input` does not broadcast to `out`.
pub(super) fn broadcast_offsets(input: &[usize], out: &[usize]) -> Result<Vec<usize>, String> {
    let strides = broadcast_strides(input, out)?;
    Ok(offsets(out, &strides))
}

/// Strides of `input` viewed in `out`'s rank, 0 on broadcast axes.
pub(super) fn broadcast_strides(input: &[usize], out: &[usize]) -> Result<Vec<usize>, String> {
    let bad = || format!("shape {input:?} does not broadcast to {out:?}");
    if input.len() > out.len() {
        return Err(bad());
    }
    let lead = out.len() - input.len();
    let mut strides = vec![0; out.len()];
    let mut s = 1;
    for i in (0..input.len()).rev() {
        let (d, o) = (input[i], out[lead + i]);
        if d == o && d != 1 {
            strides[lead + i] = s;
        } else if d != 1 {
            return Err(bad());
        }
        s *= d;
    }
    Ok(strides)
}

/// For each index of `shape` (row-major), `sum(index[i] * strides[i])`.
pub(super) fn offsets(shape: &[usize], strides: &[usize]) -> Vec<usize> {
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return out;
    }
    let rank = shape.len();
    let mut idx = vec![0usize; rank];
    let mut off = 0usize;
    for _ in 0..n {
        out.push(off);
        for a in (0..rank).rev() {
            idx[a] += 1;
            off += strides[a];
            if idx[a] < shape[a] {
                break;
            }
            off -= strides[a] * shape[a];
            idx[a] = 0;
        }
    }
    out
}

/// Row-major strides of `shape`.
pub(super) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// An element type of [`Data`], for code written once over all dtypes. One Rust type
/// may stand for several dtypes (`i8` for i8, i4 and i2; `u8` for u8, u4, u2 and the
/// minifloats' bit patterns).
pub(super) trait Elem: Copy + Default + 'static {
    /// The elements of `d` when it holds this type.
    fn slice(d: &Data) -> Option<&[Self]>;
    /// Wraps elements back into the [`Data`] of `dtype` (one this type stands for).
    fn wrap(v: Vec<Self>, dtype: DType) -> Data;
}

macro_rules! elem {
    ($t:ty, $first:ident $(| $variant:ident)*) => {
        impl Elem for $t {
            fn slice(d: &Data) -> Option<&[Self]> {
                match d {
                    Data::$first(v) $(| Data::$variant(v))* => Some(v),
                    _ => None,
                }
            }
            fn wrap(v: Vec<Self>, dtype: DType) -> Data {
                match dtype {
                    $(DType::$variant => Data::$variant(v),)*
                    _ => Data::$first(v),
                }
            }
        }
    };
}

elem!(f32, F32);
elem!(f16, F16);
elem!(i32, I32);
elem!(u32, U32);
elem!(i16, I16);
elem!(u16, U16);
elem!(i8, I8 | I4 | I2);
elem!(
    u8,
    U8 | U4 | U2 | F8E4M3FN | F8E5M2 | F4E2M1 | F8E4M3FNUZ | F8E5M2FNUZ
);
elem!(bool, Bool);

/// The numpy broadcast of two shapes.
pub(super) fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| {
        if i + s.len() >= rank {
            s[i + s.len() - rank]
        } else {
            1
        }
    };
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y || y == 1 => Ok(x),
            (1, y) => Ok(y),
            _ => Err(format!("shapes {a:?} and {b:?} do not broadcast")),
        })
        .collect()
}
