//! Evaluation: k-NN on frozen teacher features, attention maps, ablation grids.

pub mod ablate;
pub mod attention_map;
pub mod features;
pub mod knn;
pub mod linear;
