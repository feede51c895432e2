//! Evaluation: k-NN on frozen teacher features, attention maps, ablation grids.

pub mod attention_map;
pub mod checkpoint_knn;
pub mod dense;
pub mod embedding;
pub mod features;
pub mod folder_features;
pub mod knn;
pub mod linear;
pub mod query_probe;
