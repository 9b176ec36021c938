//! Splitting a product whose operands exceed the per-binding size limit: rows of
//! `a` and `c` in row chunks bound as byte ranges, rows of `b` (the K axis) in K
//! chunks accumulated into `c`. Range offsets stay multiples of [`BINDING_ALIGN`].

use super::engine::{choose_tile, Tile};
use crate::lower::Limits;
use crate::plan::BINDING_ALIGN;

/// How one product is cut into dispatches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    pub tile: Tile,
    /// `a` and `c` are bound as row ranges (one range per row chunk).
    pub rows_bound: bool,
    /// `b` is bound as K-row ranges (one range per K chunk).
    pub k_bound: bool,
    m: usize,
    k: usize,
    mrows: usize,
    krows: usize,
}

/// One dispatch: rows `m0..m0 + mlen` of the result, K range `k0..k0 + klen`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub m0: usize,
    pub mlen: usize,
    pub k0: usize,
    pub klen: usize,
    /// The first K chunk overwrites `c`; later ones add to it.
    pub first_k: bool,
    /// The last K chunk applies the epilogue.
    pub last_k: bool,
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Rows of `cols` f32 columns whose byte size is a multiple of [`BINDING_ALIGN`].
fn row_align(cols: usize) -> usize {
    let words = (BINDING_ALIGN / 4) as usize;
    words / gcd(cols.max(1), words)
}

fn round_down(x: usize, align: usize) -> usize {
    x / align * align
}

impl Split {
    /// Plans `z` products of `m × k` by `k × n`; `same` when both operands are one buffer.
    pub fn plan(
        m: usize,
        k: usize,
        n: usize,
        z: usize,
        same: bool,
        limits: &Limits,
    ) -> Result<Split, String> {
        let words = (limits.max_storage_buffer_binding_size / 4) as usize;
        let tile = choose_tile(m, n, limits.cpu_driver);
        let (a_big, b_big, c_big) = (z * m * k > words, z * k * n > words, z * m * n > words);
        let over = |what: &str| {
            format!(
                "{what} exceeds the {} byte binding limit",
                limits.max_storage_buffer_binding_size
            )
        };
        if z > 1 && (a_big || b_big || c_big) {
            return Err(over("a batched product with an operand that"));
        }
        if same && (a_big || b_big) {
            return Err(over("a product of a tensor with itself that"));
        }
        let rows_bound = a_big || c_big;
        let mut row_step = 1;
        let mut mrows = m.max(1);
        if rows_bound {
            row_step = row_align(k) * row_align(n) / gcd(row_align(k), row_align(n));
            mrows = round_down((words / k.max(1)).min(words / n.max(1)), row_step);
        }
        let max_rows = limits.max_compute_workgroups_per_dimension as usize * tile.bm();
        if mrows > max_rows {
            mrows = round_down(max_rows, row_step);
        }
        let mut krows = k.max(1);
        if b_big {
            krows = round_down(words / n.max(1), row_align(n));
        }
        if mrows == 0 || krows == 0 {
            return Err(over("a row of an operand"));
        }
        Ok(Split {
            tile,
            rows_bound,
            k_bound: b_big,
            m,
            k,
            mrows,
            krows,
        })
    }

    /// Every dispatch, row chunks outer, K chunks inner (in accumulation order).
    pub fn chunks(&self) -> Vec<Chunk> {
        let mut out = Vec::new();
        let mut m0 = 0;
        loop {
            let mlen = self.mrows.min(self.m - m0);
            let mut k0 = 0;
            loop {
                let klen = self.krows.min(self.k - k0);
                let last_k = k0 + klen >= self.k;
                out.push(Chunk {
                    m0,
                    mlen,
                    k0,
                    klen,
                    first_k: k0 == 0,
                    last_k,
                });
                k0 += klen;
                if last_k {
                    break;
                }
            }
            m0 += mlen;
            if m0 >= self.m {
                break;
            }
        }
        out
    }

    /// Element offsets of the chunk's first `a`, `b` and `c` element inside the
    /// bound range (or whole buffer).
    pub fn offsets(&self, c: &Chunk, k: usize, n: usize) -> (usize, usize, usize) {
        let a = if self.rows_bound {
            c.k0
        } else {
            c.m0 * k + c.k0
        };
        let b = if self.k_bound { 0 } else { c.k0 * n };
        let out = if self.rows_bound { 0 } else { c.m0 * n };
        (a, b, out)
    }
}

impl Chunk {
    /// Byte range of the chunk's rows of an `m × k` matrix `a`.
    pub fn a_range(&self, k: usize) -> (u64, u64) {
        ((self.m0 * k * 4) as u64, (self.mlen * k * 4).max(4) as u64)
    }

    /// Byte range of the chunk's K rows of a `k × n` matrix `b`.
    pub fn b_range(&self, n: usize) -> (u64, u64) {
        ((self.k0 * n * 4) as u64, (self.klen * n * 4).max(4) as u64)
    }

    /// Byte range of the chunk's rows of the `m × n` result.
    pub fn c_range(&self, n: usize) -> (u64, u64) {
        ((self.m0 * n * 4) as u64, (self.mlen * n * 4).max(4) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vgg_fc_weight_splits_along_k_at_aligned_offsets() {
        let limits = Limits::default();
        let s = Split::plan(1, 25088, 4096, 1, false, &limits).unwrap();
        assert!(s.k_bound && !s.rows_bound);
        let chunks = s.chunks();
        assert_eq!(chunks.iter().map(|c| c.klen).sum::<usize>(), 25088);
        assert!(chunks[0].first_k && !chunks[0].last_k && chunks.last().unwrap().last_k);
        for c in &chunks {
            let (offset, size) = c.b_range(4096);
            assert_eq!(offset % 256, 0);
            assert!(size <= limits.max_storage_buffer_binding_size);
        }
    }

    #[test]
    fn tall_operands_split_by_rows() {
        let limits = Limits {
            max_storage_buffer_binding_size: 4096,
            ..Limits::default()
        };
        let s = Split::plan(1000, 7, 9, 1, false, &limits).unwrap();
        assert!(s.rows_bound);
        let chunks = s.chunks();
        assert_eq!(chunks.iter().map(|c| c.mlen).sum::<usize>(), 1000);
        for c in &chunks {
            assert_eq!(c.a_range(7).0 % 256, 0);
            assert_eq!(c.c_range(9).0 % 256, 0);
            assert!(c.a_range(7).1 <= 4096 && c.c_range(9).1 <= 4096);
        }
        assert!(Split::plan(4, 5000, 4, 2, false, &limits).is_err());
    }
}
