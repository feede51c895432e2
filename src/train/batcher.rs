//! Step inputs from a dataset: which images a step sees (a seeded permutation per epoch),
//! their views, query crops and drop-path draws (seeded per step and image, so worker threads
//! and resumes see exactly the same data), decoded and augmented on worker threads ahead of
//! the GPU. Under data parallelism each rank builds only its shard of every global batch, with
//! the same random draws a single process makes for those images (they are seeded per step and
//! image of the global batch, not per process).

use super::config::{QueryViews, TrainConfig};
use crate::data::augment::{photometric, random_resized_crop, view, ViewAug, RATIO};
use crate::data::dataset::Dataset;
use crate::data::normalization::Normalization;
use crate::data::patches::{normalize_chw, patchify};
use crate::rng::Rng;
use crate::spec::batch::StepInput;
use crate::spec::config::AdclrConfig;
use image::RgbImage;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Everything needed to build any step's input.
#[derive(Clone)]
pub struct BatchMaker {
    /// The global configuration (`batch` is the global batch).
    pub cfg: AdclrConfig,
    pub train: TrainConfig,
    pub norm: Normalization,
    pub steps_per_epoch: usize,
    /// Which part of every global batch this process builds.
    pub shard: Shard,
    /// Into how many micro-batches (run one after the other, gradients averaged) the shard is
    /// cut: 1 unless the step's tensors do not fit the device at the whole shard.
    pub micro_batches: usize,
}

/// Rank `rank` of `ranks` takes images `rank * B / ranks ..` of each global batch of B.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub rank: usize,
    pub ranks: usize,
}

impl Shard {
    pub const WHOLE: Self = Self { rank: 0, ranks: 1 };

    /// The configuration of one rank's step: the global one with its share of the batch.
    pub fn local(&self, global: &AdclrConfig) -> AdclrConfig {
        AdclrConfig { batch: global.batch / self.ranks.max(1), ..global.clone() }
    }

    /// Micro-batch `j` of `k` of this shard: itself a shard of the global batch.
    pub fn micro(&self, j: usize, k: usize) -> Self {
        Self { rank: self.rank * k + j, ranks: self.ranks * k }
    }

    /// Global batch positions this rank takes.
    fn images(&self, batch: usize) -> std::ops::Range<usize> {
        let per = batch / self.ranks.max(1);
        self.rank * per..(self.rank + 1) * per
    }
}

/// This shard's part of drop-path scales laid out [blocks][views][global batch]: for every
/// block and view, the shard's positions of the batch.
fn shard_scales(all: &[f32], batch: usize, images: &std::ops::Range<usize>) -> Vec<f32> {
    all.chunks(batch).flat_map(|row| row[images.clone()].iter().copied()).collect()
}

/// One step's input (one per micro-batch) and the images that could not be read for it.
pub struct Batch {
    pub step: usize,
    pub inputs: Vec<StepInput>,
    pub skipped: Vec<String>,
}

fn mix(seed: u64, a: u64, b: u64) -> u64 {
    let mut r = Rng::new(seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F));
    r.next_u64()
}

/// The image order of an epoch (Fisher-Yates with a per-epoch seed).
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut rng = Rng::new(mix(seed, 0xE90C, epoch as u64));
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        v.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    v
}

impl BatchMaker {
    fn patches(&self, img: &image::RgbImage, side: usize) -> Vec<f32> {
        patchify(&normalize_chw(img, &self.norm), 3, side, self.cfg.model.patch_size)
    }

    /// This shard's inputs of `step`, one per micro-batch. Unreadable images are skipped (the
    /// next image in the epoch's order takes their place), or fail the step under `strict`.
    pub fn make(&self, ds: &Dataset, step: usize) -> Result<Batch, String> {
        let k = self.micro_batches.max(1);
        let (images, skipped) = self.read_images(ds, step, self.shard.images(self.cfg.batch).end)?;
        let (global_drop, local_drop) = self.drop_scales(step);
        let inputs =
            (0..k).map(|j| self.input(&images, step, self.shard.micro(j, k), (&global_drop, &local_drop))).collect();
        Ok(Batch { step, inputs, skipped })
    }

