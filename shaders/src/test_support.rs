//! What the template tests share: filling placeholders and validating with naga.

/// Replaces each `{{KEY}}` with its value; panics on any placeholder left over.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (key, value) in values {
        let pattern = format!("{{{{{key}}}}}");
        assert!(out.contains(&pattern), "{pattern} not in template");
        out = out.replace(&pattern, value);
    }
    assert!(!out.contains("{{"), "placeholder left in:\n{out}");
    out
}

/// Parses and validates `source` with naga, panicking with naga's message.
pub fn validate(source: &str) {
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{}", e.emit_to_string(source)));
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .unwrap_or_else(|e| panic!("{}", e.emit_to_string(source)));
}
