//! `adclr-wgpu train` flags: every hyper-parameter of ADCLR.md; each overrides the
//! `--config` file, which overrides the defaults.

use crate::train::config::TrainConfig;
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;

/// Every `Option` left `None` and every switch left off is skipped when the flags are laid over
/// the `--config` file (`resolve`).
#[derive(Args, Debug, Clone, Default, Serialize)]
pub struct TrainArgs {
    /// A TOML file of settings (the keys are the flag names with underscores).
    #[arg(long)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Continue the run in this directory from its last checkpoint.
    #[arg(long)]
    #[serde(skip)]
    pub resume: Option<PathBuf>,
    /// With --resume: continue although config.toml was edited since the checkpoint was
    /// written (the edited values apply from the resumed step on).
    #[arg(long, requires = "resume")]
    #[serde(skip)]
    pub force: bool,
    /// End this call after N steps as if interrupted (checkpoint written, `--resume` goes on):
    /// a long run in sessions of N steps. Not a setting of the run.
    #[arg(long, value_name = "N")]
    #[serde(skip)]
    pub stop_after: Option<usize>,
    /// Stop at the first unreadable image instead of skipping it.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub strict: bool,
    /// --backend, --adapter, --limits: the same device flags as every other command.
    #[command(flatten)]
    #[serde(flatten)]
    pub device: super::args::DeviceArgs,
    /// Images: `embedded` (default, a Fashion-MNIST subset), `fashion-mnist` (Debian's dataset-fashion-mnist), an IDX file, or a folder of images (class sub-folders give labels).
    #[arg(long)]
    pub data: Option<String>,
    /// Model preset: tiny, vit-s16 or vit-b16.
    #[arg(long)]
    pub preset: Option<String>,
    /// Passes over the data.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Stop after this many steps (0: no cap).
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Images per step.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Base learning rate at batch 256 (scaled by batch/256).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Final learning rate of the cosine schedule.
    #[arg(long)]
    pub min_lr: Option<f64>,
    /// Linear learning-rate warm-up, in epochs.
    #[arg(long)]
    pub warmup_epochs: Option<f64>,
    /// Weight decay at the start (cosine schedule).
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Weight decay at the end.
    #[arg(long)]
    pub weight_decay_end: Option<f64>,
    /// Teacher EMA momentum at the start (cosine to 1).
    #[arg(long)]
    pub momentum_teacher: Option<f64>,
    /// Teacher temperature after warm-up.
    #[arg(long)]
    pub teacher_temp: Option<f64>,
    /// Teacher temperature at the start.
    #[arg(long)]
    pub warmup_teacher_temp: Option<f64>,
    /// Epochs of teacher-temperature warm-up.
    #[arg(long)]
    pub warmup_teacher_temp_epochs: Option<f64>,
    /// Student temperature.
    #[arg(long)]
    pub student_temp: Option<f64>,
    /// Weight of the query loss (0 = plain DINO).
    #[arg(long)]
    pub lambda: Option<f64>,
    /// Query tokens per image (Q).
    #[arg(long)]
    pub queries: Option<usize>,
    /// Smallest query crop, as a fraction of the image area.
    #[arg(long)]
    pub query_scale_min: Option<f64>,
    /// Largest query crop, as a fraction of the image area.
    #[arg(long)]
    pub query_scale_max: Option<f64>,
    /// Keys a query token attends to: cls+patches+self, cls+patches, patches or all.
    #[arg(long)]
    pub query_attends: Option<String>,
    /// Every token attends to every token (ablation).
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub bidirectional: bool,
    /// Local crops per image (L).
    #[arg(long)]
    pub local_crops: Option<usize>,
    /// Local crop side in pixels (0: the preset's).
    #[arg(long)]
    pub local_size: Option<usize>,
    /// Smallest global crop, as a fraction of the image area.
    #[arg(long)]
    pub global_scale_min: Option<f64>,
    /// Largest local crop, as a fraction of the image area.
    #[arg(long)]
    pub local_scale_max: Option<f64>,
    /// Prototypes K of the head (0: the preset's; a multiple of 64).
    #[arg(long)]
    pub out_dim: Option<usize>,
    /// Custom global view side (0: the preset's).
    #[arg(long)]
    pub image_size: Option<usize>,
    /// Custom patch size (0: the preset's).
    #[arg(long)]
    pub patch_size: Option<usize>,
    /// Custom embedding width D (0: the preset's).
    #[arg(long)]
    pub dim: Option<usize>,
    /// Custom number of blocks (0: the preset's).
    #[arg(long)]
    pub depth: Option<usize>,
    /// Custom number of attention heads (0: the preset's).
    #[arg(long)]
    pub heads: Option<usize>,
    /// Custom head hidden width (0: 2048).
    #[arg(long)]
    pub head_hidden: Option<usize>,
    /// Custom head bottleneck (0: 256).
    #[arg(long)]
    pub head_bottleneck: Option<usize>,
    /// Student drop-path rate.
    #[arg(long)]
    pub drop_path: Option<f64>,
    /// Per-tensor gradient-norm clipping (0: off).
    #[arg(long)]
    pub clip_grad: Option<f64>,
    /// Epochs with the head's last layer frozen.
    #[arg(long)]
    pub freeze_last_layer: Option<usize>,
    /// Seed of initialisation, data order and augmentations.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run directory (default runs/<preset>-<time>).
    #[arg(long)]
    pub out: Option<String>,
    /// Steps between checkpoints (also written at the end and on Ctrl-C).
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
    /// Steps between metric lines (loss terms and collapse monitors).
    #[arg(long)]
    pub log_every: Option<usize>,
    /// k-NN of teacher and student every N steps into metrics.jsonl and loss.png, with the
    /// initial teacher's (the random-init floor) before the first step (0: only at the end).
    #[arg(long)]
    pub eval_every: Option<usize>,
    /// Training images in the bank of those k-NN evaluations, evenly spaced (0: all).
    #[arg(long)]
    pub eval_bank: Option<usize>,
    /// Images per micro-batch: the batch runs in micro-batches one after the other, gradients
    /// averaged (same step, less memory; 0: the whole batch, or what the device's binding limit
    /// needs).
    #[arg(long)]
    pub micro_batch: Option<usize>,
    /// Data threads (0: one per core).
    #[arg(long)]
    pub workers: Option<usize>,
}

