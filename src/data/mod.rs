//! Images to model inputs: decoding, resizing, normalisation, patches.

pub mod augment;
pub mod cifar;
pub mod dataset;
pub mod idx;
pub mod image_io;
pub mod normalization;
pub mod patches;
pub mod records;
pub mod scenes;
pub mod stl10;
