//! The facade's error type: one variant per stage, each message says what is wrong.

use std::path::PathBuf;

/// Why loading, compiling, running or host I/O failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model file could not be read or decoded.
    #[error("cannot load model {}: {source}", path.display())]
    Load {
        path: PathBuf,
        #[source]
        source: kiln_onnx::ImportError,
    },
    /// The ONNX graph could not be lowered to the IR.
    #[error(transparent)]
    Import(#[from] kiln_onnx::ImportError),
    /// A pass failed, or the pipeline named an unknown pass.
    #[error(transparent)]
    Pass(#[from] kiln_passes::PassError),
    /// The graph's inputs were wrong (missing, unknown, wrong dtype or shape).
    #[error("{0}")]
    Input(String),
    /// The reference interpreter failed.
    #[error(transparent)]
    Eval(#[from] kiln_ir::interp::EvalError),
    /// Code generation could not lower the graph to GPU kernels.
    #[error(transparent)]
    Codegen(#[from] kiln_codegen::CodegenError),
    /// A bundle in memory could not be decoded.
    #[error(transparent)]
    Bundle(#[from] kiln_codegen::bundle::BundleError),
    /// A bundle file could not be read, decoded or written.
    #[error("{}: {source}", path.display())]
    BundleFile {
        path: PathBuf,
        #[source]
        source: kiln_codegen::bundle::BundleError,
    },
    /// The GPU runtime failed: no adapter, a missing feature, a device error.
    #[error(transparent)]
    Runtime(#[from] kiln_runtime::RuntimeError),
    /// An option this version of kiln does not offer yet.
    #[error("{0}")]
    Unsupported(String),
    /// A bad option or argument, named as the CLI flag that gives it (`--opt 3: ...`):
    /// the CLI's usage errors (exit status 2).
    #[error("{0}")]
    Usage(String),
    /// A tensor file could not be read, decoded or written.
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
}

impl Error {
    /// A [`Error::File`] for `path`.
    pub fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::File {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// The one-line message of an error and its causes, as the CLI prints it after
/// `error: `: each cause appended after `: ` unless the message already contains its
/// text (many errors print their source themselves), line breaks made `; `.
pub fn describe<'a>(
    causes: impl IntoIterator<Item = &'a (dyn std::error::Error + 'static)>,
) -> String {
    let mut message = String::new();
    for cause in causes {
        let text = cause.to_string();
        if !message.contains(&text) {
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&text);
        }
    }
    one_line(&message)
}

/// The message of `error` and its `source()` chain on one line (see [`describe`]).
pub fn describe_error(error: &(dyn std::error::Error + 'static)) -> String {
    describe(std::iter::successors(Some(error), |e| e.source()))
}

/// `text` on one line: line breaks become `; `.
pub fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The facade's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
