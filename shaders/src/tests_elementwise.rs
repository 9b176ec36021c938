//! naga parses and validates the elementwise, math-library, reduction, softmax, norm
//! and data-movement templates once their placeholders are filled with sample values.

use super::test_support::{fill, validate};
use super::*;

const LINEAR: &str = "(gid.x + gid.y * nwg.x * WG)";

fn bindings(entries: &[(&str, &str, bool)]) -> String {
    let mut out = String::new();
    for (i, (name, ty, write)) in entries.iter().enumerate() {
        let mode = if *write { "read_write" } else { "read" };
        out += &format!("@group(0) @binding({i}) var<storage, {mode}> {name}: array<{ty}>;\n");
    }
    out
}

#[test]
fn math_library_validates() {
    validate(ELEMENTWISE_MATH);
    // Every helper is introduced by a `// @fn` marker naming a function it defines.
    for line in ELEMENTWISE_MATH
        .lines()
        .filter(|l| l.starts_with("// @fn "))
    {
        let name = line["// @fn ".len()..].split_whitespace().next().unwrap();
        assert!(ELEMENTWISE_MATH.contains(&format!("fn {name}(")), "{name}");
    }
}

#[test]
fn elementwise_validates() {
    let b = bindings(&[
        ("src0", "f32", false),
        ("src1", "f32", false),
        ("dst0", "f32", true),
    ]);
    validate(&fill(
        ELEMENTWISE,
        &[
            ("BINDINGS", &b),
            ("WG", "256"),
            ("N", "21"),
            ("HELPERS", ELEMENTWISE_MATH),
            ("INDEX", LINEAR),
            (
                "OFFSETS",
                "    let o1 = i % 7u;\n    let x0 = src0[i];\n    let x1 = src1[o1];\n",
            ),
            ("DST", "dst0"),
            ("EXPR", "k_erf(x0) + k_pow(x1, 2.0)"),
        ],
    ));
}

#[test]
fn reduce_validates_for_each_accumulator() {
    for (acc, init, combine) in [
        ("f32", "0.0", "a + b"),
        ("i32", "(-2147483647 - 1)", "max(a, b)"),
        ("u32", "1u", "a * b"),
    ] {
        let b = bindings(&[("src0", acc, false), ("dst0", acc, true)]);
        validate(&fill(
            REDUCE,
            &[
                ("BINDINGS", &b),
                ("WG", "256"),
                ("TPR", "8"),
                ("ROWS", "15"),
                ("COUNT", "7"),
                ("CHUNKS", "2"),
                ("CHUNK", "4"),
                ("ACC", acc),
                ("HELPERS", ""),
                ("ROW_BASE", "fn row_base(i: u32) -> u32 { return i * 7u; }"),
                ("ELEM_OFF", "fn elem_off(i: u32) -> u32 { return i; }"),
                ("COMBINE", combine),
                ("INIT", init),
                ("SRC", "src0"),
                ("LOAD", "x * x"),
                ("STORE", "dst0[row] = r;"),
            ],
        ));
    }
}

#[test]
fn arg_reduce_and_softmax_validate() {
    let b = bindings(&[("src0", "f32", false), ("dst0", "i32", true)]);
    validate(&fill(
        REDUCE_ARG,
        &[
            ("BINDINGS", &b),
            ("WG", "256"),
            ("ROWS", "6"),
            ("COUNT", "7"),
            ("INNER", "3"),
            ("HELPERS", ELEMENTWISE_MATH),
            ("TYPE", "f32"),
            (
                "BETTER",
                "    return v > best || (k_is_nan(v) && !k_is_nan(best));",
            ),
            ("INDEX", LINEAR),
            ("SRC", "src0"),
            ("DST", "dst0"),
        ],
    ));
    let b = bindings(&[("src0", "f32", false), ("dst0", "f32", true)]);
    for result in ["exp(d) / sum", "d - log(sum)"] {
        validate(&fill(
            SOFTMAX,
            &[
                ("BINDINGS", &b),
                ("WG", "256"),
                ("TPR", "256"),
                ("ROWS", "6"),
                ("COUNT", "1000"),
                ("STRIDE", "3"),
                ("HELPERS", ELEMENTWISE_MATH),
                (
                    "ROW_BASE",
                    "fn row_base(i: u32) -> u32 { return (i / 3u) * 3000u + i % 3u; }",
                ),
                ("SRC", "src0"),
                ("DST", "dst0"),
                ("RESULT", result),
            ],
        ));
    }
}

