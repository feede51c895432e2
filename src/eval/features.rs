//! Frozen backbone features of a whole dataset, computed on the GPU in batches.

use crate::checkpoint::{self, Named, Normalization};
use crate::data::dataset::Dataset;
use crate::data::image_io::resize_center_crop;
use crate::data::patches::{normalize_chw, patchify};
use crate::error::Result;
use crate::gpu::Engine;
use crate::model::config::ModelConfig;
use crate::model::encoder::Encoder;
use crate::model::params::{is_backbone, ParamStore};
use crate::rng::Rng;
use std::path::Path;

/// A backbone's weights: from a checkpoint (training or exported), or freshly initialised
/// (`--random-init`, the floor pre-training must beat).
pub struct Backbone {
    pub model: ModelConfig,
    pub norm: Normalization,
    pub weights: Named,
}

impl Backbone {
    pub fn load(path: &Path) -> Result<Self> {
        let (model, norm, weights) = checkpoint::load_backbone(path)?;
        Ok(Self { model, norm, weights })
    }

    pub fn random(model: ModelConfig, norm: Normalization, seed: u64) -> Result<Self> {
        let store = ParamStore::new(&model, usize::MAX / 2).map_err(crate::Error::Data)?;
        let flats = store.init(&mut Rng::new(seed));
        let weights = store
            .specs
            .iter()
            .filter(|s| is_backbone(&s.name))
            .map(|s| (s.name.clone(), store.slice(&flats, &s.name).unwrap_or(&[]).to_vec()))
            .collect();
        Ok(Self { model, norm, weights })
    }
}

/// Features [n, D] of every readable image (resized on the shorter side and centre-cropped
/// to the model's size), their labels, and the unreadable images.
pub struct DatasetFeatures {
    pub dim: usize,
    pub features: Vec<f32>,
    pub labels: Vec<usize>,
    pub skipped: Vec<String>,
}

pub fn dataset_features(
    e: &Engine,
    b: &Backbone,
    ds: &Dataset,
    batch: usize,
    progress: &dyn Fn(usize, usize),
) -> Result<DatasetFeatures> {
    let enc = Encoder::new(e, &b.model, batch.max(1), &b.weights)?;
    let (s, p, d) = (b.model.image_size, b.model.patch_size, b.model.dim);
    let mut out =
        DatasetFeatures { dim: d, features: Vec::with_capacity(ds.len() * d), labels: Vec::new(), skipped: Vec::new() };
    let mut pending = Vec::new();
    let mut count = 0;
    for i in 0..ds.len() {
        match ds.image(i) {
            Ok(img) => {
                pending.extend(patchify(&normalize_chw(&resize_center_crop(&img, s), &b.norm), 3, s, p));
                out.labels.push(ds.labels.as_ref().map_or(0, |l| l[i]));
                count += 1;
            }
            Err(m) => out.skipped.push(m),
        }
        if count == enc.batch || (i + 1 == ds.len() && count > 0) {
            out.features.extend(enc.encode(e, &pending)?);
            pending.clear();
            count = 0;
        }
        progress(i + 1, ds.len());
    }
    Ok(out)
}
