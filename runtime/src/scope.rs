//! Turning wgpu's asynchronous errors into `RuntimeError`s: error scopes around each
//! stage, plus a sink for device loss and errors no scope caught.

use crate::RuntimeError;
use std::sync::{Arc, Mutex};

/// Device loss and uncaptured errors, collected by wgpu callbacks.
#[derive(Default)]
pub(crate) struct ErrorSink {
    lost: Mutex<Option<String>>,
    uncaptured: Mutex<Vec<String>>,
}

impl ErrorSink {
    /// A sink wired to `device`'s lost and uncaptured-error callbacks (which would
    /// otherwise panic).
    pub fn attach(device: &wgpu::Device) -> Arc<ErrorSink> {
        let sink = Arc::new(ErrorSink::default());
        let s = sink.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut v) = s.uncaptured.lock() {
                v.push(e.to_string());
            }
        }));
        let s = sink.clone();
        device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut lost) = s.lost.lock() {
                lost.get_or_insert(format!("{reason:?}: {message}"));
            }
        });
        sink
    }

    /// Fails if the device is lost or an uncaptured error arrived (which it consumes).
    pub fn check(&self, stage: &'static str) -> Result<(), RuntimeError> {
        if let Some(lost) = self.lost.lock().ok().and_then(|l| l.clone()) {
            return Err(RuntimeError::DeviceLost(lost));
        }
        let errors = self
            .uncaptured
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(RuntimeError::Gpu {
                stage,
                message: errors.join("; "),
            })
        }
    }
}

/// Runs `f` inside out-of-memory, validation and internal error scopes on `device`;
/// an error any scope caught wins over `f`'s own result, since it explains it.
/// Blocks on the scopes' answers: native only (see [`scoped_async`]).
pub(crate) fn scoped<T>(
    device: &wgpu::Device,
    sink: &ErrorSink,
    stage: &'static str,
    f: impl FnOnce() -> Result<T, RuntimeError>,
) -> Result<T, RuntimeError> {
    pollster::block_on(scoped_async(device, sink, stage, f))
}

/// [`scoped`] awaiting the scopes' answers, as the browser requires (a native device
/// answers at once).
pub(crate) async fn scoped_async<T>(
    device: &wgpu::Device,
    sink: &ErrorSink,
    stage: &'static str,
    f: impl FnOnce() -> Result<T, RuntimeError>,
) -> Result<T, RuntimeError> {
    sink.check(stage)?;
    let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let internal = device.push_error_scope(wgpu::ErrorFilter::Internal);
    let result = f();
    let internal = internal.pop().await;
    let validation = validation.pop().await;
    let oom = oom.pop().await;
    if let Some(e) = oom {
        return Err(RuntimeError::OutOfMemory {
            stage,
            message: full_message(&e),
        });
    }
    if let Some(e) = validation.or(internal) {
        return Err(RuntimeError::Gpu {
            stage,
            message: full_message(&e),
        });
    }
    sink.check(stage)?;
    result
}

/// The error and its sources, `: `-separated, without repeating a source already
/// quoted in the text.
fn full_message(e: &wgpu::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text = format!("{text}: {part}");
        }
        source = s.source();
    }
    text
}