#[test]
fn norms_validate() {
    let b = bindings(&[
        ("src0", "f32", false),
        ("src1", "f32", false),
        ("dst0", "f32", true),
        ("dst1", "f32", true),
    ]);
    for centered in ["true", "false"] {
        validate(&fill(
            NORM_ROWS,
            &[
                ("BINDINGS", &b),
                ("WG", "256"),
                ("TPR", "32"),
                ("ROWS", "5"),
                ("COUNT", "21"),
                ("EPS", "1e-5"),
                ("CENTERED", centered),
                ("OFFSETS", "fn scale_off(i: u32) -> u32 { return i % 21u; }"),
                ("X", "src0"),
                ("Y", "dst0"),
                ("AFFINE", "(src0[i] - mean) * inv * src1[scale_off(i)]"),
                ("STATS", "        if lane == 0u { dst1[row] = mean; }"),
            ],
        ));
    }
    let names = ["x", "scale", "bias", "mean", "variance"];
    let mut entries: Vec<(&str, &str, bool)> = names.iter().map(|n| (*n, "f32", false)).collect();
    entries.push(("y", "f32", true));
    validate(&fill(
        NORM_BATCH,
        &[
            ("BINDINGS", &bindings(&entries)),
            ("WG", "256"),
            ("N", "210"),
            ("C", "3"),
            ("S", "35"),
            ("EPS", "1e-5"),
            ("INDEX", LINEAR),
            ("VAR", "variance"),
            ("Y", "y"),
            ("X", "x"),
            ("MEAN", "mean"),
            ("SCALE", "scale"),
            ("BIAS", "bias"),
            ("HELPERS", ""),
            ("STORE", "v"),
        ],
    ));
    validate(&fill(
        NORM_LRN,
        &[
            (
                "BINDINGS",
                &bindings(&[("x", "f32", false), ("y", "u32", true)]),
            ),
            ("WG", "256"),
            ("N", "126"),
            ("C", "7"),
            ("S", "9"),
            ("LO", "1"),
            ("HI", "2"),
            ("BIAS", "1.0"),
            ("ALPHA_OVER_SIZE", "0.0001"),
            ("BETA", "0.75"),
            ("INDEX", LINEAR),
            ("X", "x"),
            ("Y", "y"),
            (
                "HELPERS",
                "fn fused(x0: f32, idx: u32) -> u32 { return select(0u, 1u, x0 > f32(idx)); }",
            ),
            ("STORE", "fused(v, i)"),
        ],
    ));
}

#[test]
fn scan_validates() {
    let b = bindings(&[("src0", "f32", false), ("dst0", "f32", true)]);
    validate(&fill(
        SCAN,
        &[
            ("BINDINGS", &b),
            ("WG", "256"),
            ("N", "30"),
            ("EXTENT", "5"),
            ("INNER", "3"),
            ("REVERSE", "true"),
            ("EXCLUSIVE", "false"),
            ("INDEX", LINEAR),
            ("ACC", "f32"),
            ("INIT", "0.0"),
            ("SRC", "src0"),
            ("COMBINE", "acc + b"),
            ("DST", "dst0"),
            ("FINISH", "acc"),
        ],
    ));
}

#[test]
fn scatter_nd_validates() {
    let b = bindings(&[
        ("src0", "i32", false),
        ("src1", "u32", false),
        ("src2", "i32", false),
        ("dst0", "i32", true),
        ("chk0", "u32", true),
    ]);
    validate(&fill(
        SCATTER_ND,
        &[
            ("BINDINGS", &b),
            ("WG", "256"),
            ("N", "24"),
            ("INNER", "4"),
            ("U", "3"),
            ("M", "2"),
            ("EXTENTS", "2, 3"),
            ("HELPERS", ""),
            ("INDEX", LINEAR),
            ("ACC", "i32"),
            ("DATA", "src0"),
            ("INDICES", "src1"),
            ("UPDATES", "src2"),
            (
                "CHECK",
                "                chk0[0] = 1u;\n                chk0[1] = bitcast<u32>(raw);\n",
            ),
            ("COMBINE", "acc + b"),
            ("DST", "dst0"),
        ],
    ));
}

