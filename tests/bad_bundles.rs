//! Bundles whose checksum is valid but whose plan is not (a hand-edited or buggy
//! writer's manifest): `kiln inspect` and `kiln run` each refuse them with exactly one
//! `error:` line naming what the plan verifier found, and a non-zero exit.

mod common;

use kiln::codegen::{Access, Check, KernelPlan};
use kiln::Bundle;
use std::path::Path;
use std::process::Output;

/// The CLI tests' directory ([`CliDir`]: the example model, its input, an
/// XDG_RUNTIME_DIR for children), here with the example compiled to `ex.kiln`.
use common::cli::CliDir as Fixture;

impl Fixture {
    /// The directory, with the example compiled to `ex.kiln` at `--opt 0`.
    fn with_bundle() -> Fixture {
        let f = Fixture::new();
        f.ok(&["compile", "example.onnx", "-o", "ex.kiln", "--opt", "0"]);
        f
    }

    /// Writes the example's bundle with its plan changed by `corrupt` to `name`; the
    /// bundle writer computes a valid checksum over the corrupted manifest.
    fn corrupted(&self, name: &str, corrupt: impl FnOnce(&mut KernelPlan)) {
        let mut bundle = Bundle::read(&self.path("ex.kiln")).unwrap();
        corrupt(&mut bundle.manifest.plan);
        std::fs::write(self.path(name), bundle.to_bytes()).unwrap();
    }
}

/// The one `error:` line of a failed command; it must come last and stdout be empty.
fn error_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "must fail; stderr: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line expected in: {stderr}");
    assert!(
        stderr.trim_end().ends_with(errors[0]),
        "the error line comes last: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.stdout.is_empty(), "no output on failure");
    errors[0].to_string()
}

/// `kiln inspect` and `kiln run` on `name` each give one error line containing `want`.
fn refused(f: &Fixture, name: &str, want: &str) {
    for args in [
        &["inspect", name][..],
        &["run", name, "-i", "x.npy", "-o", "out"],
    ] {
        let line = error_line(&f.kiln(args));
        assert!(
            line.contains("bundle is corrupted: invalid plan: ") && line.contains(want),
            "kiln {args:?}: {line}"
        );
    }
    assert!(!f.path("out").exists(), "no outputs are written");
}

/// A dispatch of `plan` with a binding it writes and one it reads: (dispatch, written,
/// read).
fn written_and_read(plan: &KernelPlan) -> (usize, usize, usize) {
    plan.dispatches
        .iter()
        .enumerate()
        .find_map(|(i, d)| {
            let access = &plan.kernels[d.kernel].bindings;
            let written = access.iter().position(|a| *a == Access::ReadWrite)?;
            let read = access.iter().position(|a| *a == Access::Read)?;
            Some((i, written, read))
        })
        .expect("the example has a dispatch reading one buffer and writing another")
}

#[test]
fn a_good_bundle_inspects() {
    let f = Fixture::with_bundle();
    let out = f.kiln(&["inspect", "ex.kiln"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_buffer_bound_twice_in_a_dispatch_is_refused() {
    let f = Fixture::with_bundle();
    let mut at = String::new();
    f.corrupted("twice.kiln", |plan| {
        let (d, written, read) = written_and_read(plan);
        let bindings = &mut plan.dispatches[d].bindings;
        bindings[read] = bindings[written];
        at = format!("dispatch {d} (kernel '");
    });
    refused(&f, "twice.kiln", &at);
}

#[test]
fn a_view_outside_its_buffer_is_refused() {
    let f = Fixture::with_bundle();
    f.corrupted("outside.kiln", |plan| {
        let b = &mut plan.dispatches[0].bindings[0];
        b.size = Some(plan.buffers[b.buffer].size + 4);
    });
    refused(&f, "outside.kiln", "dispatch 0 binding 0: bytes 0..+");
}

#[test]
fn a_misaligned_view_is_refused() {
    let f = Fixture::with_bundle();
    f.corrupted("misaligned.kiln", |plan| {
        let b = &mut plan.dispatches[0].bindings[0];
        b.offset = 4;
        b.size = Some(4);
    });
    refused(&f, "misaligned.kiln", "not a multiple of 256");
}

#[test]
fn an_out_of_range_check_slot_is_refused() {
    let f = Fixture::with_bundle();
    f.corrupted("check.kiln", |plan| {
        plan.checks.push(Check {
            buffer: plan.buffers.len() + 3,
            node: "g".into(),
            op: "gather".into(),
            what: "an index is out of range".into(),
        });
    });
    refused(&f, "check.kiln", "check 0 (gather 'g') reports into buffer");
}

#[test]
fn a_corrupted_bundle_is_named_in_the_error() {
    let f = Fixture::with_bundle();
    f.corrupted("named.kiln", |plan| plan.dispatches[0].kernel = 999);
    let line = error_line(&f.kiln(&["inspect", "named.kiln"]));
    let path: &Path = Path::new("named.kiln");
    assert!(line.contains(&path.display().to_string()), "{line}");
    assert!(line.contains("dispatch 0 runs kernel 999"), "{line}");
}
