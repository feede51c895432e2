//! The training configuration: defaults, a TOML file, command-line flags on top; validated
//! before any work starts, with errors that name the flag. Saved as `config.toml` in the run
//! directory.

use crate::gpu::context::{Backend, DeviceLimits};
use crate::gpu::{AdapterChoice, EngineRequest, NativeDefaults, Precision};
use crate::reference::attention::QueryAttends;
use crate::spec::config::{AdclrConfig, ModelConfig};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// `embedded`, `fashion-mnist`, an IDX file or an image folder.
    pub data: String,
    pub preset: String,
    /// Passes over the data. The run length: with neither `epochs` nor `max_steps`, a smoke
    /// run of `SMOKE_RUN_STEPS`; with one, that one; with both, the shorter (`Plan::new`).
    pub epochs: Option<usize>,
    /// Steps of the run (0: no cap, the epochs decide).
    pub max_steps: Option<usize>,
    pub batch: usize,
    /// Base learning rate at batch 256 (scaled by batch / 256).
    pub lr: f64,
    pub min_lr: f64,
    pub warmup_epochs: f64,
    pub weight_decay: f64,
    pub weight_decay_end: f64,
    pub momentum_teacher: f64,
    pub teacher_temp: f64,
    pub warmup_teacher_temp: f64,
    pub warmup_teacher_temp_epochs: f64,
    /// The query term's teacher temperature after its warm-up (PQCL's separate query teacher:
    /// 0.07); unset: the query term follows the CLS teacher's temperature schedule.
    pub teacher_query_temp: Option<f64>,
    /// The query teacher's temperature at the start (unset: `warmup_teacher_temp`).
    pub warmup_teacher_query_temp: Option<f64>,
    /// Epochs of the query teacher's warm-up (unset: `warmup_teacher_temp_epochs`).
    pub warmup_teacher_query_temp_epochs: Option<f64>,
    pub student_temp: f64,
    pub lambda: f64,
    pub queries: usize,
    pub query_scale_min: f64,
    pub query_scale_max: f64,
    /// cls+patches+self, cls+patches, patches or all.
    pub query_attends: QueryAttends,
    pub query_views: QueryViews,
    pub bidirectional: bool,
    pub local_crops: usize,
    /// 0: the preset's.
    pub local_size: usize,
    /// Area range of the global crops (DINO's global_crops_scale).
    pub global_scale_min: f64,
    pub global_scale_max: f64,
    /// Area range of the local crops (DINO's local_crops_scale).
    pub local_scale_min: f64,
    pub local_scale_max: f64,
    /// 0: the preset's.
    pub out_dim: usize,
    /// Custom model sizes (0: the preset's).
    pub image_size: usize,
    pub patch_size: usize,
    pub dim: usize,
    pub depth: usize,
    pub heads: usize,
    pub head_hidden: usize,
    pub head_bottleneck: usize,
    /// Student drop-path rate (unset: 0.1 for vit-s16 / vit-b16, 0 for tiny, as ADCLR.md).
    pub drop_path: Option<f64>,
    pub clip_grad: f64,
    pub freeze_last_layer: usize,
    pub seed: u64,
    /// `f32` or `f16-mixed` (f16 matmul operands, f32 accumulation and state, dynamic loss
    /// scaling); unset: ADCLR_PRECISION, else f32.
    pub precision: Option<Precision>,
    pub backend: Option<Backend>,
    pub adapter: Option<usize>,
    /// `adapter` or `minimal` device limits (unset: ADCLR_LIMITS, else the adapter's).
    pub limits: Option<DeviceLimits>,
    /// Run directory (default: runs/<preset>-<seconds since the epoch>).
    pub out: Option<String>,
    pub checkpoint_every: usize,
    pub log_every: usize,
    /// k-NN of the teacher and the student every this many steps, and of the initial teacher
    /// (the floor) before the first (0 = only after the run).
    pub eval_every: usize,
    /// Training images in the bank of those evaluations (evenly spaced over the split; 0 = all).
    pub eval_bank: usize,
    /// Images per micro-batch: each process's batch runs in micro-batches of this many images
    /// one after the other, gradients averaged (the same step, less memory). 0: the whole
    /// batch, or as many micro-batches as the device's binding limit needs.
    pub micro_batch: usize,
    /// Decoding/augmentation threads (0: one per core, at least 1).
    pub workers: usize,
    /// Stop at the first unreadable image instead of skipping it.
    pub strict: bool,
    /// The k-NN after the run: `auto`, `none`, `all` or a bank size.
    pub final_knn: FinalKnn,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            data: "embedded".into(),
            preset: "tiny".into(),
            epochs: None,
            max_steps: None,
            batch: 8,
            lr: 5e-4,
            min_lr: 1e-6,
            warmup_epochs: 10.0,
            weight_decay: 0.04,
            weight_decay_end: 0.4,
            momentum_teacher: 0.996,
            teacher_temp: 0.07,
            warmup_teacher_temp: 0.04,
            warmup_teacher_temp_epochs: 30.0,
            teacher_query_temp: None,
            warmup_teacher_query_temp: None,
            warmup_teacher_query_temp_epochs: None,
            student_temp: 0.1,
            lambda: 0.5,
            queries: 10,
            query_scale_min: 0.05,
            query_scale_max: 0.15,
            query_attends: QueryAttends::ClsPatchesSelf,
            query_views: QueryViews::Shared,
            bidirectional: false,
            local_crops: 2,
            local_size: 0,
            global_scale_min: 0.4,
            global_scale_max: 1.0,
            local_scale_min: 0.05,
            local_scale_max: 0.4,
            out_dim: 0,
            image_size: 0,
            patch_size: 0,
            dim: 0,
            depth: 0,
            heads: 0,
            head_hidden: 0,
            head_bottleneck: 0,
            drop_path: None,
            clip_grad: 3.0,
            freeze_last_layer: 1,
            seed: 0,
            precision: None,
            backend: None,
            adapter: None,
            limits: None,
            out: None,
            checkpoint_every: 100,
            log_every: 5,
            eval_every: 0,
            eval_bank: 10_000,
            micro_batch: 0,
            workers: 0,
            strict: false,
            final_knn: FinalKnn::Auto,
        }
    }
}