    /// The input of `shard` (of the global batch) at `step`, from the step's images in batch
    /// order and the global batch's drop-path scales.
    fn input(
        &self,
        images: &[RgbImage],
        step: usize,
        shard: Shard,
        (global_drop, local_drop): (&[f32], &[f32]),
    ) -> StepInput {
        let (c, m, t) = (&self.cfg, &self.cfg.model, &self.train);
        let b = c.batch;
        let mine = shard.images(b);
        let (s, sl, p) = (m.image_size as u32, m.local_size as u32, m.patch_size as u32);
        let global = [
            ViewAug {
                size: s,
                scale: (t.global_scale_min, t.global_scale_max),
                flip: true,
                blur_p: 1.0,
                solarize_p: 0.0,
            },
            ViewAug {
                size: s,
                scale: (t.global_scale_min, t.global_scale_max),
                flip: true,
                blur_p: 0.1,
                solarize_p: 0.2,
            },
        ];
        let local = ViewAug {
            size: sl,
            scale: (t.local_scale_min, t.local_scale_max),
            flip: true,
            blur_p: 0.5,
            solarize_p: 0.0,
        };
        let n = mine.len();
        let mut gviews = vec![Vec::new(); 2 * n];
        let mut lviews = vec![Vec::new(); c.local_crops * n];
        // [view][image]: each global view's query crops of each image.
        let mut queries = [vec![Vec::new(); n], vec![Vec::new(); n]];
        let separate = t.query_views == QueryViews::Separate;
        for (j, i) in mine.clone().enumerate() {
            let img = &images[i];
            // Seeded by the image's position in the global batch: any shard draws the same.
            let mut rng = Rng::new(mix(t.seed, step as u64 + 1, i as u64));
            for (v, aug) in global.iter().enumerate() {
                gviews[v * n + j] = self.patches(&view(img, aug, &mut rng), m.image_size);
            }
            for l in 0..c.local_crops {
                lviews[l * n + j] = self.patches(&view(img, &local, &mut rng), m.local_size);
            }
            for _ in 0..c.queries {
                let crop = random_resized_crop(img, p, (t.query_scale_min, t.query_scale_max), RATIO, &mut rng);
                let mut q = crop.clone();
                photometric(&mut q, 0.5, 0.0, &mut rng);
                let first = self.patches(&q, m.patch_size);
                let second = match separate {
                    true => {
                        let mut q = crop;
                        photometric(&mut q, 0.5, 0.0, &mut rng);
                        self.patches(&q, m.patch_size)
                    }
                    false => first.clone(),
                };
                queries[0][j].extend(first);
                queries[1][j].extend(second);
            }
        }
        StepInput {
            global_patches: gviews.concat(),
            query_patches: [queries[0].concat(), queries[1].concat()].concat(),
            local_patches: lviews.concat(),
            global_drop: shard_scales(global_drop, b, &mine),
            local_drop: shard_scales(local_drop, b, &mine),
        }
    }

    /// The first `count` readable images of `step`'s global batch in the epoch's order, and
    /// the unreadable ones passed over.
    fn read_images(&self, ds: &Dataset, step: usize, count: usize) -> Result<(Vec<RgbImage>, Vec<String>), String> {
        let (b, t) = (self.cfg.batch, &self.train);
        let epoch = step / self.steps_per_epoch;
        let order = epoch_order(ds.len(), t.seed, epoch);
        let start = (step % self.steps_per_epoch) * b;
        let mut images = Vec::with_capacity(count);
        let mut skipped = Vec::new();
        for k in 0..ds.len() {
            if images.len() == count {
                break;
            }
            match ds.image(order[(start + k) % ds.len()]) {
                Ok(img) => images.push(img),
                Err(msg) if t.strict => return Err(format!("{msg} (--strict stops at unreadable images)")),
                Err(msg) => skipped.push(msg),
            }
        }
        if images.len() < count {
            let why = match skipped.first() {
                Some(first) => format!("; {} could not be read, the first: {first}", skipped.len()),
                None => String::new(),
            };
            return Err(format!("{}: only {} readable images, a batch needs {b}{why}", ds.origin, images.len()));
        }
        Ok((images, skipped))
    }

    /// The whole global batch's drop-path scales of `step` (global views, local views), laid
    /// out [depth][attention, mlp][view][image]: 0 (dropped) or 1 / keep, keep per block.
    fn drop_scales(&self, step: usize) -> (Vec<f32>, Vec<f32>) {
        let c = &self.cfg;
        let mut drop_rng = Rng::new(mix(self.train.seed, 0xD40F, step as u64));
        let rates = c.drop_path_rates();
        let mut draw = |images: usize| -> Vec<f32> {
            let mut scales = Vec::with_capacity(rates.len() * 2 * images);
            for &rate in &rates {
                let keep = 1.0 - rate;
                scales.extend((0..2 * images).map(|_| {
                    if rate > 0.0 && drop_rng.uniform() >= keep {
                        0.0
                    } else {
                        (1.0 / keep) as f32
                    }
                }));
            }
            scales
        };
        let global = draw(2 * c.batch);
        (global, draw(c.local_crops * c.batch))
    }
}

/// Worker threads producing steps `first..last` in order, `workers` at a time ahead.
pub struct Prefetcher {
    receivers: Vec<Receiver<Result<Batch, String>>>,
    next: usize,
    first: usize,
    last: usize,
    /// Time the consumer spent waiting for data.
    pub waited: Duration,
}

impl Prefetcher {
    pub fn start(maker: BatchMaker, ds: Arc<Dataset>, first: usize, last: usize, workers: usize) -> Self {
        let workers = workers.max(1);
        let mut receivers = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = sync_channel(2);
            let (maker, ds) = (maker.clone(), ds.clone());
            std::thread::spawn(move || {
                let mut step = first + w;
                while step < last {
                    if tx.send(maker.make(&ds, step)).is_err() {
                        return;
                    }
                    step += workers;
                }
            });
            receivers.push(rx);
        }
        Self { receivers, next: first, first, last, waited: Duration::ZERO }
    }

    /// The next step's batch, in order.
    pub fn next_batch(&mut self) -> Option<Result<Batch, String>> {
        if self.next >= self.last {
            return None;
        }
        let w = (self.next - self.first) % self.receivers.len();
        let t = Instant::now();
        let got = self.receivers[w].recv().map_err(|_| "a data worker stopped unexpectedly".to_string());
        self.waited += t.elapsed();
        self.next += 1;
        Some(got.and_then(|r| r))
    }
}
