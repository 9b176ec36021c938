//! naga validation of generated WGSL: nothing enters a plan unvalidated.

/// Parses and validates `source` as WGSL with naga; returns naga's message on failure.
pub fn validate_wgsl(source: &str) -> Result<(), String> {
    let module = naga::front::wgsl::parse_str(source).map_err(|e| e.emit_to_string(source))?;
    let mut validator = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    );
    validator.validate(&module).map_err(|e| e.emit_to_string(source))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_and_rejects_invalid_wgsl() {
        let ok = "@group(0) @binding(0) var<storage, read_write> a: array<f32>;\n\
                  @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) { a[g.x] = 1.0; }";
        validate_wgsl(ok).unwrap();
        let bad = "@compute @workgroup_size(64) fn main() { let x: f32 = 1u; }";
        assert!(validate_wgsl(bad).is_err());
    }
}