impl TrainConfig {
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| format!("{origin}: {e}"))
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// The model and step settings, or an error naming the bad flag.
    pub fn adclr(&self) -> Result<AdclrConfig, String> {
        let preset = ModelConfig::preset(&self.preset).map_err(|e| format!("--preset: {e}"))?;
        let mut m = preset.clone();
        if self.local_size > 0 {
            m.local_size = self.local_size;
        }
        for (v, field) in [
            (self.out_dim, &mut m.out_dim),
            (self.image_size, &mut m.image_size),
            (self.patch_size, &mut m.patch_size),
            (self.dim, &mut m.dim),
            (self.depth, &mut m.depth),
            (self.heads, &mut m.heads),
            (self.head_hidden, &mut m.head_hidden),
            (self.head_bottleneck, &mut m.head_bottleneck),
        ] {
            if v > 0 {
                *field = v;
            }
        }
        // A backbone size that differs from the preset's makes it a custom model (the name
        // timm export and checkpoints record); the preset's own sizes written out do not.
        let backbone = |c: &ModelConfig| (c.image_size, c.patch_size, c.dim, c.depth, c.heads);
        if backbone(&m) != backbone(&preset) {
            m.preset = format!("{}-custom", m.preset);
        }
        let mut c = AdclrConfig::new(m, self.batch);
        c.queries = self.queries;
        c.local_crops = self.local_crops;
        c.lambda = self.lambda;
        c.query_attends = self.query_attends;
        c.bidirectional = self.bidirectional;
        c.student_temp = self.student_temp;
        c.clip_grad = self.clip_grad;
        c.drop_path = self.drop_path.unwrap_or(if self.preset == "tiny" { 0.0 } else { 0.1 });
        self.validate()?;
        c.validate()?;
        Ok(c)
    }

    /// The device these settings ask for (`--backend`, `--adapter`, `--limits`): the one place
    /// a training's `AdapterChoice` is made.
    pub fn adapter_choice(&self) -> AdapterChoice {
        AdapterChoice { backend: self.backend, adapter: self.adapter, limits: self.limits }
    }

    /// The engine these settings open on the command line: their adapter and precision, the
    /// environment's kernel overrides and tuning cache (`EngineRequest::native`).
    pub fn engine_request(&self, defaults: &NativeDefaults) -> EngineRequest {
        EngineRequest::native(self.adapter_choice(), self.precision, defaults)
    }

    /// These settings with every value the run resolves written out: the model sizes instead
    /// of 0 (the preset's), the drop-path rate, and the smoke run's length when no length was
    /// set. Its `adclr()` is the same model and step, so config.toml alone reproduces the run.
    pub fn effective(&self) -> Result<Self, String> {
        let c = self.adclr()?;
        let m = &c.model;
        let mut e = self.clone();
        (e.image_size, e.patch_size, e.dim, e.depth, e.heads) = (m.image_size, m.patch_size, m.dim, m.depth, m.heads);
        (e.out_dim, e.head_hidden, e.head_bottleneck, e.local_size) =
            (m.out_dim, m.head_hidden, m.head_bottleneck, m.local_size);
        e.drop_path = Some(c.drop_path);
        if e.epochs.is_none() && e.max_steps.is_none() {
            e.max_steps = Some(SMOKE_RUN_STEPS);
        }
        Ok(e)
    }

    fn validate(&self) -> Result<(), String> {
        let pos = |v: f64, flag: &str| {
            if v > 0.0 && v.is_finite() {
                Ok(())
            } else {
                Err(format!("{flag} {v} must be a finite number > 0"))
            }
        };
        // NaN fails every comparison, so a NaN setting stops here instead of training on.
        let non_negative = |v: f64, flag: &str| {
            if v >= 0.0 && v.is_finite() {
                Ok(())
            } else {
                Err(format!("{flag} {v} must be a finite number >= 0"))
            }
        };
        if self.lr > MAX_LR {
            return Err(format!("--lr {} must be at most {MAX_LR} (DINO uses 0.0005 x batch / 256)", self.lr));
        }
        if let Some(epochs) = self.epochs {
            if !(1..=MAX_EPOCHS).contains(&epochs) {
                return Err(format!("--epochs {epochs} must be in 1..={MAX_EPOCHS}"));
            }
        }
        if self.max_steps == Some(0) && self.epochs.is_none() {
            return Err("--max-steps 0 means no cap: give --epochs too, or a number of steps".into());
        }
        pos(self.lr, "--lr")?;
        non_negative(self.min_lr, "--min-lr")?;
        non_negative(self.warmup_epochs, "--warmup-epochs")?;
        non_negative(self.warmup_teacher_temp_epochs, "--warmup-teacher-temp-epochs")?;
        non_negative(self.weight_decay, "--weight-decay")?;
        non_negative(self.weight_decay_end, "--weight-decay-end")?;
        non_negative(self.clip_grad, "--clip-grad")?;
        pos(self.student_temp, "--student-temp")?;
        pos(self.teacher_temp, "--teacher-temp")?;
        pos(self.warmup_teacher_temp, "--warmup-teacher-temp")?;
        if let Some(t) = self.teacher_query_temp {
            pos(t, "--teacher-query-temp")?;
        } else if self.warmup_teacher_query_temp.is_some() || self.warmup_teacher_query_temp_epochs.is_some() {
            return Err("--warmup-teacher-query-temp(-epochs) needs --teacher-query-temp (the query teacher's own \
                        temperature); without it the query term follows the CLS teacher's schedule"
                .into());
        }
        if let Some(t) = self.warmup_teacher_query_temp {
            pos(t, "--warmup-teacher-query-temp")?;
        }
        if let Some(e) = self.warmup_teacher_query_temp_epochs {
            non_negative(e, "--warmup-teacher-query-temp-epochs")?;
        }
        if !(0.0..=1.0).contains(&self.momentum_teacher) {
            return Err(format!("--momentum-teacher {} must be in [0, 1]", self.momentum_teacher));
        }
        if !(0.0 < self.query_scale_min && self.query_scale_min <= self.query_scale_max && self.query_scale_max <= 1.0)
        {
            return Err(format!(
                "--query-scale-min {} / --query-scale-max {} must satisfy 0 < min <= max <= 1",
                self.query_scale_min, self.query_scale_max
            ));
        }
        for (flag, min, max) in [
            ("--global-crops-scale", self.global_scale_min, self.global_scale_max),
            ("--local-crops-scale", self.local_scale_min, self.local_scale_max),
        ] {
            if !(0.0 < min && min <= max && max <= 1.0) {
                return Err(format!("{flag} {min} {max} must satisfy 0 < MIN <= MAX <= 1"));
            }
        }
        if self.log_every == 0 {
            return Err("--log-every must be at least 1".into());
        }
        if self.workers > MAX_WORKERS {
            return Err(format!("--workers {} must be at most {MAX_WORKERS} (0: one per core)", self.workers));
        }
        Ok(())
    }
}

