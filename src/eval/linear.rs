//! The linear probe (DINO's protocol): a linear classifier on frozen features, trained on the
//! GPU with SGD (momentum 0.9, no weight decay, cosine learning rate), top-1 on the test split.
//! Features per DINO: the CLS token of the last 4 blocks, each through the final norm,
//! concatenated (ViT-S and smaller); the final CLS and the mean patch token (ViT-B).

use super::features::Backbone;
use crate::data::augment::{random_resized_crop, RATIO};
use crate::data::dataset::Dataset;
use crate::data::image_io::resize_center_crop;
use crate::data::patches::{normalize_chw, patchify};
use crate::error::{shape_error, Result};
use crate::gpu::{Dispatch, Engine, GpuTensor};
use crate::model::encoder::Encoder;
use crate::model::state::Named;
use crate::ops::elementwise::ElementwiseParams;
use crate::ops::{elementwise, matmul, softmax};
use crate::rng::Rng;
use image::{imageops, RgbImage};

/// Which features a preset's probe uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeFeatures {
    /// CLS of the last `n` blocks, each normed, concatenated.
    LastBlocksCls(usize),
    /// Final CLS and the mean of the final patch tokens.
    ClsAndMeanPatch,
}

impl ProbeFeatures {
    pub fn for_model(dim: usize, depth: usize) -> Self {
        if dim >= 768 {
            Self::ClsAndMeanPatch
        } else {
            Self::LastBlocksCls(depth.min(4))
        }
    }
    pub fn width(&self, dim: usize) -> usize {
        match self {
            Self::LastBlocksCls(n) => n * dim,
            Self::ClsAndMeanPatch => 2 * dim,
        }
    }
}

/// Probe features [n, width] of every readable image (resized and centre-cropped) and its label.
pub fn probe_features(
    e: &Engine,
    b: &Backbone,
    ds: &Dataset,
    batch: usize,
    kind: ProbeFeatures,
) -> Result<(Vec<f32>, Vec<usize>)> {
    let s = b.model.image_size;
    probe_features_of(e, b, ds, batch, kind, &|_, img| resize_center_crop(img, s))
}

/// Probe features [n, width] of one augmented view of every readable image: DINO's linear-probe
/// training augmentation (random resized crop of scale 0.08-1, horizontal flip with p 0.5),
/// seeded by (seed, view, image index), so view `v` is the same crop in every run.
pub fn probe_features_augmented(
    e: &Engine,
    b: &Backbone,
    ds: &Dataset,
    batch: usize,
    kind: ProbeFeatures,
    view: u64,
    seed: u64,
) -> Result<(Vec<f32>, Vec<usize>)> {
    let s = b.model.image_size as u32;
    let crop = |i: usize, img: &RgbImage| {
        let mut rng = Rng::new(
            seed ^ (view + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i as u64).wrapping_mul(0xA24B_AED4_963E_E407),
        );
        let v = random_resized_crop(img, s, (0.08, 1.0), RATIO, &mut rng);
        if rng.uniform() < 0.5 {
            imageops::flip_horizontal(&v)
        } else {
            v
        }
    };
    probe_features_of(e, b, ds, batch, kind, &crop)
}

/// The probe features of the first `count` images of the encoder's last run.
fn probe_rows(e: &Engine, enc: &Encoder, count: usize, kind: ProbeFeatures, weights: &Named) -> Result<Vec<f32>> {
    let m = &enc.model;
    let (d, t) = (m.dim, enc.tokens());
    let norm = super::features::FinalNorm::of(weights, m.ln_eps)?;
    let ln = |row: &[f32]| norm.apply(row);
    let mut out = Vec::new();
    match kind {
        ProbeFeatures::LastBlocksCls(n) => {
            let blocks: Vec<Vec<f32>> =
                ((m.depth + 1 - n)..=m.depth).map(|l| enc.block_output(e, l)).collect::<Result<_>>()?;
            for i in 0..count {
                for x in &blocks {
                    out.extend(ln(&x[i * t * d..(i * t + 1) * d]));
                }
            }
        }
        ProbeFeatures::ClsAndMeanPatch => {
            let normed = enc.final_normed(e)?;
            let n = m.patches(m.image_size);
            for i in 0..count {
                out.extend_from_slice(&normed[i * t * d..(i * t + 1) * d]);
                let mut mean = vec![0.0f32; d];
                for tok in 1..=n {
                    for (mv, v) in mean.iter_mut().zip(&normed[(i * t + tok) * d..(i * t + tok + 1) * d]) {
                        *mv += v / n as f32;
                    }
                }
                out.extend(mean);
            }
        }
    }
    Ok(out)
}

