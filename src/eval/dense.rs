//! `eval dense`: how good a backbone's patch tokens are for dense labelling, on scenes of four
//! Fashion-MNIST items (`data::scenes`), seen whole at 64 px (positional embeddings
//! interpolated). Two measures of the final-norm patch tokens: a linear probe per patch (11
//! classes, item or background; mIoU over the test scenes' patches) and the weighted k-NN
//! (k 20, T 0.07) of foreground patches against the training scenes' foreground patches. The
//! control beside them: the scene's CLS given to every patch, which cannot tell which item is in
//! which cell; the gap to it measures locality. Intervals: percentile bootstrap over test scenes.

use super::features::Backbone;
use super::knn::{nearest, vote};
use super::linear::{train_and_predict_views, ProbeConfig};
use crate::data::dataset::Dataset;
use crate::data::patches::{normalize_chw, patchify};
use crate::data::scenes::{layout, Scene, ITEM_SIDE, SCENE_SIDE};
use crate::error::{Error, Result};
use crate::gpu::Engine;
use crate::model::encoder::Encoder;
use crate::rng::Rng;

/// Item classes of the source split (Fashion-MNIST's 10); label `CLASSES` is background.
pub const CLASSES: usize = 10;
pub const BACKGROUND: usize = CLASSES;

/// What `eval dense` runs.
#[derive(Clone, Debug)]
pub struct DenseSettings {
    /// Scenes from the train split (probe training, k-NN bank) and from the test split.
    pub train_scenes: usize,
    pub test_scenes: usize,
    /// Seed of the scene layouts (items, classes, offsets).
    pub scene_seed: u64,
    /// The per-patch probe.
    pub probe: ProbeConfig,
    /// Foreground training patches in the k-NN bank (evenly spaced; 0: all).
    pub knn_bank: usize,
    /// Bootstrap resamples of the test scenes.
    pub bootstrap: usize,
    /// Scenes per encoder forward.
    pub batch: usize,
}

impl Default for DenseSettings {
    fn default() -> Self {
        Self {
            train_scenes: 1_000,
            test_scenes: 500,
            scene_seed: 0,
            probe: ProbeConfig { epochs: 10, batch: 512, lr: 0.1, momentum: 0.9, seed: 0 },
            knn_bank: 20_000,
            bootstrap: 200,
            batch: 16,
        }
    }
}

/// Patch tokens and labels of a set of scenes.
pub struct SceneFeatures {
    /// Patch grid side G (patches per scene: G * G).
    pub grid: usize,
    pub dim: usize,
    /// [scenes, D]
    pub cls: Vec<f32>,
    /// [scenes * G * G, D]
    pub patches: Vec<f32>,
    /// [scenes * G * G]: item class or BACKGROUND.
    pub labels: Vec<usize>,
}

impl SceneFeatures {
    pub fn scenes(&self) -> usize {
        self.cls.len() / self.dim.max(1)
    }
    fn per_scene(&self) -> usize {
        self.grid * self.grid
    }
    /// Each scene's CLS repeated for every one of its patches: [scenes * G * G, D].
    pub fn cls_broadcast(&self) -> Vec<f32> {
        self.cls.chunks(self.dim).flat_map(|c| std::iter::repeat_n(c, self.per_scene()).flatten().copied()).collect()
    }
}

/// Grey pixels [28, 28] of item `i` of a split of 28x28 images.
fn item_pixels(ds: &Dataset, i: usize) -> std::result::Result<Vec<u8>, String> {
    let img = ds.image(i)?;
    if (img.width() as usize, img.height() as usize) != (ITEM_SIDE, ITEM_SIDE) {
        return Err(format!(
            "{}: {}x{} images; scenes are built from {ITEM_SIDE}x{ITEM_SIDE} items (--data embedded or fashion-mnist)",
            ds.origin,
            img.width(),
            img.height()
        ));
    }
    Ok(img.pixels().map(|p| p.0[0]).collect())
}

/// Scenes of a labelled split, laid out from its labels.
pub fn scenes_of(ds: &Dataset, count: usize, seed: u64) -> Result<Vec<Scene>> {
    let labels = ds.labels.as_ref().ok_or_else(|| Error::Data(format!("{}: dense scenes need labels", ds.origin)))?;
    if labels.iter().any(|&l| l >= CLASSES) {
        return Err(Error::Data(format!("{}: dense scenes need labels below {CLASSES}", ds.origin)));
    }
    let scenes = layout(labels, CLASSES, count, seed).map_err(Error::Data)?;
    if scenes.is_empty() {
        return Err(Error::Data(format!("{}: too few items for one scene of four classes", ds.origin)));
    }
    Ok(scenes)
}