/// The length of a run that sets neither `epochs` nor `max_steps`: a smoke run that shows
/// everything works in a few minutes without a GPU.
pub const SMOKE_RUN_STEPS: usize = 24;

/// Most data threads a run may start (each is an OS thread with its own buffers).
pub const MAX_WORKERS: usize = 1024;

/// Largest learning rate accepted: far above any that trains, low enough that a run with it
/// fails in the health checks rather than in the arithmetic of the schedules.
pub const MAX_LR: f64 = 1e30;

/// Most passes over the data a run may ask for (larger step counts overflow the schedules).
pub const MAX_EPOCHS: usize = 1_000_000;

/// Whether the two global views share their query crops' photometric augmentation
/// (`--query-views`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueryViews {
    /// The same augmented query crops in both global views (ADCLR.md).
    #[default]
    Shared,
    /// The same crop boxes, each view's copy with its own photometric augmentation.
    Separate,
}

impl QueryViews {
    /// The mode called `name`, or an error listing the names.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "shared" => Ok(Self::Shared),
            "separate" => Ok(Self::Separate),
            other => Err(format!("`{other}`: use shared or separate")),
        }
    }
}

/// The k-NN that ends a run (`--final-knn`), beside the floor of the run's own initialisation.
/// config.toml writes it as its flag's text (`auto`, `none`, `all` or the bank size).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "FinalKnnText", into = "String")]
pub enum FinalKnn {
    /// `none`.
    Skip,
    /// `auto` (the default): sized to the run, so that evaluation never dwarfs training.
    Auto,
    /// `all`: the whole training split as bank, every test image a query.
    All,
    /// N: a bank of N training images (evenly spaced), every test image a query.
    Bank(usize),
}

