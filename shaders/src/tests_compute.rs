//! naga parses and validates the matmul, conv, pool and resize templates once their
//! placeholders are filled with sample values.

use super::test_support::{fill, validate};
use super::*;

const LINEAR: &str = "(gid.x + gid.y * nwg.x * WG)";

const GEMM_BINDINGS: &str = "@group(0) @binding(0) var<storage, read> a: array<f32>;\n\
     @group(0) @binding(1) var<storage, read> b: array<f32>;\n\
     @group(0) @binding(2) var<storage, read_write> c: array<f32>;";

const GEMM_HELPERS: &str =
    "fn load_a(z: u32, m: u32, k: u32) -> f32 { return a[(z * M + m) * K + k]; }\n\
     fn load_b(z: u32, k: u32, n: u32) -> f32 { return b[k * N + n]; }\n\
     fn store(z: u32, m: u32, n: u32, v: f32) { c[(z * M + m) * N + n] = v; }";

#[test]
fn matmul_tiled_validates() {
    validate(&fill(
        MATMUL_TILED,
        &[
            ("BINDINGS", GEMM_BINDINGS),
            ("M", "7"),
            ("N", "257"),
            ("K", "33"),
            ("TM", "4"),
            ("TN", "4"),
            ("WX", "16"),
            ("WY", "16"),
            ("BK", "16"),
            ("BM_BK", "1024"),
            ("BK_BN", "1024"),
            ("TM_TN", "16"),
            ("T", "f32"),
            ("ZERO", "0.0"),
            ("FMA", "fma"),
            ("TOTAL_DECL", ""),
            ("FLUSH", ""),
            ("RESULT", "acc"),
            ("HELPERS", GEMM_HELPERS),
            ("INIT", ""),
            ("FINISH", ""),
        ],
    ));
}

#[test]
fn matmul_tiled_vec4_validates() {
    validate(&fill(
        MATMUL_TILED_VEC4,
        &[
            ("BINDINGS", GEMM_BINDINGS),
            ("M", "7"),
            ("N", "257"),
            ("K", "33"),
            ("WX", "8"),
            ("WY", "8"),
            ("BK", "16"),
            ("RM", "1"),
            ("RN", "1"),
            ("BM_BK4", "128"),
            ("BK_BN4", "128"),
            ("T", "f32"),
            ("ZERO", "0.0"),
            ("ACC_FLUSH", ""),
            ("ACC_DECL", "    var c0_0 = vec4<f32>(0.0);\n"),
            (
                "ACC_UPDATE",
                "            let a0 = tile_a[ar];\n            let b0 = tile_b[br];\n            \
                 c0_0 = fma(vec4<f32>(a0.x), b0, c0_0);\n",
            ),
            ("ACC_STORE", "    store(z, mb, nb, c0_0.x);\n"),
            ("HELPERS", GEMM_HELPERS),
            ("INIT", ""),
            ("FINISH", ""),
        ],
    ));
}

#[test]
fn matmul_dot4_validates() {
    let bindings = "@group(0) @binding(0) var<storage, read> a: array<u32>;\n\
         @group(0) @binding(1) var<storage, read> b: array<i32>;\n\
         @group(0) @binding(2) var<storage, read_write> c: array<i32>;";
    let helpers = "fn load_a(z: u32, m: u32, k: u32) -> i32 { return i32(a[m * K + k]) - 128; }\n\
         fn load_b(z: u32, k: u32, n: u32) -> i32 { return b[k * N + n]; }\n\
         fn zero_a(z: u32, m: u32) -> i32 { return 3; }\n\
         fn zero_b(z: u32, n: u32) -> i32 { return -2; }\n\
         fn store(z: u32, m: u32, n: u32, v: i32) { c[m * N + n] = v; }";
    validate(&fill(
        MATMUL_DOT4,
        &[
            ("BINDINGS", bindings),
            ("M", "7"),
            ("N", "257"),
            ("K", "33"),
            ("TM", "4"),
            ("TN", "4"),
            ("WX", "16"),
            ("WY", "16"),
            ("BW", "16"),
            ("BM_BW", "1024"),
            ("BW_BN", "1024"),
            ("TM_TN", "16"),
            (
                "SUMS",
                "            for (var i = 0u; i < TM; i++) {\n                \
                 sum_a[i] += dot4I8Packed(av[i], ONES);\n            }\n",
            ),
            (
                "CORRECT",
                " - zero_b(z, n) * sum_a[i] - zero_a(z, m) * sum_b[j]",
            ),
            ("HELPERS", helpers),
            ("INIT", ""),
            ("FINISH", ""),
        ],
    ));
}

