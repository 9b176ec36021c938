//! Where kiln's generated test data lives, for the test suites of every crate.
//!
//! `scripts/setup-test-data.sh` writes it to `$KILN_TEST_DATA` or, by default,
//! `<workspace>/target/onnx-tests`: `node/` (the ONNX node tests), `light/` and
//! `light-random/` (the light models and their random-weight copies), `cli/`. Missing
//! data is a failure when `KILN_REQUIRE_DATA=1` (CI sets it), so CI never passes by
//! skipping; otherwise a test prints how to make the data and returns.

use std::path::PathBuf;

/// The workspace root.
///
/// Found at run time, from the directory cargo runs a test in (its package's root) up to
/// the first folder holding `conformance/`: a path baked in at compile time would point at
/// whichever checkout first built this crate into a shared `CARGO_TARGET_DIR`.
pub fn workspace() -> PathBuf {
    let baked = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let Ok(cwd) = std::env::current_dir() else {
        return baked;
    };
    cwd.ancestors()
        .find(|d| d.join("conformance").is_dir() && d.join("Cargo.toml").is_file())
        .map_or(baked, PathBuf::from)
}

/// The test-data root.
pub fn data_root() -> PathBuf {
    match std::env::var_os("KILN_TEST_DATA") {
        Some(dir) => PathBuf::from(dir),
        None => workspace().join("target/onnx-tests"),
    }
}

/// The test-data folder `sub` (`node`, `light`, `light-random`, `cli`), or `None` when
/// it has not been generated (a panic under `KILN_REQUIRE_DATA=1`).
pub fn data_dir(sub: &str, test: &str) -> Option<PathBuf> {
    let dir = data_root().join(sub);
    if dir.is_dir() {
        return Some(dir);
    }
    let msg = format!(
        "{test}: test data {} is missing; generate it with `scripts/setup-test-data.sh` \
         (or point KILN_TEST_DATA at it)",
        dir.display()
    );
    if std::env::var("KILN_REQUIRE_DATA").is_ok_and(|v| v == "1") {
        panic!("{msg} (KILN_REQUIRE_DATA=1: missing data is a failure)");
    }
    show(&format!("SKIPPED {msg}"));
    None
}

/// The names of a committed conformance list (`node-core.txt`, `node-quant.txt`).
pub fn conformance_list(file: &str) -> Vec<String> {
    let path = workspace().join("conformance").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

/// Prints `text` on stderr even when the test harness captures output.
pub fn show(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{text}");
}