/// Images `auto` encodes per evaluation at the least (a bank of 80, 20 queries): enough for
/// k = 20 to vote, about half a minute for a 224-px ViT-S on 2 CPU cores with lavapipe.
pub const FINAL_KNN_AUTO_MIN_IMAGES: usize = 100;

/// `final_knn` as config.toml may hold it: the flag's text, or a bank size as a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum FinalKnnText {
    Text(String),
    Number(u64),
}

impl TryFrom<FinalKnnText> for FinalKnn {
    type Error = String;
    fn try_from(v: FinalKnnText) -> Result<Self, String> {
        match v {
            FinalKnnText::Text(s) => Self::parse(&s),
            FinalKnnText::Number(n) => Self::parse(&n.to_string()),
        }
    }
}

impl From<FinalKnn> for String {
    fn from(v: FinalKnn) -> String {
        match v {
            FinalKnn::Skip => "none".into(),
            FinalKnn::Auto => "auto".into(),
            FinalKnn::All => "all".into(),
            FinalKnn::Bank(n) => n.to_string(),
        }
    }
}

impl FinalKnn {
    /// `auto`, `none`, `all` or a bank size (a number > 0), or an error listing them.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "auto" => Ok(Self::Auto),
            "none" => Ok(Self::Skip),
            "all" => Ok(Self::All),
            n => match n.parse::<usize>() {
                Ok(size) if size > 0 => Ok(Self::Bank(size)),
                _ => Err(format!("`{n}`: use auto, none, all or a bank size (a number of training images > 0)")),
            },
        }
    }

    /// (bank, queries) for splits of `train_len` and `test_len` images after a run that trained
    /// on `trained_images` images (steps x batch); None for `none`. `auto` lets each of its two
    /// evaluations (trained teacher and floor) encode as many images as the run trained on, at
    /// least FINAL_KNN_AUTO_MIN_IMAGES, four in the bank for one query: one teacher forward per
    /// training image, a small share of a step's cost (two teacher views, the student's views
    /// forward and backward).
    pub fn sizes(self, trained_images: usize, train_len: usize, test_len: usize) -> Option<(usize, usize)> {
        match self {
            FinalKnn::Skip => None,
            FinalKnn::All => Some((train_len, test_len)),
            FinalKnn::Bank(n) => Some((n.min(train_len), test_len)),
            FinalKnn::Auto => {
                let images = trained_images.max(FINAL_KNN_AUTO_MIN_IMAGES);
                Some(((images - images / 5).min(train_len), (images / 5).max(1).min(test_len)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_final_knn_is_sized_to_the_run_unless_asked_otherwise() {
        let parse = |s: &str| FinalKnn::parse(s).unwrap();
        assert_eq!(TrainConfig::default().final_knn, FinalKnn::Auto);
        assert_eq!(parse("none").sizes(10, 2000, 500), None);
        assert_eq!(parse("all").sizes(10, 2000, 500), Some((2000, 500)));
        assert_eq!(parse("300").sizes(10, 2000, 500), Some((300, 500)));
        assert_eq!(parse("5000").sizes(10, 2000, 500), Some((2000, 500)));
        // A 1-step run of batch 8 gets the smallest evaluation: 80 + 20 images.
        assert_eq!(FinalKnn::Auto.sizes(8, 60_000, 10_000), Some((80, 20)));
        // The smoke run (24 steps of 32): as many images as it trained on, 4 in the bank to 1 query.
        assert_eq!(FinalKnn::Auto.sizes(768, 2000, 500), Some((615, 153)));
        // A run that trained on more images than the splits hold evaluates on all of them.
        assert_eq!(FinalKnn::Auto.sizes(1000 * 64, 60_000, 10_000), Some((51_200, 10_000)));
        assert_eq!(FinalKnn::Auto.sizes(2500 * 64, 60_000, 10_000), Some((60_000, 10_000)));
    }

    #[test]
    fn defaults_are_valid_and_round_trip_through_toml() {
        let c = TrainConfig::default();
        assert!(c.adclr().is_ok());
        assert_eq!(TrainConfig::from_toml(&c.to_toml(), "x").unwrap(), c);
        // The typed settings keep config.toml's text: the names the flags take.
        let typed = TrainConfig {
            precision: Some(Precision::F16Mixed),
            query_attends: QueryAttends::ClsPatches,
            query_views: QueryViews::Separate,
            final_knn: FinalKnn::Bank(500),
            backend: Some(Backend::Dx12),
            ..TrainConfig::default()
        };
        let text = typed.to_toml();
        for line in [
            "backend = \"dx12\"",
            "precision = \"f16-mixed\"",
            "query_attends = \"cls+patches\"",
            "query_views = \"separate\"",
            "final_knn = \"500\"",
        ] {
            assert!(text.contains(line), "{line} not in {text}");
        }
        assert_eq!(TrainConfig::from_toml(&text, "t").unwrap(), typed);
        // A backend written by hand in any case, as the flag takes it; a wrong one is named.
        assert_eq!(TrainConfig::from_toml("backend = \"Vulkan\"", "t").unwrap().backend, Some(Backend::Vulkan));
        let err = TrainConfig::from_toml("backend = \"cuda\"", "t").unwrap_err();
        assert!(err.contains("unknown backend `cuda`: use vulkan"), "{err}");
    }

    #[test]
    fn the_effective_settings_are_the_same_run_with_every_size_written_out() {
        for base in [
            TrainConfig::default(),
            TrainConfig { preset: "vit-s16".into(), dim: 192, heads: 3, epochs: Some(2), ..TrainConfig::default() },
            TrainConfig { out_dim: 256, local_size: 8, max_steps: Some(7), ..TrainConfig::default() },
        ] {
            let e = base.effective().unwrap();
            assert!([e.image_size, e.patch_size, e.dim, e.depth, e.heads, e.out_dim].iter().all(|&v| v > 0));
            assert!(e.drop_path.is_some() && (e.epochs.is_some() || e.max_steps.is_some()));
            // The same model and step, read back from its TOML, and the same run length.
            let back = TrainConfig::from_toml(&e.to_toml(), "config.toml").unwrap();
            assert_eq!(back.adclr().unwrap(), base.adclr().unwrap());
            let (a, b) =
                (crate::train::schedule::Plan::new(&base, 2000), crate::train::schedule::Plan::new(&back, 2000));
            assert_eq!(a, b);
            assert_eq!(back.effective().unwrap(), e, "resolving twice changes nothing");
        }
        let tiny = TrainConfig::default().effective().unwrap();
        assert_eq!((tiny.dim, tiny.depth, tiny.out_dim, tiny.max_steps), (192, 6, 4096, Some(SMOKE_RUN_STEPS)));
        assert_eq!(tiny.adclr().unwrap().model.preset, "tiny", "the preset's own sizes are not a custom model");
    }

    #[test]
    fn bad_values_name_their_flag() {
        let bad = |f: fn(&mut TrainConfig)| {
            let mut c = TrainConfig::default();
            f(&mut c);
            c.adclr().unwrap_err()
        };
        assert!(bad(|c| c.batch = 0).contains("--batch"));
        assert!(bad(|c| c.lambda = -1.0).contains("--lambda"));
        assert!(bad(|c| c.queries = 0).contains("--queries"));
        assert!(bad(|c| c.preset = "huge".into()).contains("--preset"));
        assert!(bad(|c| c.local_size = 10).contains("--local-size"));
        assert!(bad(|c| c.epochs = Some(0)).contains("--epochs"));
        assert!(bad(|c| c.max_steps = Some(0)).contains("--max-steps 0"));
        assert!(bad(|c| c.query_scale_max = 2.0).contains("--query-scale"));
        assert!(bad(|c| c.global_scale_max = 0.3).contains("--global-crops-scale 0.4 0.3 must satisfy"));
        assert!(bad(|c| c.local_scale_min = 0.0).contains("--local-crops-scale"));
        // Named settings are typed: a name that is none is refused as config.toml is read,
        // naming the key, the value and the names there are.
        let file = |text: &str| TrainConfig::from_toml(text, "f.toml").unwrap_err();
        let msg = file("query_attends = \"some\"");
        assert!(msg.contains("query_attends") && msg.contains("some") && msg.contains("cls+patches+self"), "{msg}");
        let msg = file("final_knn = \"some\"");
        assert!(msg.contains("final_knn") && msg.contains("`some`: use auto, none, all or a bank size"), "{msg}");
        assert!(file("final_knn = 0").contains("`0`: use auto, none, all"));
        let msg = file("query_views = \"both\"");
        assert!(msg.contains("query_views") && msg.contains("both") && msg.contains("separate"), "{msg}");
        let msg = file("precision = \"f16\"");
        assert!(msg.contains("precision") && msg.contains("f16") && msg.contains("f16-mixed"), "{msg}");
        // Non-finite and negative values of every float setting.
        assert!(bad(|c| c.teacher_query_temp = Some(0.0)).contains("--teacher-query-temp"));
        let with_query_temp = |f: fn(&mut TrainConfig)| {
            let mut c = TrainConfig { teacher_query_temp: Some(0.07), ..TrainConfig::default() };
            f(&mut c);
            c.adclr().unwrap_err()
        };
        assert!(
            with_query_temp(|c| c.warmup_teacher_query_temp = Some(f64::NAN)).contains("--warmup-teacher-query-temp")
        );
        assert!(with_query_temp(|c| c.warmup_teacher_query_temp_epochs = Some(-1.0))
            .contains("--warmup-teacher-query-temp-epochs"));
        assert!(bad(|c| c.warmup_teacher_query_temp = Some(0.04)).contains("needs --teacher-query-temp"));
        assert!(bad(|c| c.weight_decay = f64::NAN).contains("--weight-decay"));
        assert!(bad(|c| c.weight_decay_end = -0.1).contains("--weight-decay-end"));
        assert!(bad(|c| c.min_lr = f64::NAN).contains("--min-lr"));
        assert!(bad(|c| c.lr = f64::INFINITY).contains("--lr"));
        assert!(bad(|c| c.lr = 1e31).contains("--lr 10000000000000000000000000000000 must be at most"));
        assert!(bad(|c| c.workers = 1 << 40).contains("--workers"));
        assert!(bad(|c| c.warmup_epochs = f64::NAN).contains("--warmup-epochs"));
        assert!(bad(|c| c.warmup_teacher_temp_epochs = -1.0).contains("--warmup-teacher-temp-epochs"));
        assert!(bad(|c| c.clip_grad = f64::NAN).contains("--clip-grad"));
        assert!(bad(|c| c.clip_grad = -1.0).contains("--clip-grad"));
        assert!(bad(|c| c.student_temp = f64::INFINITY).contains("--student-temp"));
        assert!(bad(|c| c.momentum_teacher = f64::NAN).contains("--momentum-teacher"));
        assert!(bad(|c| c.drop_path = Some(f64::NAN)).contains("--drop-path"));
        assert!(bad(|c| c.epochs = Some(usize::MAX)).contains("--epochs"));
        assert!(TrainConfig::from_toml("batchsize = 3", "f.toml").unwrap_err().contains("batchsize"));
    }
}
