//! The ADCLR model on the GPU: ViT backbone, DINO head, and the whole training step.

pub mod backbone;
pub mod encoder;
pub mod head;
pub mod params;
pub mod pos_embed;
pub mod state;
pub mod step;
mod step_build;

// The GPU-free specs, under the names the model has always used.
pub use crate::spec::{batch, config};
pub use config::{AdclrConfig, ModelConfig};
