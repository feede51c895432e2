//! The training configuration: defaults, a TOML file, command-line flags on top; validated
//! before any work starts, with errors that name the flag. Saved as `config.toml` in the run
//! directory.

use crate::reference::attention::QueryAttends;
use crate::spec::config::{AdclrConfig, ModelConfig};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// `embedded`, `fashion-mnist`, an IDX file or an image folder.
    pub data: String,
    pub preset: String,
    pub epochs: usize,
    /// Stop after this many steps (0 = no cap): the budget of a quick run.
    pub max_steps: usize,
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
    pub student_temp: f64,
    pub lambda: f64,
    pub queries: usize,
    pub query_scale_min: f64,
    pub query_scale_max: f64,
    /// cls+patches+self, cls+patches, patches or all.
    pub query_attends: String,
    pub bidirectional: bool,
    pub local_crops: usize,
    /// 0: the preset's.
    pub local_size: usize,
    pub global_scale_min: f64,
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
    pub backend: Option<String>,
    pub adapter: Option<usize>,
    /// `adapter` or `minimal` device limits (unset: ADCLR_LIMITS, else the adapter's).
    pub limits: Option<String>,
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
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            data: "embedded".into(),
            preset: "tiny".into(),
            epochs: 1,
            max_steps: 24,
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
            student_temp: 0.1,
            lambda: 0.5,
            queries: 10,
            query_scale_min: 0.05,
            query_scale_max: 0.15,
            query_attends: "cls+patches+self".into(),
            bidirectional: false,
            local_crops: 2,
            local_size: 0,
            global_scale_min: 0.4,
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
        }
    }
}

pub fn parse_query_attends(s: &str) -> Result<QueryAttends, String> {
    match s {
        "cls+patches+self" => Ok(QueryAttends::ClsPatchesSelf),
        "cls+patches" => Ok(QueryAttends::ClsPatches),
        "patches" => Ok(QueryAttends::Patches),
        "all" => Ok(QueryAttends::All),
        other => Err(format!("--query-attends `{other}`: use cls+patches+self, cls+patches, patches or all")),
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
        let mut m = ModelConfig::preset(&self.preset).map_err(|e| format!("--preset: {e}"))?;
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
        if self.image_size + self.patch_size + self.dim + self.depth + self.heads > 0 {
            m.preset = format!("{}-custom", m.preset);
        }
        let mut c = AdclrConfig::new(m, self.batch);
        c.queries = self.queries;
        c.local_crops = self.local_crops;
        c.lambda = self.lambda;
        c.query_attends = parse_query_attends(&self.query_attends)?;
        c.bidirectional = self.bidirectional;
        c.student_temp = self.student_temp;
        c.clip_grad = self.clip_grad;
        c.drop_path = self.drop_path.unwrap_or(if self.preset == "tiny" { 0.0 } else { 0.1 });
        self.validate()?;
        c.validate()?;
        Ok(c)
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
        if !(1..=MAX_EPOCHS).contains(&self.epochs) {
            return Err(format!("--epochs {} must be in 1..={MAX_EPOCHS}", self.epochs));
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
        if !(0.0 < self.global_scale_min && self.global_scale_min <= 1.0) {
            return Err(format!("--global-scale-min {} must be in (0, 1]", self.global_scale_min));
        }
        if !(0.0 < self.local_scale_max && self.local_scale_max <= 1.0) {
            return Err(format!("--local-scale-max {} must be in (0, 1]", self.local_scale_max));
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

/// Most data threads a run may start (each is an OS thread with its own buffers).
pub const MAX_WORKERS: usize = 1024;

/// Largest learning rate accepted: far above any that trains, low enough that a run with it
/// fails in the health checks rather than in the arithmetic of the schedules.
pub const MAX_LR: f64 = 1e30;

/// Most passes over the data a run may ask for (larger step counts overflow the schedules).
pub const MAX_EPOCHS: usize = 1_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip_through_toml() {
        let c = TrainConfig::default();
        assert!(c.adclr().is_ok());
        assert_eq!(TrainConfig::from_toml(&c.to_toml(), "x").unwrap(), c);
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
        assert!(bad(|c| c.query_attends = "some".into()).contains("--query-attends"));
        assert!(bad(|c| c.local_size = 10).contains("--local-size"));
        assert!(bad(|c| c.epochs = 0).contains("--epochs"));
        assert!(bad(|c| c.query_scale_max = 2.0).contains("--query-scale"));
        // Non-finite and negative values of every float setting.
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
        assert!(bad(|c| c.epochs = usize::MAX).contains("--epochs"));
        assert!(TrainConfig::from_toml("batchsize = 3", "f.toml").unwrap_err().contains("batchsize"));
    }
}
