//! Rule tests in the IR's own text: each file in `tests/rules/` has an `input` graph,
//! the `rules` enabled (every other rule is off), and the `expected` graph after the
//! `egraph` pass. Every case also runs before and after on the reference interpreter
//! with random non-zero inputs. `KILN_BLESS=1` rewrites the expected sections.

mod common;

use kiln_ir::DType;
use kiln_passes::egraph::{list_rules, optimize, DeviceProfile, EgraphOptions};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

struct Case {
    path: PathBuf,
    rules: Vec<String>,
    input: String,
    expected: String,
}

fn section<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let start = text.find(&format!("\n{name}:"))? + name.len() + 2;
    let rest = &text[start..];
    let end = ["\nrules:", "\ninput:", "\nexpected:"]
        .iter()
        .filter_map(|s| rest.find(s))
        .min()
        .unwrap_or(rest.len());
    Some(rest[..end].trim())
}

fn load(path: &Path) -> Case {
    let text = format!(
        "\n{}",
        std::fs::read_to_string(path).expect("rule file reads")
    );
    let get =
        |name| section(&text, name).unwrap_or_else(|| panic!("{path:?}: no `{name}:` section"));
    Case {
        path: path.to_path_buf(),
        rules: get("rules")
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        input: get("input").to_string(),
        expected: get("expected").to_string(),
    }
}

fn cases() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rules");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/rules exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    paths.sort();
    paths.iter().map(|p| load(p)).collect()
}

fn options_for(rules: &[String]) -> EgraphOptions {
    // Products of dequantized values become integer ones only where integer products
    // are faster than f32: a GPU's.
    let gpu = rules
        .iter()
        .any(|r| r == kiln_passes::egraph::QDQ_AS_INTEGER);
    EgraphOptions {
        disabled_rules: list_rules()
            .iter()
            .map(|r| r.name.to_string())
            .filter(|n| !rules.contains(n))
            .collect(),
        profile: if gpu {
            DeviceProfile::discrete()
        } else {
            DeviceProfile::default()
        },
        ..EgraphOptions::default()
    }
}

#[test]
fn rule_files() {
    let bless = std::env::var("KILN_BLESS").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    for case in cases() {
        let input = kiln_ir::parse::parse(&case.input)
            .unwrap_or_else(|e| panic!("{:?}: input: {e}", case.path));
        let (out, report) = optimize(&input, &options_for(&case.rules), &common::target())
            .unwrap_or_else(|e| panic!("{:?}: {e}", case.path));
        let actual = kiln_ir::print::print(&out);
        // An f16 rewrite may round its result to the other side of a tie: one f16 ulp.
        let f16 = input
            .inputs
            .iter()
            .any(|p| input.ty(p.value).dtype == DType::F16);
        common::assert_same_outputs(&input, &out, 7, if f16 { 1.0 / 1024.0 } else { 1e-5 });
        let fired: BTreeSet<&str> = report
            .phases
            .iter()
            .flat_map(|p| p.fired.iter().map(|(r, _)| r.as_str()))
            .collect();
        for rule in &case.rules {
            if !fired.contains(rule.as_str()) && !case.rules.iter().any(|r| r == "none") {
                failures.push(format!("{:?}: rule {rule} did not fire", case.path));
            }
        }
        if actual.trim() != case.expected {
            if bless {
                let text = std::fs::read_to_string(&case.path).expect("reads");
                let at = text.find("expected:").expect("has expected");
                let new = format!("{}expected:\n{}", &text[..at], actual);
                std::fs::write(&case.path, new).expect("writes");
            } else {
                failures.push(format!("{:?}: got\n{actual}", case.path));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_rule_has_a_test_file() {
    let covered: BTreeSet<String> = cases().into_iter().flat_map(|c| c.rules).collect();
    let missing: Vec<&str> = list_rules()
        .iter()
        .map(|r| r.name)
        .filter(|n| !covered.contains(*n))
        .collect();
    assert!(missing.is_empty(), "rules without a test: {missing:?}");
}

#[test]
fn list_rules_has_unique_kebab_names_with_identities() {
    let rules = list_rules();
    let names: BTreeSet<&str> = rules.iter().map(|r| r.name).collect();
    assert_eq!(names.len(), rules.len(), "duplicate rule names");
    for r in &rules {
        assert!(
            r.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{}",
            r.name
        );
        assert!(!r.identity.is_empty());
    }
}
