//! k-NN of the teacher and the student while training (`--eval-every`): DINO's weighted k-NN
//! (k 20, T 0.07) with a bank of `--eval-bank` training images spread evenly over the split and
//! every test image as a query (or an evenly spaced part of them: `with_sizes`); the random-init floor (the run's own initial weights) is
//! measured the same way, so every figure has its floor beside it.

use crate::data::dataset::{Dataset, Split};
use crate::data::normalization::Normalization;
use crate::error::{Error, Result};
use crate::eval::features::{evenly_spaced, features_of_async, Backbone, DatasetFeatures};
use crate::eval::knn::{self, KnnResult};
use crate::gpu::Engine;
use crate::model::state::Named;
use crate::model::step::{AdclrStep, Flat};
use crate::model::ModelConfig;
use crate::train::schedule::plural;

/// Images per encoder forward.
const BATCH: usize = 64;

pub struct KnnMonitor {
    train: Dataset,
    test: Dataset,
    /// Training images in the bank (indices into `train`).
    bank: Vec<usize>,
    /// Test images queried (indices into `test`): all of them unless `with_queries` says less.
    queries: Vec<usize>,
    model: ModelConfig,
    norm: Normalization,
}

impl KnnMonitor {
    /// The splits of `data`, or an error saying why k-NN cannot run on them and which setting
    /// (`off`, e.g. "--eval-every 0") turns it off.
    pub fn open(data: &str, bank: usize, model: &ModelConfig, norm: &Normalization, off: &str) -> Result<Self> {
        let train = Dataset::open(data, Split::Train).map_err(Error::Data)?;
        let test = Dataset::open(data, Split::Test).map_err(Error::Data)?;
        if train.labels.is_none() || test.labels.is_none() || train.origin == test.origin {
            return Err(Error::Data(format!(
                "k-NN needs labelled train and test splits; --data {data} has none (use {off})"
            )));
        }
        Self::of_splits(train, test, bank, model, norm)
    }

    /// The same evaluation on two labelled splits already open (a page's own images: its
    /// training part and its held-out part), or an error naming the split without labels.
    pub fn of_splits(
        train: Dataset,
        test: Dataset,
        bank: usize,
        model: &ModelConfig,
        norm: &Normalization,
    ) -> Result<Self> {
        for (what, d) in [("bank", &train), ("queries", &test)] {
            if d.labels.is_none() {
                return Err(Error::Data(format!("k-NN needs labels; the {what}' images ({}) have none", d.origin)));
            }
        }
        let bank = evenly_spaced(train.len(), bank);
        let queries = (0..test.len()).collect();
        Ok(Self { train, test, bank, queries, model: model.clone(), norm: norm.clone() })
    }

    /// The same evaluation with a bank of `bank` training images and `queries` test images,
    /// each evenly spaced over its split (0: all).
    pub fn with_sizes(mut self, bank: usize, queries: usize) -> Self {
        self.bank = evenly_spaced(self.train.len(), bank);
        self.queries = evenly_spaced(self.test.len(), queries);
        self
    }

    /// Images in the (train, test) splits.
    pub fn split_sizes(&self) -> (usize, usize) {
        (self.train.len(), self.test.len())
    }

    /// "a bank of 2,000 images of X, 500 queries of Y": the images an evaluation encodes.
    pub fn describe(&self) -> String {
        format!(
            "a bank of {} from {}, {} from {}",
            plural(self.bank.len(), "image"),
            self.train.origin,
            plural(self.queries.len(), "query"),
            self.test.origin
        )
    }

    /// Training images in the bank.
    pub fn bank_size(&self) -> usize {
        self.bank.len()
    }

    /// Images one evaluation encodes (bank and queries), the total of its progress.
    pub fn images(&self) -> usize {
        self.bank.len() + self.queries.len()
    }

    /// k-NN of backbone weights (student or teacher, by timm name).
    pub fn evaluate(&self, e: &Engine, weights: Named) -> Result<KnnResult> {
        self.evaluate_with(e, weights, &|_, _| {})
    }

