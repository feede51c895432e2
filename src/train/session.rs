//! A training run driven one step at a time by its caller, the same in a browser (awaited on
//! its event loop: the `web/` page) and natively (blocked on): the embedded Fashion-MNIST
//! subset or images handed over in memory (`session_data`), the project's own seeded
//! augmentation and schedules, and every readback through the engine's async API. Nothing here
//! touches files, threads, the clock or the OS's randomness.

use super::batcher::{BatchMaker, Shard};
use super::config::TrainConfig;
use super::monitor::LiveKnn;
use super::schedule::Plan;
use super::session_data::{SessionImages, SessionSets};
use super::step_once::StepFigures;
use super::turn::{as_checked, Cadence, Turn};
use crate::data::image_io::resize_center_crop;
use crate::data::normalization::{normalization_for, Normalization};
use crate::error::{Error, Result};
use crate::eval::attention_map::cls_mean_tile_async;
use crate::eval::features::Backbone;
use crate::gpu::choice::Family;
use crate::gpu::context::DeviceLimits;
use crate::gpu::{AdapterChoice, Engine, EngineRequest, KernelChoice, Precision};
use crate::model::step::{AdclrStep, Flat};
use crate::spec::config::AdclrConfig;
use serde::{Deserialize, Serialize};
use std::rc::Rc;

/// The laptop recipe, the page's model and hyper-parameters.
const LAPTOP_RECIPE: &str = include_str!("../../assets/laptop-fashion-mnist.toml");
/// Steps of the page's run on a GPU.
pub const PAGE_STEPS: usize = 2000;
/// The page's k-NN against the floor during its run, every this many steps.
pub const PAGE_KNN_EVERY: usize = 250;
/// The settings of the page's run as they were measured (`adclr-wgpu session --settings` this
/// file): tests/session.rs holds `Settings::page()` to them.
pub const PAGE_MEASURED: &str = "measurements/2026-12-07-page-recipe-settings.json";

/// Which kernels a run uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KernelSet {
    /// The built-in rule for the adapter at the settings' precision (`EngineRequest::rule`),
    /// as `adclr-wgpu train` picks without a tuning file or kernel variables.
    #[default]
    Rule,
    /// `KernelChoice::PORTABLE` on every device: no optional feature, so a browser and a
    /// native driver run the same kernels (the browser test compares the two).
    Portable,
}

/// What a page (or the native reference) asks for: `train` is `adclr-wgpu train`'s settings
/// (its TOML keys, as JSON), run for `steps` steps on the embedded data (`data = "embedded"`)
/// or on images handed over in memory (`data = "images"`, `session_data`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub steps: usize,
    pub kernels: KernelSet,
    pub train: TrainConfig,
    /// Training images in the k-NN bank at the end (0: no k-NN).
    pub knn_bank: usize,
    /// k-NN of the teacher (with the floor beside it) every this many steps during the run,
    /// on the same bank (0: only at the end).
    pub knn_every: usize,
    /// The first image whose attention map the page draws: of the embedded test split, or of
    /// the images shown (`SessionSets::shown`).
    pub attention_image: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            steps: 30,
            kernels: KernelSet::Rule,
            train: TrainConfig::default(),
            knn_bank: 2000,
            knn_every: 0,
            attention_image: 0,
        }
    }
}