#[test]
fn movement_validates() {
    validate(&fill(
        MOVEMENT_COPY,
        &[
            ("WG", "256"),
            ("N", "35"),
            ("INDEX", LINEAR),
            ("OFFSETS", "    let c1 = i % 7u;\n    let c0 = i / 7u;\n    let s: u32 = 34u + c0 * 4294967289u + c1;\n"),
            ("DST", "i"),
            ("SRC", "s"),
        ],
    ));
    let axis = "    {\n        let o = i32(r);\n        var j = o - 2;\n        \
                if j < 0 || j >= 5 {\n            inside = false;\n        }\n        \
                s = s + u32(j + 0) * 1u;\n    }\n";
    validate(&fill(
        MOVEMENT_PAD,
        &[
            (
                "VALUE_BINDING",
                "@group(0) @binding(2) var<storage, read> value: array<u32>;",
            ),
            ("WG", "256"),
            ("N", "9"),
            ("INDEX", LINEAR),
            ("AXES", axis),
            ("FILL", "value[0]"),
        ],
    ));
    let b = bindings(&[
        ("src0", "u32", false),
        ("src1", "u32", false),
        ("dst0", "u32", true),
        ("chk0", "u32", true),
    ]);
    validate(&fill(
        MOVEMENT_GATHER,
        &[
            ("BINDINGS", &b),
            ("WG", "256"),
            ("N", "24"),
            ("K", "4"),
            ("INNER", "3"),
            ("EXTENT", "5"),
            ("INDEX", LINEAR),
            ("INDICES", "src1"),
            ("DST", "dst0"),
            (
                "DATA",
                "fn data_word(i: u32) -> u32 {\n    return src0[i];\n}\n",
            ),
            (
                "CHECK",
                "        chk0[0] = 1u;\n        chk0[1] = bitcast<u32>(j);\n",
            ),
        ],
    ));
    validate(&fill(
        MOVEMENT_SHAPE,
        &[("STORES", "    dst[0] = 2u;\n    dst[1] = 3u;\n")],
    ));
}

#[test]
fn select_validates() {
    // NonZero of a [3, 5] operand: coordinates, padding zeros.
    validate(&fill(
        SELECT,
        &[
            (
                "BINDINGS",
                "@group(0) @binding(1) var<storage, read_write> dst: array<u32>;\n\
                 @group(0) @binding(2) var<storage, read_write> count: array<u32>;",
            ),
            ("WG", "64"),
            ("N", "15"),
            ("KEEP", "bitcast<f32>(w) != 0.0"),
            (
                "WRITE",
                "dst[j] = p / 5u;\n            dst[15u + j] = p % 5u;",
            ),
            ("PAD", "dst[k] = 0u;\n        dst[15u + k] = 0u;"),
        ],
    ));
    validate(&fill(
        SELECT_GATHER,
        &[
            ("WG", "64"),
            ("N", "24"),
            ("BOUND", "3"),
            ("LEN", "4"),
            ("INNER", "2"),
            ("INDEX", "(gid.x + gid.y * nwg.x * WG)"),
        ],
    ));
}

#[test]
fn select_unique_validates() {
    for (t, sorted) in [("f32", "true"), ("i32", "false"), ("u32", "true")] {
        validate(&fill(
            SELECT_UNIQUE,
            &[
                ("T", t),
                ("WG", "64"),
                ("OUTER", "2"),
                ("LEN", "9"),
                ("INNER", "3"),
                ("SORTED", sorted),
            ],
        ));
    }
}

#[test]
fn select_nms_validates() {
    for (center, score) in [("false", "true"), ("true", "false")] {
        validate(&fill(
            SELECT_NMS,
            &[
                ("WG", "64"),
                ("BATCHES", "2"),
                ("CLASSES", "3"),
                ("N", "7"),
                ("K", "5"),
                ("CENTER", center),
                ("USE_SCORE", score),
            ],
        ));
    }
}

#[test]
fn bitcast_validates() {
    validate(&fill(
        BITCAST,
        &[
            ("WG", "64"),
            ("N", "100"),
            ("INDEX", "(gid.x + gid.y * nwg.x * WG)"),
            (
                "TO_BITS",
                "pack2x16float(vec2<f32>(bitcast<f32>(w), 0.0)) & 0xFFFFu",
            ),
            ("FROM_BITS", "bitcast<u32>(bitcast<i32>(b << 16u) >> 16u)"),
        ],
    ));
}
