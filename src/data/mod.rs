//! Images to model inputs: decoding, resizing, normalisation, patches.

pub mod image_io;
pub mod patches;
