//! The wgpu runtime: runs a [`KernelPlan`](kiln_codegen::KernelPlan) on any adapter.
//!
//! [`Runtime::new`] picks an adapter; [`Runtime::load`] checks a plan's requirements
//! against it (before creating anything), creates a device with exactly the limits the
//! plan needs, uploads its constants once and compiles its kernels into a [`Session`];
//! [`Session::run`] writes the inputs, records every dispatch into one compute pass of
//! one command encoder, and reads the outputs back. Every failure — no adapter, a
//! missing feature, a corrupt plan, wrong inputs, a validation error, out of memory, a
//! lost device — is a [`RuntimeError`], never a panic.
//!
//! Host tensors cross the boundary as 32-bit words per element
//! ([`kiln_codegen::storage`]).

mod adapter;
mod backend_api;
mod error;
mod gl_turn;
mod pipelines;
mod requirements;
mod run;
mod scope;
mod session;
mod timing;
mod validate;

pub use adapter::{adapters, describe, Runtime, RuntimeOptions};
pub use backend_api::BackendApi;
pub use error::RuntimeError;
pub use session::Session;
pub use timing::{TimedRun, TimingSource};
