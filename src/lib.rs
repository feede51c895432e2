//! adclr-wgpu: ADCLR self-supervised pre-training of Vision Transformers on wgpu.
//!
//! Layers, each using only those before it (`tests/layers.rs` checks this):
//! 1. `error`, `rng`, `fs`, `dist` (collectives of data-parallel ranks: host memory only), `spec` (configurations, the step's inputs, the parameter list and
//!    its flat buffers: no GPU), `reference` (the plain-Rust f64 truth every kernel is tested
//!    against: no GPU), `figures` (plots), `tensorboard` (event files), `knobs` (every
//!    environment variable read, and the one reader);
//! 2. `gpu`: device, tensors, pipelines, dispatches, profiling, tuning;
//! 3. `ops`: one launcher per WGSL kernel family;
//! 4. `model`: the ViT, the DINO head and the whole ADCLR step on the GPU, its state;
//! 5. `data`: datasets, images, augmentations, normalisation;
//! 6. `checkpoint`: safetensors files of states and backbones;
//! 7. `eval`: k-NN, linear probe, features, attention maps;
//! 8. `train`: the loop, schedules, resume, run lock, k-NN during training (through `eval`);
//! 9. `ablate` (grids of trainings, each evaluated), `perf` (benchmarks);
//! 10. `cli`: the command line.

pub mod dist;
pub mod error;
pub mod fs;
pub mod knobs;
pub mod rng;
pub mod spec;
pub mod tensorboard;

pub mod figures;
pub mod reference;

pub mod gpu;

pub mod ops;

pub mod model;

pub mod data;

pub mod checkpoint;

pub mod eval;

pub mod train;

pub mod ablate;
pub mod perf;

pub mod cli;

pub use error::{Error, Result};
