//! kiln's errors as Python exceptions: `kiln.KilnError` and one subclass per kind of
//! failure, each carrying the CLI's one-line message (what `kiln` prints after
//! `error: `).

use kiln::onnx::ImportError;
use kiln::runtime::RuntimeError;
use kiln::Error;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::PyErr;

create_exception!(
    kiln,
    KilnError,
    PyException,
    "Any failure of kiln: the message is the CLI's one-line error."
);
create_exception!(
    kiln,
    BadModelError,
    KilnError,
    "The model or bundle cannot be read, decoded or imported (a corrupt file, a \
     malformed graph, a bundle whose checksum or plan does not verify)."
);
create_exception!(
    kiln,
    UnsupportedOpError,
    KilnError,
    "The model uses an op, opset, attribute or dtype kiln cannot compile."
);
create_exception!(
    kiln,
    BadInputError,
    KilnError,
    "An input is missing, unknown, of the wrong dtype or shape, or out of range for the \
     model (an int64 that does not fit in 32 bits, a Gather index out of range)."
);
create_exception!(
    kiln,
    DeviceError,
    KilnError,
    "No GPU adapter, no adapter matching the name asked for, one that lacks what the \
     bundle needs, or a device error while running."
);
create_exception!(
    kiln,
    OptionError,
    KilnError,
    "A bad option (an optimisation level, rule, profile, quantization or pruning mode \
     kiln does not offer); the message names the CLI flag."
);

/// The exception for `e`, with its one-line message.
pub fn to_py(e: Error) -> PyErr {
    let message = kiln::describe_error(&e);
    let import_kind = |source: &ImportError| match source {
        ImportError::Node { .. } => Kind::Unsupported,
        _ => Kind::BadModel,
    };
    let kind = match &e {
        Error::Load { source, .. } | Error::Import(source) => import_kind(source),
        Error::Codegen(_) => Kind::Unsupported,
        Error::Bundle(_) | Error::BundleFile { .. } => Kind::BadModel,
        Error::Input(_) => Kind::BadInput,
        Error::Usage(_) => Kind::Option,
        Error::Runtime(r) => match r {
            RuntimeError::Input(_) | RuntimeError::Check { .. } => Kind::BadInput,
            RuntimeError::Plan(_) | RuntimeError::InvalidPlan(_) => Kind::BadModel,
            _ => Kind::Device,
        },
        _ => Kind::Other,
    };
    kind.err(message)
}

/// Which exception class a failure raises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    BadModel,
    Unsupported,
    BadInput,
    Device,
    Option,
    Other,
}

impl Kind {
    /// The exception of this kind with `message`.
    pub fn err(self, message: impl Into<String>) -> PyErr {
        let message = kiln::one_line(&message.into());
        match self {
            Kind::BadModel => BadModelError::new_err(message),
            Kind::Unsupported => UnsupportedOpError::new_err(message),
            Kind::BadInput => BadInputError::new_err(message),
            Kind::Device => DeviceError::new_err(message),
            Kind::Option => OptionError::new_err(message),
            Kind::Other => KilnError::new_err(message),
        }
    }
}
