//! The `kiln` command-line tool: `kiln run`, `kiln dump`, and (with no arguments)
//! the built-in example.
//!
//! Every failure prints one line, `error: <what is wrong>`, to stderr and exits with
//! status 2 for usage errors and 1 for anything else. Nothing panics on bad input; a
//! bug that panics anyway is reported on one line too.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "error: internal error in kiln: {}{place} (please report this bug)",
            kiln::one_line(&message)
        );
    }));
    match std::panic::catch_unwind(cli::main) {
        Ok(code) => code,
        Err(_) => ExitCode::from(1),
    }
}
