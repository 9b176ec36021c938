//! IR text parse errors, tested as rendered, and a no-panic check on broken text.

use kiln_ir::parse::parse;
use kiln_ir::print::print;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Wraps `body` lines in a graph that defines `%v0 "x" : f32[2]`.
fn graph(body: &str) -> String {
    format!("graph \"g\" {{\n  input %v0 \"x\" : f32[2]\n{body}\n}}\n")
}

fn error(text: &str) -> String {
    match parse(text) {
        Ok(g) => panic!("parsed, expected an error:\n{text}\n{g:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn errors_are_rendered_with_position_and_reason() {
    let cases: &[(String, &str)] = &[
        ("".into(), "line 1:1: expected `graph`, found end of input"),
        ("graph g {}".into(), "line 1:7: expected the graph name as a string, found `g`"),
        ("graph \"g\" {".into(), "line 1:12: expected `input`, `const`, `output`, `extent`, a node or `}`, found end of input"),
        ("graph \"g\" {} x".into(), "line 1:14: expected end of input after the graph's closing `}`, found `x`"),
        (graph("  %v1 = frobnicate(%v0) : f32[2]"), "line 3:9: unknown op `frobnicate`"),
        (graph("  %v1 = softmax{axis=0, axes=[0]}(%v0) : f32[2]"), "line 3:25: unknown attribute `axes` for `softmax`"),
        (graph("  %v1 = softmax(%v0) : f32[2]"), "line 3:9: `softmax` needs attribute `axis`"),
        (graph("  %v1 = softmax{axis=-1}(%v0) : f32[2]"), "line 3:17: attribute `axis` of `softmax` must be an unsigned integer, found `-1`"),
        (graph("  %v1 = softmax{axis=0, axis=0}(%v0) : f32[2]"), "line 3:25: attribute `axis` is given twice"),
        (graph("  %v1 = gelu{tanh=1}(%v0) : f32[2]"), "line 3:14: attribute `tanh` of `gelu` must be `true` or `false`, found `1`"),
        (graph("  %v1 = reshape{shape=2}(%v0) : f32[2]"), "line 3:17: attribute `shape` of `reshape` must be a list of unsigned integers like `[1,2]`, found `2`"),
        (graph("  %v1 = pad{mode=mirror, pads=[0,0]}(%v0) : f32[2]"), "line 3:13: attribute `mode` of `pad` must be one of constant, reflect, edge, wrap, found `mirror`"),
        (graph("  %v1 = cast{to=f64}(%v0) : f32[2]"), "line 3:14: attribute `to` of `cast` must be one of f32, f16, i32, u32, i8, u8, bool, i16, u16, i4, u4, i2, u2, f8e4m3fn, f8e5m2, f4e2m1, f8e4m3fnuz, f8e5m2fnuz, found `f64`"),
        (graph("  %v1 = relu(%v9) : f32[2]"), "line 3:14: undefined value %v9"),
        (graph("  %v1 = relu(%v1) : f32[2]"), "line 3:14: undefined value %v1"),
        (graph("  %v0 = relu(%v0) : f32[2]"), "line 3:3: %v0 is defined twice (first at line 2:9)"),
        (graph("  %v1 = relu(%v0)"), "line 4:1: `relu` defines 1 result(s) but 0 result type(s) are given"),
        (graph("  %v1, %v2 = relu(%v0) : f32[2]"), "line 3:24: `relu` defines 2 result(s) but 1 result type(s) are given"),
        (graph("  const %v2 : f32[2] = [1.0, 2.0]"), "line 3:9: %v1 is never defined (values are numbered from %v0 without gaps)"),
        (graph("  const %v1 : f64[2] = [1.0, 2.0]"), "line 3:15: unknown dtype `f64` (expected one of f32, f16, i32, u32, i8, u8, bool, i16, u16, i4, u4, i2, u2, f8e4m3fn, f8e5m2, f4e2m1, f8e4m3fnuz, f8e5m2fnuz)"),
        (graph("  const %v1 : f32[2,-1] = [1.0]"), "line 3:21: expected a dimension (an unsigned integer), found `-1`"),
        (graph("  const %v1 : f32 = [1.0]"), "line 3:19: expected `[`, found `=`"),
        (graph("  const %v1 : f32[99999999999,99999999999] = splat(0.0)"), "line 3:15: the shape has more elements than fit in memory"),
        (graph("  const %v1 : f32[3] = [1.0, 2.0]"), "line 3:24: constant %v1 has 2 values but its type f32[3] needs 3"),
        (graph("  const %v1 : u8[2] = [1, 300]"), "line 3:27: `300` is not a u8"),
        (graph("  const %v1 : i32[1] = [1.5]"), "line 3:25: `1.5` is not an i32"),
        (graph("  const %v1 : f16[1] = [70000.0]"), "line 3:25: `70000.0` is not an f16"),
        (graph("  const %v1 : f32[1] = [1e39]"), "line 3:25: `1e39` is not an f32"),
        (graph("  const %v1 : bool[1] = splat(1)"), "line 3:31: `1` is not a bool (`true` or `false`)"),
        (graph("  const %v1 : f32[9408] = <elided 9408 values>"), "line 3:27: constant %v1 was printed with its data elided; print the graph with full constants to parse it back"),
        (graph("  input %v1 : f32[2]"), "line 3:9: input %v1 has no name: name the value or add `port \"name\"`"),
        (graph("  output \"y\" = %v3"), "line 3:16: undefined value %v3"),
        (graph("  output y = %v0"), "line 3:10: expected the output name as a string, found `y`"),
        (graph("  %v1 \"y = relu(%v0) : f32[2]"), "line 3:7: unterminated string"),
        (graph("  %v1 \"\\q\" = relu(%v0) : f32[2]"), "line 3:7: unknown escape `\\q` in string"),
        (graph("  %v1 = relu(%v0) : f32[2] $"), "line 3:28: unexpected character `$`"),
        (graph("  %x1 = relu(%v0) : f32[2]"), "line 3:3: expected a value like `%v3`, found `%x1`"),
        (graph("  %v99999999999 = relu(%v0) : f32[2]"), "line 3:3: value index `%v99999999999` is too large"),
        (graph("  const %v1 : f32[1] = [1.5e]"), "line 3:25: malformed number `1.5e`: the exponent has no digits"),
        (graph("  const %v1 : f32[1] = [12abc]"), "line 3:25: malformed number `12abc`"),
        (graph("  %v1 = elementwise{program=[in0, conv(%0)]}(%v0) : f32[2]"), "line 3:35: `conv` cannot be a program step (steps are `inK`, `const(...)`, unary and binary ops, `where`, `cast`, `quantize` and `dequantize`)"),
        (graph("  %v1 = elementwise{program=[in0, add(%0)]}(%v0) : f32[2]"), "line 3:35: program step `add` takes 2 operand(s), got 1"),
        (graph("  %v1 = elementwise{program=[in0, relu(%v0)]}(%v0) : f32[2]"), "line 3:40: expected a program step like `%3`, found `%v0`"),
        (graph("  %v1 = elementwise{program=[in0, relu]}(%v0) : f32[2]"), "line 3:21: attribute `program` of `elementwise` must be a program like `[in0, in1, add(%0,%1)]`, found `[in0,relu]`"),
        (graph("  %v1 = elementwise{program=[x0, relu(%0)]}(%v0) : f32[2]"), "line 3:21: attribute `program` of `elementwise` must be a program like `[in0, in1, add(%0,%1)]`, found `[x0,relu(%0)]`"),
        (graph("  %v1 = elementwise{program=in0}(%v0) : f32[2]"), "line 3:21: attribute `program` of `elementwise` must be a program like `[in0, in1, add(%0,%1)]`, found `in0`"),
        (graph("  %v1 = elementwise{program=[in0, frob(%0)]}(%v0) : f32[2]"), "line 3:35: `frob` cannot be a program step (steps are `inK`, `const(...)`, unary and binary ops, `where`, `cast`, `quantize` and `dequantize`)"),
        (graph("  %v1 = elementwise{program=[in0, leaky_relu(%0)]}(%v0) : f32[2]"), "line 3:35: `leaky_relu` needs attribute `alpha`"),
        (graph("  %v1 = elementwise{program=[in0, const(f64 1.0)]}(%v0) : f32[2]"), "line 3:41: expected a dtype like `f32`, found `f64`"),
        (graph("  %v1 = elementwise{program=[in0, const(u8 256)]}(%v0) : f32[2]"), "line 3:44: `256` is not a u8"),
        (graph("  %v1 = elementwise{program=[in0, const(f32)]}(%v0) : f32[2]"), "line 3:44: expected a number, `true` or `false`, found `)`"),
        (graph("  %v1 = elementwise{program=[in0, const{f32 1.0}]}(%v0) : f32[2]"), "line 3:40: expected `(`, found `{`"),
        (graph("  %v1 = elementwise{program=[in0, add(%0,%99999999999)]}(%v0) : f32[2]"), "line 3:42: step index `%99999999999` is too large"),
        (graph("  %v1 = elementwise(%v0) : f32[2]"), "line 3:9: `elementwise` needs attribute `program`"),
        (graph("  %v1 = fused{anchor=softmax, arity=1, epilogue=[in0]}(%v0) : f32[2]"), "line 3:15: `softmax` needs attribute `axis`"),
        (graph("  %v1 = fused{anchor=frob{x=1}, arity=1, epilogue=[in0]}(%v0) : f32[2]"), "line 3:22: unknown op `frob`"),
        (graph("  %v1 = fused{anchor=[1], arity=1, epilogue=[in0]}(%v0) : f32[2]"), "line 3:15: attribute `anchor` of `fused` must be an op like `matmul` or `softmax{axis=1}`, found a list"),
        (graph("  %v1 = fused{anchor=softmax{axis=0}, epilogue=[in0]}(%v0) : f32[2]"), "line 3:9: `fused` needs attribute `arity`"),
        (graph(&format!("  %v1 = {}relu{}(%v0) : f32[2]", "fused{anchor=".repeat(9), ", arity=1, epilogue=[in0]}".repeat(9))), "line 3:118: attributes nest more than 8 levels deep"),
        (graph("  %v1 = attention{scale=x}(%v0) : f32[2]"), "line 3:19: attribute `scale` of `attention` must be a number, found `x`"),
    ];
    let mut failures = Vec::new();
    for (text, want) in cases {
        let got = error(text);
        if got != *want {
            failures.push(format!("text:\n{text}\n  want: {want}\n  got:  {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const VALID: &str = r#"graph "tiny \"q\"" {
  input %v0 "x" : f32[1,3,8,8]
  input %v1 "idx" : i32[2] (i64)
  const %v2 "w" : f32[4,3,3,3] = splat(0.01)
  const %v3 : f32[4] = [0.5, -1.0, 1e-7, -inf]
  const %v4 : bool[2] = [true, false]
  %v5 "y" = conv{strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1}(%v0, %v2, %v3) : f32[1,4,8,8] @"conv1"
  %v6, %v7 = split{axis=1, sizes=[2,2]}(%v5) : f32[1,2,8,8], f32[1,2,8,8]
  %v8 = resize{mode=linear, coord=half_pixel, nearest=floor, cubic_coeff_a=-0.75, exclude_outside=false, extrapolation_value=0.0, antialias=false, sizes=[1,2,16,16], scales=[1.0,1.0,2.0,2.0], roi=[]}(%v7) : f32[1,2,16,16]
  () = identity(%v8)
  %v9 = fused{anchor=conv{strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1}, arity=2, epilogue=[in0, in1, const(f32 0.5), mul(%0,%2), leaky_relu{alpha=0.1}(%3), where(%1,%4,%0)]}(%v0, %v2, %v4) : f32[1,4,6,6]
  %v10 = elementwise{program=[in0, const(i32 -3), cast{to=f32}(%1), add(%0,%2)]}(%v8) : f32[1,2,16,16]
  %v11 = attention{scale=0.125}(%v8, %v8, %v8) : f32[1,2,16,16]
  output "y" = %v8
  output "i" = %v1 (i64)
}
"#;

#[test]
fn the_valid_text_parses() {
    let g = parse(VALID).unwrap();
    assert_eq!(print(&g), VALID);
}

/// Every prefix of a valid text that cuts off its closing `}` is an error, and the text
/// with any one character removed parses or fails; none of them panics.
#[test]
fn truncated_text_never_panics() {
    let chars: Vec<char> = VALID.chars().collect();
    let closing = chars.iter().rposition(|&c| c == '}').unwrap();
    for end in 0..chars.len() {
        let prefix: String = chars[..end].iter().collect();
        if end <= closing {
            assert!(parse(&prefix).is_err(), "prefix of {end} chars parsed");
        }
        let mut cut = chars.clone();
        cut.remove(end);
        let _ = parse(&cut.iter().collect::<String>());
    }
}

/// Random bytes, random splices of valid text and random token soup never panic.
#[test]
fn garbage_never_panics() {
    let mut rng = StdRng::seed_from_u64(0x6b696c6e);
    let pieces = [
        "graph",
        "\"g\"",
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        "=",
        ",",
        ":",
        "@",
        "<",
        ">",
        "%v0",
        "%v1",
        "%v2",
        "%v4294967295",
        "%v4294967296",
        "input",
        "const",
        "output",
        "port",
        "(i64)",
        "f32",
        "bool",
        "u8",
        "[2]",
        "[]",
        "splat",
        "conv",
        "split",
        "relu",
        "resize",
        "fused",
        "elementwise",
        "anchor=",
        "program=",
        "in0",
        "%0",
        "%1",
        "add(%0,%1)",
        "const(f32 1.0)",
        "axis",
        "-1",
        "0",
        "1e-5",
        "nan",
        "-inf",
        "1e99999",
        "99999999999999999999",
        "\\",
        "\"\\u{110000}\"",
        "\"\\u{",
        "//",
        "\n",
        " ",
        "é",
        "\u{0}",
    ];
    let valid: Vec<char> = VALID.chars().collect();
    for _ in 0..3000 {
        let text: String = match rng.gen_range(0..3) {
            0 => (0..rng.gen_range(0..80))
                .map(|_| rng.gen_range(0u8..128) as char)
                .collect(),
            1 => {
                let mut t = valid.clone();
                for _ in 0..rng.gen_range(1..4) {
                    let at = rng.gen_range(0..t.len());
                    let len = rng.gen_range(0..(t.len() - at).min(20));
                    let from = rng.gen_range(0..valid.len() - 20);
                    t.splice(
                        at..at + len,
                        valid[from..from + rng.gen_range(0..20)].iter().copied(),
                    );
                }
                t.into_iter().collect()
            }
            _ => (0..rng.gen_range(0..60))
                .map(|_| pieces[rng.gen_range(0..pieces.len())])
                .collect::<Vec<_>>()
                .join(" "),
        };
        let _ = parse(&text);
    }
}

#[test]
fn program_lists_report_errors_with_position() {
    let cases = [
        ("in0, in1]", "line 1:1: expected `[`, found `in0`"),
        ("[in0, in1", "line 1:10: expected `,`, found end of input"),
        (
            "[in0] x",
            "line 1:7: expected the end of the program, found `x`",
        ),
        (
            "[in0, foo]",
            "line 1:2: expected program steps like `in0` or `add(%0,%1)`",
        ),
        (
            "[in0, conv(%0)]",
            "line 1:7: `conv` cannot be a program step",
        ),
    ];
    for (text, want) in cases {
        match text.parse::<kiln_ir::Program>() {
            Ok(p) => panic!("{text} parsed as {p}"),
            Err(e) => assert!(e.to_string().starts_with(want), "{text}: {e}"),
        }
    }
}
