//! adclr-wgpu in a web browser: what web/index.html calls (`page`, and `own_images` for the
//! visitor's images; wasm32 only) around the library's step-by-step training session
//! (`adclr_wgpu::train::session`). On other targets this crate is empty; its browser tests are
//! in tests/browser.

#[cfg(target_arch = "wasm32")]
mod own_images;
#[cfg(target_arch = "wasm32")]
mod page;
