//! adclr-wgpu: ADCLR self-supervised pre-training of Vision Transformers on wgpu.
//!
//! `gpu` is the runtime (device, tensors, pipelines, dispatches, profiling), `ops` holds one
//! launcher per WGSL kernel family, `reference` the plain-Rust (f64) truth every kernel is
//! tested against.

pub mod error;
pub mod eval;
pub mod features;
pub mod figures;
pub mod gpu;
pub mod model;
pub mod ops;
pub mod reference;
pub mod rng;
pub mod train;
pub mod train_args;

pub use error::{Error, Result};
pub mod bench;
pub mod checkpoint;
pub mod cli;
pub mod data;
pub mod info;