impl Settings {
    /// Settings from the page's JSON, with an error that names the bad key.
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| Error::Data(format!("settings: {e}")))
    }

    /// What the page trains on a GPU: the laptop recipe's model and hyper-parameters
    /// (`assets/laptop-fashion-mnist.toml`) on the embedded subset for `PAGE_STEPS` steps, under
    /// WebGPU's default limits (what every browser with WebGPU offers), with k-NN against the
    /// floor every `PAGE_KNN_EVERY` steps. Measured natively to beat the floor at two seeds
    /// (docs/measurements.md; the settings as measured: `PAGE_MEASURED`).
    pub fn page() -> Result<Self> {
        let recipe = TrainConfig::from_toml(LAPTOP_RECIPE, "assets/laptop-fashion-mnist.toml").map_err(Error::Data)?;
        let train = TrainConfig {
            data: "embedded".into(),
            epochs: None,
            max_steps: None,
            out: None,
            limits: Some(DeviceLimits::Minimal),
            ..recipe
        };
        Ok(Self {
            steps: PAGE_STEPS,
            kernels: KernelSet::Rule,
            train,
            knn_bank: 2000,
            knn_every: PAGE_KNN_EVERY,
            attention_image: 0,
        })
    }

    /// A small model that two steps train in seconds on a software device: what the browser
    /// test runs in headless Chromium and natively on lavapipe.
    pub fn small_test() -> Self {
        let train = TrainConfig {
            batch: 4,
            image_size: 16,
            patch_size: 4,
            dim: 32,
            depth: 2,
            heads: 2,
            out_dim: 128,
            head_hidden: 64,
            head_bottleneck: 32,
            local_crops: 2,
            local_size: 8,
            queries: 3,
            // A learning rate that moves the parameters visibly in two steps (0.1 * 4 / 256).
            lr: 0.1,
            warmup_epochs: 0.0,
            freeze_last_layer: 0,
            seed: 7,
            // WebGPU's default limits and no optional feature, in the browser and natively.
            limits: Some(DeviceLimits::Minimal),
            ..TrainConfig::default()
        };
        Self { steps: 2, kernels: KernelSet::Portable, train, knn_bank: 200, knn_every: 0, attention_image: 0 }
    }

    /// The adapter the settings ask for. A browser has one adapter and no environment: only
    /// `limits` (the page asks for `minimal`, WebGPU's defaults) means something there.
    pub fn adapter_choice(&self) -> AdapterChoice {
        self.train.adapter_choice()
    }

    /// The side of the model's input in pixels: what images handed over must have.
    pub fn image_size(&self) -> Result<usize> {
        Ok(self.train.adclr().map_err(Error::Data)?.model.image_size)
    }
}

/// What the settings resolve to before any device opens (each error names the setting).
struct Resolved {
    train: TrainConfig,
    cfg: AdclrConfig,
    sets: SessionSets,
    plan: Plan,
}

impl Resolved {
    fn of(settings: &Settings, images: SessionImages) -> Result<Self> {
        if settings.steps == 0 {
            return Err(Error::Data("settings: steps must be at least 1".into()));
        }
        let asked = TrainConfig { max_steps: Some(settings.steps), ..settings.train.clone() };
        let train = asked.effective().map_err(Error::Data)?;
        let cfg = train.adclr().map_err(Error::Data)?;
        let sets = SessionSets::of(&settings.train.data, images, cfg.batch)?;
        let plan = Plan::new(&train, sets.train.len());
        Ok(Self { train, cfg, sets, plan })
    }
}

/// One step's loss terms and learning rate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepLog {
    /// Steps done (1 after the first).
    pub step: usize,
    pub loss: f64,
    pub global_loss: f64,
    pub query_loss: f64,
    pub lr: f64,
    /// f16-mixed: the dynamic loss scale for the next step (as `train`'s metrics.jsonl).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_scale: Option<f64>,
    /// f16-mixed: the steps skipped so far (an overflow), as `train`'s metrics.jsonl.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped_steps: Option<usize>,
}

/// A fingerprint of the state after some steps: what a second implementation of the same
/// steps must reproduce.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checksum {
    /// Sum of every student parameter.
    pub param_sum: f64,
    /// L2 norm of the student's change since the start, over all parameters.
    pub update_l2: f64,
    /// L2 norm of the last step's gradients (before clipping).
    pub grad_l2: f64,
}

/// k-NN top-1 of the teacher and of the random initialisation the run started from.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct KnnFigures {
    pub teacher_top1: f64,
    pub floor_top1: f64,
    pub bank: usize,
    pub queries: usize,
}

/// A training session: the step, its data and schedules, and the state's start for the
/// checksum. `next_step` records and submits one step, then reads its health flag and losses
/// back (the step itself reads nothing back; the session's caller wants every step's losses).
pub struct Trainer {
    /// Shared where a test runs several sessions on one device (`open_on`).
    pub engine: Rc<Engine>,
    pub step: AdclrStep,
    pub settings: Settings,
    /// The settings with every resolved value (`TrainConfig::effective`).
    pub train: TrainConfig,
    pub cfg: AdclrConfig,
    pub plan: Plan,
    maker: BatchMaker,
    /// What the steps sample, and what the evaluations and pictures use.
    pub sets: SessionSets,
    norm: Normalization,
    /// The student's flats at the start, for `Checksum::update_l2`.
    initial: Vec<Vec<f32>>,
    /// What is due after each step: the figures always, k-NN every `knn_every` steps where
    /// the images have labels and `knn_bank` is not 0.
    pub cadence: Cadence,
    /// The k-NN monitors with their floors, by bank size, opened at the first use of each.
    live: std::cell::RefCell<Vec<(usize, Rc<LiveKnn>)>>,
}

