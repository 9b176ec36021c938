//! WGSL every front end accepts: browsers' Tint rejects a const-expression that
//! evaluates to an infinity or a NaN (the WGSL spec makes that a shader-creation error),
//! which naga accepts. kiln spells those values `bitcast<f32>(BITSu)` (the
//! lowest value a max starts from, NaN results); here each such literal becomes a call
//! of a one-line function, which is never a const-expression, so the value is made at
//! run time and compiles to the same constant.

/// The function non-finite literals become calls of.
const HELPER: &str = "kiln_f32_bits";

/// `wgsl` with every `bitcast<f32>(LITERALu)` whose bits are an infinity or a NaN
/// replaced by a call of [`HELPER`], declared once at the end when used.
pub fn runtime_non_finite(wgsl: String) -> String {
    const CALL: &str = "bitcast<f32>(";
    if !wgsl.contains(CALL) {
        return wgsl;
    }
    let mut out = String::with_capacity(wgsl.len() + 80);
    let mut rest = wgsl.as_str();
    let mut used = false;
    while let Some(at) = rest.find(CALL) {
        out.push_str(&rest[..at]);
        let after = &rest[at + CALL.len()..];
        match u32_literal(after) {
            Some((bits, len)) if !f32::from_bits(bits).is_finite() => {
                out.push_str(HELPER);
                out.push('(');
                out.push_str(&after[..len]);
                rest = &after[len..];
                used = true;
            }
            _ => {
                out.push_str(CALL);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    if used {
        out.push_str(&format!(
            "\nfn {HELPER}(bits: u32) -> f32 {{\n    return bitcast<f32>(bits);\n}}\n"
        ));
    }
    out
}

/// The value and length of a `u32` literal (`0x7fc00000u`, `4286578688u`) that is the
/// whole argument at the start of `s` (followed by `)`), else `None`.
fn u32_literal(s: &str) -> Option<(u32, usize)> {
    let end = s.find(')')?;
    let text = s[..end].strip_suffix('u')?;
    let bits = match text.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => text.parse().ok()?,
    };
    Some((bits, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_literals_become_calls_and_finite_ones_stay() {
        let src = "fn f(b: u32) -> f32 {\n    var m = bitcast<f32>(0xff800000u);\n    \
                   let n = bitcast<f32>(2143289344u);\n    let s = bitcast<f32>(0x33800000u);\n    \
                   let r = bitcast<f32>(0x7fc00000u | (b & 0u));\n    return m + n + s + r;\n}\n";
        let out = runtime_non_finite(src.to_string());
        assert!(out.contains("var m = kiln_f32_bits(0xff800000u);"), "{out}");
        assert!(out.contains("let n = kiln_f32_bits(2143289344u);"), "{out}");
        assert!(out.contains("let s = bitcast<f32>(0x33800000u);"), "{out}");
        assert!(
            out.contains("bitcast<f32>(0x7fc00000u | (b & 0u))"),
            "{out}"
        );
        assert_eq!(out.matches("fn kiln_f32_bits").count(), 1);
        crate::validate_wgsl(&out).unwrap();
        let finite = "fn g() -> f32 { return bitcast<f32>(0x3f800000u); }\n";
        assert_eq!(runtime_non_finite(finite.to_string()), finite);
    }
}
