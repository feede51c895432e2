//! Awaiting a buffer map: `wgpu::BufferSlice::map_async`'s callback as a future, so a
//! readback is an `async fn` that native code blocks on (`pollster`) and a browser awaits
//! (where the callback runs only once control is back in its event loop).

use crate::error::{Error, Result};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

type MapResult = std::result::Result<(), wgpu::BufferAsyncError>;

/// What the callback and the future share: the map's result once the callback ran, and the
/// waker of a future that is waiting for it.
#[derive(Default)]
struct Shared {
    result: Option<MapResult>,
    waker: Option<Waker>,
}

/// Completes when the map of a slice, started by [`map_read`], is done (or has failed).
pub struct Mapped {
    shared: Arc<Mutex<Shared>>,
}

/// Starts mapping `slice` for reading. Natively nothing completes it until the device is
/// polled (`GpuContext::wait`); in a browser the event loop does.
pub fn map_read(slice: &wgpu::BufferSlice<'_>) -> Mapped {
    let shared = Arc::new(Mutex::new(Shared::default()));
    let theirs = Arc::clone(&shared);
    slice.map_async(wgpu::MapMode::Read, move |result| {
        let mut s = theirs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        s.result = Some(result);
        if let Some(waker) = s.waker.take() {
            waker.wake();
        }
    });
    Mapped { shared }
}

impl Future for Mapped {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let mut s = self.shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match s.result.take() {
            Some(result) => Poll::Ready(result.map_err(|e| Error::Gpu(format!("readback failed: {e}")))),
            // The callback is gone without running (the device was lost): nothing will wake us.
            None if Arc::strong_count(&self.shared) == 1 => {
                Poll::Ready(Err(Error::Gpu("readback callback lost: the device dropped the map".into())))
            }
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