impl Trainer {
    /// Opens the default adapter (a browser's WebGPU one) and builds the step, on the embedded
    /// subset.
    pub async fn open(settings: Settings) -> Result<Self> {
        Self::open_with(settings, SessionImages::Embedded).await
    }

    /// `open` on `images` (those handed over in memory need `data = "images"`).
    pub async fn open_with(settings: Settings, images: SessionImages) -> Result<Self> {
        let run = Resolved::of(&settings, images)?;
        let choice = settings.adapter_choice();
        // The settings' precision, as `train` honours it (the portable kernels are f32 only).
        let precision = settings.train.precision;
        let engine = match (settings.kernels, precision) {
            (KernelSet::Rule, _) => Engine::open_async(&EngineRequest::rule(choice, precision)).await?,
            (KernelSet::Portable, None | Some(Precision::F32)) => {
                Engine::open_async(&EngineRequest::exact(choice, KernelChoice::PORTABLE)).await?
            }
            (KernelSet::Portable, Some(p)) => {
                return Err(Error::Data(format!(
                    "precision {}: the portable kernels are f32; use the rule's kernels (kernels = \"rule\")",
                    p.name()
                )))
            }
        };
        Self::build(Rc::new(engine), settings, run).await
    }

    /// `open_with` on an engine already open with the settings' limits and kernels (tests that
    /// share one device between runs); an error says which of the two differs.
    pub async fn open_on(engine: Rc<Engine>, settings: Settings, images: SessionImages) -> Result<Self> {
        let run = Resolved::of(&settings, images)?;
        let limits = DeviceLimits::of(&settings.adapter_choice());
        if engine.ctx.limits_choice != limits {
            return Err(Error::Gpu(format!(
                "the engine was opened with {:?} limits, the settings ask for {limits:?}",
                engine.ctx.limits_choice
            )));
        }
        let precision = settings.train.precision.unwrap_or(Precision::F32);
        if engine.choice.precision != precision {
            return Err(Error::Gpu(format!(
                "the engine computes in {}, the settings ask for {}",
                engine.choice.precision.name(),
                precision.name()
            )));
        }
        if settings.kernels == KernelSet::Portable && engine.choice != KernelChoice::PORTABLE {
            return Err(Error::Gpu(format!(
                "the engine runs {:?}, the settings ask for the portable kernels",
                engine.choice
            )));
        }
        Self::build(engine, settings, run).await
    }

    async fn build(engine: Rc<Engine>, settings: Settings, run: Resolved) -> Result<Self> {
        let Resolved { train, cfg, sets, plan } = run;
        let step = AdclrStep::new(&engine, &cfg, train.seed)?;
        let norm = normalization_for(&train.data);
        let maker = BatchMaker {
            cfg: cfg.clone(),
            train: train.clone(),
            norm: norm.clone(),
            steps_per_epoch: plan.steps_per_epoch,
            shard: Shard::WHOLE,
            micro_batches: 1,
        };
        let initial = step.read_flat_async(&engine, Flat::Student).await?;
        let knn_every = match sets.labelled() && settings.knn_bank > 0 {
            true => settings.knn_every,
            false => 0,
        };
        let cadence = Cadence::of_session(plan.total_steps, knn_every);
        let live = Default::default();
        Ok(Self { engine, step, settings, train, cfg, plan, maker, sets, norm, initial, cadence, live })
    }

    /// Steps of the run.
    pub fn total_steps(&self) -> usize {
        self.plan.total_steps
    }

    /// Steps done.
    pub fn done(&self) -> usize {
        self.step.step as usize
    }

    /// Takes the next step and reads its losses (an error names a term that went non-finite).
    pub async fn next_step(&mut self) -> Result<StepLog> {
        let s = self.done();
        if s >= self.total_steps() {
            return Err(Error::Data(format!("the run's {} steps are done", self.total_steps())));
        }
        let batch = self.maker.make(&self.sets.train, s).map_err(Error::Data)?;
        // The turn `train` takes, on one rank; one micro-batch (the maker's). The session's
        // cadence reads the figures at every step, after the health check.
        let turn =
            Turn { e: &self.engine, tc: &self.train, plan: &self.plan, cadence: self.cadence, settle: &as_checked };
        let turned = turn.take(&mut self.step, (s, &batch.inputs), &mut None, None).await?;
        let (h, Some(StepFigures { report: r, loss_scale })) = (turned.h, turned.figures) else {
            return Err(Error::Data(format!("step {}: the session's cadence read no figures", s + 1)));
        };
        Ok(StepLog {
            step: s + 1,
            loss: r.loss,
            global_loss: r.global_loss,
            query_loss: r.query_loss,
            lr: h.lr,
            loss_scale: loss_scale.map(|l| l.scale as f64),
            skipped_steps: loss_scale.map(|l| l.skipped as usize),
        })
    }

