//! Turns on GL: wgpu's GL backend has one context per adapter, shared by every device
//! made from it, behind a lock that a waiting thread gives up on after 6 seconds by
//! panicking ("Could not lock adapter context"). One session's long load or run on a
//! busy machine (llvmpipe computing a large model) made another thread's session panic
//! that way. So sessions on GL take turns, process-wide, for each load and run; other
//! backends run side by side as before.

use std::sync::{Mutex, MutexGuard, PoisonError};

static GL: Mutex<()> = Mutex::new(());

/// This thread's turn on GL when `backend` is GL (held until dropped), else `None`.
pub(crate) fn turn(backend: wgpu::Backend) -> Option<MutexGuard<'static, ()>> {
    (backend == wgpu::Backend::Gl).then(|| GL.lock().unwrap_or_else(PoisonError::into_inner))
}
