//! Runtime errors: everything that can go wrong between picking an adapter and
//! reading outputs back, as values (never panics).

/// Why the runtime could not pick an adapter, load a plan or run it.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// No wgpu adapter at all on this machine (of the graphics APIs allowed).
    #[error(
        "no GPU adapter found (backends: {backends}); on Linux without a GPU, install Mesa's \
         CPU drivers: apt-get install mesa-vulkan-drivers (Vulkan), libegl1 libegl-mesa0 \
         libgl1-mesa-dri (GL)"
    )]
    NoAdapter { backends: String },
    /// `--backend-api` or `WGPU_BACKEND` names no graphics API kiln knows.
    #[error("{0}")]
    BadBackendApi(String),
    /// `--adapter NAME` matched none of the adapters present.
    #[error("no adapter name contains '{wanted}'; available: {}", available.join("; "))]
    AdapterNotFound {
        wanted: String,
        available: Vec<String>,
    },
    /// The plan needs a feature or limit the adapter lacks (checked before creating anything).
    #[error("adapter '{adapter}' cannot run this plan: {reason}")]
    Unsupported { adapter: String, reason: String },
    /// The plan or its weights are inconsistent (a corrupt or hand-edited bundle): the
    /// plan verifier's rejection.
    #[error("invalid plan: {0}")]
    Plan(#[from] kiln_codegen::PlanError),
    /// The plan names something no device has (an unknown wgpu feature).
    #[error("invalid plan: {0}")]
    InvalidPlan(String),
    /// The inputs given to a run do not fit the plan's inputs.
    #[error("{0}")]
    Input(String),
    /// A condition a kernel checks on the device failed (an index out of range, an
    /// integer division by zero): the inputs are invalid for the model, as the CPU
    /// reference would also report.
    #[error("{op} '{node}': {message}")]
    Check {
        node: String,
        op: String,
        message: String,
    },
    /// The adapter refused to create a device.
    #[error("could not create a device on '{adapter}': {reason}")]
    RequestDevice { adapter: String, reason: String },
    /// The device ran out of memory.
    #[error("out of GPU memory while {stage}: {message}")]
    OutOfMemory {
        stage: &'static str,
        message: String,
    },
    /// wgpu rejected a command (a shader, pipeline, binding or copy); a kiln bug or a
    /// driver limitation.
    #[error("GPU error while {stage}: {message}")]
    Gpu {
        stage: &'static str,
        message: String,
    },
    /// The device was lost (driver reset, GPU removed); the session cannot be used any more.
    #[error("GPU device lost: {0}")]
    DeviceLost(String),
}
