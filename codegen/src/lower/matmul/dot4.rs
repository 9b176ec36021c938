//! The packed 8-bit product engine (`engine::Acc::Dot4`): an integer matmul or conv
//! whose operands are 8-bit multiplies four pairs per `dot4I8Packed` into i32
//! accumulators, on the tiled engine's workgroup shape (`matmul_dot4.wgsl`).
//!
//! Hooks: `fn load_a(z: u32, m: u32, k: u32) -> i32` and `fn load_b(z: u32, k: u32, n:
//! u32) -> i32` return an operand's value as a signed byte (an unsigned type's value
//! minus 128, [`signed_byte`]); `fn zero_a(z: u32, m: u32) -> i32` and `fn zero_b(z:
//! u32, n: u32) -> i32` the zero points in the same domain (only those [`Sums`] needs);
//! `fn store(z: u32, m: u32, n: u32, v: i32)` takes `Σ (a - za)(b - zb)`.

use super::engine::{tiled_values, GemmKernel, GemmShape, GemmSource, Tile};
use crate::lower::render;
use crate::CodegenError;
use kiln_ir::DType;

/// Which zero-point corrections a packed product needs: `a` when B's zero point is
/// not a literal 0 (then the row sums of A are accumulated), `b` when A's is not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sums {
    pub a: bool,
    pub b: bool,
}

/// What unsigned 8-bit values are shifted down by to be signed bytes: every difference
/// from a zero point shifted alike stays unchanged.
const UNSIGNED_SHIFT: i64 = 128;

/// `value` (a WGSL expression of an 8-bit `dtype` as stored, one word per element) as
/// the signed byte the packed engine multiplies (unsigned values shifted down by
/// [`UNSIGNED_SHIFT`]).
pub fn signed_byte(dtype: DType, value: &str) -> String {
    if dtype == DType::U8 {
        format!("(i32({value}) - {UNSIGNED_SHIFT})")
    } else {
        format!("i32({value})")
    }
}

/// [`signed_byte`] of a known `value`.
pub fn byte_value(dtype: DType, value: i64) -> i64 {
    if dtype == DType::U8 {
        value - UNSIGNED_SHIFT
    } else {
        value
    }
}

/// Renders the packed engine for `shape` on `tile`'s workgroup shape, each
/// workgroup-memory word covering four steps of k (so a tile step walks `4 · tile.bk`).
pub(super) fn kernel(
    shape: GemmShape,
    tile: Tile,
    src: &GemmSource,
    sums: Sums,
    groups: [u32; 3],
) -> Result<GemmKernel, CodegenError> {
    let mut update = String::new();
    if sums.a {
        update.push_str(
            "            for (var i = 0u; i < TM; i++) {\n                \
             sum_a[i] += dot4I8Packed(av[i], ONES);\n            }\n",
        );
    }
    if sums.b {
        update.push_str(
            "            for (var j = 0u; j < TN; j++) {\n                \
             sum_b[j] += dot4I8Packed(ONES, bv[j]);\n            }\n",
        );
    }
    let mut correct = String::new();
    if sums.a {
        correct.push_str(" - zero_b(z, n) * sum_a[i]");
    }
    if sums.b {
        correct.push_str(" - zero_a(z, m) * sum_b[j]");
    }
    if sums.a && sums.b {
        correct.push_str(" + i32(K) * zero_a(z, m) * zero_b(z, n)");
    }
    let mut values = tiled_values(shape, tile, src);
    values.extend([
        ("TM", tile.tm.to_string()),
        ("TN", tile.tn.to_string()),
        ("BW", tile.bk.to_string()),
        ("BM_BW", (tile.bm() * tile.bk).to_string()),
        ("BW_BN", (tile.bk * tile.bn()).to_string()),
        ("TM_TN", (tile.tm * tile.tn).to_string()),
        ("SUMS", update),
        ("CORRECT", correct),
    ]);
    let wgsl = render(kiln_shaders::MATMUL_DOT4, &values)?;
    Ok(GemmKernel {
        wgsl,
        workgroup_size: [tile.wx as u32, tile.wy as u32, 1],
        workgroups: groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrections_follow_the_zero_points() {
        let shape = GemmShape {
            z: 1,
            m: 9,
            n: 33,
            k: 70,
        };
        let tile = super::super::engine::choose_tile(9, 33, false);
        let src = |sums| GemmSource {
            bindings: "",
            helpers: "",
            acc: crate::lower::matmul::engine::Acc::Dot4(sums),
            words: false,
            load_b4: false,
            load_a4: false,
        };
        let wgsl = |a, b| {
            let sums = Sums { a, b };
            kernel(shape, tile, &src(sums), sums, [1, 1, 1])
                .unwrap()
                .wgsl
        };
        let none = wgsl(false, false);
        assert!(!none.contains("sum_a[i] +=") && !none.contains("* sum_b[j]"));
        let a = wgsl(true, false);
        assert!(a.contains("sum_a[i] += dot4I8Packed(av[i], ONES)"));
        assert!(a.contains("acc[i * TN + j] - zero_b(z, n) * sum_a[i])"));
        let both = wgsl(true, true);
        assert!(
            both.contains("+ i32(K) * zero_a(z, m) * zero_b(z, n))"),
            "{both}"
        );
        assert_eq!(signed_byte(DType::U8, "x[0]"), "(i32(x[0]) - 128)");
        assert_eq!(signed_byte(DType::I8, "x[0]"), "i32(x[0])");
    }
}
