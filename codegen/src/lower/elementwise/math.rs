//! Splices helpers from the WGSL math library (`kiln_shaders::ELEMENTWISE_MATH`) into
//! a kernel: only those it calls, dependencies first, in library order.

use crate::CodegenError;
use std::collections::BTreeSet;

/// One helper of the library: its name, the helpers it calls, its source.
struct Helper<'a> {
    name: &'a str,
    uses: Vec<&'a str>,
    text: String,
}

/// The library's helpers in file order (each starts at a `// @fn NAME uses ...` line).
fn library() -> Vec<Helper<'static>> {
    let mut out: Vec<Helper<'static>> = Vec::new();
    for line in kiln_shaders::ELEMENTWISE_MATH.lines() {
        if let Some(rest) = line.strip_prefix("// @fn ") {
            let mut words = rest.split_whitespace();
            let name = words.next().unwrap_or("");
            let uses = words.skip_while(|w| *w == "uses").collect();
            out.push(Helper {
                name,
                uses,
                text: String::new(),
            });
        } else if let Some(h) = out.last_mut() {
            h.text.push_str(line);
            h.text.push('\n');
        }
    }
    out
}

/// WGSL source of the helpers `names` and everything they use.
pub fn helpers(names: &BTreeSet<&str>) -> Result<String, CodegenError> {
    helpers_beside(names, "")
}

/// [`helpers`] less those the WGSL `module` already defines (a kernel's other function
/// using some of the same helpers).
pub fn helpers_beside(names: &BTreeSet<&str>, module: &str) -> Result<String, CodegenError> {
    let lib = library();
    let mut want: BTreeSet<&str> = BTreeSet::new();
    let mut stack: Vec<&str> = names.iter().copied().collect();
    while let Some(n) = stack.pop() {
        if !want.insert(n) {
            continue;
        }
        let h = lib
            .iter()
            .find(|h| h.name == n)
            .ok_or_else(|| CodegenError::MissingHelper(n.to_string()))?;
        stack.extend(h.uses.iter().copied());
    }
    let mut out = String::new();
    let defined = |name: &str| module.contains(&format!("fn {name}("));
    for h in lib
        .iter()
        .filter(|h| want.contains(h.name) && !defined(h.name))
    {
        out.push_str(h.text.trim_end());
        out.push_str("\n\n");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulls_in_dependencies_in_library_order() {
        let src = helpers(&BTreeSet::from(["k_tanh"])).unwrap();
        let (nan, expm1, tanh) = (
            src.find("fn k_is_nan").unwrap(),
            src.find("fn k_expm1").unwrap(),
            src.find("fn k_tanh").unwrap(),
        );
        assert!(nan < expm1 && expm1 < tanh);
        assert!(!src.contains("fn k_erf"));
        assert!(helpers(&BTreeSet::from(["k_nope"])).is_err());
    }

    #[test]
    fn every_helper_validates() {
        let lib = library();
        let all: BTreeSet<&str> = lib.iter().map(|h| h.name).collect();
        let src = helpers(&all).unwrap();
        crate::validate_wgsl(&src).unwrap();
    }
}