    /// The state's fingerprint now.
    pub async fn checksum(&self) -> Result<Checksum> {
        let e = &self.engine;
        let student = self.step.read_flat_async(e, Flat::Student).await?;
        let grads = self.step.read_flat_async(e, Flat::Grads).await?;
        let pairs = student.iter().flatten().zip(self.initial.iter().flatten());
        let update_l2 = pairs.map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum::<f64>().sqrt();
        Ok(Checksum {
            param_sum: student.iter().flatten().map(|&x| x as f64).sum(),
            update_l2,
            grad_l2: grads.iter().flatten().map(|&g| (g as f64).powi(2)).sum::<f64>().sqrt(),
        })
    }

    /// k-NN (k 20, T 0.07) of the teacher and of the initial weights, with `bank` training
    /// images spread over the training images and every embedded test image (or held-out image)
    /// as a query. The monitor and its floor are made at the first call per bank size and kept.
    pub async fn knn(&self, bank: usize) -> Result<KnnFigures> {
        let e = &self.engine;
        let known = self.live.borrow().iter().find(|l| l.0 == bank).map(|l| l.1.clone());
        let live = match known {
            Some(live) => live,
            None => {
                let monitor = self.sets.knn_monitor(bank, &self.cfg.model, &self.norm)?;
                let live = Rc::new(LiveKnn::open(e, monitor, self.train.seed).await?);
                self.live.borrow_mut().push((bank, live.clone()));
                live
            }
        };
        let point = live.measure(e, &self.step, false).await?;
        Ok(KnnFigures {
            teacher_top1: point.teacher.top1,
            floor_top1: point.floor.top1,
            bank: live.monitor.bank_size(),
            queries: point.teacher.queries,
        })
    }

    /// The teacher's backbone now (its weights read back).
    pub async fn teacher(&self) -> Result<Backbone> {
        let weights = self.step.backbone_weights_async(&self.engine, Flat::Teacher).await?;
        Ok(Backbone { model: self.cfg.model.clone(), norm: self.norm.clone(), weights })
    }

    /// The teacher's CLS attention over image `index` of those shown (`SessionSets::shown`:
    /// embedded test images, or the images handed over) as an RGB heat map `cell` pixels wide,
    /// blended over the image, and the image alone at that size (the model's centre crop):
    /// (width, heat-map RGB bytes, image RGB bytes).
    pub async fn attention_tile(&self, index: usize, cell: u32) -> Result<(u32, Vec<u8>, Vec<u8>)> {
        let shown = self.sets.shown()?;
        if index >= shown.len() {
            return Err(Error::Data(format!(
                "settings: attention_image {index}: {} has {} images",
                shown.origin,
                shown.len()
            )));
        }
        let img = shown.image(index).map_err(Error::Data)?;
        let tile = cls_mean_tile_async(&self.engine, &self.teacher().await?, &img, cell).await?;
        let view = resize_center_crop(&img, self.cfg.model.image_size);
        let plain = image::imageops::resize(&view, tile.width(), tile.height(), image::imageops::FilterType::Triangle);
        Ok((tile.width(), tile.into_raw(), plain.into_raw()))
    }

    /// The teacher's backbone as a safetensors file (timm names, what `adclr-wgpu export`
    /// writes): what the page offers for download; `adclr-wgpu eval` and `export` read it.
    pub async fn teacher_backbone(&self) -> Result<Vec<u8>> {
        let teacher = self.teacher().await?;
        let name = std::path::Path::new("teacher-backbone.safetensors");
        crate::checkpoint::backbone_bytes(name, &self.cfg.model, &self.norm, &teacher.weights, self.step.step)
    }

    /// "adapter (backend, type); kernels: ...": what the run runs on.
    pub fn describe(&self) -> String {
        format!("{}; kernels: {}", self.engine.ctx.describe(), self.engine.kernel_summary())
    }
}
