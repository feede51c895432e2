//! A session's picture of what its teacher learnt: the teacher's CLS features of the session's
//! images (`SessionSets::mapped`) on their first two principal components, as `adclr-wgpu
//! embed` maps them, with the classes when the images have labels. The page draws the points.

use super::session::Trainer;
use crate::error::{Error, Result};
use crate::eval::embedding::{cosine_map_2d, knn_2d};
use crate::eval::features::{evenly_spaced, features_of_async};
use serde::Serialize;

/// Images per encoder forward.
const BATCH: usize = 64;
/// Neighbours of the k-NN in the map (as `adclr-wgpu embed`), fewer where a class has fewer
/// other images.
const MAP_K: usize = 10;

/// The teacher's features of `points.len()` images in 2-D.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FeatureMap {
    /// What the images are ("your images").
    pub origin: String,
    /// (PC 1, PC 2) of each image.
    pub points: Vec<(f64, f64)>,
    /// Share of the variance on PC 1 and PC 2 (0..1).
    pub explained: [f64; 2],
    /// Each point's class (an index into `classes`), when the images have labels.
    pub labels: Option<Vec<usize>>,
    pub classes: Vec<String>,
    /// Leave-one-out k-NN accuracy (%) in the map, when labelled: how apart the classes lie.
    pub knn_in_map: Option<f64>,
    /// Its k: 10, or one less than the smallest class's images when that is fewer.
    pub knn_k: usize,
}

impl Trainer {
    /// The map of at most `images` images (evenly spaced over the session's images; 0: all).
    pub async fn feature_map(&self, images: usize) -> Result<FeatureMap> {
        let data = self.sets.mapped()?;
        let indices = evenly_spaced(data.len(), images);
        let f = features_of_async(&self.engine, &self.teacher().await?, &data, &indices, BATCH, &|_, _| {}).await?;
        if let Some(first) = f.skipped.first() {
            return Err(Error::Data(format!("the feature map: an image could not be read: {first}")));
        }
        let map = cosine_map_2d(&f.features, f.dim).map_err(|e| Error::Data(format!("the feature map: {e}")))?;
        let labels = data.labels.as_ref().map(|_| f.labels.clone());
        let smallest = (0..data.classes.len()).map(|c| f.labels.iter().filter(|&&l| l == c).count()).min();
        let knn_k = MAP_K.min(smallest.unwrap_or(MAP_K + 1).saturating_sub(1)).max(1);
        let knn_in_map = labels.as_ref().map(|l| knn_2d(&map.points, l, knn_k));
        Ok(FeatureMap {
            origin: data.origin.clone(),
            points: map.points,
            explained: map.explained,
            labels,
            classes: data.classes.clone(),
            knn_in_map,
            knn_k,
        })
    }
}