impl TrainArgs {
    /// Defaults, then the `--config` file, then the flags: the flags given (every field that
    /// is `Some`, or a switch that is on) are written over the file's table under the same
    /// names, so a new setting is declared here and in `TrainConfig` and nowhere else.
    pub fn resolve(&self) -> Result<TrainConfig, String> {
        let (mut table, origin) = match &self.config {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| format!("--config {}: {e}", p.display()))?;
                let table = text.parse::<toml::Table>().map_err(|e| format!("{}: {e}", p.display()))?;
                (table, p.display().to_string())
            }
            None => (toml::Table::new(), "the flags".to_string()),
        };
        table.extend(self.given()?);
        let c = TrainConfig::from_toml(&table.to_string(), &origin)?;
        c.adclr()?;
        Ok(c)
    }
}

impl TrainArgs {
    /// The flags given, as TOML values under their setting names (TOML skips `None`; NaN and
    /// infinity pass through to the settings' checks).
    fn given(&self) -> Result<toml::Table, String> {
        // TOML integers are i64: a larger count is named here rather than failing anonymously.
        if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(self) {
            for (key, value) in fields {
                if let serde_json::Value::Number(n) = value {
                    if n.as_i64().is_none() && n.is_u64() {
                        return Err(format!("--{} {n} is too large", key.replace('_', "-")));
                    }
                }
            }
        }
        toml::Table::try_from(self).map_err(|e| format!("flags: {e}"))
    }
}
