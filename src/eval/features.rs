//! Frozen backbone features of a whole dataset, computed on the GPU in batches.

use crate::checkpoint;
use crate::data::dataset::Dataset;
use crate::data::image_io::resize_center_crop;
use crate::data::normalization::Normalization;
use crate::data::patches::{normalize_chw, patchify};
use crate::error::Result;
use crate::gpu::Engine;
use crate::model::encoder::Encoder;
use crate::model::state::Named;
use crate::rng::Rng;
use crate::spec::config::ModelConfig;
use crate::spec::params::{is_backbone, ParamStore};
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
    let all: Vec<usize> = (0..ds.len()).collect();
    features_of(e, b, ds, &all, batch, progress)
}

/// `count` indices spread evenly over `len` (all of them when `count` is 0 or >= `len`): a
/// subset that samples every class of a dataset stored class by class.
pub fn evenly_spaced(len: usize, count: usize) -> Vec<usize> {
    if count == 0 || count >= len {
        return (0..len).collect();
    }
    (0..count).map(|i| i * len / count).collect()
}

/// Features of the images at `indices` (as `dataset_features`).
pub fn features_of(
    e: &Engine,
    b: &Backbone,
    ds: &Dataset,
    indices: &[usize],
    batch: usize,
    progress: &dyn Fn(usize, usize),
) -> Result<DatasetFeatures> {
    pollster::block_on(features_of_async(e, b, ds, indices, batch, progress))
}

/// `features_of` as a future.
pub async fn features_of_async(
    e: &Engine,
    b: &Backbone,
    ds: &Dataset,
    indices: &[usize],
    batch: usize,
    progress: &dyn Fn(usize, usize),
) -> Result<DatasetFeatures> {
    let enc = Encoder::new(e, &b.model, batch.max(1), &b.weights)?;
    let (s, p, d) = (b.model.image_size, b.model.patch_size, b.model.dim);
    let mut out = DatasetFeatures {
        dim: d,
        features: Vec::with_capacity(indices.len() * d),
        labels: Vec::new(),
        skipped: Vec::new(),
    };
    let mut pending = Vec::new();
    let mut count = 0;
    for (n, &i) in indices.iter().enumerate() {
        match ds.image(i) {
            Ok(img) => {
                pending.extend(patchify(&normalize_chw(&resize_center_crop(&img, s), &b.norm), 3, s, p));
                out.labels.push(ds.labels.as_ref().map_or(0, |l| l[i]));
                count += 1;
            }
            Err(m) => out.skipped.push(m),
        }
        if count == enc.batch || (n + 1 == indices.len() && count > 0) {
            out.features.extend(enc.encode_async(e, &pending).await?);
            pending.clear();
            count = 0;
        }
        progress(n + 1, indices.len());
    }
    Ok(out)
}

/// The backbone's final norm applied to one token's row [D] (DINO's probe norms each block's
/// output with it): the linear probe's and the dense benchmark's features.
pub struct FinalNorm<'a> {
    weight: &'a [f32],
    bias: &'a [f32],
    eps: f32,
}

impl<'a> FinalNorm<'a> {
    pub fn of(weights: &'a Named, eps: f64) -> Result<Self> {
        let (w, b) = weights.get("norm.weight").zip(weights.get("norm.bias")).ok_or_else(|| {
            crate::Error::Checkpoint("the backbone has no final norm weights (norm.weight, norm.bias)".into())
        })?;
        Ok(Self { weight: w, bias: b, eps: eps as f32 })
    }

    pub fn apply(&self, row: &[f32]) -> Vec<f32> {
        let d = row.len().max(1) as f32;
        let mean = row.iter().sum::<f32>() / d;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d;
        let r = 1.0 / (var + self.eps).sqrt();
        row.iter().enumerate().map(|(j, v)| (v - mean) * r * self.weight[j] + self.bias[j]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::evenly_spaced;

    #[test]
    fn evenly_spaced_subsets_cover_the_whole_range() {
        assert_eq!(evenly_spaced(10, 0), (0..10).collect::<Vec<_>>());
        assert_eq!(evenly_spaced(10, 20), (0..10).collect::<Vec<_>>());
        assert_eq!(evenly_spaced(10, 4), vec![0, 2, 5, 7]);
        // 10 classes of 6,000 images stored in order: a 1,000-image bank holds 100 of each.
        let bank = evenly_spaced(60_000, 1_000);
        for class in 0..10 {
            assert_eq!(bank.iter().filter(|&&i| i / 6_000 == class).count(), 100);
        }
    }
}
