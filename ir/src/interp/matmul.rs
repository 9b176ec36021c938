//! MatMul (numpy semantics) and the sgemm wrapper every matrix product goes through.

use super::index::{broadcast_offsets, broadcast_shape};
use super::{floats, from_floats};
use crate::{Tensor, TensorType};
use ndarray::{linalg::general_mat_mul, ArrayView2, ArrayViewMut2, ShapeBuilder};

/// A strided `rows × cols` matrix view over a slice: element `(i, j)` is
/// `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(super) struct Mat<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl<'a> Mat<'a> {
    /// A row-major matrix with `cols` columns.
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        Mat {
            data,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose of a row-major matrix with `cols` columns.
    pub fn transposed(data: &'a [f32], cols: usize) -> Self {
        Mat {
            data,
            rs: 1,
            cs: cols,
        }
    }
}

/// `c = a × b` for `a: m × k`, `b: k × n` and a row-major `c: m × n`, via
/// `matrixmultiply::sgemm` (through ndarray's safe strided wrapper).
pub(super) fn sgemm(
    m: usize,
    k: usize,
    n: usize,
    a: Mat,
    b: Mat,
    c: &mut [f32],
) -> Result<(), String> {
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        c[..m * n].fill(0.0);
        return Ok(());
    }
    let err = |e: ndarray::ShapeError| format!("internal: gemm view: {e}");
    let av = ArrayView2::from_shape((m, k).strides((a.rs, a.cs)), a.data).map_err(err)?;
    let bv = ArrayView2::from_shape((k, n).strides((b.rs, b.cs)), b.data).map_err(err)?;
    let mut cv = ArrayViewMut2::from_shape((m, n), &mut c[..m * n]).map_err(err)?;
    general_mat_mul(1.0, &av, &bv, 0.0, &mut cv);
    Ok(())
}

/// numpy `matmul`: 1-D operands are promoted (and the added axis dropped), batch
/// axes broadcast.
pub(super) fn matmul(a: &Tensor, b: &Tensor, out: &TensorType) -> Result<Tensor, String> {
    let (x, y) = (floats(a, "a")?, floats(b, "b")?);
    let p = Product::of(a, b, out)?;
    let (m, k, n) = (p.m, p.k, p.n);
    let mut c = vec![0.0f32; p.batches.len() * m * n];
    for (i, &(ia, ib)) in p.batches.iter().enumerate() {
        let am = Mat::rows(&x[ia * m * k..(ia + 1) * m * k], k);
        let bm = Mat::rows(&y[ib * k * n..(ib + 1) * k * n], n);
        sgemm(m, k, n, am, bm, &mut c[i * m * n..(i + 1) * m * n])?;
    }
    from_floats(out, c)
}

/// The shape of a numpy `matmul`: `m × k` times `k × n` for each pair of batch
/// matrices (indices into `a`'s and `b`'s batches, in result order).
pub(super) struct Product {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub batches: Vec<(usize, usize)>,
}

impl Product {
    /// The product of `a` and `b` (1-D operands promoted), checked against `out`.
    pub fn of(a: &Tensor, b: &Tensor, out: &TensorType) -> Result<Product, String> {
        let (ad, bd) = (a.shape().dims(), b.shape().dims());
        if ad.is_empty() || bd.is_empty() {
            return Err("matmul operands must have rank >= 1".into());
        }
        let (m, k) = if ad.len() == 1 {
            (1, ad[0])
        } else {
            (ad[ad.len() - 2], ad[ad.len() - 1])
        };
        let (k2, n) = if bd.len() == 1 {
            (bd[0], 1)
        } else {
            (bd[bd.len() - 2], bd[bd.len() - 1])
        };
        if k != k2 {
            return Err(format!("inner dims differ: a is {ad:?}, b is {bd:?}"));
        }
        let (ab, bb) = (
            &ad[..ad.len().saturating_sub(2)],
            &bd[..bd.len().saturating_sub(2)],
        );
        let batch = broadcast_shape(ab, bb)?;
        let (ao, bo) = (
            broadcast_offsets(ab, &batch)?,
            broadcast_offsets(bb, &batch)?,
        );
        let total = ao.len() * m * n;
        if total != out.shape.numel() {
            return Err(format!("result {} does not hold {total} elements", out));
        }
        Ok(Product {
            m,
            k,
            n,
            batches: ao.into_iter().zip(bo).collect(),
        })
    }
}