#[test]
fn matmul_naive_validates() {
    validate(&fill(
        MATMUL_NAIVE,
        &[
            ("BINDINGS", GEMM_BINDINGS),
            ("M", "2"),
            ("N", "49"),
            ("K", "9"),
            ("KSTEP", "4u"),
            ("Z", "32"),
            ("RM", "2"),
            ("CW", "1"),
            ("KW", "1"),
            ("WG", "64"),
            ("HELPERS", GEMM_HELPERS),
            ("INIT", ""),
            ("FINISH", ""),
            ("LINEAR_INDEX", LINEAR),
            ("ACC_DECL", "    var acc0 = 0.0;\n    var acc1 = 0.0;\n"),
            (
                "ACC_UPDATE",
                "            let b = load_b(z, k, n);\n            \
                 acc0 = fma(load_a(z, m0, k), b, acc0);\n            \
                 acc1 = fma(load_a(z, m0 + 1u, k), b, acc1);\n",
            ),
            ("ACC_FLUSH", ""),
            (
                "ACC_STORE",
                "    store(z, m0, n, acc0);\n    store(z, m0 + 1u, n, acc1);\n",
            ),
        ],
    ));
}

#[test]
fn pool_template_validates() {
    // A 3-wide max-pool window over a padded 1-d axis, with indices and an epilogue,
    // as the lowering writes it.
    validate(&fill(
        POOL,
        &[
            (
                "BINDINGS",
                "@group(0) @binding(0) var<storage, read> x: array<f32>;\n\
                 @group(0) @binding(1) var<storage, read_write> y: array<f32>;\n\
                 @group(0) @binding(2) var<storage, read_write> indices: array<i32>;\n\
                 @group(0) @binding(3) var<storage, read> e0: array<f32>;",
            ),
            ("WG", "64"),
            ("TOTAL", "98"),
            (
                "HELPERS",
                "fn fused(x0: f32, idx: u32) -> f32 { return max(x0, e0[idx % 7u]); }",
            ),
            ("LINEAR_INDEX", LINEAR),
            (
                "COORDS",
                "    var r = t;\n    let o0 = r % 7u;\n    r = r / 7u;\n    let base = r * 14u;\n",
            ),
            (
                "STATE",
                "    var best: f32 = bitcast<f32>(0xff800000u);\n    var found = false;\n    \
                 var best_index = 0u;\n",
            ),
            (
                "WINDOW",
                "    for (var k0 = 0u; k0 < 3u; k0++) {\n        let c0 = i32(o0 * 2u) - 1 + i32(k0);\n        \
                 if (c0 >= 0 && c0 < 14) {\n            let off = base + u32(c0);\n            \
                 let xv = x[off];\n            if (!found || xv > best) {\n                \
                 best = xv;\n                found = true;\n                best_index = off;\n            \
                 }\n        }\n    }\n",
            ),
            ("RESULT", "    let v = best;\n"),
            ("STORE", "fused(v, t)"),
            (
                "EXTRA",
                "    indices[t] = select(0, i32(best_index), found);\n",
            ),
        ],
    ));
}

#[test]
fn resize_validates() {
    validate(&fill(
        RESIZE,
        &[
            (
                "BINDINGS",
                "@group(0) @binding(0) var<storage, read> x: array<f32>;\n\
                 @group(0) @binding(1) var<storage, read_write> y: array<f32>;\n\
                 @group(0) @binding(2) var<storage, read> tbl: array<u32>;",
            ),
            ("WG", "64"),
            ("TOTAL", "12"),
            ("EXTRAPOLATION", "0.0"),
            ("LINEAR_INDEX", LINEAR),
            ("COORDS", "    let oc1 = t % 4u;\n    let oc0 = t / 4u;\n"),
            (
                "BODY",
                "    var acc = 0.0;\n\
                 for (var j = 0u; j < 2u; j++) {\n\
                     let e = 2u * (oc1 * 2u + j);\n\
                     acc += bitcast<f32>(tbl[e + 1u]) * x[oc0 * 2u + u32(bitcast<i32>(tbl[e]))];\n\
                 }\n\
                 y[t] = acc;",
            ),
        ],
    ));
}

#[test]
fn sparse_matmul_validates() {
    validate(&fill(
        SPARSE_MATMUL,
        &[
            (
                "BINDINGS",
                "@group(0) @binding(0) var<storage, read> a: array<f32>;\n\
                 @group(0) @binding(1) var<storage, read> values: array<f32>;\n\
                 @group(0) @binding(2) var<storage, read> block_rows: array<i32>;\n\
                 @group(0) @binding(3) var<storage, read> starts: array<i32>;\n\
                 @group(0) @binding(4) var<storage, read_write> y: array<f32>;",
            ),
            ("HELPERS", ""),
            ("ROWS", "7"),
            ("K", "9"),
            ("N", "5"),
            ("GROUPS", "2"),
            ("UNITS", "5"),
            ("TM", "4"),
            ("WGX", "2"),
            ("WGY", "32"),
            ("ROW_BASES", "    let r0 = min(m0, ROWS - 1u) * K;"),
            ("ACC", "    var acc_0_0 = 0.0;"),
            (
                "LOOP",
                "    for (var b = u32(starts[u]); b < u32(starts[u + 1u]); b++) {\n\
                 let k0 = u32(block_rows[b]);\n\
                 acc_0_0 += a[r0 + k0] * values[b];\n    }",
            ),
            ("STORE", "    if m0 < ROWS { y[m0 * N + u] = acc_0_0; }"),
        ],
    ));
}