/// The final-norm CLS and patch tokens of every scene at SCENE_SIDE px, with patch labels.
pub fn scene_features(e: &Engine, b: &Backbone, ds: &Dataset, scenes: &[Scene], batch: usize) -> Result<SceneFeatures> {
    let m = &b.model;
    if !SCENE_SIDE.is_multiple_of(m.patch_size) {
        return Err(Error::Data(format!("patch size {}: must divide the {SCENE_SIDE}-px scenes", m.patch_size)));
    }
    let grid = SCENE_SIDE / m.patch_size;
    let enc = Encoder::at_side(e, m, batch.max(1), SCENE_SIDE, &b.weights)?;
    let mut out = SceneFeatures { grid, dim: m.dim, cls: Vec::new(), patches: Vec::new(), labels: Vec::new() };
    for chunk in scenes.chunks(enc.batch) {
        let mut rows = Vec::new();
        for s in chunk {
            let canvas = s.render(&|i| item_pixels(ds, i)).map_err(Error::Data)?;
            out.labels.extend(s.patch_labels(&canvas, grid, BACKGROUND).map_err(Error::Data)?);
            let img = image::RgbImage::from_fn(SCENE_SIDE as u32, SCENE_SIDE as u32, |x, y| {
                let v = canvas[y as usize * SCENE_SIDE + x as usize];
                image::Rgb([v, v, v])
            });
            rows.extend(patchify(&normalize_chw(&img, &b.norm), 3, SCENE_SIDE, m.patch_size));
        }
        let (cls, patches) = enc.encode_with_patches(e, &rows)?;
        out.cls.extend(cls);
        out.patches.extend(patches);
    }
    Ok(out)
}

/// Per test scene, per class: (true positives, false positives, false negatives).
type Confusion = Vec<[[usize; 3]; CLASSES + 1]>;

fn confusion(predicted: &[usize], truth: &[usize], per_scene: usize) -> Confusion {
    predicted
        .chunks(per_scene)
        .zip(truth.chunks(per_scene))
        .map(|(p, y)| {
            let mut c = [[0usize; 3]; CLASSES + 1];
            for (&p, &y) in p.iter().zip(y) {
                if p == y {
                    c[y][0] += 1;
                } else {
                    c[p.min(CLASSES)][1] += 1;
                    c[y][2] += 1;
                }
            }
            c
        })
        .collect()
}

/// Mean IoU (%) over the classes present in the union of the given scenes' truth or prediction.
fn miou_of(c: &Confusion, scenes: &mut dyn Iterator<Item = usize>) -> f64 {
    let mut sum = [[0usize; 3]; CLASSES + 1];
    for s in scenes {
        for (k, v) in c[s].iter().enumerate() {
            (0..3).for_each(|j| sum[k][j] += v[j]);
        }
    }
    let ious: Vec<f64> =
        sum.iter().filter(|v| v[0] + v[1] + v[2] > 0).map(|v| v[0] as f64 / (v[0] + v[1] + v[2]) as f64).collect();
    100.0 * ious.iter().sum::<f64>() / ious.len().max(1) as f64
}

/// A figure and its 95% percentile-bootstrap interval over test scenes.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Estimate {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

