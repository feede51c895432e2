//! Kernel cases written once and run in two places: natively on lavapipe (`tests/gpu/browser.rs`,
//! blocking on each case) and in a real browser (`web/tests/browser/kernels.rs`, awaiting it),
//! on the same two kernel choices (`support::BROWSER_ENGINES`), so the browser has no list of
//! shapes of its own. Each case is an `async fn` over the engines, reading back through the
//! engine's async API (what a browser completes in its event loop).

pub mod kernels;
pub mod support;
