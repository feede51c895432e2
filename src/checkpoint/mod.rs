//! Checkpoints as safetensors, interchangeable with PyTorch.
//!
//! A training checkpoint holds `student.<name>` and `teacher.<name>` (timm / DINO names and
//! layouts), `optimizer.exp_avg.<name>`, `optimizer.exp_avg_sq.<name>`,
//! `optimizer.steps` (i64, one per parameter, in parameter order), `centre.cls` and
//! `centre.query` ([1, K]), `step` (i64) and `rng` (u64). An exported backbone holds the
//! teacher's backbone tensors with no prefix, loadable by timm's VisionTransformer.
//! The model configuration, image size and normalisation are in the metadata.
//! Files are written to a temporary name, synced, then renamed: never half-written.

mod checksum;
mod load;
mod metadata;
mod save;

pub use crate::data::normalization::Normalization;
use crate::error::Error;
pub use crate::fs::{remove_stale_temporaries, write_atomic};
pub use crate::model::state::{Named, TrainingState};
pub use load::{load_backbone, load_training, LoadedCheckpoint};
pub use metadata::{model_from_metadata, model_metadata};
pub use save::{backbone_bytes, export_backbone, save_training};
use std::path::Path;

/// A checkpoint error naming the file.
pub(crate) fn ck(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::Checkpoint(format!("{}: {what}", path.display()))
}
