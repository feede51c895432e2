//! Step inputs from a dataset: which images a step sees (a seeded permutation per epoch),
//! their views, query crops and drop-path draws (seeded per step and image, so worker threads
//! and resumes see exactly the same data), decoded and augmented on worker threads ahead of
//! the GPU.

use super::config::TrainConfig;
use crate::data::augment::{photometric, random_resized_crop, view, ViewAug, RATIO};
use crate::data::dataset::Dataset;
use crate::data::normalization::Normalization;
use crate::data::patches::{normalize_chw, patchify};
use crate::rng::Rng;
use crate::spec::batch::StepInput;
use crate::spec::config::AdclrConfig;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Everything needed to build any step's input.
#[derive(Clone)]
pub struct BatchMaker {
    pub cfg: AdclrConfig,
    pub train: TrainConfig,
    pub norm: Normalization,
    pub steps_per_epoch: usize,
}

/// One step's input and the images that could not be read for it.
pub struct Batch {
    pub step: usize,
    pub input: StepInput,
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

    /// The input of `step`. Unreadable images are skipped (the next image in the epoch's
    /// order takes their place), or fail the step under `strict`.
    pub fn make(&self, ds: &Dataset, step: usize) -> Result<Batch, String> {
        let (c, m, t) = (&self.cfg, &self.cfg.model, &self.train);
        let b = c.batch;
        let epoch = step / self.steps_per_epoch;
        let order = epoch_order(ds.len(), t.seed, epoch);
        let start = (step % self.steps_per_epoch) * b;
        let mut images = Vec::with_capacity(b);
        let mut skipped = Vec::new();
        for k in 0..ds.len() {
            if images.len() == b {
                break;
            }
            let idx = order[(start + k) % ds.len()];
            match ds.image(idx) {
                Ok(img) => images.push(img),
                Err(msg) if t.strict => return Err(format!("{msg} (--strict stops at unreadable images)")),
                Err(msg) => skipped.push(msg),
            }
        }
        if images.len() < b {
            let why = match skipped.first() {
                Some(first) => format!("; {} could not be read, the first: {first}", skipped.len()),
                None => String::new(),
            };
            return Err(format!("{}: only {} readable images, a batch needs {b}{why}", ds.origin, images.len()));
        }
        let (s, sl, p) = (m.image_size as u32, m.local_size as u32, m.patch_size as u32);
        let global = [
            ViewAug { size: s, scale: (t.global_scale_min, 1.0), flip: true, blur_p: 1.0, solarize_p: 0.0 },
            ViewAug { size: s, scale: (t.global_scale_min, 1.0), flip: true, blur_p: 0.1, solarize_p: 0.2 },
        ];
        let local = ViewAug { size: sl, scale: (0.05, t.local_scale_max), flip: true, blur_p: 0.5, solarize_p: 0.0 };
        let mut gviews = vec![Vec::new(); 2 * b];
        let mut lviews = vec![Vec::new(); c.local_crops * b];
        let mut queries = vec![Vec::new(); b];
        for (i, img) in images.iter().enumerate() {
            let mut rng = Rng::new(mix(t.seed, step as u64 + 1, i as u64));
            for (v, aug) in global.iter().enumerate() {
                gviews[v * b + i] = self.patches(&view(img, aug, &mut rng), m.image_size);
            }
            for l in 0..c.local_crops {
                lviews[l * b + i] = self.patches(&view(img, &local, &mut rng), m.local_size);
            }
            for _ in 0..c.queries {
                let mut q = random_resized_crop(img, p, (t.query_scale_min, t.query_scale_max), RATIO, &mut rng);
                photometric(&mut q, 0.5, 0.0, &mut rng);
                queries[i].extend(self.patches(&q, m.patch_size));
            }
        }
        let query_once: Vec<f32> = queries.concat();
        let mut drop_rng = Rng::new(mix(t.seed, 0xD40F, step as u64));
        // [depth][attention, mlp][image] scales: 0 (dropped) or 1 / keep, keep per block.
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
        let input = StepInput {
            global_patches: gviews.concat(),
            query_patches: [query_once.clone(), query_once].concat(),
            local_patches: lviews.concat(),
            global_drop: draw(2 * b),
            local_drop: draw(c.local_crops * b),
        };
        Ok(Batch { step, input, skipped })
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