/// Probe features of every readable image after `prepare(index, image)` (which gives the
/// model's side).
fn probe_features_of(
    e: &Engine,
    b: &Backbone,
    ds: &Dataset,
    batch: usize,
    kind: ProbeFeatures,
    prepare: &dyn Fn(usize, &RgbImage) -> RgbImage,
) -> Result<(Vec<f32>, Vec<usize>)> {
    let m = &b.model;
    let enc = Encoder::with_block_outputs(e, m, batch.max(1), &b.weights)?;
    let (s, p) = (m.image_size, m.patch_size);
    let (mut feats, mut labels, mut pending, mut count) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for i in 0..ds.len() {
        if let Ok(img) = ds.image(i) {
            pending.extend(patchify(&normalize_chw(&prepare(i, &img), &b.norm), 3, s, p));
            labels.push(ds.labels.as_ref().map_or(0, |l| l[i]));
            count += 1;
        }
        if count == enc.batch || (i + 1 == ds.len() && count > 0) {
            enc.run(e, &pending)?;
            feats.extend(probe_rows(e, &enc, count, kind, &b.weights)?);
            pending.clear();
            count = 0;
        }
    }
    Ok((feats, labels))
}

/// What `probe` measured.
#[derive(Clone, Copy, Debug)]
pub struct ProbeResult {
    pub top1: f64,
    pub features: ProbeFeatures,
    /// Training and test images.
    pub train: usize,
    pub test: usize,
}

/// DINO's linear probe of a backbone: features of `augment_views` augmented views of every
/// training image (0: centre crops), the classifier trained on them, top-1 on the test split.
pub fn probe(
    e: &Engine,
    b: &Backbone,
    (train_ds, test_ds): (&Dataset, &Dataset),
    cfg: &ProbeConfig,
    augment_views: usize,
    progress: &dyn Fn(&str),
) -> Result<ProbeResult> {
    cfg.check()?;
    let kind = ProbeFeatures::for_model(b.model.dim, b.model.depth);
    let (mut views, mut ty) = (Vec::new(), Vec::new());
    for v in 0..augment_views {
        progress(&format!("probe features: augmented view {}/{augment_views} of the training split", v + 1));
        let (x, y) = probe_features_augmented(e, b, train_ds, 64, kind, v as u64, cfg.seed)?;
        views.push(x);
        ty = y;
    }
    if views.is_empty() {
        let (x, y) = probe_features(e, b, train_ds, 64, kind)?;
        views.push(x);
        ty = y;
    }
    let (vx, vy) = probe_features(e, b, test_ds, 64, kind)?;
    let view_refs: Vec<&[f32]> = views.iter().map(|v| v.as_slice()).collect();
    progress("training the probe");
    let top1 = train_and_test_views(e, kind.width(b.model.dim), &view_refs, &ty, &vx, &vy, cfg)?;
    Ok(ProbeResult { top1, features: kind, train: ty.len(), test: vy.len() })
}

/// Training settings of the probe.
#[derive(Clone, Copy, Debug)]
pub struct ProbeConfig {
    pub epochs: usize,
    pub batch: usize,
    /// Base learning rate at batch 256.
    pub lr: f64,
    pub momentum: f64,
    pub seed: u64,
}

impl ProbeConfig {
    /// Fails naming the flag unless epochs and batch are >= 1 and lr is finite and > 0.
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(crate::error::Error::Data(m));
        if self.epochs == 0 {
            return bad("--epochs 0: the probe needs at least one epoch".into());
        }
        if self.batch == 0 {
            return bad("--batch 0: the probe needs at least one image per step".into());
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad(format!("--lr {} must be a finite number > 0", self.lr));
        }
        Ok(())
    }
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self { epochs: 100, batch: 256, lr: 0.001, momentum: 0.9, seed: 0 }
    }
}

