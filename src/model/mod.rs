//! The ADCLR model on the GPU: ViT backbone, DINO head, and the whole training step.

pub mod backbone;
pub mod batch;
pub mod config;
pub mod encoder;
pub mod head;
pub mod params;
pub mod pos_embed;
pub mod step;

pub use config::{AdclrConfig, ModelConfig};
