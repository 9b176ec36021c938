//! naga parses and validates the fused-kernel templates once their placeholders are
//! filled with sample values.

use super::test_support::{fill, validate};
use super::*;

const K_MAX: &str = "fn k_max(a: f32, b: f32) -> f32 { return max(a, b); }";

const OFFSETS: &str = "fn q_batch(z: u32) -> u32 { return z * 35u; }\n\
     fn k_batch(z: u32) -> u32 { return 0u; }\n\
     fn v_batch(z: u32) -> u32 { return z * 63u; }\n\
     const Q_S: u32 = 5u;\nconst Q_D: u32 = 1u;\nconst K_D: u32 = 9u;\nconst K_T: u32 = 1u;\n\
     const V_T: u32 = 7u;\nconst V_E: u32 = 1u;\n\
     fn o_at(z: u32, s: u32, e: u32) -> u32 { return (z * 7u + s) * 7u + e; }\n\
     fn mask_off(z: u32, s: u32, t: u32) -> u32 { return s * 9u + t; }";

fn attention(mask: &str, store: &str, helpers: &str, bindings: &str) -> String {
    fill(
        ATTENTION,
        &[
            ("BINDINGS", bindings),
            ("WG", "64"),
            ("TPR", "16"),
            ("Z", "2"),
            ("S", "7"),
            ("T", "9"),
            ("D", "5"),
            ("E", "7"),
            ("BLOCKS", "2"),
            ("SCALE", "0.5"),
            ("R_T", "36"),
            ("HELPERS", helpers),
            ("OFFSETS", OFFSETS),
            ("Q", "q"),
            ("K", "kt"),
            ("V", "v"),
            ("OUT", "out"),
            ("MASK", mask),
            ("STORE", store),
        ],
    )
}

#[test]
fn attention_validates_plain_and_masked_with_epilogue() {
    let plain = "@group(0) @binding(0) var<storage, read> q: array<f32>;\n\
         @group(0) @binding(1) var<storage, read> kt: array<f32>;\n\
         @group(0) @binding(2) var<storage, read> v: array<f32>;\n\
         @group(0) @binding(3) var<storage, read_write> out: array<f32>;";
    validate(&attention("0.0", "value", K_MAX, plain));
    let masked = "@group(0) @binding(0) var<storage, read> q: array<f32>;\n\
         @group(0) @binding(1) var<storage, read> kt: array<f32>;\n\
         @group(0) @binding(2) var<storage, read> v: array<f32>;\n\
         @group(0) @binding(3) var<storage, read> mask: array<f32>;\n\
         @group(0) @binding(4) var<storage, read_write> out: array<u32>;";
    let helpers = format!(
        "{K_MAX}\nfn fused(x0: f32, idx: u32) -> u32 {{ return select(0u, 1u, x0 > q[idx % 35u]); }}"
    );
    validate(&attention(
        "mask[mask_off(z, s, t)]",
        "fused(value, idx)",
        &helpers,
        masked,
    ));
}