/// The classifier's buffers and the two dispatch lists of a step (parameters alternate
/// between two buffers so no dispatch reads and writes the same one).
struct Probe {
    x: GpuTensor,
    onehot: GpuTensor,
    logits: GpuTensor,
    weights: [GpuTensor; 2],
    biases: [GpuTensor; 2],
    steps: [Vec<Dispatch>; 2],
    /// Per parity, the two dispatches whose -lr changes each step (weight, bias update).
    lr_updates: [[usize; 2]; 2],
    eval: [Dispatch; 2],
}

fn build(e: &Engine, width: usize, classes: usize, batch: usize, momentum: f32, seed: u64) -> Result<Probe> {
    let t = |name: &str, n: usize| GpuTensor::zeros(&e.ctx, name, &[n]);
    let mut rng = Rng::new(seed);
    let w0: Vec<f32> = (0..classes * width).map(|_| (rng.normal() * 0.01) as f32).collect();
    let weights = [GpuTensor::from_f32(&e.ctx, "probe.w0", &[classes * width], &w0)?, t("probe.w1", classes * width)?];
    let biases = [t("probe.b0", classes)?, t("probe.b1", classes)?];
    let velocity_w = [t("probe.vw0", classes * width)?, t("probe.vw1", classes * width)?];
    let velocity_b = [t("probe.vb0", classes)?, t("probe.vb1", classes)?];
    let (x, onehot) = (t("probe.x", batch * width)?, t("probe.onehot", batch * classes)?);
    let (logits, probs, dlogits) =
        (t("probe.logits", batch * classes)?, t("probe.probs", batch * classes)?, t("probe.dlogits", batch * classes)?);
    let (gw, gb) = (t("probe.grad_w", classes * width)?, t("probe.grad_b", classes)?);
    let mut s = MatmulShape::new(1, batch, classes, width);
    s.trans_b = true;
    let inv = 1.0 / batch as f32;
    let mut steps: [Vec<Dispatch>; 2] = [Vec::new(), Vec::new()];
    let mut lr_updates = [[0; 2]; 2];
    for (par, list) in steps.iter_mut().enumerate() {
        let (cur, next) = (par, 1 - par);
        list.push(matmul::forward(e, &s, &x, &weights[cur], Some(&biases[cur]), &logits, 1.0, false)?);
        list.push(softmax::forward(e, &logits, &probs, classes, 1.0)?);
        // Mean cross-entropy gradient: (softmax - onehot) / B.
        list.push(elementwise::add_scaled(e, &probs, &onehot, &dlogits, inv, -inv)?);
        list.extend(matmul::backward(e, &s, &x, &weights[cur], &dlogits, None, Some(&gw), Some(&gb), 1.0, false)?);
        // SGD with momentum: v' = m v + g; p' = p - lr v'.
        list.push(elementwise::add_scaled(e, &velocity_w[cur], &gw, &velocity_w[next], momentum, 1.0)?);
        list.push(elementwise::add_scaled(e, &velocity_b[cur], &gb, &velocity_b[next], momentum, 1.0)?);
        lr_updates[par] = [list.len(), list.len() + 1];
        list.push(elementwise::add_scaled(e, &weights[cur], &velocity_w[next], &weights[next], 1.0, 0.0)?);
        list.push(elementwise::add_scaled(e, &biases[cur], &velocity_b[next], &biases[next], 1.0, 0.0)?);
    }
    let eval = [
        matmul::forward(e, &s, &x, &weights[0], Some(&biases[0]), &logits, 1.0, false)?,
        matmul::forward(e, &s, &x, &weights[1], Some(&biases[1]), &logits, 1.0, false)?,
    ];
    Ok(Probe { x, onehot, logits, weights, biases, steps, lr_updates, eval })
}

use crate::ops::matmul::MatmulShape;

/// Trains the probe on (train_x, train_y) and returns top-1 (%) on (test_x, test_y).
pub fn train_and_test(
    e: &Engine,
    width: usize,
    train_x: &[f32],
    train_y: &[usize],
    test_x: &[f32],
    test_y: &[usize],
    cfg: &ProbeConfig,
) -> Result<f64> {
    train_and_test_views(e, width, &[train_x], train_y, test_x, test_y, cfg)
}

