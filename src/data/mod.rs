//! Images to model inputs: datasets (files, binaries, the embedded subset, images in memory),
//! decoding, resizing, normalisation, patches.

pub mod augment;
pub mod cifar;
pub mod dataset;
pub mod idx;
pub mod image_io;
pub mod in_memory;
pub mod normalization;
pub mod patches;
pub mod records;
pub mod scenes;
pub mod stl10;

/// Which split of a dataset that has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}