    /// As `evaluate`, calling `progress(images encoded, images())` along the way.
    pub fn evaluate_with(&self, e: &Engine, weights: Named, progress: &dyn Fn(usize, usize)) -> Result<KnnResult> {
        pollster::block_on(self.evaluate_with_async(e, weights, progress))
    }

    /// `evaluate_with` as a future (what a browser awaits).
    pub async fn evaluate_with_async(
        &self,
        e: &Engine,
        weights: Named,
        progress: &dyn Fn(usize, usize),
    ) -> Result<KnnResult> {
        let b = Backbone { model: self.model.clone(), norm: self.norm.clone(), weights };
        let total = self.images();
        let in_bank = |done: usize, _: usize| progress(done, total);
        let bank: DatasetFeatures = features_of_async(e, &b, &self.train, &self.bank, BATCH, &in_bank).await?;
        let in_queries = |done: usize, _: usize| progress(self.bank.len() + done, total);
        let queries = features_of_async(e, &b, &self.test, &self.queries, BATCH, &in_queries).await?;
        knn::evaluate_async(e, bank.features, &bank.labels, queries.features, &queries.labels, bank.dim, 20, 0.07).await
    }

    /// The floor: the random initialisation of `seed`, the weights the run started from.
    pub fn floor(&self, e: &Engine, seed: u64) -> Result<KnnResult> {
        self.floor_with(e, seed, &|_, _| {})
    }

    /// As `floor`, with progress as `evaluate_with`.
    pub fn floor_with(&self, e: &Engine, seed: u64, progress: &dyn Fn(usize, usize)) -> Result<KnnResult> {
        pollster::block_on(self.floor_with_async(e, seed, progress))
    }

    /// `floor_with` as a future.
    pub async fn floor_with_async(&self, e: &Engine, seed: u64, progress: &dyn Fn(usize, usize)) -> Result<KnnResult> {
        let b = Backbone::random(self.model.clone(), self.norm.clone(), seed)?;
        self.evaluate_with_async(e, b.weights, progress).await
    }
}

/// "top-1 71.2% (floor 68.4%, +2.8)": a k-NN figure with its floor and the gain over it.
pub fn with_floor(r: &KnnResult, floor: &KnnResult) -> String {
    format!("top-1 {:.1}% (random-init floor {:.1}%, gain {:+.1})", r.top1, floor.top1, r.top1 - floor.top1)
}

/// A monitor with its floor, measured once when it opens (the initial weights do not
/// change): what `train` and the session measure during a run.
pub struct LiveKnn {
    pub monitor: KnnMonitor,
    pub floor: KnnResult,
}

/// k-NN of the teacher (and of the student where asked) at some step, with the run's floor.
pub struct LivePoint<'a> {
    pub teacher: KnnResult,
    pub student: Option<KnnResult>,
    pub floor: &'a KnnResult,
}

impl LiveKnn {
    /// Measures the floor of `seed`'s initialisation on `monitor`.
    pub async fn open(e: &Engine, monitor: KnnMonitor, seed: u64) -> Result<Self> {
        let floor = monitor.floor_with_async(e, seed, &|_, _| {}).await?;
        Ok(Self { monitor, floor })
    }

    /// The teacher of `step` now, and its student when `student`.
    pub async fn measure(&self, e: &Engine, step: &AdclrStep, student: bool) -> Result<LivePoint<'_>> {
        let weights = step.backbone_weights_async(e, Flat::Teacher).await?;
        let teacher = self.monitor.evaluate_with_async(e, weights, &|_, _| {}).await?;
        let student = match student {
            true => {
                let weights = step.backbone_weights_async(e, Flat::Student).await?;
                Some(self.monitor.evaluate_with_async(e, weights, &|_, _| {}).await?)
            }
            false => None,
        };
        Ok(LivePoint { teacher, student, floor: &self.floor })
    }
}