/// As `train_and_test`, with several feature sets of the training images (augmented views,
/// each [n, width] in the same image order): epoch `k` trains on view `k mod views`.
pub fn train_and_test_views(
    e: &Engine,
    width: usize,
    train_views: &[&[f32]],
    train_y: &[usize],
    test_x: &[f32],
    test_y: &[usize],
    cfg: &ProbeConfig,
) -> Result<f64> {
    let predicted = train_and_predict_views(e, width, train_views, train_y, test_x, test_y, cfg)?;
    let correct = predicted.iter().zip(test_y).filter(|(p, y)| p == y).count();
    Ok(100.0 * correct as f64 / test_y.len().max(1) as f64)
}

/// As `train_and_test_views`, returning the probe's class for every test row (classes are
/// `0..=max label` of either split; `test_y` sizes the test set and sets the class count).
pub fn train_and_predict_views(
    e: &Engine,
    width: usize,
    train_views: &[&[f32]],
    train_y: &[usize],
    test_x: &[f32],
    test_y: &[usize],
    cfg: &ProbeConfig,
) -> Result<Vec<usize>> {
    cfg.check()?;
    let classes = train_y.iter().chain(test_y).max().map_or(1, |m| m + 1);
    let n = train_y.len();
    if n == 0
        || train_views.is_empty()
        || train_views.iter().any(|x| x.len() != n * width)
        || test_x.len() != test_y.len() * width
    {
        return Err(shape_error("linear_probe", "features and labels do not match"));
    }
    let b = cfg.batch.min(n).max(1);
    let probe = build(e, width, classes, b, cfg.momentum as f32, cfg.seed)?;
    let steps_per_epoch = n.div_ceil(b);
    let total = cfg.epochs * steps_per_epoch;
    let base_lr = cfg.lr * b as f64 / 256.0;
    let mut rng = Rng::new(cfg.seed ^ 0x11EA);
    let mut order: Vec<usize> = (0..n).collect();
    let mut parity = 0;
    let (mut xb, mut yb) = (vec![0.0f32; b * width], vec![0.0f32; b * classes]);
    for step in 0..total {
        if step % steps_per_epoch == 0 {
            for i in (1..n).rev() {
                order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
            }
        }
        let train_x = train_views[(step / steps_per_epoch) % train_views.len()];
        let start = (step % steps_per_epoch) * b;
        yb.iter_mut().for_each(|v| *v = 0.0);
        for r in 0..b {
            // The last batch of an epoch wraps around to stay full.
            let idx = order[(start + r) % n];
            xb[r * width..(r + 1) * width].copy_from_slice(&train_x[idx * width..(idx + 1) * width]);
            yb[r * classes + train_y[idx]] = 1.0;
        }
        probe.x.write_f32(&e.ctx, &xb)?;
        probe.onehot.write_f32(&e.ctx, &yb)?;
        let lr = crate::spec::schedule::cosine(base_lr, 0.0, step, total, 0, base_lr) as f32;
        let [uw, ub] = probe.lr_updates[parity];
        let (wn, bn) = (probe.weights[0].len(), probe.biases[0].len());
        let sgd = |n: usize| ElementwiseParams { n: n as u32, alpha: 1.0, beta: -lr, accumulate: 0 };
        probe.steps[parity][uw].set_params(&e.ctx, &sgd(wn))?;
        probe.steps[parity][ub].set_params(&e.ctx, &sgd(bn))?;
        e.run(&probe.steps[parity].iter().collect::<Vec<_>>())?;
        parity = 1 - parity;
    }
    // Evaluate with the latest parameters (buffer `parity`).
    let mut predicted = Vec::with_capacity(test_y.len());
    for chunk in (0..test_y.len()).step_by(b) {
        let m = b.min(test_y.len() - chunk);
        xb.iter_mut().for_each(|v| *v = 0.0);
        xb[..m * width].copy_from_slice(&test_x[chunk * width..(chunk + m) * width]);
        probe.x.write_f32(&e.ctx, &xb)?;
        e.run(&[&probe.eval[parity]])?;
        let logits = probe.logits.read_f32(&e.ctx)?;
        for r in 0..m {
            let row = &logits[r * classes..(r + 1) * classes];
            predicted.push((0..classes).max_by(|&a, &c| row[a].total_cmp(&row[c])).unwrap_or(0));
        }
    }
    Ok(predicted)
}