/// `stat` of all scenes, and the 2.5 and 97.5 percentiles of `stat` over `resamples` draws of
/// as many scenes with replacement.
fn bootstrap(
    scenes: usize,
    resamples: usize,
    seed: u64,
    stat: &dyn Fn(&mut dyn Iterator<Item = usize>) -> f64,
) -> Estimate {
    let value = stat(&mut (0..scenes));
    let mut rng = Rng::new(seed ^ 0xB007);
    let mut draws: Vec<f64> = (0..resamples)
        .map(|_| {
            let picks: Vec<usize> = (0..scenes).map(|_| (rng.next_u64() % scenes.max(1) as u64) as usize).collect();
            stat(&mut picks.into_iter())
        })
        .collect();
    draws.sort_by(f64::total_cmp);
    let at = |q: f64| draws.get(((draws.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(value);
    Estimate { value, low: at(0.025), high: at(0.975) }
}

/// The per-patch probe's mIoU on the test scenes, trained on the train scenes' rows.
fn probe_miou(
    e: &Engine,
    (train_x, train_y): (&[f32], &[usize]),
    (test_x, test_y): (&[f32], &[usize]),
    dim: usize,
    per_scene: usize,
    s: &DenseSettings,
) -> Result<Estimate> {
    let predicted = train_and_predict_views(e, dim, &[train_x], train_y, test_x, test_y, &s.probe)?;
    let c = confusion(&predicted, test_y, per_scene);
    Ok(bootstrap(c.len(), s.bootstrap, s.scene_seed, &|scenes| miou_of(&c, scenes)))
}

/// Foreground patch k-NN top-1 (%) of the test scenes against a bank of training patches.
fn patch_knn(e: &Engine, train: &SceneFeatures, test: &SceneFeatures, s: &DenseSettings) -> Result<Estimate> {
    let d = train.dim;
    let fg = |f: &SceneFeatures| -> Vec<usize> { (0..f.labels.len()).filter(|&i| f.labels[i] != BACKGROUND).collect() };
    let (train_fg, test_fg) = (fg(train), fg(test));
    if train_fg.is_empty() || test_fg.is_empty() {
        return Err(Error::Data("no foreground patches in the scenes".into()));
    }
    let bank_rows: Vec<usize> =
        super::features::evenly_spaced(train_fg.len(), s.knn_bank).into_iter().map(|i| train_fg[i]).collect();
    let rows = |f: &SceneFeatures, idx: &[usize]| -> Vec<f32> {
        idx.iter().flat_map(|&i| f.patches[i * d..(i + 1) * d].iter().copied()).collect()
    };
    let bank_labels: Vec<usize> = bank_rows.iter().map(|&i| train.labels[i]).collect();
    let tops = nearest(e, rows(train, &bank_rows), rows(test, &test_fg), d, 20)?;
    let per_scene = test.per_scene();
    // Per test scene: (correct, queries).
    let mut by_scene = vec![(0usize, 0usize); test.scenes()];
    for (top, &i) in tops.iter().zip(&test_fg) {
        let hit = vote(top, &bank_labels, CLASSES, 0.07)[0] == test.labels[i];
        let entry = &mut by_scene[i / per_scene];
        entry.0 += usize::from(hit);
        entry.1 += 1;
    }
    let stat = |scenes: &mut dyn Iterator<Item = usize>| {
        let (hit, all) = scenes.fold((0, 0), |(h, a), s| (h + by_scene[s].0, a + by_scene[s].1));
        100.0 * hit as f64 / all.max(1) as f64
    };
    Ok(bootstrap(test.scenes(), s.bootstrap, s.scene_seed, &stat))
}

/// The dense figures of one backbone.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DenseResult {
    /// Per-patch linear probe, mIoU (%) over 11 classes.
    pub miou: Estimate,
    /// Foreground patch k-NN top-1 (%).
    pub patch_knn: Estimate,
    /// The control: the same probe on the scene's CLS broadcast to every patch.
    pub cls_broadcast_miou: Estimate,
    pub grid: usize,
    pub train_scenes: usize,
    pub test_scenes: usize,
}

/// `eval dense` of one backbone on the train and test splits of a 28x28 labelled source.
pub fn evaluate(
    e: &Engine,
    b: &Backbone,
    (train_ds, test_ds): (&Dataset, &Dataset),
    s: &DenseSettings,
    progress: &dyn Fn(&str),
) -> Result<DenseResult> {
    let train_scenes = scenes_of(train_ds, s.train_scenes, s.scene_seed)?;
    let test_scenes = scenes_of(test_ds, s.test_scenes, s.scene_seed.wrapping_add(1))?;
    progress(&format!("patch tokens of {} train and {} test scenes", train_scenes.len(), test_scenes.len()));
    let train = scene_features(e, b, train_ds, &train_scenes, s.batch)?;
    let test = scene_features(e, b, test_ds, &test_scenes, s.batch)?;
    let per = train.per_scene();
    progress("per-patch linear probe");
    let miou = probe_miou(e, (&train.patches, &train.labels), (&test.patches, &test.labels), train.dim, per, s)?;
    progress("CLS-broadcast control");
    let (cls_train, cls_test) = (train.cls_broadcast(), test.cls_broadcast());
    let cls_broadcast_miou = probe_miou(e, (&cls_train, &train.labels), (&cls_test, &test.labels), train.dim, per, s)?;
    progress("foreground patch k-NN");
    let patch_knn = patch_knn(e, &train, &test, s)?;
    Ok(DenseResult {
        miou,
        patch_knn,
        cls_broadcast_miou,
        grid: train.grid,
        train_scenes: train.scenes(),
        test_scenes: test.scenes(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn miou_counts_each_class_present_and_bootstrap_brackets_the_value() {
        // Two scenes of 4 patches: scene 0 all right, scene 1 half wrong (class 1 read as 2).
        let truth = [0, 0, 1, 10, 1, 1, 2, 10];
        let predicted = [0, 0, 1, 10, 2, 2, 2, 10];
        let c = confusion(&predicted, &truth, 4);
        // Classes 0 (1), 1 (1 of 3 -> 1/3), 2 (1 of 3 -> 1/3), background (1).
        let all = miou_of(&c, &mut (0..2));
        assert!((all - 100.0 * (1.0 + 1.0 / 3.0 + 1.0 / 3.0 + 1.0) / 4.0).abs() < 1e-9, "{all}");
        assert_eq!(miou_of(&c, &mut [0, 0].into_iter()), 100.0);
        let est = bootstrap(c.len(), 100, 0, &|s| miou_of(&c, s));
        assert_eq!(est.value, all);
        assert!(est.low <= est.value && est.value <= est.high && est.low < est.high, "{est:?}");
    }
}
