//! naga validation of generated WGSL: nothing enters a plan unvalidated.

/// Parses and validates `source` as WGSL with naga; returns naga's message on failure.
pub fn validate_wgsl(source: &str) -> Result<(), String> {
    validated_module(source).map(|_| ())
}

/// Validates `source` as WGSL with naga ([`validate_wgsl`]) and returns the bytes of
/// workgroup (shared) memory it declares.
pub fn validated_workgroup_storage_bytes(source: &str) -> Result<u32, String> {
    let module = validated_module(source)?;
    let mut layouter = naga::proc::Layouter::default();
    layouter
        .update(module.to_ctx())
        .map_err(|e| e.to_string())?;
    Ok(module
        .global_variables
        .iter()
        .filter(|(_, var)| var.space == naga::AddressSpace::WorkGroup)
        .map(|(_, var)| layouter[var.ty].size)
        .sum())
}

fn validated_module(source: &str) -> Result<naga::Module, String> {
    let module = naga::front::wgsl::parse_str(source).map_err(|e| e.emit_to_string(source))?;
    let mut validator = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    );
    validator
        .validate(&module)
        .map_err(|e| e.emit_to_string(source))?;
    Ok(module)
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
        assert_eq!(validated_workgroup_storage_bytes(ok).unwrap(), 0);
        let shared = "var<workgroup> tile: array<f32, 256>;\nvar<workgroup> n: u32;\n\
                      @compute @workgroup_size(1) fn main() { tile[0] = f32(n); }";
        assert_eq!(validated_workgroup_storage_bytes(shared).unwrap(), 1028);
    }
}
