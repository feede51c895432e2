//! k-NN of a checkpoint's teacher on a labelled source, and beside it the floor of the same
//! backbone at its random initialisation.

use super::features::{dataset_features, Backbone};
use super::knn;
use crate::data::dataset::{Dataset, Split};
use crate::error::{Error, Result};
use crate::gpu::{Engine, EngineRequest};
use std::path::Path;

/// k-NN (k 20, T 0.07) of backbone `b` on a labelled source: its training split as the bank,
/// its test split as the queries.
pub fn knn_of(e: &Engine, b: &Backbone, data: &str) -> Result<knn::KnnResult> {
    let train_ds = Dataset::open(data, Split::Train).map_err(Error::Data)?;
    let test_ds = Dataset::open(data, Split::Test).map_err(Error::Data)?;
    if train_ds.labels.is_none() || test_ds.labels.is_none() {
        return Err(Error::Data(format!("{data}: k-NN needs labelled train and test splits")));
    }
    if train_ds.origin == test_ds.origin {
        return Err(Error::Data(format!("{data}: k-NN needs separate train and val (or test) sub-folders")));
    }
    let quiet = |_: usize, _: usize| {};
    let bank = dataset_features(e, b, &train_ds, 64, &quiet)?;
    let queries = dataset_features(e, b, &test_ds, 64, &quiet)?;
    knn::evaluate(e, bank.features, &bank.labels, queries.features, &queries.labels, bank.dim, 20, 0.07)
}

/// k-NN top-1/top-5 of a checkpoint's teacher on the engine `request` opens.
pub fn knn_of_checkpoint(checkpoint: &Path, data: &str, request: &EngineRequest) -> Result<knn::KnnResult> {
    let e = Engine::open(request)?;
    let b = Backbone::load(checkpoint)?;
    knn_of(&e, &b, data)
}
