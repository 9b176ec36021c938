//! Command-line definition (clap) and dispatch; turns every error into one line.

mod args;
mod bench;
mod compile;
mod dump;
mod example;
mod inspect;
mod opt;
mod run;
mod target;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// kiln compiles ONNX models to GPU kernels. Run with no arguments for a demo.
#[derive(Parser, Debug)]
#[command(name = "kiln", version, about, long_about = None, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

const EXAMPLES: &str = "Examples:
  kiln                                         run the built-in example model
  kiln compile model.onnx -o model.kiln        compile to a kernel bundle (--opt 2: fused)
  kiln compile model.onnx --report             ... and say what the optimizer did
  kiln compile --list-rules                    the optimizer's rewrite rules
  kiln inspect model.kiln                      kernels, buffers, requirements of a bundle
  kiln run model.kiln -i x=x.npy -o out        run on the GPU, write out/output_<i>.npy
  kiln run model.onnx -i x.npy --backend cpu   run on the CPU reference interpreter
  kiln bench model.kiln --iters 50             latency and GPU time per kernel
  kiln dump model.onnx --after all             print the IR after import and every pass
  kiln dump model.onnx --after egraph --disable-rule fuse-epilogue
                                               the fused program, without one rule";

#[derive(Subcommand, Debug)]
enum Command {
    /// Compile an ONNX model to a .kiln kernel bundle.
    Compile(compile::CompileArgs),
    /// Run a model (.onnx or .kiln) on the GPU or the CPU, writing DIR/output_<i>.npy.
    Run(run::RunArgs),
    /// Show what a .kiln bundle holds: ports, kernels, buffers, requirements.
    Inspect(inspect::InspectArgs),
    /// Measure a model's latency on a GPU adapter, and GPU time per kernel.
    Bench(bench::BenchArgs),
    /// Print the IR after import and after the chosen passes.
    Dump(dump::DumpArgs),
    /// Run the built-in example model (the default with no arguments).
    Example,
}

/// A mistake in the command line: exit status 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Shorthand for a usage error inside an `anyhow` result.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(message.into()))
}

/// Parses the command line, runs the command and reports any error on one line.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_error(e),
    };
    let result = match cli.command {
        None | Some(Command::Example) => example::run(),
        Some(Command::Compile(args)) => compile::run(args),
        Some(Command::Run(args)) => run::run(args),
        Some(Command::Inspect(args)) => inspect::run(args),
        Some(Command::Bench(args)) => bench::run(args),
        Some(Command::Dump(args)) => dump::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", kiln::describe(e.chain()));
            let usage = e.downcast_ref::<UsageError>().is_some()
                || matches!(e.downcast_ref::<kiln::Error>(), Some(kiln::Error::Usage(_)));
            if usage {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// Writes `text` to stdout; a closed pipe (`kiln dump m.onnx | head`) is not an error.
pub fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Help and version go to stdout as clap writes them; a parse error becomes one
/// line (clap's message plus its tip) and exit status 2.
fn clap_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        _ => {
            let text = e.render().to_string();
            let mut message = String::new();
            let lines = text.lines().map(str::trim).filter(|l| {
                !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more")
            });
            for line in lines.map(|l| l.strip_prefix("error: ").unwrap_or(l)) {
                if !message.is_empty() {
                    message.push_str(if message.ends_with(':') { " " } else { "; " });
                }
                message.push_str(line);
            }
            eprintln!("error: {message}; see 'kiln --help'");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_arguments_parse() {
        let cli =
            Cli::try_parse_from(["kiln", "run", "m.onnx", "-i", "x=a.npy", "--shape", "x=1x2"]);
        assert!(matches!(cli.map(|c| c.command), Ok(Some(Command::Run(_)))));
        let err = Cli::try_parse_from(["kiln", "run", "m.onnx", "--backend", "tpu"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::InvalidValue);
    }

    #[test]
    fn gpu_commands_parse() {
        for argv in [
            &["kiln", "compile", "m.onnx", "-o", "m.kiln", "--opt", "0"][..],
            &[
                "kiln",
                "compile",
                "m.onnx",
                "--report",
                "--disable-rule",
                "silu",
                "--disable-rule",
                "gelu-erf",
                "--disable-set",
                "layout",
                "--iter-limit",
                "4",
                "--node-limit",
                "1000",
                "--time-limit",
                "0.5",
                "--profile",
                "discrete",
            ],
            &["kiln", "compile", "--list-rules"],
            &["kiln", "dump", "m.onnx", "--after", "egraph", "--opt", "1"],
            &["kiln", "bench", "m.onnx", "--opt", "0"],
            &["kiln", "run", "m.onnx", "--backend", "cpu", "--opt", "1"],
            &["kiln", "inspect", "m.kiln", "--json"],
            &[
                "kiln", "bench", "m.kiln", "--iters", "5", "--warmup", "1", "--json",
            ],
            &["kiln", "run", "m.kiln", "--adapter", "llvmpipe"],
        ] {
            assert!(Cli::try_parse_from(argv).is_ok(), "{argv:?}");
        }
        let err = Cli::try_parse_from(["kiln", "compile", "m.onnx", "--opt", "x"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        let err = Cli::try_parse_from(["kiln", "compile"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let err = Cli::try_parse_from(["kiln", "compile", "--list-rules", "--report"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        // Not a preset: taken as a profile file, checked when the options are applied.
        assert!(Cli::try_parse_from(["kiln", "run", "m.onnx", "--profile", "tpu"]).is_ok());
        let err = Cli::try_parse_from(["kiln", "bench"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let err = Cli::try_parse_from(["kiln", "bench", "m.onnx", "--calibrate"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }
}
